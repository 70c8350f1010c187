"""The synthetic county's referrals and bookings (issue 4 item 7): a year of two-way referrals
consistent with the encounters, the appointments and beds they hold, follow-up tasks, and a
*live* state relative to the moment of generation, so that incoming queues, outgoing lists,
the alliance office's missed deadlines, follow-up lists and slot calendars have content.

How (docs/synthetic-data.md, "Referrals and bookings"):

* While the generator writes residents chunk by chunk, :class:`Collector` looks at each
  chunk's rows in memory and samples encounters with their own random stream: county-hospital
  admissions (an up-referral brought the resident in, or a down-referral follows the
  discharge), county outpatient visits (an up-referral booked the visit), township admissions
  (sent up by the village clinic) and primary-care visits (an up-referral that led nowhere:
  rejected, cancelled or expired). A second, smaller sample of the same kinds serves as
  templates of the live part.
* After the schedules and beds exist (``synth.schedules``), :func:`generate` plans every
  referral's course as the services would have run it (``referrals.statuses.TRANSITIONS``:
  create → submit → receive → accept / reject / redirect → arrive → complete, cancel, expire;
  escalation once the response deadline of ``referrals.rules`` passed unanswered), books the
  slot or bed, and writes the rows through the generator's bulk path with ids assigned here.
  History referrals are anchored on their encounter: the admission or visit *is* the
  arrival, its end the completion.
* Everything is cut at ``now``: a step planned after it has not happened, so referrals whose
  course crosses ``now`` stay submitted, received, accepted (slot or bed held) or arrived, and
  their follow-up tasks stay open. The live part plans referrals submitted in the
  :data:`LIVE_DAYS` days before ``now``; when the history itself reaches into that window (a
  "living" county, ``until``), live referrals whose resident would have arrived before the
  history's end are left out (the history has those). A few live referrals per alliance are
  always added (:data:`FORCED`) so that a small county shows every state.

Capacity: a referral accepted before ``now`` holds a clinic slot or a bed. Slots of the four
weeks from today are those ``synth.schedules`` made; earlier slots are made here, one per
booked time, as the release task would have left them (referral pool: capacity = places
used). A slot's ``booked`` equals its appointments that are not cancelled (no-shows keep the
place, as in ``scheduling.services``). Beds are held without overlap; a bed's state at
``now`` is written on it. Public bookings fill part of the free public places of the four
weeks from today (:func:`fill_share`).

Determinism: the samples use ``random.Random`` seeded with the seed and the chunk number;
planning uses streams seeded with the seed and a purpose; ids follow each table's first free
id. The live part depends on ``now`` (pass it to get identical rows).
"""

from __future__ import annotations

import bisect
import json
import math
import random
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Any

from django.db import connection, models
from django.utils import translation

from tiercare import bulk
from tiercare.kernel import icd10
from tiercare.referrals import rules as ref_rules
from tiercare.referrals import statuses
from tiercare.referrals.models import Direction, FollowUpTask, Outcome, Referral, ReferralEvent
from tiercare.referrals.services import ESCALATION_ACTOR, catalogue_for, rules_catalogue
from tiercare.registry.models import Alliance
from tiercare.scheduling.models import (
    Appointment,
    AppointmentEvent,
    Bed,
    BedEvent,
    Pool,
    Schedule,
    SchedulingPolicy,
    Slot,
    SlotTemplate,
    Ward,
)
from tiercare.synth import reference as synth_ref
from tiercare.synth import referral_texts as txt
from tiercare.synth.county import CountyPlan, Unit
from tiercare.synth.population import specialty_for

# --- rates (docs/synthetic-data.md, "Referrals") -------------------------------------------------
#: county-hospital admissions (not deliveries) that an up-referral brought in
ADMISSION_UP_SHARE = 0.10
#: county-hospital outpatient visits booked by an up-referral, times the condition's weight
#: (CLINIC_WEIGHTS); only weekday visits of a department with a clinic can be booked
CLINIC_UP_SHARE = 0.003
#: township-centre admissions sent up by the resident's village clinic
TOWNSHIP_ADMISSION_UP_SHARE = 0.05
#: primary-care visits followed by an up-referral that led nowhere (rejected, cancelled,
#: expired): about a tenth of all up-referrals
PRIMARY_UP_SHARE = 0.0008
#: county admissions *not* brought by a referral that end with a down-referral, times the
#: condition's ``Texts.down_weight``
DOWN_ONLY_SHARE = 0.05
#: share of up-referral admissions for an emergency condition sent through the green channel
GREEN_SHARE = 0.4
#: routine referrals answered after the 24-hour deadline (escalated first); green channel
LATE_SHARE, GREEN_LATE_SHARE = 0.08, 0.05
#: up-referrals redirected by the first receiver to another member of its alliance
REDIRECT_SHARE = 0.03
#: how an up-referral from a primary-care visit ends
PRIMARY_OUTCOMES = (("rejected", 0.45), ("cancel_before", 0.25), ("cancel_after", 0.10),
                    ("expired", 0.20))
#: how a down-referral ends (the rest: completed)
DOWN_OUTCOMES = (("cancel_before", 0.03), ("cancel_after", 0.03), ("expired", 0.02))
#: discharge outcomes of referred admissions (improved otherwise)
ADMISSION_OUTCOMES = ((Outcome.UNCHANGED, 0.06), (Outcome.REFERRED_ON, 0.02),
                      (Outcome.DIED, 0.01))
#: follow-up tasks never closed; closed after their due date
FOLLOW_UP_MISSED, FOLLOW_UP_LATE = 0.03, 0.10
#: relative chance that a county outpatient visit of the group was booked by a referral
CLINIC_WEIGHTS: dict[str, float] = {
    "stroke": 3.0, "chd": 3.0, "heart_failure": 3.0, "arrhythmia": 3.0, "kidney": 3.0,
    "cancer": 3.0, "cataract": 3.0, "diabetes": 2.0, "copd": 2.0, "gallstones": 2.0,
    "hernia": 2.0, "stones": 2.0, "urology": 2.0, "hepatitis": 2.0, "gyn_tumour": 2.0,
    "hypertension": 1.5, "spine": 1.5, "joint": 1.5, "asthma": 1.5, "ent": 1.5,
    "appendicitis": 1.0, "obstruction": 1.0, "abdominal_pain": 1.0, "fracture": 1.0,
    "eye": 1.0, "gastritis": 0.6, "pneumonia": 0.5, "head_injury": 0.5, "gynaecology": 0.5,
    "neonatal": 0.5, "convulsion": 0.5, "poisoning": 0.5, "general": 0.5,
    "minor_injury": 0.3, "diarrhoea": 0.3, "respiratory_minor": 0.15,
}
#: days before ``now`` whose referrals make the live part
LIVE_DAYS = 28
#: live referrals added per alliance whatever the county's size: state → count
FORCED: tuple[tuple[str, int], ...] = (
    ("pending", 3), ("near_deadline", 1), ("overdue", 3), ("green", 1), ("accepted", 2),
    ("arrived", 2), ("awaiting_approval", 2), ("follow_up_overdue", 1), ("redirected", 1),
)
#: residents kept (a stride sample) for the public bookings of the four weeks from today
PEOPLE_SAMPLE = 20_000
#: who made the public bookings
PUBLIC_BOOKER = "预约平台"
#: the senders of up-referral admissions: the resident's township centre, else village clinic
TOWNSHIP_SENDER_SHARE = 0.65

CHINA = timezone(timedelta(hours=8))
NEVER = datetime.max.replace(tzinfo=UTC)
ADMISSION, CLINIC, TOWN_ADMISSION, PRIMARY, DOWN_ONLY = range(5)
COUNTY_UNIT, TOWNSHIP_UNIT, VILLAGE_UNIT = range(3)
St = Referral.Status
SEND, RECV, SYSTEM = (statuses.Side.SENDER.value, statuses.Side.RECEIVER.value,
                      statuses.Side.SYSTEM.value)
A = Appointment.Status
B = Bed.Status


def fill_share(days_ahead: int) -> float:
    """Share of a public place already booked this many days before its slot (nearly full
    tomorrow, a few places four weeks ahead)."""
    return 0.05 + 0.7 * math.exp(-days_ahead / 5)


# --- what the chunks leave behind -----------------------------------------------------------------


@dataclass(slots=True)
class Candidate:
    """An encounter sampled from a chunk, with its resident."""

    kind: int
    live: bool
    patient: int
    address: str  # village code
    birth: str
    male: bool
    encounter: int
    institution: int
    department: int | None
    practitioner: int | None
    start: str
    end: str | None
    code: str
    secondary: tuple[str, ...]


class Collector:
    """Samples the chunks' encounters as they are written (generator, one call per chunk in
    chunk order). Keeps only the sampled rows: a few tens of thousands for a million
    residents."""

    def __init__(self, plan: CountyPlan, *, seed: int, live_factor: float) -> None:
        self.seed = seed
        self.chunks = 0
        self.candidates: list[Candidate] = []
        self.people: list[tuple[int, str, str, bool]] = []  # pid, village, birth, male
        self.stride = max(1, plan.residents // PEOPLE_SAMPLE)
        self.kind_of: dict[int, int] = {}
        for unit in plan.hospitals.values():
            self.kind_of[unit.id] = COUNTY_UNIT
        for unit in plan.townships_units:
            self.kind_of[unit.id] = TOWNSHIP_UNIT
        for unit in plan.village_units:
            self.kind_of[unit.id] = VILLAGE_UNIT
        self.live = live_factor
        self.clinic_weight: dict[str, float] = {}

    def _weight(self, code: str) -> float:
        w = self.clinic_weight.get(code)
        if w is None:
            w = self.clinic_weight[code] = CLINIC_WEIGHTS.get(txt.group_of(code), 0.5)
        return w

    def observe(self, rows: Sequence[Sequence[tuple[Any, ...]]]) -> None:
        """Sample one chunk's rows (patients, encounters, diagnoses, settlements in the
        generator's field order)."""
        patients, encounters, diagnoses = rows[0], rows[1], rows[2]
        rng = random.Random(f"tiercare-synth:{self.seed}:referrals:chunk:{self.chunks}")
        self.chunks += 1
        r = rng.random
        kind_of, weight = self.kind_of, self.clinic_weight
        grow = 1.0 + self.live
        p_adm, p_down = ADMISSION_UP_SHARE, DOWN_ONLY_SHARE
        p_clinic = CLINIC_UP_SHARE
        p_town, p_primary = TOWNSHIP_ADMISSION_UP_SHARE, PRIMARY_UP_SHARE
        deliveries = synth_ref.DELIVERY_DX
        picked: list[tuple[int, bool, tuple[Any, ...]]] = []
        for row in encounters:
            k = kind_of.get(row[3])
            if k is None:
                continue
            cls = row[2]
            if k == COUNTY_UNIT:
                if cls == "inpatient":
                    if row[8] in deliveries:
                        continue
                    u = r()
                    if u < p_adm * grow:
                        picked.append((ADMISSION, u >= p_adm, row))
                    elif u < p_adm * grow + p_down:
                        picked.append((DOWN_ONLY, False, row))
                elif cls == "outpatient":
                    w = weight.get(row[8])
                    if w is None:
                        w = self._weight(row[8])
                    u = r()
                    if u < p_clinic * w * grow:
                        picked.append((CLINIC, u >= p_clinic * w, row))
            elif k == TOWNSHIP_UNIT and cls == "inpatient":
                u = r()
                if u < p_town * grow:
                    picked.append((TOWN_ADMISSION, u >= p_town, row))
            else:
                u = r()
                if u < p_primary * grow:
                    picked.append((PRIMARY, u >= p_primary, row))
        if not patients:
            return
        first = patients[0][0]
        wanted = {row[0] for _k, _l, row in picked}
        secondary: dict[int, list[str]] = defaultdict(list)
        if wanted:
            for d in diagnoses:
                if d[1] in wanted:
                    secondary[d[1]].append(d[3])
        for kind, live, row in picked:
            p = patients[row[1] - first]
            self.candidates.append(Candidate(
                kind, live, row[1], p[11], p[6], p[5] == "1", row[0], row[3], row[4], row[5],
                row[6], row[7], row[8], tuple(secondary.get(row[0], ()))))
        offset = (-first) % self.stride
        for p in patients[offset::self.stride]:
            self.people.append((p[0], p[11], p[6], p[5] == "1"))


# --- the plan of one referral ------------------------------------------------------------------


@dataclass(slots=True)
class Step:
    """One planned move of a referral (``target`` the status after it; an escalation keeps
    the status)."""

    at: datetime
    action: str
    target: str
    side: str
    by: str
    reason: str = ""


#: (time, from, to, by, reason) of an appointment or a bed; ``{id}`` in the reason is the
#: referral's id
Move = tuple[datetime, str, str, str, str]


@dataclass(slots=True, eq=False)
class SlotRow:
    """A slot as the plan sees it: an existing one (``id`` known) or one made here."""

    id: int
    schedule: int
    template: int | None
    start: datetime
    end: datetime
    pool: str
    capacity: int
    held: int = 0  # places the plan (and earlier bookings) take
    booked: int = 0  # places taken at ``now`` (appointments not cancelled)
    last: datetime | None = None
    patients: set[int] = field(default_factory=set)


@dataclass(slots=True, eq=False)
class Booking:
    """A place in a slot held for a referral, or a public booking."""

    slot: SlotRow
    patient: int
    by: str
    moves: list[Move]
    referral: Ref | None = None
    id: int = 0


@dataclass(slots=True, eq=False)
class Stay:
    """A bed held for a referral."""

    bed: int
    patient: int
    moves: list[Move] = field(default_factory=list)


@dataclass(slots=True, eq=False)
class Ref:
    """One referral being planned."""

    seq: int
    cand: Candidate
    direction: str
    green: bool
    sending: Unit
    sending_dept: int | None
    sending_prac: int | None
    receiving: Unit
    receiving_dept: int | None
    accepting_prac: int | None
    reason: str = ""
    summary: str = ""
    care_plan: str = ""
    warning: str = ""
    steps: list[Step] = field(default_factory=list)
    source: Ref | None = None
    successor: Ref | None = None
    predecessor: Ref | None = None
    outcome: str = ""
    outcome_note: str = ""
    response_note: str = ""
    follow_up: tuple[date, datetime | None, str] | None = None
    booking: Booking | None = None
    want_slot: tuple[datetime, tuple[int, ...]] | None = None  # earliest, schedules
    no_visit: bool = False  # accepted, then cancelled (the resident did not come)
    stay: Stay | None = None
    id: int = 0
    # what happened by ``now`` (``_emit``)
    events: list[Step] = field(default_factory=list)
    escalated_at: datetime | None = None
    deadline: datetime | None = None
    status: str = ""

    @property
    def patient(self) -> int:
        return self.cand.patient

    @property
    def diagnosis(self) -> str:
        return self.cand.code

    def time_of(self, action: str) -> datetime | None:
        return next((s.at for s in self.steps if s.action == action), None)


def _sec(t: datetime) -> datetime:
    return t.replace(microsecond=0)


class _Clock:
    """Time helpers drawing from one random stream (aware times, whole seconds)."""

    def __init__(self, rng: random.Random) -> None:
        self.r = rng.random

    def minutes(self, low: float, high: float) -> timedelta:
        return timedelta(seconds=int((low + (high - low) * self.r()) * 60))

    def hours(self, low: float, high: float) -> timedelta:
        return timedelta(seconds=int((low + (high - low) * self.r()) * 3600))

    @staticmethod
    def at(day: date, hour: float) -> datetime:
        local = datetime.combine(day, time(), tzinfo=CHINA) + timedelta(
            seconds=int(hour * 3600))
        return local.astimezone(UTC)

    def office_back(self, t: datetime) -> datetime:
        """``t`` when it falls in office hours (08:00–17:30 local), else a time in the
        office hours of the last working period before it."""
        local = t.astimezone(CHINA)
        h = local.hour + local.minute / 60
        if 8 <= h < 17.5:
            return t
        day = local.date() if h >= 17.5 else local.date() - timedelta(days=1)
        return self.at(day, 8 + 9.5 * self.r())

    def office_forward(self, t: datetime) -> datetime:
        """``t`` when it falls in office hours, else early in the next working period."""
        local = t.astimezone(CHINA)
        h = local.hour + local.minute / 60
        if 8 <= h < 17.5:
            return t
        day = local.date() if h < 8 else local.date() + timedelta(days=1)
        return self.at(day, 8 + 1.5 * self.r())

    def receipt_gap(self) -> timedelta:
        """Submit → receipt of a routine referral: log-normal, median about 40 minutes,
        at most 10 hours."""
        u1, u2 = self.r() or 1e-12, self.r()
        normal = math.sqrt(-2 * math.log(u1)) * math.cos(2 * math.pi * u2)
        return timedelta(seconds=int(60 * min(600.0, math.exp(3.7 + 1.1 * normal))))


def _pick(r: Callable[[], float], items: Sequence[Any]) -> Any:
    return items[int(r() * len(items))]


def _draw(r: Callable[[], float], table: Sequence[tuple[Any, float]], default: Any) -> Any:
    u = r()
    for value, share in table:
        if u < share:
            return value
        u -= share
    return default


def _parse(text: str | None) -> datetime | None:
    if text is None:
        return None
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _stamp(t: datetime, suffix: str) -> str:
    """The database's text of an aware time: UTC, with ``+00:00`` on PostgreSQL only."""
    text = t.isoformat(" ")
    if not text.endswith("+00:00"):
        text = t.astimezone(UTC).isoformat(" ")
    return text if suffix else text[:-6]


# --- capacity -------------------------------------------------------------------------------


@dataclass
class _Template:
    id: int
    weekday: int
    start: float  # local hours
    end: float
    minutes: int
    places: int


class Capacity:
    """Slots and beds of the county's institutions: the existing ones (the four weeks from
    today) and those made for past bookings, with what the plan holds in them."""

    def __init__(self, institutions: Sequence[int], today: date, reserve: dict[int, bool],
                 alliance_of: dict[int, int | None]) -> None:
        self.t0 = datetime.combine(today, time(), tzinfo=CHINA).astimezone(UTC)
        self.schedules: dict[int, tuple[int, int | None, int | None, bool]] = {}
        self.by_department: dict[int, list[int]] = defaultdict(list)
        self.specialist_of: dict[int, list[int]] = defaultdict(list)
        self.by_institution: dict[int, list[int]] = defaultdict(list)
        rows = Schedule.objects.filter(
            institution_id__in=institutions, kind=Schedule.Kind.CLINIC, is_active=True,
        ).order_by("pk").values_list("pk", "institution_id", "department_id", "practitioner_id",
                                     "is_specialist")
        for pk, inst, dept, prac, specialist in rows:
            self.schedules[pk] = (inst, dept, prac, specialist)
            self.by_institution[inst].append(pk)
            if dept is not None:
                self.by_department[dept].append(pk)
            if prac is not None:
                self.specialist_of[prac].append(pk)
        self.templates: dict[int, list[_Template]] = defaultdict(list)
        for t in SlotTemplate.objects.filter(schedule_id__in=list(self.schedules),
                                             is_active=True).order_by("schedule_id",
                                                                      "weekday", "start_time"):
            self.templates[t.schedule_id].append(_Template(
                t.pk, t.weekday, t.start_time.hour + t.start_time.minute / 60,
                t.end_time.hour + t.end_time.minute / 60, t.slot_minutes,
                t.capacity - t.internal_capacity))
        self.reserve = reserve  # alliance pk → reserves referral places
        self.alliance_of = alliance_of
        # existing slots, by schedule, sorted by start
        self.future: dict[int, list[SlotRow]] = defaultdict(list)
        self.future_starts: dict[int, list[datetime]] = defaultdict(list)
        for pk, schedule, template, start, end, pool, capacity, booked in Slot.objects.filter(
                schedule_id__in=list(self.schedules), start__gte=self.t0,
                status=Slot.Status.OPEN).order_by("schedule_id", "start", "pool", "pk").values_list(
                "pk", "schedule_id", "template_id", "start", "end", "pool", "capacity", "booked"):
            if pool == Pool.INTERNAL:
                continue
            row = SlotRow(pk, schedule, template, start, end, pool, capacity, held=booked,
                          booked=booked)
            self.future[schedule].append(row)
            self.future_starts[schedule].append(start)
        self.past: dict[tuple[int, datetime], SlotRow] = {}
        # wards and beds
        self.wards: dict[int, list[tuple[int, int | None]]] = defaultdict(list)
        for pk, inst, dept in Ward.objects.filter(institution_id__in=institutions,
                                                  is_active=True).order_by(
                "institution_id", "code", "pk").values_list("pk", "institution_id",
                                                            "department_id"):
            self.wards[inst].append((pk, dept))
        self.beds: dict[int, list[list[Any]]] = defaultdict(list)  # ward → [bed, busy_until]
        for pk, ward, pool in Bed.objects.filter(
                ward__institution_id__in=institutions, status=Bed.Status.FREE).order_by(
                "ward_id", "code", "pk").values_list("pk", "ward_id", "pool"):
            self.beds[ward].append([pk, pool, self.t0 - timedelta(days=3650)])
        for ward in self.beds:  # referral beds first, then public (each by code)
            self.beds[ward].sort(key=lambda b: b[1] != Pool.REFERRAL)

    # slots -------------------------------------------------------------------------------
    def _template_slot(self, schedule: int, t: datetime) -> tuple[datetime, datetime,
                                                                  _Template] | None:
        """The template slot of ``schedule`` that contains ``t``."""
        local = t.astimezone(CHINA)
        h = local.hour + local.minute / 60 + local.second / 3600
        for tpl in self.templates.get(schedule, ()):
            if tpl.weekday == local.weekday() and tpl.start <= h < tpl.end:
                k = int((h - tpl.start) * 60 // tpl.minutes)
                start_h = tpl.start + k * tpl.minutes / 60
                if start_h + tpl.minutes / 60 > tpl.end + 1e-9:
                    return None
                day = local.date()
                start = (datetime.combine(day, time(), tzinfo=CHINA)
                         + timedelta(minutes=round(start_h * 60))).astimezone(UTC)
                return start, start + timedelta(minutes=tpl.minutes), tpl
        return None

    def _past_row(self, schedule: int, start: datetime, end: datetime,
                  tpl: _Template) -> SlotRow:
        row = self.past.get((schedule, start))
        if row is None:
            inst = self.schedules[schedule][0]
            referral = self.reserve.get(self.alliance_of.get(inst) or 0, False)
            row = SlotRow(0, schedule, tpl.id, start, end,
                          Pool.REFERRAL if referral else Pool.PUBLIC, tpl.places)
            self.past[(schedule, start)] = row
        return row

    def _future_rows(self, schedule: int, start: datetime) -> list[SlotRow]:
        starts = self.future_starts.get(schedule, [])
        i = bisect.bisect_left(starts, start)
        out = []
        rows = self.future[schedule]
        while i < len(starts) and starts[i] == start:
            out.append(rows[i])
            i += 1
        return out

    @staticmethod
    def _free(rows: list[SlotRow], patient: int) -> SlotRow | None:
        """A referral takes a reserved place first, else a public one."""
        for pool in (Pool.REFERRAL, Pool.PUBLIC):
            for row in rows:
                if (row.pool == pool and row.held < row.capacity
                        and patient not in row.patients):
                    return row
        return None

    def exact(self, schedule: int, t: datetime, patient: int) -> SlotRow | None:
        """The slot containing ``t`` (an encounter's start) with a free place, or None."""
        found = self._template_slot(schedule, t)
        if found is None:
            return None
        start, end, tpl = found
        if start < self.t0:
            row = self._past_row(schedule, start, end, tpl)
            return row if row.held < row.capacity and patient not in row.patients else None
        return self._free(self._future_rows(schedule, start), patient)

    def next_free(self, schedules: Sequence[int], earliest: datetime, patient: int,
                  horizon: timedelta = timedelta(days=14)) -> SlotRow | None:
        """The earliest slot with a free place among ``schedules`` starting at or after
        ``earliest`` and within ``horizon``."""
        latest = earliest + horizon
        best: SlotRow | None = None
        for schedule in schedules:
            found = None
            if earliest < self.t0:
                found = self._next_past(schedule, earliest, min(latest, self.t0), patient)
            if found is None and latest > self.t0:
                starts = self.future_starts.get(schedule, [])
                i = bisect.bisect_left(starts, max(earliest, self.t0))
                while i < len(starts) and starts[i] < latest:
                    same = self._future_rows(schedule, starts[i])
                    found = self._free(same, patient)
                    if found is not None:
                        break
                    i += len(same)
            if found is not None and (best is None or found.start < best.start):
                best = found
        return best

    def _next_past(self, schedule: int, earliest: datetime, latest: datetime,
                   patient: int) -> SlotRow | None:
        templates = self.templates.get(schedule, ())
        if not templates:
            return None
        day = earliest.astimezone(CHINA).date()
        while True:
            midnight = datetime.combine(day, time(), tzinfo=CHINA)
            if midnight.astimezone(UTC) >= latest:
                return None
            for tpl in templates:
                if tpl.weekday != day.weekday():
                    continue
                minute = round(tpl.start * 60)
                while minute + tpl.minutes <= round(tpl.end * 60):
                    start = (midnight + timedelta(minutes=minute)).astimezone(UTC)
                    minute += tpl.minutes
                    if start < earliest:
                        continue
                    if start >= latest:
                        return None
                    row = self._past_row(schedule, start, start + timedelta(
                        minutes=tpl.minutes), tpl)
                    if row.held < row.capacity and patient not in row.patients:
                        return row
            day += timedelta(days=1)

    @staticmethod
    def hold(row: SlotRow, patient: int) -> None:
        row.held += 1
        row.patients.add(patient)

    # beds -----------------------------------------------------------------------------------
    def bed(self, institution: int, department: int | None, specialty: str | None,
            specialties: dict[int, str], start: datetime, until: datetime) -> int | None:
        """A bed of the institution free from ``start`` (the department's ward first, then a
        ward of a related specialty, then any), held until ``until``."""
        wards = self.wards.get(institution, [])
        if not wards:
            return None
        related = {"ophthalmology_ent": "surgery", "orthopaedics": "surgery"}.get(
            specialty or "", "internal_medicine")

        def rank(ward: tuple[int, int | None]) -> int:
            if ward[1] is not None and ward[1] == department:
                return 0
            return 1 if specialties.get(ward[1] or 0) == related else 2

        for ward, _dept in sorted(wards, key=rank):
            for bed in self.beds.get(ward, ()):
                if bed[2] <= start:
                    bed[2] = until
                    return int(bed[0])
        return None


# --- the generator of referrals ------------------------------------------------------------------

UNANSWERED = frozenset({"pending", "near_deadline", "overdue", "green"})


class _People:
    """The plan's places, institutions and staff, for senders, receivers and texts."""

    def __init__(self, plan: CountyPlan) -> None:
        self.plan = plan
        self.village_by_code = {v.code: v for v in plan.villages}
        self.names: dict[int, str] = {}
        for row in plan.rows["practitioner"]:
            self.names[int(str(row[0]))] = str(row[2])
        self.specialty: dict[int, str] = {}
        for row in plan.rows["department"]:
            self.specialty[int(str(row[0]))] = str(row[4])
        self.units: dict[int, Unit] = {}
        for unit in (*plan.hospitals.values(), *plan.townships_units, *plan.village_units,
                     *plan.outside):
            self.units[unit.id] = unit
        self.alliance_pk: dict[int, int | None] = {}
        for row in plan.rows["institution"]:
            self.alliance_pk[int(str(row[0]))] = int(str(row[5])) if row[5] else None
        self.alliance_pks = [int(str(row[0])) for row in plan.rows["alliance"]]

    def name(self, prac: int | None) -> str:
        return self.names.get(prac or 0, "")

    def township_of(self, cand: Candidate) -> int:
        return self.village_by_code[cand.address].township


class ReferralGenerator:
    """Plans the referrals, their capacity and the public bookings (module docstring)."""

    def __init__(self, collector: Collector, plan: CountyPlan, *, seed: int,
                 now: datetime, history_end: datetime, vendor: str) -> None:
        self.c = collector
        self.plan = plan
        self.seed = seed
        self.now = _sec(now.astimezone(UTC))
        self.suffix = "+00:00" if vendor == "postgresql" else ""
        self.rng = random.Random(f"tiercare-synth:{seed}:referrals:plan")
        self.clock = _Clock(self.rng)
        self.r = self.rng.random
        self.people = _People(plan)
        self.policy = ref_rules.DeadlinePolicy()
        self.refs: list[Ref] = []
        self.public: list[Booking] = []
        self.seq = 0
        reserve = {pk: share > 0 for pk, share in SchedulingPolicy.objects.filter(
            alliance_id__in=self.people.alliance_pks).values_list("alliance_id",
                                                                  "reserve_share")}
        self.cap = Capacity(sorted(self.people.units), self.now.astimezone(CHINA).date(),
                            reserve, self.people.alliance_pk)
        self.catalogues: dict[int | None, ref_rules.Catalogue | None] = {}
        self.warnings: dict[tuple[Any, ...], str] = {}
        # the live part leaves out what the history already covers (a "living" county)
        self.cover = (history_end if history_end > self.now - timedelta(days=LIVE_DAYS)
                      else None)

    # --- look-ups -----------------------------------------------------------------------
    def _catalogue(self, alliance: int | None) -> ref_rules.Catalogue | None:
        if alliance not in self.catalogues:
            obj = Alliance.objects.filter(pk=alliance).first() if alliance else None
            stored = catalogue_for(obj)
            self.catalogues[alliance] = rules_catalogue(stored) if stored else None
        return self.catalogues[alliance]

    def _warning(self, ref: Ref) -> str:
        """The catalogue's warning kept on the slip at submit (``services.submit``)."""
        alliance = self.people.alliance_pk.get(ref.sending.id)
        key = ("up", alliance, ref.direction, ref.diagnosis, ref.sending.level,
               ref.receiving.level)
        found = self.warnings.get(key)
        if found is None:
            advice = ref_rules.catalogue_warning(self._catalogue(alliance), ref.direction,
                                                 ref.diagnosis, ref.sending.level,
                                                 ref.receiving.level)
            with translation.override("zh-hans"):
                found = self.warnings[key] = str(advice) if advice else ""
        return found

    def _suggestion(self, code: str, discharging: Unit) -> str:
        """The catalogue's down-referral suggestion at discharge (``services.complete``)."""
        alliance = self.people.alliance_pk.get(discharging.id)
        key = ("down", alliance, code, discharging.level)
        found = self.warnings.get(key)
        if found is None:
            catalogue = self._catalogue(alliance)
            advice = (catalogue.down_referral_suggestion(code, discharging.level)
                      if catalogue else None)
            with translation.override("zh-hans"):
                found = self.warnings[key] = str(advice) if advice else ""
        return found

    def _doctor(self, unit: Unit, specialty: str) -> tuple[int | None, int | None]:
        dept, doctors = unit.place(specialty)
        return dept, (_pick(self.r, doctors) if doctors else None)

    def _sender(self, cand: Candidate, *, township: bool,
                green: bool = False) -> tuple[Unit, int | None, int | None]:
        """The resident's own township centre or village clinic, and a doctor there."""
        village = self.people.village_by_code[cand.address]
        if township:
            unit = self.plan.townships_units[village.township]
            dept, prac = self._doctor(unit, "emergency" if green else "general_practice")
        else:
            unit = self.plan.village_units[village.index]
            dept, prac = self._doctor(unit, "general_practice")
        return unit, dept, prac

    def _values(self, cand: Candidate, at: datetime, *, urgent: bool = False,
                stay: int = 0) -> dict[str, Any]:
        r = self.r
        age = max(0, (at.astimezone(CHINA).date() - date.fromisoformat(cand.birth)).days
                  // 365)
        code = cand.code
        name = icd10.name_zh(code) or icd10.name_zh(code[:3]) or code
        if "不伴有" in name:  # "2型糖尿病不伴有并发症" reads "2型糖尿病" in a sentence
            name = icd10.name_zh(code[:3]) or name
        return {
            "name": name.split("，")[0],  # "脑梗死，未特指" reads "脑梗死" in a sentence
            "age": age, "sex": "男" if cand.male else "女",
            "sbp": 180 + int(r() * 40) if urgent else 150 + int(r() * 30),
            "dbp": 110 + int(r() * 15) if urgent else 90 + int(r() * 15),
            "glu": f"{(17.0 + r() * 10) if urgent else (8.0 + r() * 5.5):.1f}",
            "temp": f"{37.8 + r() * 2:.1f}", "spo2": 84 + int(r() * 9),
            "hr": 88 + int(r() * 35), "days": 2 + int(r() * 12), "months": 2 + int(r() * 10),
            "years": 2 + int(r() * 18), "hours": 1 + int(r() * 5),
            "side": "左" if r() < 0.5 else "右", "stay": stay,
        }

    def _texts(self, ref: Ref, at: datetime, *, stay: int = 0) -> dict[str, Any]:
        """Reason and clinical summary of the slip, in the words of the condition's group
        that fit the resident's age and sex."""
        texts = txt.GROUPS[txt.group_of(ref.diagnosis)]
        values = self._values(ref.cand, at, urgent=ref.green, stay=stay)
        reasons = texts.urgent if ref.green and texts.urgent else texts.reasons
        ref.reason = self._fitting(reasons, values).format(**values)
        ref.summary = self._fitting(texts.summaries, values).format(**values)
        return values

    def _fitting(self, templates: Sequence[str], values: dict[str, Any]) -> str:
        """One of ``templates`` that fits the resident (``referral_texts.fits``), or any."""
        age, male = values["age"], values["sex"] == "男"
        return str(_pick(self.r, [t for t in templates if txt.fits(t, age, male)]
                         or templates))

    def _new(self, cand: Candidate, *, direction: str, sending: Unit,
             sending_dept: int | None, sending_prac: int | None, receiving: Unit,
             receiving_dept: int | None, accepting: int | None,
             green: bool = False) -> Ref:
        self.seq += 1
        return Ref(self.seq, cand, direction, green, sending, sending_dept, sending_prac,
                   receiving, receiving_dept, accepting)

    def _receiver_name(self, ref: Ref) -> str:
        prac = ref.accepting_prac
        if prac is None:
            _dept, prac = self._doctor(ref.receiving, self.people.specialty.get(
                ref.receiving_dept or 0, "internal_medicine"))
        return self.people.name(prac)

    # --- steps ---------------------------------------------------------------------------
    def _open(self, ref: Ref, submit: datetime, create_gap: timedelta,
              target: str = St.SUBMITTED) -> None:
        by = self.people.name(ref.sending_prac)
        ref.steps.append(Step(submit - create_gap, "create", St.DRAFT, SEND, by))
        ref.steps.append(Step(submit, "submit", target, SEND, by))
        if ref.direction in (Direction.UP, Direction.OUT_OF_COUNTY):
            ref.warning = self._warning(ref)

    def _answer_times(self, submit: datetime, green: bool,
                      late: bool) -> tuple[datetime, datetime]:
        """(receipt, answer) of a referral sent at ``submit``: green channel within minutes;
        routine in office hours; ``late``: after the 24-hour deadline."""
        c, r = self.clock, self.r
        if green:
            answer = submit + (c.minutes(16, 40) if late else c.minutes(1, 12))
            receive = answer if r() < 0.5 else _sec(submit + (answer - submit) * r())
            return receive, answer
        if late:
            answer = c.office_forward(submit + c.hours(24.2, 72))
            return _sec(submit + (answer - submit) * (0.3 + 0.6 * r())), answer
        receive = c.office_forward(submit + c.receipt_gap())
        return receive, receive + (timedelta(0) if r() < 0.3 else c.minutes(2, 180))

    def _accept(self, ref: Ref, receive: datetime, answer: datetime) -> None:
        by = self._receiver_name(ref)
        ref.steps.append(Step(receive, "receive", St.RECEIVED, RECV, by))
        ref.steps.append(Step(answer, "accept", St.ACCEPTED, RECV, by))

    def _arrive(self, ref: Ref, arrive: datetime, complete: datetime | None, outcome: str,
                note: str) -> None:
        by = self._receiver_name(ref)
        ref.steps.append(Step(arrive, "arrive", St.ARRIVED, RECV, by))
        if complete is not None:
            ref.outcome, ref.outcome_note = outcome, note
            ref.steps.append(Step(complete, "complete", St.COMPLETED, RECV, by, note))

    def _receive_only(self, ref: Ref, receive: datetime | None) -> None:
        if receive is not None:
            ref.steps.append(Step(receive, "receive", St.RECEIVED, RECV,
                                  self._receiver_name(ref)))

    def _expire(self, ref: Ref, submit: datetime) -> None:
        expire = ref_rules.expires_at(submit, self.policy) + timedelta(
            seconds=int(self.r() * 60))
        ref.steps.append(Step(expire, "expire", St.EXPIRED, SYSTEM, ESCALATION_ACTOR,
                              f"unanswered for {self.policy.expiry_days} days"))

    def _follow_up(self, ref: Ref, submit: datetime, done_after: datetime | None,
                   notes: Sequence[str]) -> None:
        """The sending institution's follow-up (rules.md §3: within 2 weeks): done a day or
        more after the resident's visit or answer, mostly before the due date."""
        due = ref_rules.follow_up_due(submit.astimezone(CHINA).date(), self.policy)
        done: datetime | None = None
        if done_after is not None and self.r() >= FOLLOW_UP_MISSED:
            earliest = max(submit + timedelta(days=2), done_after + timedelta(days=1))
            day = earliest.astimezone(CHINA).date() + timedelta(days=int(self.r() * 10))
            if self.r() < FOLLOW_UP_LATE:
                day = max(day, due + timedelta(days=1 + int(self.r() * 10)))
            done = max(earliest, self.clock.at(day, 8.5 + 8 * self.r()))
        ref.follow_up = (due, done, _pick(self.r, notes))

    def _redirect(self, ref: Ref) -> Ref | None:
        """Put a first receiver in front of ``ref`` that redirects it to ``ref``'s receiver
        (rules.md §3, ADR 0012: the first ends ``redirected``, ``ref`` is the successor with
        a fresh deadline; the follow-up task stays with the first). None when no other
        county hospital of the alliance exists or there is no time."""
        receive, answer = ref.time_of("receive"), ref.time_of("accept")
        alliance = self.people.alliance_pk.get(ref.receiving.id)
        hospitals = self.plan.hospitals
        # who would have been asked first: the general hospital for a case the TCM or the
        # maternal and child hospital took; the TCM hospital for the general hospital's
        first_kind = {"general_hospital": "tcm", "tcm_hospital": "general",
                      "maternal_child": "general"}.get(ref.receiving.kind)
        unit = hospitals.get(first_kind or "")
        if unit is None or self.people.alliance_pk.get(unit.id) != alliance or \
                receive is None or answer is None or answer - receive < timedelta(minutes=2):
            return None
        dept, prac = self._doctor(unit, self.people.specialty.get(ref.receiving_dept or 0,
                                                                  "internal_medicine"))
        self.seq += 1
        first = Ref(self.seq, ref.cand, ref.direction, ref.green, ref.sending,
                    ref.sending_dept, ref.sending_prac, unit, dept, None, ref.reason,
                    ref.summary, ref.care_plan, ref.warning)
        by = self.people.name(prac)
        redirect = _sec(receive + (answer - receive) * (0.2 + 0.4 * self.r()))
        receive2 = _sec(redirect + (answer - redirect) * self.r())
        reason = _pick(self.r, txt.REDIRECT.get(ref.receiving.kind,
                                                 txt.REDIRECT["general_hospital"]))
        first.steps = [*ref.steps[:2],
                       Step(receive, "receive", St.RECEIVED, RECV, by),
                       Step(redirect, "redirect", St.REDIRECTED, RECV, by, reason)]
        first.response_note = reason
        first.follow_up, ref.follow_up = ref.follow_up, None
        accept_at = next(i for i, s in enumerate(ref.steps) if s.action == "accept")
        ref.steps = [Step(redirect, "redirect", St.SUBMITTED, RECV, by, reason),
                     Step(receive2, "receive", St.RECEIVED, RECV, self._receiver_name(ref)),
                     *ref.steps[accept_at:]]
        first.successor, ref.predecessor = ref, first
        return first

    def _maybe_redirect(self, ref: Ref, force: str) -> None:
        if ref.time_of("accept") is not None and (
                force == "redirected" or (not force and self.r() < REDIRECT_SHARE)):
            first = self._redirect(ref)
            if first is not None:
                self.refs.append(first)
        self.refs.append(ref)

    # --- courses -------------------------------------------------------------------------
    def admission(self, cand: Candidate, *, live_start: datetime | None = None,
                  force: str = "") -> None:
        """An up-referral that brought the resident into a ward: of a county hospital (sent
        by the township centre or the village clinic; emergencies through the green channel)
        or of a township centre (sent by the village clinic). History: the admission is the
        arrival, the discharge the completion; live: planned forwards from ``live_start``."""
        r, c = self.r, self.clock
        town = cand.kind == TOWN_ADMISSION
        receiving = self.people.units[cand.institution]
        texts = txt.GROUPS[txt.group_of(cand.code)]
        green = force == "green" or (not force and bool(texts.urgent)
                                     and r() < GREEN_SHARE * (0.5 if town else 1.0))
        sending, s_dept, s_prac = self._sender(
            cand, township=not town and r() < TOWNSHIP_SENDER_SHARE, green=green)
        ref = self._new(cand, direction=Direction.UP, green=green, sending=sending,
                        sending_dept=s_dept, sending_prac=s_prac, receiving=receiving,
                        receiving_dept=cand.department, accepting=cand.practitioner)
        late = r() < (GREEN_LATE_SHARE if green else LATE_SHARE)
        start, end = _parse(cand.start), _parse(cand.end)
        assert start is not None
        receive: datetime | None
        answer: datetime | None
        arrive: datetime | None
        complete: datetime | None
        if live_start is None:  # history: backwards from the admission
            arrive, complete = start, end
            if green:
                answer = arrive - c.minutes(15, 90)
                submit = answer - (c.minutes(16, 40) if late else c.minutes(1, 12))
                receive = answer if r() < 0.5 else _sec(submit + (answer - submit) * r())
            else:
                submit = c.office_back(arrive - c.hours(6, 72))
                receive, answer = self._answer_times(submit, False, late)
                if answer > arrive - timedelta(minutes=20):
                    receive = submit + c.minutes(5, 30)
                    answer = receive + c.minutes(1, 10)
            stay_days = (end - start).days if end else 0
        else:  # live: forwards from the submission
            submit = live_start if green else c.office_back(live_start)
            receive, answer = self._answer_times(submit, green, late)
            if force in UNANSWERED:
                answer = None
                if force == "green" or r() < 0.5:
                    receive = None
                if force == "near_deadline":
                    receive = submit + c.minutes(30, 120)
            elif force in ("accepted", "arrived") and answer > self.now:
                answer = self.now - c.minutes(1, 30)
                receive = min(receive, answer)
            elif force == "redirected":  # time for the first receiver to send it on
                receive = min(answer, max(submit + timedelta(minutes=1),
                                          min(receive, answer - c.minutes(10, 60))))
            lo, hi = ref_los(town)
            stay_days = lo + int(r() * (hi - lo + 1))
            arrive = complete = None
            if answer is not None:
                arrive = answer + (c.minutes(15, 90) if green else c.hours(2, 48))
                if force == "accepted":
                    arrive = max(arrive, self.now + c.hours(3, 40))
                elif force == "arrived":
                    arrive = min(arrive, self.now - c.hours(1, 10))
                    if self.cover is not None:  # after the history's last admissions
                        arrive = max(arrive, self.cover + c.minutes(1, 60))
                    arrive = max(arrive, answer + timedelta(minutes=1))
                complete = c.at(arrive.astimezone(CHINA).date() + timedelta(days=stay_days),
                                9 + 2.5 * r())
                if self.cover is not None and arrive <= self.cover:
                    return  # the history has this admission
        values = self._texts(ref, submit, stay=stay_days)
        self._open(ref, submit, c.minutes(2, 8) if green else c.minutes(3, 40))
        ref.care_plan = self._fitting(texts.plans, values).format(**values)
        self._follow_up(ref, submit, arrive, txt.FOLLOW_UP_NOTES)
        if force == "follow_up_overdue" and ref.follow_up is not None:
            ref.follow_up = (ref.follow_up[0], None, "")
        if answer is not None and arrive is not None:
            outcome = _draw(r, ADMISSION_OUTCOMES, Outcome.IMPROVED)
            note = {Outcome.DIED: txt.ADMISSION_DIED,
                    Outcome.UNCHANGED: txt.ADMISSION_UNCHANGED}.get(
                outcome, txt.ADMISSION_DONE).format(**values)
            assert receive is not None
            self._accept(ref, receive, answer)
            self._arrive(ref, arrive, complete, outcome, note)
            ref.stay = Stay(0, cand.patient)
        else:
            self._receive_only(ref, receive)
        self._maybe_redirect(ref, force)

    def clinic(self, cand: Candidate, *, live_start: datetime | None = None,
               force: str = "") -> None:
        """An up-referral that booked a county clinic visit: the visit's doctor's specialist
        clinic when they hold one at that time, else the department's clinic. History: the
        visit is the arrival; live: a free slot one to ten days after acceptance."""
        r, c = self.r, self.clock
        start, end = _parse(cand.start), _parse(cand.end)
        assert start is not None
        schedules = [*self.cap.specialist_of.get(cand.practitioner or 0, []),
                     *(s for s in self.cap.by_department.get(cand.department or 0, [])
                       if not self.cap.schedules[s][3])]
        if not schedules:
            return
        sending, s_dept, s_prac = self._sender(cand, township=r() < 0.5)
        ref = self._new(cand, direction=Direction.UP, sending=sending, sending_dept=s_dept,
                        sending_prac=s_prac, receiving=self.people.units[cand.institution],
                        receiving_dept=cand.department, accepting=cand.practitioner)
        late = r() < LATE_SHARE
        receive: datetime | None
        answer: datetime | None
        slot: SlotRow | None = None
        done_after: datetime | None = None
        if live_start is None:
            for schedule in schedules:
                slot = self.cap.exact(schedule, start, cand.patient)
                if slot is not None:
                    break
            if slot is None or end is None:
                return
            submit = c.office_back(slot.start - c.hours(24, 240))
            receive, answer = self._answer_times(submit, False, late)
            if answer > slot.start - timedelta(hours=1):
                receive = submit + c.minutes(5, 60)
                answer = receive + c.minutes(1, 30)
            self.cap.hold(slot, cand.patient)
            done_after = start
        else:
            submit = c.office_back(live_start)
            receive, answer = self._answer_times(submit, False, late)
            if force in UNANSWERED:
                answer = None
                if r() < 0.5:
                    receive = None
                if force == "near_deadline":
                    receive = submit + c.minutes(30, 120)
            elif force == "accepted" and answer > self.now:
                answer = self.now - c.minutes(1, 30)
                receive = min(receive, answer)
            if answer is not None:
                earliest = answer + c.hours(24, 240)
                if force == "accepted":
                    earliest = max(earliest, self.now + c.hours(20, 100))
                if self.cover is not None and earliest <= self.cover:
                    return  # the history has this visit
                ref.want_slot = (earliest, tuple(schedules))
                done_after = earliest
        self._texts(ref, submit)
        self._open(ref, submit, c.minutes(3, 30))
        self._follow_up(ref, submit, done_after, txt.FOLLOW_UP_NOTES)
        if answer is not None:
            assert receive is not None
            self._accept(ref, receive, answer)
            if slot is not None:
                ref.booking = Booking(slot, cand.patient, "", [], ref)
                assert end is not None
                self._arrive(ref, start, end, Outcome.IMPROVED, _pick(r, txt.CLINIC_DONE))
        else:
            self._receive_only(ref, receive)
        self._maybe_redirect(ref, force)

    def primary(self, cand: Candidate, *, live_start: datetime | None = None) -> None:
        """An up-referral after a primary-care visit that led nowhere: rejected (mostly
        because the catalogue lists the condition at the sending level), cancelled by the
        sender, accepted and then cancelled (the resident did not come), or never answered
        (escalated, then expired)."""
        r, c = self.r, self.clock
        sending = self.people.units[cand.institution]
        alliance = self.people.alliance_pk.get(sending.id)
        leads = [u for key, u in sorted(self.plan.hospitals.items())
                 if key != "maternal_child" and self.people.alliance_pk.get(u.id) == alliance]
        if not leads:
            return
        receiving = leads[0]
        child = (date.fromisoformat(cand.start[:10])
                 - date.fromisoformat(cand.birth)).days < 15 * 365
        r_dept, r_prac = self._doctor(receiving, specialty_for(cand.code, child))
        ref = self._new(cand, direction=Direction.UP, sending=sending,
                        sending_dept=cand.department, sending_prac=cand.practitioner,
                        receiving=receiving, receiving_dept=r_dept, accepting=None)
        visit_end = _parse(cand.end) or _parse(cand.start)
        assert visit_end is not None
        submit = (visit_end + c.minutes(3, 40) if live_start is None
                  else c.office_back(live_start))
        outcome = _draw(r, PRIMARY_OUTCOMES, "rejected")
        receive, answer = self._answer_times(submit, False, r() < LATE_SHARE)
        self._texts(ref, submit)
        self._open(ref, submit, c.minutes(2, 20))
        by_recv = self.people.name(r_prac)
        done_after: datetime = answer
        if outcome == "rejected":
            reason = (txt.REJECT_CATALOGUE if ref.warning and r() < 0.7
                      else _pick(r, txt.REJECT_REASONS))
            ref.response_note = reason
            ref.steps += [Step(receive, "receive", St.RECEIVED, RECV, by_recv),
                          Step(answer, "reject", St.REJECTED, RECV, by_recv, reason)]
        elif outcome == "cancel_before":
            cancel = submit + c.hours(0.5, 30)
            if receive < cancel and r() < 0.6:
                ref.steps.append(Step(receive, "receive", St.RECEIVED, RECV, by_recv))
            ref.steps.append(Step(cancel, "cancel", St.CANCELLED, SEND,
                                  self.people.name(ref.sending_prac),
                                  _pick(r, txt.CANCEL_BEFORE)))
            done_after = cancel
        elif outcome == "cancel_after":
            ref.accepting_prac = r_prac
            self._accept(ref, receive, answer)
            ref.want_slot = (answer + c.hours(24, 200), tuple(
                s for s in self.cap.by_department.get(r_dept or 0, [])
                if not self.cap.schedules[s][3]))
            ref.no_visit = True
        else:  # never answered
            self._receive_only(ref, receive if r() < 0.5 else None)
            self._expire(ref, submit)
            done_after = submit + timedelta(days=2)
        self._follow_up(ref, submit, done_after, txt.FOLLOW_UP_UNSUCCESSFUL)
        self.refs.append(ref)

    def down(self, source: Ref | None, cand: Candidate, discharge: datetime,
             discharging: Unit, department: int | None, doctor: int | None,
             summary: str) -> None:
        """A down-referral at discharge to the resident's township health centre, carrying a
        care plan (rules.md §3; ``services.complete`` proposes it, the doctor sends it),
        accepted with a slot of the centre's clinic a few days later."""
        r, c = self.r, self.clock
        township = self.plan.townships_units[self.people.township_of(cand)]
        schedules = tuple(s for s in self.cap.by_institution.get(township.id, [])
                          if not self.cap.schedules[s][3])
        if not schedules:
            return
        t_dept, t_prac = self._doctor(township, "general_practice")
        ref = self._new(cand, direction=Direction.DOWN, sending=discharging,
                        sending_dept=department, sending_prac=doctor, receiving=township,
                        receiving_dept=t_dept, accepting=t_prac)
        ref.source = source
        texts = txt.GROUPS[txt.group_of(cand.code)]
        start = _parse(cand.start) or discharge
        values = self._values(cand, discharge, stay=(discharge - start).days)
        ref.reason = self._suggestion(cand.code, discharging) or _pick(r, txt.DOWN_REASONS)
        ref.summary = summary
        ref.care_plan = (source.care_plan if source is not None and source.care_plan
                         else self._fitting(texts.plans, values).format(**values))
        # the draft is proposed at the discharge itself; the doctor reviews and sends it
        submit = discharge + c.minutes(10, 200)
        self._open(ref, submit, submit - discharge)
        outcome = _draw(r, DOWN_OUTCOMES, "done")
        receive, answer = self._answer_times(submit, False, r() < LATE_SHARE)
        if outcome == "cancel_before":
            ref.steps.append(Step(submit + c.hours(1, 20), "cancel", St.CANCELLED, SEND,
                                  self.people.name(doctor), _pick(r, txt.CANCEL_BEFORE)))
        elif outcome == "expired":
            self._expire(ref, submit)
        else:
            self._accept(ref, receive, answer)
            ref.want_slot = (max(answer + timedelta(hours=1), discharge + c.hours(48, 240)),
                             schedules)
            ref.no_visit = outcome == "cancel_after"
            ref.outcome_note = _pick(r, txt.DOWN_DONE)
        self.refs.append(ref)

    def out_of_county(self, cand: Candidate, submit: datetime) -> None:
        """An out-of-county referral from a county hospital waiting for the alliance office's
        approval (rules.md §3, ADR 0012)."""
        r, c = self.r, self.clock
        outside = [u for u in self.plan.outside if u.level == "provincial"] or list(
            self.plan.outside)
        if not outside:
            return
        receiving = _pick(r, outside)
        spec = ("oncology" if cand.code.startswith("C") else
                "cardiology" if cand.code.startswith("I") else "internal_medicine")
        r_dept, _prac = self._doctor(receiving, spec)
        ref = self._new(cand, direction=Direction.OUT_OF_COUNTY,
                        sending=self.people.units[cand.institution],
                        sending_dept=cand.department, sending_prac=cand.practitioner,
                        receiving=receiving, receiving_dept=r_dept, accepting=None)
        self._texts(ref, submit)
        ref.reason = "县域内诊疗条件受限，" + ref.reason
        self._open(ref, submit, c.minutes(5, 40), St.AWAITING_APPROVAL)
        self.refs.append(ref)

    # --- phases ---------------------------------------------------------------------------
    def plan_history(self) -> None:
        for cand in self.c.candidates:
            if cand.live:
                continue
            if cand.kind in (ADMISSION, TOWN_ADMISSION):
                self.admission(cand)
            elif cand.kind == CLINIC:
                self.clinic(cand)
            elif cand.kind == PRIMARY:
                self.primary(cand)

    def plan_live(self) -> None:
        span = LIVE_DAYS * 86400
        for cand in self.c.candidates:
            if not cand.live:
                continue
            start = _sec(self.now - timedelta(seconds=int(span * self.r())))
            if cand.kind in (ADMISSION, TOWN_ADMISSION):
                self.admission(cand, live_start=start)
            elif cand.kind == CLINIC:
                self.clinic(cand, live_start=start)
            elif cand.kind == PRIMARY and (self.cover is None or start > self.cover):
                self.primary(cand, live_start=start)
        self._forced()

    def _forced(self) -> None:
        """The fixed live referrals of every alliance (:data:`FORCED`), from admissions of
        residents of the alliance's first township (the demo doctor's) when there are."""
        c = self.clock
        by_alliance: dict[int | None, list[Candidate]] = defaultdict(list)
        for cand in self.c.candidates:
            if cand.kind == ADMISSION:
                town = self.plan.townships_units[self.people.township_of(cand)]
                by_alliance[self.people.alliance_pk.get(town.id)].append(cand)
        for alliance in self.people.alliance_pks:
            pool = by_alliance.get(alliance, [])
            if not pool:
                continue
            first = min(i for i, u in enumerate(self.plan.townships_units)
                        if self.people.alliance_pk.get(u.id) == alliance)
            home = [cd for cd in pool if self.people.township_of(cd) == first] or pool
            urgent = [cd for cd in pool if txt.GROUPS[txt.group_of(cd.code)].urgent] or pool
            for state, count in FORCED:
                for n in range(count):
                    cand = _pick(self.r, urgent if state == "green" else home)
                    now = self.now
                    clinic = bool(self.cap.by_department.get(cand.department or 0))
                    if state == "awaiting_approval":
                        self.out_of_county(cand, _sec(now - c.hours(0.5, 40)))
                    elif state == "near_deadline" and clinic:
                        self.clinic(cand, live_start=now - c.hours(21, 23.5), force=state)
                    elif state == "accepted" and clinic and n == 0:
                        self.clinic(cand, live_start=now - c.hours(4, 30), force=state)
                    else:
                        back = {"pending": (0.3, 18), "near_deadline": (21, 23.5),
                                "overdue": (28, 120), "green": (2 / 60, 10 / 60),
                                "accepted": (4, 30), "arrived": (60, 90),
                                "follow_up_overdue": (16 * 24, 22 * 24),
                                "redirected": (2 * 24, 10 * 24)}[state]
                        self.admission(cand, live_start=_sec(now - c.hours(*back)),
                                       force=state)

    def beds(self) -> None:
        """Hold a bed for every admission accepted by ``now``, in the order of acceptance
        (no overlap on a bed); none free: the referral is rejected instead (ward full)."""
        wanted = []
        for ref in self.refs:
            if ref.stay is not None:
                accept = ref.time_of("accept")
                assert accept is not None
                wanted.append((accept, ref.seq, ref))
        wanted.sort(key=lambda x: (x[0], x[1]))
        for accept, _seq, ref in wanted:
            if accept > self.now:
                ref.stay = None
                continue
            release = ref.time_of("complete") or ref.time_of("cancel") or NEVER
            bed = self.cap.bed(ref.receiving.id, ref.receiving_dept,
                               self.people.specialty.get(ref.receiving_dept or 0),
                               self.people.specialty, accept, release)
            if bed is None:
                self._refuse(ref, accept, txt.NO_BED)
                continue
            assert ref.stay is not None
            by = self._receiver_name(ref)
            moves: list[Move] = [(accept, B.FREE, B.RESERVED, by, "")]
            for step in ref.steps:
                if step.action == "arrive":
                    moves.append((step.at, B.RESERVED, B.OCCUPIED, by, "referral {id}"))
                elif step.action == "complete":
                    moves.append((step.at, B.OCCUPIED, B.FREE, by,
                                  "discharge, referral {id}"))
            ref.stay.bed, ref.stay.moves = bed, moves

    def _refuse(self, ref: Ref, answer: datetime, reason: str) -> None:
        """An acceptance that found no capacity becomes a rejection with ``reason``."""
        ref.stay = ref.booking = ref.want_slot = None
        by = self._receiver_name(ref)
        kept = [s for s in ref.steps if s.action in ("create", "submit", "receive", "redirect")
                and s.at <= answer]
        if not any(s.action == "receive" for s in kept):
            kept.append(Step(answer, "receive", St.RECEIVED, RECV, by))
        ref.steps = [*kept, Step(answer, "reject", St.REJECTED, RECV, by, reason)]
        ref.response_note = reason
        ref.outcome = ref.outcome_note = ""
        ref.accepting_prac = None
        if ref.follow_up is not None:
            due, done, _note = ref.follow_up
            ref.follow_up = (due, done, txt.FOLLOW_UP_UNSUCCESSFUL[0])

    def downs(self) -> None:
        """Down-referrals after discharges that happened by ``now``: of referred county
        admissions (by the condition's ``down_weight``) and of a few others."""
        for ref in list(self.refs):
            if ref.direction != Direction.UP or ref.stay is None or \
                    ref.receiving.level != "county" or ref.outcome in ("", Outcome.DIED):
                continue
            complete = ref.time_of("complete")
            if complete is None or complete > self.now:
                continue
            if self.r() < txt.GROUPS[txt.group_of(ref.diagnosis)].down_weight:
                self.down(ref, ref.cand, complete, ref.receiving, ref.receiving_dept,
                          ref.accepting_prac, ref.outcome_note)
        for cand in self.c.candidates:
            if cand.kind != DOWN_ONLY:
                continue
            end, start = _parse(cand.end), _parse(cand.start)
            if end is None or start is None or end > self.now:
                continue
            if self.r() < txt.GROUPS[txt.group_of(cand.code)].down_weight:
                values = self._values(cand, end, stay=(end - start).days)
                self.down(None, cand, end, self.people.units[cand.institution],
                          cand.department, cand.practitioner,
                          txt.ADMISSION_DONE.format(**values))

    def slots(self) -> None:
        """Book the clinic visits still to be placed, in the order of acceptance: the first
        free place within two weeks of the wanted day (a referral place first); none: the
        referral is rejected instead."""
        r, c = self.r, self.clock
        wanted = []
        for ref in self.refs:
            if ref.want_slot is not None:
                accept = ref.time_of("accept")
                assert accept is not None
                wanted.append((accept, ref.seq, ref))
        wanted.sort(key=lambda x: (x[0], x[1]))
        for accept, _seq, ref in wanted:
            assert ref.want_slot is not None
            earliest, schedules = ref.want_slot
            ref.want_slot = None
            if accept > self.now:
                continue
            slot = self.cap.next_free(schedules, earliest, ref.patient)
            if slot is None:
                self._refuse(ref, accept, txt.NO_SLOT)
                continue
            self.cap.hold(slot, ref.patient)
            ref.booking = Booking(slot, ref.patient, "", [], ref)
            if ref.no_visit:
                if r() < 0.5:  # the resident did not come
                    ref.steps.append(Step(slot.end + c.hours(0.5, 3), "cancel", St.CANCELLED,
                                          RECV, self._receiver_name(ref),
                                          txt.CANCEL_AFTER_RECEIVER))
                else:
                    ref.steps.append(Step(_sec(accept + (slot.start - accept) * (
                        0.2 + 0.7 * r())), "cancel", St.CANCELLED, SEND,
                        self.people.name(ref.sending_prac), txt.CANCEL_AFTER_SENDER))
            else:
                arrive = max(accept + timedelta(minutes=1), slot.start - c.minutes(0, 15))
                self._arrive(ref, arrive, slot.start + c.minutes(10, 40), Outcome.IMPROVED,
                             ref.outcome_note or _pick(r, txt.CLINIC_DONE))

    def bookings(self) -> None:
        """The appointments' moves follow their referral's steps (``referrals.services``:
        accept books, arrive checks in, complete fulfils, cancel gives the place back)."""
        for ref in self.refs:
            booking = ref.booking
            if booking is None:
                continue
            by = self._receiver_name(ref)
            accept = ref.time_of("accept")
            assert accept is not None
            booking.by = by
            booking.moves = [(accept, "", A.BOOKED, by, "")]
            for step in ref.steps:
                if step.action == "arrive":
                    booking.moves.append((step.at, A.BOOKED, A.CHECKED_IN, by,
                                          "referral {id}"))
                elif step.action == "complete":
                    booking.moves.append((step.at, A.CHECKED_IN, A.FULFILLED, by,
                                          "referral {id}"))
                elif step.action == "cancel":
                    booking.moves.append((step.at, A.BOOKED, A.CANCELLED, step.by,
                                          "referral {id} cancelled"))

    def fill_public(self, people: list[tuple[int, str, str, bool]]) -> None:
        """Public bookings in the free public places of the four weeks from today
        (:func:`fill_share`), by residents of a fitting age and sex; a place whose slot has
        begun was fulfilled, or missed (no-show)."""
        if not people:
            return
        r = random.Random(f"tiercare-synth:{self.seed}:referrals:public").random
        today = self.now.astimezone(CHINA).date()

        def age(p: tuple[int, str, str, bool]) -> int:
            return (today - date.fromisoformat(p[2])).days // 365

        children = [p for p in people if age(p) < 15]
        women = [p for p in people if not p[3] and 18 <= age(p) < 50]
        adults = [p for p in people if age(p) >= 15]
        for schedule in sorted(self.cap.future):
            dept = self.cap.schedules[schedule][1]
            spec = self.people.specialty.get(dept or 0, "")
            pool = (children if spec in ("paediatrics", "child_health") else
                    women if spec == "obstetrics_gynaecology" else adults) or people
            for slot in self.cap.future[schedule]:
                if slot.pool != Pool.PUBLIC:
                    continue
                share = fill_share((slot.start.astimezone(CHINA).date() - today).days)
                for _place in range(slot.capacity - slot.held):
                    if r() >= share:
                        continue
                    person = pool[int(r() * len(pool))][0]
                    if person in slot.patients:
                        continue
                    booked = _sec(min(self.now - timedelta(minutes=5), slot.start - timedelta(
                        seconds=3600 + int(r() * 12 * 86400))))
                    moves: list[Move] = [(booked, "", A.BOOKED, PUBLIC_BOOKER, "")]
                    if r() < 0.9:
                        arrive = slot.start - timedelta(seconds=int(r() * 900))
                        moves += [(arrive, A.BOOKED, A.CHECKED_IN, PUBLIC_BOOKER, ""),
                                  (slot.start + timedelta(seconds=600 + int(r() * 1200)),
                                   A.CHECKED_IN, A.FULFILLED, PUBLIC_BOOKER, "")]
                    else:
                        moves.append((slot.end + timedelta(minutes=30), A.BOOKED, A.NO_SHOW,
                                      PUBLIC_BOOKER, ""))
                    self.cap.hold(slot, person)
                    self.public.append(Booking(slot, person, PUBLIC_BOOKER, moves))

    def run(self) -> None:
        self.plan_history()
        self.plan_live()
        self.beds()
        self.downs()
        self.slots()
        self.bookings()
        self.fill_public(self.c.people)

    # --- what happened by ``now`` ---------------------------------------------------------
    def emit(self, ref: Ref) -> bool:
        """The steps up to ``now``, with the escalation where the response deadline passed
        unanswered (rules.md §3; ``services.escalate_overdue`` runs every minute). False
        when nothing has happened yet."""
        executed = [s for s in ref.steps if s.at <= self.now]
        if not executed:
            return False
        events: list[Step] = []
        status, deadline = "", None
        for i, step in enumerate(executed):
            events.append(step)
            if step.target == St.SUBMITTED and step.action in ("submit", "approve",
                                                                "redirect"):
                deadline = ref_rules.response_deadline(step.at, ref.green, self.policy)
            status = step.target
            if deadline is None or ref.escalated_at is not None or \
                    status not in statuses.AWAITING_ANSWER:
                continue
            until = executed[i + 1].at if i + 1 < len(executed) else self.now
            escalate = _sec(deadline + timedelta(seconds=int(self.r() * 60)))
            if step.at <= escalate < until or (i + 1 == len(executed)
                                               and step.at <= escalate <= self.now):
                events.append(Step(escalate, "escalate", status, SYSTEM, ESCALATION_ACTOR,
                                   f"deadline {deadline.astimezone(CHINA):%Y-%m-%d %H:%M} "
                                   "missed"))
                ref.escalated_at = escalate
        ref.events, ref.deadline, ref.status = events, deadline, status
        return True


def ref_los(town: bool) -> tuple[int, int]:
    """Length of stay (days) of an admission at a township centre or county hospital."""
    return synth_ref.LENGTH_OF_STAY["township" if town else "county"]


def check_moves(ref: Ref) -> None:
    """Guard against a planning error: the events follow the transition table, sides
    included, in time order."""
    status, last = "", None
    for event in ref.events:
        assert last is None or event.at >= last, (ref.seq, ref.events)
        last = event.at
        if event.action == "escalate":
            assert event.target == status and status in statuses.AWAITING_ANSWER, ref.seq
            continue
        if not status:
            assert (event.action, event.target) in (("create", St.DRAFT),
                                                    ("redirect", St.SUBMITTED)), ref.seq
        else:
            allowed = statuses.TRANSITIONS.get((status, event.target))
            assert allowed is not None and event.side in allowed, (status, event, ref.seq)
        status = event.target


# --- rows ----------------------------------------------------------------------------------------

REFERRAL_FIELDS = (
    "id", "patient", "direction", "green_channel", "status", "sending_institution",
    "sending_department", "sending_practitioner", "receiving_institution",
    "receiving_department", "receiving_practitioner", "diagnosis", "secondary_diagnoses",
    "reason", "clinical_summary", "care_plan", "catalogue_warning", "deadline", "escalated_at",
    "appointment", "bed", "redirected_to", "source_referral", "response_note", "outcome",
    "outcome_note", "created_at", "updated_at", "submitted_at", "approved_at", "received_at",
    "responded_at", "arrived_at", "closed_at",
)
EVENT_FIELDS = ("id", "referral", "at", "by_name", "side", "action", "from_status",
                "to_status", "reason")
FOLLOW_UP_FIELDS = ("id", "institution", "referral", "patient", "due_date", "status",
                    "created_at", "done_at", "note")
SLOT_FIELDS = ("id", "schedule", "template", "start", "end", "pool", "capacity", "booked",
               "release_at", "released", "status", "created_at", "updated_at")
APPOINTMENT_FIELDS = ("id", "slot", "patient", "pool", "status", "booked_by_name",
                      "source_referral_id", "note", "booked_at", "updated_at")
APPOINTMENT_EVENT_FIELDS = ("id", "appointment", "at", "by_name", "from_status", "to_status",
                            "reason")
BED_EVENT_FIELDS = ("id", "bed", "at", "by_name", "from_status", "to_status", "patient",
                    "reason")
CLOSING = frozenset({St.COMPLETED, St.REJECTED, St.REDIRECTED, St.CANCELLED, St.EXPIRED})
TABLES: tuple[type[models.Model], ...] = (Slot, Appointment, Referral, ReferralEvent,
                                          FollowUpTask, AppointmentEvent, BedEvent)

Rows = list[tuple[Any, ...]]
Writer = Callable[[type[models.Model], Sequence[str], Rows], None]


def generate(collector: Collector, plan: CountyPlan, *, seed: int, now: datetime,
             history_end: datetime, write: Writer) -> dict[str, int]:
    """Plan and write the county's referrals, appointments, beds and follow-up tasks
    (module docstring). ``history_end``: the end of the encounters' period; ``write(model,
    fields, rows)``: the generator's bulk writer. Returns the rows written per model label."""
    gen = ReferralGenerator(collector, plan, seed=seed, now=now, history_end=history_end,
                            vendor=connection.vendor)
    gen.run()
    return _Rows(gen).write(write)


class _Rows:
    """The planned referrals and bookings as table rows, cut at ``now``."""

    def __init__(self, gen: ReferralGenerator) -> None:
        self.gen = gen
        self.now = gen.now
        self.suffix = gen.suffix
        self.ids = {model: bulk.next_id(model) for model in TABLES}

    def ts(self, t: datetime | None) -> str | None:
        return None if t is None else _stamp(t, self.suffix)

    def take(self, model: type[models.Model]) -> int:
        value = self.ids[model]
        self.ids[model] = value + 1
        return value

    def write(self, write: Writer) -> dict[str, int]:
        gen = self.gen
        kept = [ref for ref in gen.refs if gen.emit(ref)]
        kept.sort(key=lambda ref: (ref.events[0].at, ref.seq))
        for ref in kept:
            ref.id = self.take(Referral)
            check_moves(ref)
        appointments, appointment_events = self.appointments(kept)
        slots = self.made_slots()
        bed_events, beds = self.beds(kept)
        referrals, events, follow_ups = self.referrals(kept)
        write(Slot, SLOT_FIELDS, slots)
        write(Appointment, APPOINTMENT_FIELDS,
              [(a[0], a[1].id, *a[2:]) for a in appointments])
        write(Referral, REFERRAL_FIELDS, referrals)
        write(ReferralEvent, EVENT_FIELDS, events)
        write(FollowUpTask, FOLLOW_UP_FIELDS, follow_ups)
        write(AppointmentEvent, APPOINTMENT_EVENT_FIELDS, appointment_events)
        write(BedEvent, BED_EVENT_FIELDS, bed_events)
        self.update_slots()
        self.update_beds(beds)
        bulk.reset_sequence(*TABLES)
        return {Referral._meta.label: len(referrals),
                ReferralEvent._meta.label: len(events),
                FollowUpTask._meta.label: len(follow_ups),
                Appointment._meta.label: len(appointments),
                AppointmentEvent._meta.label: len(appointment_events),
                BedEvent._meta.label: len(bed_events)}

    def appointments(self, kept: list[Ref]) -> tuple[Rows, Rows]:
        """Appointments of the referrals and the public ones, with their events; each
        slot's ``booked`` counts those not cancelled."""
        bookings = [ref.booking for ref in kept
                    if ref.booking is not None and ref.booking.moves[0][0] <= self.now]
        bookings += [b for b in self.gen.public if b.moves[0][0] <= self.now]
        bookings.sort(key=lambda b: (b.moves[0][0], b.referral.id if b.referral else 0,
                                     b.patient))
        rows: Rows = []
        events: Rows = []
        for booking in bookings:
            moves = [m for m in booking.moves if m[0] <= self.now]
            status, last = moves[-1][2], moves[-1][0]
            slot = booking.slot
            if status != A.CANCELLED:
                slot.booked += 1
            if slot.last is None or last > slot.last:
                slot.last = last
            booking.id = self.take(Appointment)
            rid = booking.referral.id if booking.referral is not None else None
            rows.append((booking.id, slot, booking.patient, slot.pool, status,
                         booking.by[:150], rid, "", self.ts(moves[0][0]), self.ts(last)))
            for at, source, target, by, reason in moves:
                events.append((self.take(AppointmentEvent), booking.id, self.ts(at), by[:150],
                               source, target, reason.format(id=rid)[:200]))
        return rows, events

    def made_slots(self) -> Rows:
        """The past slots the bookings used, as the release task leaves a referral slot
        (capacity = places used, the rest released; rules.md §4)."""
        rows: Rows = []
        for slot in sorted((s for s in self.gen.cap.past.values() if s.held),
                           key=lambda s: (s.schedule, s.start)):
            slot.id = self.take(Slot)
            referral = slot.pool == Pool.REFERRAL
            created = slot.start - timedelta(days=LIVE_DAYS)
            rows.append((slot.id, slot.schedule, slot.template, self.ts(slot.start),
                         self.ts(slot.end), slot.pool,
                         slot.booked if referral else slot.capacity, slot.booked,
                         self.ts(slot.start - timedelta(days=14)) if referral else None,
                         max(0, slot.capacity - slot.booked) if referral else 0,
                         Slot.Status.OPEN, self.ts(created), self.ts(slot.last or created)))
        return rows

    def beds(self, kept: list[Ref]) -> tuple[Rows, dict[int, tuple[str, int, int, datetime]]]:
        """Bed events up to ``now`` and each bed's state at ``now`` (held or occupied)."""
        events: Rows = []
        state: dict[int, tuple[str, int, int, datetime]] = {}
        for ref in kept:
            stay = ref.stay
            if stay is None or not stay.bed:
                continue
            for at, source, target, by, reason in stay.moves:
                if at > self.now:
                    break
                events.append((self.take(BedEvent), stay.bed, self.ts(at), by[:150], source,
                               target, stay.patient, reason.format(id=ref.id)[:200]))
                state[stay.bed] = (target, stay.patient, ref.id, at)
        return events, state

    def referrals(self, kept: list[Ref]) -> tuple[Rows, Rows, Rows]:
        rows: Rows = []
        events: Rows = []
        follow_ups: Rows = []
        for ref in kept:
            times: dict[str, datetime] = {}
            for event in ref.events:
                times.setdefault(event.action, event.at)
            moves = [e for e in ref.events if e.action != "escalate"]
            accepted = "accept" in times
            appointment = ref.booking.id if accepted and ref.booking is not None else None
            bed = ref.stay.bed if accepted and ref.stay is not None and ref.stay.bed else None
            answer = times.get("accept") or times.get("reject") or (
                times.get("redirect") if ref.predecessor is None else None)
            completed = ref.status == St.COMPLETED
            successor = ref.successor.id if ref.successor is not None else 0
            source = ref.source.id if ref.source is not None else 0
            rows.append((
                ref.id, ref.patient, ref.direction, ref.green, ref.status, ref.sending.id,
                ref.sending_dept, ref.sending_prac, ref.receiving.id, ref.receiving_dept,
                ref.accepting_prac if accepted else None, ref.diagnosis,
                json.dumps(list(ref.cand.secondary)), ref.reason, ref.summary, ref.care_plan,
                ref.warning, self.ts(ref.deadline), self.ts(ref.escalated_at), appointment,
                bed, successor or None, source or None,
                ref.response_note if ref.status in (St.REJECTED, St.REDIRECTED) else "",
                ref.outcome if completed else "", ref.outcome_note if completed else "",
                self.ts(moves[0].at), self.ts(moves[-1].at),
                self.ts(times.get("submit") or (moves[0].at if ref.predecessor else None)),
                None, self.ts(times.get("receive")), self.ts(answer),
                self.ts(times.get("arrive")),
                self.ts(moves[-1].at) if ref.status in CLOSING else None,
            ))
            status = ""
            for event in ref.events:
                source_status = event.target if event.action == "escalate" else status
                events.append((self.take(ReferralEvent), ref.id, self.ts(event.at),
                               event.by[:150], event.side, event.action, source_status,
                               event.target, event.reason))
                status = event.target
            submitted = next((e.at for e in ref.events if e.action == "submit"
                              and e.target == St.SUBMITTED), None)
            if ref.follow_up is not None and submitted is not None and \
                    ref_rules.needs_follow_up(ref.direction):
                due, done, note = ref.follow_up
                finished = done is not None and done <= self.now
                follow_ups.append((
                    self.take(FollowUpTask), ref.sending.id, ref.id, ref.patient,
                    due.isoformat(),
                    FollowUpTask.Status.DONE if finished else FollowUpTask.Status.OPEN,
                    self.ts(submitted), self.ts(done) if finished else None,
                    note if finished else ""))
        return rows, events, follow_ups

    def update_slots(self) -> None:
        """The existing slots' ``booked`` counts their new appointments that are not
        cancelled (``scheduling.services``: a booking takes a place, a cancellation gives it
        back, a no-show keeps it)."""
        rows = [(slot.booked, self.ts(slot.last), slot.id)
                for schedule in sorted(self.gen.cap.future)
                for slot in self.gen.cap.future[schedule] if slot.last is not None]
        _executemany(f"UPDATE {_qn(Slot)} SET booked = %s, updated_at = %s WHERE id = %s",
                     rows)

    def update_beds(self, state: dict[int, tuple[str, int, int, datetime]]) -> None:
        """A bed held or occupied at ``now`` names its resident and referral."""
        rows = [(status, patient, referral, self.ts(at), bed)
                for bed, (status, patient, referral, at) in sorted(state.items())
                if status != B.FREE]
        _executemany(f"UPDATE {_qn(Bed)} SET status = %s, patient_id = %s, "
                     "source_referral_id = %s, updated_at = %s WHERE id = %s", rows)


def _qn(model: type[models.Model]) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _executemany(sql: str, rows: Rows) -> None:
    if rows:
        with connection.cursor() as cursor:
            cursor.executemany(sql, rows)
