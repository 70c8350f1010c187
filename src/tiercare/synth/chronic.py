"""The synthetic county's family-doctor teams, contracts, chronic registries and follow-ups
(issue 6 item 9), so that the demo's work queues and rates are alive.

What is made (rates below; assumptions in the constants' comments):

* **Teams**: 1–3 per township health centre (one per ~12,000 residents, at most one per
  general practitioner), based there, named like "城关镇家庭医生第一团队". Members: the
  township's general practitioners (the first of each team leads it), the village doctors of
  the team's villages (each team covers a contiguous share of the township's villages), a
  nurse, a public-health doctor when the centre has one, and the lead hospital's physician
  posted to the township (registry ``Posting``) as county specialist.
* **Registries**: residents whose encounters carry I10–I13 or E11 diagnoses are enrolled up to
  the managed shares of residents aged 35 and over (:data:`MANAGED`), mostly from those
  diagnoses, some from screening (three raised readings, written as ``ScreeningReading``),
  some from the synthetic down-referrals with such a diagnosis that reached primary care
  (``source_referral`` and ``care_plan`` linked, as ``chronic.services.enrol_down_referral``
  does). When the encounters hold too few, screening makes up the rest. Enrolment dates spread
  over earlier years and the history year; the managing institution is the township centre of
  the resident's address, the team that of the resident's active contract (else the team
  covering the resident's village), the doctor a team member, often the village doctor.
* **Follow-ups**: a chain per registration at the visit rhythm the classification asks for
  (90 days when controlled, 2 weeks after an uncontrolled one when the resident comes back),
  by adherence profile (:data:`PROFILES`): regular, irregular, phone only, lost (none in the
  history year). Readings are drawn from a per-resident control propensity; each follow-up is
  classified by :func:`tiercare.chronic.rules.classify` (never set by hand) with the previous
  written follow-up of the chain. A few readings are urgent; the green-channel up-referrals
  sent by primary care for a registered resident get their urgent follow-up on the day the
  referral was sent, linked to it (other urgent follow-ups have no referral). The
  registration's ``next_due``, ``last_follow_up_on`` and ``last_controlled`` are those of its
  latest follow-up (no follow-up: due 2 weeks after enrolment, as ``services.enrol``).
* **Around today**: like ``synth.schedules`` and the live referrals, the chains run up to
  *today* (the date of ``now``) whatever year the history is for. Follow-ups are written for
  the history year and for the :data:`TAIL_DAYS` days before today; when the history ends
  earlier, the months between are left out (as the referrals' live part does). So the queues
  (due this week, overdue, rechecks, contracts expiring) have rows in the demo.
* **Contracts**: about 40 % of residents and three quarters of the priority groups (65 and
  over, 0–6, registry patients, declared groups), basic package plus the priority packages
  the resident qualifies for on the start day (default packages, ``alliance`` NULL), mostly
  one year, renewed from a first contract that covers the history year's start (or a new
  signature since); some switched team, terminated or expired; at most one active contract
  per resident and every active one runs until today or later (``services.expire_contracts``
  would end it otherwise). One past contract reaches the active one: a past contract whose
  one-year successor would still end before today runs 2–3 years instead
  (:meth:`ChronicGenerator.past_years`), so a history year long before today costs one past
  contract per resident, not a chain of renewals. Each signing and each end is a
  ``ContractEvent``, written in one statement from the contracts
  (:meth:`ChronicGenerator.contract_events`).
* **Elderly checks** for about two thirds of residents 65 and over in the history year, and
  ``ServiceDelivery`` rows for part of the "recorded" services of the active contracts, on
  the days follow-ups are written for.

Speed: one pass over the residents in id order with plain tuples written through the
generator's bulk writer in batches, made in a thread while the batch before is written
(above :data:`PIPELINE_RESIDENTS`); the generator drops the big tables' secondary indexes
for the load (:data:`BULK_TABLES`). The only reads are the referrals to link and, when the
generator did not hand them over (:class:`Observed`), the residents and their chronic
diagnoses (two grouped queries). Determinism: one ``random.Random`` seeded from the seed,
residents and registrations visited in id order, ids from each table's first free id.
"""

from __future__ import annotations

import bisect
import json
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any

from django.db import connection, models
from django.db.models import Case, CharField, Min, Q, Value, When
from django.utils import timezone as django_timezone

from tiercare import bulk
from tiercare.chronic import rules
from tiercare.chronic.models import (
    Contract,
    ContractEvent,
    ElderlyCheck,
    FamilyDoctorTeam,
    FollowUp,
    PriorityGroupMembership,
    Registration,
    ScreeningReading,
    ServiceDelivery,
    ServicePackage,
    TeamMember,
)
from tiercare.chronic.services import DIAGNOSIS_PREFIXES, ensure_default_packages
from tiercare.encounters.models import Diagnosis, Encounter
from tiercare.patients.models import Patient
from tiercare.referrals.models import Direction, Referral
from tiercare.registry.models import Level
from tiercare.synth.county import CountyPlan
from tiercare.synth.population import DIAGNOSIS_FIELDS, ENCOUNTER_FIELDS, PATIENT_FIELDS
from tiercare.synth.threads import made_in_thread

HTN, T2D = rules.HYPERTENSION, rules.DIABETES
CHINA = timezone(timedelta(hours=8))

# --- rates and shares ---------------------------------------------------------------------
#: residents per family-doctor team of a township centre (1–3 teams a centre)
RESIDENTS_PER_TEAM = 12_000
#: managed patients as a share of residents aged 35 and over: hypertension 8–12 %, type-2
#: diabetes 3–4 % (national basic public-health service reports: about 110 and 35 million
#: managed of some 800 million residents ≥35)
MANAGED = {HTN: 0.10, T2D: 0.035}
#: registrations from screening (three raised readings) rather than a diagnosis
SCREENING_SHARE = 0.08
#: diagnosed registrations enrolled during the history year (the rest: 1–8 years before)
NEW_IN_YEAR_SHARE = 0.2
#: a down-referral's resident already on the registry keeps the earlier enrolment
DOWN_ALREADY_ENROLLED = 0.5
#: adherence profiles: (name, share, phone share, share of rechecks kept)
PROFILES: tuple[tuple[str, float, float, float], ...] = (
    ("regular", 0.70, 0.05, 0.85),
    ("irregular", 0.17, 0.25, 0.35),
    ("phone", 0.05, 1.0, 0.3),
    ("none", 0.08, 0.0, 0.0),
)
#: per-resident chance that a follow-up is at target: (chance, share of residents)
CONTROL = {
    HTN: ((0.8, 0.33), (0.45, 0.27), (0.1, 0.4)),
    T2D: ((0.7, 0.25), (0.38, 0.3), (0.07, 0.45)),
}
#: residents who are rarely at target keep fewer of their 2-week re-checks
POOR_CONTROL, POOR_RECHECK_FACTOR = 0.3, 0.4
#: how much more likely a re-check is at target after treatment was adjusted
RECHECK_BOOST = 0.15
#: a follow-up that finds urgent readings (besides those linked to green-channel referrals)
URGENT_SHARE = 0.003
ADVERSE_SHARE, INTOLERABLE_SHARE, COMPLICATION_SHARE = 0.015, 0.003, 0.004
#: home visits among face-to-face follow-ups of residents 75 and over
HOME_VISIT_OLD = 0.3
#: follow-ups are written for the days before today (the live part)
TAIL_DAYS = 120
#: the doctor of a registration or contract is the village doctor of the resident's village
VILLAGE_DOCTOR_SHARE = 0.7
#: contract coverage: priority groups and the rest (calibrated so that about 40 % of all
#: residents hold an active contract; national level 2022: 37 % overall, 75 % priority
#: groups)
COVERAGE, PRIORITY_COVERAGE = 0.40, 0.76
#: contracted residents whose first contract was signed after the history year began
NEW_SIGNER_SHARE = 0.15
#: contract periods (years, share)
PERIODS = ((1, 0.85), (2, 0.10), (3, 0.05))
#: a past contract runs up to this many years (rules.md §7: locally up to 3) so that one past
#: contract reaches from the history year to the active one (``past_years``)
MAX_PAST_YEARS = 3
#: what happens at the end of a contract year: expired unrenewed, terminated early, switched
EXPIRE_SHARE, TERMINATE_SHARE, SWITCH_SHARE = 0.02, 0.015, 0.02
#: a resident in a priority group takes its package
PACKAGE_TAKEN = 0.9
#: recorded package services of the active contracts done so far
DELIVERY_SHARE = 0.6
#: residents 65 and over with the elderly check in the history year
ELDERLY_CHECK_SHARE = 0.66
#: declared priority groups: (group, share of the eligible, ages, sex "2" = women only)
DECLARED: tuple[tuple[str, float, tuple[int, int], str], ...] = (
    ("pregnant", 0.04, (20, 40), "2"),
    ("disabled", 0.02, (0, 120), ""),
    ("severe_mental", 0.004, (15, 120), ""),
    ("tuberculosis", 0.0006, (15, 120), ""),
    ("family_planning", 0.004, (49, 120), ""),
)
MONTH_OF_CHECKS = (4, 8, 14, 16, 14, 12, 7, 6, 7, 6, 4, 2)  # spring campaigns

TEAM_NUMBERS = "一二三四五六七八九"
CONTROLLED_NOTES = ("", "", "", "继续目前治疗方案", "坚持低盐饮食、规律运动")
HTN_DRUGS = ("氨氯地平片 5mg 每日一次", "硝苯地平缓释片 20mg 每日两次",
             "厄贝沙坦片 150mg 每日一次", "缬沙坦胶囊 80mg 每日一次", "氢氯噻嗪片 12.5mg 每日一次",
             "美托洛尔缓释片 47.5mg 每日一次", "氨氯地平片 5mg + 厄贝沙坦片 150mg 每日一次")
T2D_DRUGS = ("二甲双胍片 0.5g 每日三次", "格列美脲片 2mg 每日一次", "阿卡波糖片 50mg 每日三次",
             "二甲双胍片 0.5g 每日两次 + 阿卡波糖片 50mg 每日三次", "甘精胰岛素 12U 睡前皮下注射")
ADVERSE_NOTES = ("干咳", "踝部水肿", "头晕乏力", "胃肠不适")
COMPLICATIONS = {HTN: ("新发蛋白尿", "视物模糊，眼底改变", "活动后胸闷"),
                 T2D: ("足部麻木加重", "视力下降", "新发蛋白尿")}
CARE_PLAN_DEFAULT = {HTN: "规律服用降压药，每日监测血压，2周内基层随访。",
                     T2D: "规律用药，监测空腹血糖，2周内基层随访。"}
FINDINGS = {
    "ok": ("未见明显异常，建议保持健康生活方式。", "体检结果基本正常，建议每年复查。"),
    "bp": ("血压偏高，建议低盐饮食、定期监测血压。", "血压高于正常，建议到家庭医生处复查。"),
    "glucose": ("空腹血糖偏高，建议复查并控制饮食。",),
    "bmi": ("超重，建议控制体重、适量运动。",),
}
ITEMS = tuple(ElderlyCheck.Item.values)
OPTIONAL_ITEMS = frozenset({"ecg", "abdominal_ultrasound", "lipids"})
TERMINATION_NOTES = ("迁居外地", "本人申请解约", "外出务工，长期不在本地")

Rows = list[tuple[Any, ...]]
Writer = Callable[[type[models.Model], Sequence[str], Rows], None]

TEAM_FIELDS = ("id", "alliance", "institution", "code", "name", "lead", "is_active",
               "created_at", "updated_at")
MEMBER_FIELDS = ("id", "team", "practitioner", "role", "start_date")
REGISTRATION_FIELDS = ("id", "patient", "disease", "diagnosis", "status", "source",
                       "institution", "team", "doctor", "enrolled_on", "source_referral",
                       "care_plan", "next_due", "last_follow_up_on", "last_controlled",
                       "created_at", "updated_at")
FOLLOW_UP_FIELDS = ("id", "registration", "patient", "disease", "date", "method",
                    "institution", "practitioner", "sbp", "dbp", "heart_rate",
                    "fasting_glucose", "weight_kg", "height_cm", "bmi", "signs", "symptoms",
                    "medication", "adherence", "adverse_reaction", "adverse_intolerable",
                    "new_complication", "complication_note", "classification", "controlled",
                    "reasons", "next_due", "referral", "note", "created_at", "updated_at")
SCREENING_FIELDS = ("id", "patient", "date", "institution", "sbp", "dbp", "fasting_glucose",
                    "created_at")
CONTRACT_FIELDS = ("id", "patient", "team", "doctor", "start_date", "end_date", "status",
                   "end_reason", "consent", "consent_at", "fee_resident", "previous",
                   "ended_on", "end_note", "created_at", "updated_at")
PACKAGE_LINK_FIELDS = ("id", "contract", "servicepackage")
EVENT_FIELDS = ("id", "contract", "at", "action", "from_status", "to_status", "reason")
DELIVERY_FIELDS = ("id", "contract", "service", "date", "note", "created_at")
MEMBERSHIP_FIELDS = ("id", "patient", "group", "start_date", "note")
CHECK_FIELDS = ("id", "patient", "date", "institution", "practitioner", "items", "sbp", "dbp",
                "heart_rate", "fasting_glucose", "weight_kg", "height_cm", "bmi", "findings",
                "created_at", "updated_at")
PackageLink = Contract.packages.through
#: tables written here, in the order their rows are flushed (parents first)
TABLES: tuple[type[models.Model], ...] = (
    FamilyDoctorTeam, TeamMember, PriorityGroupMembership, Registration, ScreeningReading,
    FollowUp, Contract, PackageLink, ContractEvent, ServiceDelivery, ElderlyCheck)
FLUSH_ROWS = 100_000
#: the tables with most rows: their secondary indexes are built after the load
#: (``generator._bulk_load``)
BULK_TABLES: tuple[type[models.Model], ...] = (
    FollowUp, Contract, PackageLink, ContractEvent, ServiceDelivery, ElderlyCheck)
#: narrow tables whose rows give every column: on SQLite written in one statement over a JSON
#: array (``bulk.insert_json_rows``, about half the cost of ``executemany``)
NARROW: frozenset[type[models.Model]] = frozenset({PackageLink, ServiceDelivery})
FIELDS: dict[type[models.Model], tuple[str, ...]] = {
    FamilyDoctorTeam: TEAM_FIELDS, TeamMember: MEMBER_FIELDS,
    PriorityGroupMembership: MEMBERSHIP_FIELDS, Registration: REGISTRATION_FIELDS,
    ScreeningReading: SCREENING_FIELDS, FollowUp: FOLLOW_UP_FIELDS, Contract: CONTRACT_FIELDS,
    PackageLink: PACKAGE_LINK_FIELDS, ContractEvent: EVENT_FIELDS,
    ServiceDelivery: DELIVERY_FIELDS, ElderlyCheck: CHECK_FIELDS}
#: above this many residents the rows are made in a thread while this one writes the batch
#: before (as ``generator`` does with the chunks); the rows are the same either way
PIPELINE_RESIDENTS = 20_000


# --- the county's teams ----------------------------------------------------------------------

@dataclass
class Team:
    id: int
    township: int
    centre: int
    lead: int
    gps: list[int]
    village_doctors: dict[int, list[int]]  # village index → doctors
    members: list[tuple[int, str]] = field(default_factory=list)


@dataclass(slots=True)
class Person:
    pid: int
    birth: date
    male: bool
    village: int
    township: int


@dataclass(slots=True)
class RegPlan:
    disease: str
    source: str
    enrolled: date
    code: str
    referral: int | None = None
    care_plan: str = ""
    urgent: list[tuple[date, int, int, int | None]] = field(default_factory=list)
    # (day, referral id, institution, practitioner) of linked green-channel referrals


@dataclass
class Package:
    id: int
    code: str
    group: str
    basic: bool
    fee: Decimal
    recorded: list[tuple[int, int]]  # (service id, yearly count)


def _chooser(r: Callable[[], float], table: Sequence[tuple[Any, float]]) -> Callable[[], Any]:
    """A function drawing a value of ``table`` ((value, weight) pairs) with ``r``."""
    values = [value for value, _weight in table]
    cumulative: list[float] = []
    acc = 0.0
    for _value, weight in table:
        acc += weight
        cumulative.append(acc)
    last = len(values) - 1

    def draw() -> Any:
        return values[min(last, bisect.bisect_right(cumulative, r() * acc))]

    return draw


def _local_date(value: Any) -> date:
    if isinstance(value, datetime):
        return django_timezone.localtime(value).date()
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


_ALL_PREFIXES = tuple(p for prefixes in DIAGNOSIS_PREFIXES.values() for p in prefixes)
#: where :class:`Observed` finds its columns in the population's rows
_PATIENT_AT = tuple(PATIENT_FIELDS.index(f) for f in ("id", "sex", "birth_date", "address_code"))
_DIAGNOSIS_AT = tuple(DIAGNOSIS_FIELDS.index(f) for f in ("encounter", "code"))
_ENCOUNTER_AT = tuple(ENCOUNTER_FIELDS.index(f)
                      for f in ("id", "patient", "start", "primary_diagnosis"))


class Observed:
    """The residents and their hypertension and type-2 diabetes diagnoses, taken from the
    population's chunks as the generator makes them (one call per chunk, in chunk order),
    so that :class:`ChronicGenerator` need not read a million residents and scan the
    encounters back. Gives what :meth:`ChronicGenerator.people` and
    :meth:`ChronicGenerator.diagnosed` would read: the same residents, first days and
    codes."""

    def __init__(self, plan: CountyPlan) -> None:
        self.village_of = {v.code: v for v in plan.villages}
        self.people: list[Person] = []
        # (resident, disease) → [first start (UTC text), least code], per source
        self.primary: dict[tuple[int, str], list[str]] = {}
        self.secondary: dict[tuple[int, str], list[str]] = {}
        self._day: dict[str, date] = {}

    def observe(self, rows: Sequence[Sequence[tuple[Any, ...]]]) -> None:
        """One chunk's rows: patients, encounters, diagnoses (the generator's field
        order: ``population.PATIENT_FIELDS`` …)."""
        patients, encounters, diagnoses = rows[0], rows[1], rows[2]
        village_of, people = self.village_of, self.people
        pid, sex, birth_at, address = _PATIENT_AT
        for row in patients:
            village = village_of.get(row[address])
            if village is not None:
                birth = row[birth_at]
                people.append(Person(row[pid], birth if isinstance(birth, date)
                                     else date.fromisoformat(birth), row[sex] == "1",
                                     village.index, village.township))
        d_encounter, d_code = _DIAGNOSIS_AT
        wanted: dict[int, list[str]] = {}
        for row in diagnoses:
            code = row[d_code]
            if code and code.upper().startswith(_ALL_PREFIXES):
                wanted.setdefault(row[d_encounter], []).append(code)
        prefixes = _ALL_PREFIXES
        e_id, e_patient, e_start, e_code = _ENCOUNTER_AT
        for row in encounters:
            code = row[e_code]
            if code and code.upper().startswith(prefixes):
                self._keep(self.primary, row[e_patient], row[e_start], code)
            codes = wanted.get(row[e_id]) if wanted else None
            if codes:
                for code in codes:
                    self._keep(self.secondary, row[e_patient], row[e_start], code)

    @staticmethod
    def _keep(found: dict[tuple[int, str], list[str]], pid: int, start: str,
              code: str) -> None:
        key = (pid, T2D if code.upper().startswith(DIAGNOSIS_PREFIXES[T2D]) else HTN)
        known = found.get(key)
        if known is None:
            found[key] = [start, code]
        else:
            known[0] = min(known[0], start)
            known[1] = min(known[1], code)

    def local_day(self, start: Any) -> date:
        """The Asia/Shanghai day of an encounter's start as the generator writes it (UTC
        text, "+00:00" on PostgreSQL)."""
        if not isinstance(start, str):
            return _local_date(start)
        hour = start[:13]
        day = self._day.get(hour)
        if day is None:
            moment = datetime.fromisoformat(start[:19]).replace(tzinfo=UTC)
            day = self._day[hour] = moment.astimezone(CHINA).date()
        return day

    def diagnosed(self) -> dict[tuple[int, str], tuple[date, str]]:
        """As :meth:`ChronicGenerator.diagnosed`: the primary diagnoses first, a secondary
        one where it came strictly earlier."""
        found: dict[tuple[int, str], tuple[date, str]] = {}
        for source in (self.primary, self.secondary):
            for key, (start, code) in source.items():
                day = self.local_day(start)
                known = found.get(key)
                if known is None or day < known[0]:
                    found[key] = (day, code)
        return found


class ChronicGenerator:
    """Plans and writes the rows (module docstring)."""

    def __init__(self, plan: CountyPlan, *, seed: int, year: int, until: date | None,
                 now: datetime, patients: tuple[int, int], write: Writer,
                 observed: Observed | None = None) -> None:
        self.plan = plan
        self.observed = observed
        self.rng = random.Random(f"tiercare-synth:{seed}:chronic")
        self.r = self.rng.random
        self.now = now
        self.today = django_timezone.localdate(now)
        self.hist_start = date(year, 1, 1)
        self.hist_end = min(until or date(year, 12, 31), self.today)
        self.tail_start = max(self.hist_end + timedelta(days=1),
                              self.today - timedelta(days=TAIL_DAYS))
        self.first_pid, self.stop_pid = patients
        self.write = write
        self.suffix = "+00:00" if connection.vendor == "postgresql" else ""
        self.ids = {model: bulk.next_id(model) for model in TABLES}
        self.ids_before = dict(self.ids)
        self.rows: dict[type[models.Model], Rows] = {model: [] for model in TABLES}
        self.counts: dict[type[models.Model], int] = dict.fromkeys(TABLES, 0)
        self._day_ts: dict[tuple[date, int], str] = {}
        self.pending = 0
        self._json: dict[tuple[str, ...], str] = {}
        self._fees: dict[tuple[int, ...], Decimal] = {}
        r = self.r
        self.draw_period = _chooser(r, PERIODS)
        self.draw_profile = _chooser(r, [(p, p[1]) for p in PROFILES])
        self.draw_control = {d: _chooser(r, table) for d, table in CONTROL.items()}
        self.draw_month = _chooser(r, list(enumerate(MONTH_OF_CHECKS, 1)))
        self.draw_consent = _chooser(r, ((Contract.Consent.SIGNATURE, 0.55),
                                         (Contract.Consent.TABLET, 0.30),
                                         (Contract.Consent.APP, 0.15)))
        self.switch_to: dict[int, list[Team]] = {}

    # --- helpers ------------------------------------------------------------------------------
    def take(self, model: type[models.Model]) -> int:
        value = self.ids[model]
        self.ids[model] = value + 1
        return value

    def add(self, model: type[models.Model], row: tuple[Any, ...]) -> None:
        self.rows[model].append(row)
        self.pending += 1

    def stamp(self, t: datetime) -> str:
        t = min(t, self.now)
        return t.astimezone(UTC).replace(tzinfo=None, microsecond=0).isoformat(" ") + \
            self.suffix

    def day_stamp(self, day: date, hour: int = 17) -> str:
        key = (day, hour)
        found = self._day_ts.get(key)
        if found is None:
            found = self._day_ts[key] = self.stamp(
                datetime.combine(day, time(hour), tzinfo=CHINA))
        return found

    def json(self, values: tuple[str, ...]) -> str:
        """A JSON list of strings (few distinct ones: cached)."""
        found = self._json.get(values)
        if found is None:
            found = self._json[values] = json.dumps(list(values))
        return found

    def randint(self, low: int, high: int) -> int:
        return low + int(self.r() * (high - low + 1))

    def pick(self, items: Sequence[Any]) -> Any:
        return items[int(self.r() * len(items))]

    def batch(self) -> dict[type[models.Model], Rows]:
        """The rows made since the last batch (and start a new one)."""
        out = {model: rows for model, rows in self.rows.items() if rows}
        self.rows = {model: [] for model in TABLES}
        self.pending = 0
        return out

    def write_batch(self, batch: dict[type[models.Model], Rows]) -> None:
        """Write one batch, parents first (the database's thread only)."""
        sqlite = connection.vendor == "sqlite"
        for model in TABLES:
            rows = batch.get(model)
            if rows:
                if sqlite and model in NARROW:  # every column given: one statement
                    bulk.insert_json_rows(model, FIELDS[model], rows)
                else:
                    self.write(model, FIELDS[model], rows)
                self.counts[model] += len(rows)

    def flush(self) -> None:
        self.write_batch(self.batch())

    # --- inputs -------------------------------------------------------------------------------
    def people(self) -> list[Person]:
        """The county's residents (id order) with their village and township."""
        if self.observed is not None:
            return self.observed.people
        village_of = {v.code: v for v in self.plan.villages}
        table = connection.ops.quote_name(Patient._meta.db_table)
        out: list[Person] = []
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT id, birth_date, sex, address_code FROM {table} "
                           "WHERE id >= %s AND id < %s ORDER BY id",
                           [self.first_pid, self.stop_pid])
            for pid, birth, sex, address in cursor.fetchall():
                village = village_of.get(address)
                if village is None:
                    continue
                born = birth if isinstance(birth, date) else date.fromisoformat(birth)
                out.append(Person(pid, born, sex == "1", village.index, village.township))
        return out

    def diagnosed(self) -> dict[tuple[int, str], tuple[date, str]]:
        """(resident, disease) → (first day, code) of the hypertension and type-2 diabetes
        diagnoses of the county's encounters (primary or secondary)."""
        if self.observed is not None:
            return self.observed.diagnosed()
        found: dict[tuple[int, str], tuple[date, str]] = {}

        def grouped(model: type[models.Model], code: str, patient: str, start: str) -> None:
            condition = Q()
            for prefixes in DIAGNOSIS_PREFIXES.values():
                for prefix in prefixes:
                    condition |= Q(**{f"{code}__startswith": prefix})
            disease = Case(*[When(**{f"{code}__startswith": p}, then=Value(T2D))
                             for p in DIAGNOSIS_PREFIXES[T2D]],
                           default=Value(HTN), output_field=CharField())
            rows = (model._default_manager.filter(condition, **{f"{patient}__gte": self.first_pid,
                                                       f"{patient}__lt": self.stop_pid})
                    .annotate(disease=disease).values(patient, "disease")
                    .annotate(first=Min(start), code=Min(code)).order_by())
            for row in rows:
                key = (row[patient], row["disease"])
                day = _local_date(row["first"])
                known = found.get(key)
                if known is None or day < known[0]:
                    found[key] = (day, row["code"])

        grouped(Encounter, "primary_diagnosis", "patient_id", "start")
        grouped(Diagnosis, "code", "encounter__patient_id", "encounter__start")
        return found

    def referrals(self) -> tuple[dict[int, list[tuple[Any, ...]]],
                                 dict[int, list[tuple[Any, ...]]]]:
        """Down-referrals with a registry diagnosis that reached primary care, and
        green-channel up-referrals sent by primary care, per resident."""
        downs: dict[int, list[tuple[Any, ...]]] = {}
        greens: dict[int, list[tuple[Any, ...]]] = {}
        span = {"patient_id__gte": self.first_pid, "patient_id__lt": self.stop_pid}
        primary = (Level.TOWNSHIP, Level.VILLAGE)
        condition = Q()
        for prefixes in DIAGNOSIS_PREFIXES.values():
            for prefix in prefixes:
                condition |= Q(diagnosis__startswith=prefix)
        for pk, pid, code, plan, received in (
                Referral.objects.filter(condition, direction=Direction.DOWN,
                                        received_at__isnull=False,
                                        receiving_institution__level__in=primary, **span)
                .order_by("received_at", "id")
                .values_list("id", "patient_id", "diagnosis", "care_plan", "received_at")):
            downs.setdefault(pid, []).append((pk, code, plan, _local_date(received)))
        for pk, pid, submitted, inst, prac in (
                Referral.objects.filter(direction=Direction.UP, green_channel=True,
                                        submitted_at__isnull=False,
                                        sending_institution__level__in=primary, **span)
                .order_by("submitted_at", "id")
                .values_list("id", "patient_id", "submitted_at", "sending_institution_id",
                             "sending_practitioner_id")):
            greens.setdefault(pid, []).append((_local_date(submitted), pk, inst, prac))
        return downs, greens

    def packages(self) -> dict[str, Package]:
        ensure_default_packages()
        out: dict[str, Package] = {}
        for package in ServicePackage.objects.filter(alliance__isnull=True, is_active=True) \
                .prefetch_related("services").order_by("id"):
            recorded = [(s.pk, s.yearly_count) for s in package.services.all()
                        if s.delivered_by == "recorded"]
            out[package.code] = Package(package.pk, package.code, package.priority_group,
                                        package.kind == ServicePackage.Kind.BASIC,
                                        package.fee_resident, sorted(recorded))
        return out

    # --- teams --------------------------------------------------------------------------------
    def teams(self) -> dict[int, list[Team]]:
        """Teams per township index, with their members written."""
        plan = self.plan
        staff: dict[Any, list[tuple[Any, ...]]] = {}
        for row in plan.rows["practitioner"]:
            staff.setdefault(row[6], []).append(row)
        specialty = {row[0]: row[4] for row in plan.rows["department"]}
        alliance = {row[0]: row[5] for row in plan.rows["institution"]}
        posted: dict[Any, list[Any]] = {}
        for row in plan.rows["posting"]:
            posted.setdefault(row[2], []).append(row[1])
        since = date(plan.year - 4, 1, 1).isoformat()
        stamp = self.day_stamp(date(plan.year - 4, 1, 1), 9)
        out: dict[int, list[Team]] = {}
        for town in plan.townships:
            people = staff.get(town.centre_id, [])
            gps = [row[0] for row in people if row[5]]
            nurses = [row[0] for row in people if row[4] in ("nurse", "senior_nurse")]
            public = [row[0] for row in people
                      if row[4] not in ("nurse", "senior_nurse", "pharmacist", "technician")
                      and not row[5] and specialty.get(row[7]) == "public_health"]
            if not gps:
                gps = [row[0] for row in people if row[4] not in (
                    "nurse", "senior_nurse", "pharmacist", "technician")][:1]
            if not gps:
                continue
            n = max(1, min(3, round(town.population / RESIDENTS_PER_TEAM), len(gps)))
            villages = list(town.villages)
            teams: list[Team] = []
            for k in range(n):
                mine = gps[k::n]
                share = villages[k * len(villages) // n:(k + 1) * len(villages) // n]
                doctors = {v: [row[0] for row in staff.get(plan.villages[v].clinic_id, [])
                               if row[4] == "village_doctor"] for v in share}
                team = Team(self.take(FamilyDoctorTeam), town.index, town.centre_id, mine[0],
                            mine, doctors)
                team.members = [(mine[0], TeamMember.Role.LEAD)]
                team.members += [(g, TeamMember.Role.GENERAL_PRACTITIONER) for g in mine[1:]]
                for v in share:
                    team.members += [(d, TeamMember.Role.VILLAGE_DOCTOR) for d in doctors[v]]
                if nurses:
                    team.members.append((nurses[k % len(nurses)], TeamMember.Role.NURSE))
                if public:
                    team.members.append((public[k % len(public)],
                                         TeamMember.Role.PUBLIC_HEALTH))
                for specialist in posted.get(town.centre_id, []):
                    team.members.append((specialist, TeamMember.Role.SPECIALIST))
                name = f"{town.name}家庭医生第{TEAM_NUMBERS[k]}团队"
                code = f"{plan.townships_units[town.index].code}-FD{k + 1}"
                self.add(FamilyDoctorTeam, (team.id, alliance.get(town.centre_id),
                                            town.centre_id, code, name, team.lead, True, stamp,
                                            stamp))
                for practitioner, role in team.members:
                    self.add(TeamMember, (self.take(TeamMember), team.id, practitioner, role,
                                          since))
                teams.append(team)
            out[town.index] = teams
        return out

    # --- the run ------------------------------------------------------------------------------
    def run(self) -> dict[str, int]:
        people = self.people()
        self.by_pid = {p.pid: p for p in people}
        teams = self.teams()
        self.team_of_village: dict[int, Team] = {}
        for township_teams in teams.values():
            for team in township_teams:
                for v in team.village_doctors:
                    self.team_of_village[v] = team
        self.township_teams = teams
        alliance_of = {row[0]: row[5] for row in self.plan.rows["institution"]}
        everyone = [t for township_teams in teams.values() for t in township_teams]
        for team in everyone:
            near = [t for t in teams[team.township] if t.id != team.id]
            self.switch_to[team.id] = near or [
                t for t in everyone
                if t.id != team.id and alliance_of.get(t.centre) == alliance_of.get(team.centre)]
        self.pkgs = self.packages()
        self.basic = [p for p in self.pkgs.values() if p.basic]
        self.priority_packages = [(p.group, p) for p in self.pkgs.values() if p.group]
        diagnosed = self.diagnosed()
        downs, greens = self.referrals()
        plans = self.registrations(people, diagnosed, downs, greens)
        declared = self.declared(people)
        contract_share = self.contract_shares(people, plans, declared)
        self.flush()  # teams, members, memberships
        batches = self.batches(people, plans, declared, contract_share)
        if len(people) >= PIPELINE_RESIDENTS:
            batches = made_in_thread(batches)
        for batch in batches:
            self.write_batch(batch)
        self.contract_events()
        bulk.reset_sequence(*TABLES)
        return {model._meta.label: n for model, n in self.counts.items()}

    def batches(self, people: list[Person], plans: dict[int, list[RegPlan]],
                declared: dict[int, list[tuple[str, date]]],
                contract_share: tuple[float, float]) -> Iterator[dict[type[models.Model], Rows]]:
        """Each resident's contracts, registrations with their follow-ups and elderly check,
        in batches of about :data:`FLUSH_ROWS` rows. Reads nothing from the database (it may
        run in a thread of its own)."""
        for person in people:
            village_team = self.team_of_village.get(person.village)
            if village_team is None:
                continue
            team = village_team
            mine = plans.get(person.pid, [])
            groups = declared.get(person.pid, [])
            active = self.contracts(person, team, mine, groups, contract_share)
            for reg in mine:
                self.registration(person, team, reg, active)
            self.elderly_check(person, team)
            if self.pending >= FLUSH_ROWS:
                yield self.batch()
        yield self.batch()

    def contract_events(self) -> None:
        """The contracts' events, in one statement from the contracts written (C instead of
        Python for a million rows): each contract's signing ("sign", or "renew" / "switch"
        after its previous contract's end reason) at ``consent_at``, and each ended one's
        end (its end reason and note) at ``updated_at``, the moment it ended (the next
        contract's signing for a renewal or a switch). In contract order, signing first."""
        qn = connection.ops.quote_name
        first = self.ids_before[Contract]
        cols = ", ".join(qn(c) for c in bulk.columns(ContractEvent, (
            "id", "contract", "at", "action", "from_status", "to_status", "reason")))
        # explicit ids in contract order, as every other synthetic row has: the same seed
        # gives the same ids on PostgreSQL too, whose sequences a rollback does not undo
        next_event = bulk.next_id(ContractEvent)
        table, event = qn(Contract._meta.db_table), qn(ContractEvent._meta.db_table)
        active, ended = Contract.Status.ACTIVE.value, Contract.Status.ENDED.value
        switched = Contract.EndReason.SWITCHED.value
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {event} ({cols}) SELECT ROW_NUMBER() OVER (ORDER BY cid, k) + "
                f"%s - 1, cid, e_at, e_action, e_from, e_to, e_note "
                f"FROM (SELECT c.id AS cid, 0 AS k, c.consent_at AS e_at, "
                f"CASE WHEN c.previous_id IS NULL THEN 'sign' WHEN p.end_reason = %s "
                f"THEN 'switch' ELSE 'renew' END AS e_action, '' AS e_from, %s AS e_to, "
                f"'' AS e_note FROM {table} c LEFT JOIN {table} p ON p.id = c.previous_id "
                f"WHERE c.id >= %s "
                f"UNION ALL SELECT c.id, 1, c.updated_at, c.end_reason, %s, %s, c.end_note "
                f"FROM {table} c WHERE c.id >= %s AND c.status = %s) AS e ORDER BY cid, k",
                [next_event, switched, active, first, active, ended, first, ended])
            self.counts[ContractEvent] += max(0, cursor.rowcount)

    # --- registries ---------------------------------------------------------------------------
    def age(self, person: Person, day: date) -> int:
        return rules.age_on(person.birth, day)

    def registrations(self, people: list[Person],
                      diagnosed: dict[tuple[int, str], tuple[date, str]],
                      downs: dict[int, list[tuple[Any, ...]]],
                      greens: dict[int, list[tuple[Any, ...]]]) -> dict[int, list[RegPlan]]:
        """Who is on which registry, since when and from what (module docstring)."""
        r = self.r
        ref_day = self.hist_end
        adults = [p for p in people if self.age(p, ref_day) >= 35
                  and p.village in self.team_of_village]
        plans: dict[int, list[RegPlan]] = {}
        for disease in (HTN, T2D):
            target = round(MANAGED[disease] * len(adults))
            chosen: dict[int, RegPlan] = {}
            # down-referrals that reached primary care (rules: enrol_down_referral)
            for person in adults:
                for pk, code, care_plan, day in downs.get(person.pid, []):
                    if person.pid in chosen or self.age(person, day) < 35 or day > self.today:
                        continue
                    if (code or "").upper().startswith(DIAGNOSIS_PREFIXES[disease]):
                        plan = RegPlan(disease, Registration.Source.DOWN_REFERRAL, day,
                                       code.upper(), pk,
                                       care_plan.strip() or CARE_PLAN_DEFAULT[disease])
                        known = diagnosed.get((person.pid, disease))
                        if known is not None and r() < DOWN_ALREADY_ENROLLED:
                            plan.source = Registration.Source.DIAGNOSIS
                            plan.enrolled = self.earlier_enrolment(person, day)
                        chosen[person.pid] = plan
            pool = [p for p in adults if (p.pid, disease) in diagnosed
                    and p.pid not in chosen]
            n_screen = round(target * SCREENING_SHARE)
            n_diag = max(0, target - len(chosen) - n_screen)
            if n_diag > len(pool):
                n_screen += n_diag - len(pool)
                n_diag = len(pool)
            # residents with a green-channel referral from primary care come first
            first = [p for p in pool if p.pid in greens]
            rest = [p for p in pool if p.pid not in greens]
            picked = first[:n_diag] + self.rng.sample(rest, max(0, n_diag - len(first)))
            for person in picked:
                day, code = diagnosed[(person.pid, disease)]
                chosen[person.pid] = RegPlan(disease, Registration.Source.DIAGNOSIS,
                                             self.diagnosis_enrolment(person, day), code)
            others = [p for p in adults if (p.pid, disease) not in diagnosed
                      and p.pid not in chosen]
            for person in self.rng.sample(others, min(n_screen, len(others))):
                day = self.screening_enrolment(person)
                if day is None:
                    continue
                chosen[person.pid] = RegPlan(disease, Registration.Source.SCREENING, day,
                                             "I10" if disease == HTN else "E11.9")
            for pid, plan in chosen.items():
                plans.setdefault(pid, []).append(plan)
        # green-channel referrals: the urgent follow-up of the registration (hypertension
        # first), when the resident was enrolled by then
        for pid, sent in greens.items():
            mine = plans.get(pid)
            if not mine:
                continue
            mine.sort(key=lambda p: p.disease != HTN)
            reg = mine[0]
            for day, pk, inst, prac in sent:
                if day > self.today:
                    continue
                if reg.enrolled > day and reg.source != Registration.Source.DOWN_REFERRAL:
                    reg.enrolled = self.earlier_enrolment(self.by_pid[pid], day)
                if reg.enrolled <= day:
                    reg.urgent.append((day, pk, inst, prac))
        for mine in plans.values():
            mine.sort(key=lambda p: p.disease)
        return plans

    def earlier_enrolment(self, person: Person, before: date) -> date:
        """An enrolment date 1 month to 8 years before ``before``, but not before the
        resident's 35th birthday (which may come after ``before``)."""
        day = before - timedelta(days=self.randint(30, 8 * 365))
        return max(day, rules.add_years(person.birth, 35))

    def diagnosis_enrolment(self, person: Person, first_seen: date) -> date:
        if self.r() < NEW_IN_YEAR_SHARE and first_seen >= self.hist_start and \
                first_seen <= self.today and self.age(person, first_seen) >= 35:
            return first_seen
        return self.earlier_enrolment(person, min(self.hist_start, self.today))

    def screening_enrolment(self, person: Person) -> date | None:
        last = min(self.hist_end, self.today)
        if self.r() < 0.5 and last >= self.hist_start:
            day = self.hist_start + timedelta(days=int(self.r() * ((last - self.hist_start).days
                                                                  + 1)))
        else:
            day = self.hist_start - timedelta(days=self.randint(30, 5 * 365))
        day = max(day, rules.add_years(person.birth, 35) + timedelta(days=60))
        return day if day <= self.today else None

    # --- priority groups ----------------------------------------------------------------------
    def declared(self, people: list[Person]) -> dict[int, list[tuple[str, date]]]:
        """A few declared priority-group memberships (pregnancy, disability …)."""
        out: dict[int, list[tuple[str, date]]] = {}
        r = self.r
        for person in people:
            age = self.age(person, self.today)
            for group, share, (low, high), sex in DECLARED:
                if not low <= age <= high or (sex == "2" and person.male) or r() >= share:
                    continue
                if group == "pregnant":
                    start = self.today - timedelta(days=self.randint(20, 250))
                else:
                    start = max(person.birth + timedelta(days=30),
                                self.hist_start - timedelta(days=self.randint(30, 5 * 365)))
                out.setdefault(person.pid, []).append((group, start))
                self.add(PriorityGroupMembership,
                         (self.take(PriorityGroupMembership), person.pid, group,
                          start.isoformat(), ""))
        return out

    def contract_shares(self, people: list[Person], plans: dict[int, list[RegPlan]],
                        declared: dict[int, list[tuple[str, date]]]) -> tuple[float, float]:
        """The signing chance of priority-group residents and of the others, so that about
        :data:`COVERAGE` of all residents hold a contract."""
        priority = sum(1 for p in people
                       if self.priority(p, p.pid in plans, p.pid in declared))
        others = max(1, len(people) - priority)
        # ends without renewal (expired, terminated) lose about a twentieth; make up for it
        wanted = COVERAGE * len(people) / 0.95 - PRIORITY_COVERAGE / 0.95 * priority
        return PRIORITY_COVERAGE / 0.95, max(0.05, min(0.9, wanted / others))

    def priority(self, person: Person, registered: bool, declared: bool) -> bool:
        age = self.age(person, self.today)
        return age >= 65 or age <= 6 or registered or declared

    # --- contracts ----------------------------------------------------------------------------
    def period(self) -> int:
        return int(self.draw_period())

    def doctor_for(self, person: Person, team: Team) -> int:
        doctors = team.village_doctors.get(person.village) or []
        if doctors and self.r() < VILLAGE_DOCTOR_SHARE:
            return int(self.pick(doctors))
        return int(self.pick(team.gps))

    def chosen_packages(self, day: date, since: dict[str, date]) -> list[Package]:
        """The basic package and, mostly, the priority packages of the groups the resident
        is in on ``day`` (``since``: group → first day in it)."""
        out = list(self.basic)
        r = self.r
        for group, package in self.priority_packages:
            first = since.get(group)
            if first is None or first > day or (group == "child" and day >= since["child_end"]):
                continue
            if r() < PACKAGE_TAKEN:
                out.append(package)
        return out

    def consent(self, person: Person, day: date, guardian_until: date) -> str:
        if day < guardian_until or (day.year - person.birth.year >= 85 and self.r() < 0.3):
            return Contract.Consent.GUARDIAN
        return str(self.draw_consent())

    def hour(self) -> int:
        return 8 + int(self.r() * 9)

    def contracts(self, person: Person, team: Team, regs: list[RegPlan],
                  groups: list[tuple[str, date]], shares: tuple[float, float]) -> Team | None:
        """The resident's chain of contracts (module docstring); returns the team of the
        active one, or ``None``. Times are kept as (day, hour) in Asia/Shanghai."""
        r = self.r
        share = shares[0] if self.priority(person, bool(regs), bool(groups)) else shares[1]
        if r() >= share:
            return None
        years = self.period()
        if r() < NEW_SIGNER_SHARE and self.today > self.hist_start:
            start = self.hist_start + timedelta(
                days=int(r() * ((self.today - self.hist_start).days + 1)))
        else:
            start = self.hist_start - timedelta(days=int(r() * 365 * years))
        start = max(start, person.birth + timedelta(days=1))
        if start > self.today:
            return None
        # the day the resident enters each priority group (rules.md §7: 65 and over, 0–6,
        # on a registry, declared); "child" ends on the 7th birthday
        seventh = rules.add_years(person.birth, 7)
        since: dict[str, date] = {"elderly": rules.add_years(person.birth, 65),
                                  "child_end": seventh}
        if start < seventh:
            since["child"] = person.birth
        for reg in regs:
            since["hypertension" if reg.disease == HTN else "diabetes"] = reg.enrolled
        for group, first in groups:
            since[group] = first
        previous: int | None = None
        signed = (start, self.hour())
        doctor = self.doctor_for(person, team)
        active: Team | None = None
        stamp = self.day_stamp
        while True:
            years = self.past_years(start, years)
            end = rules.contract_end(start, years)
            cid = self.take(Contract)
            packages = self.chosen_packages(start, since)
            fee = self.fee(packages)
            status, reason, ended_on, note = Contract.Status.ACTIVE, "", None, ""
            next_start: date | None = None
            ended: tuple[date, int] | None = None
            u = r()
            if end >= self.today:
                if u < TERMINATE_SHARE / 2 and start < self.today:
                    reason, note = Contract.EndReason.TERMINATED, self.pick(TERMINATION_NOTES)
                    ended_on = start + timedelta(days=self.randint(1, (self.today - start).days))
                    ended = (ended_on, self.hour())
                else:
                    active = team
            elif u < EXPIRE_SHARE:
                reason, ended_on = Contract.EndReason.EXPIRED, end
                ended = (end + timedelta(days=1), 0)  # the system, just after midnight
            elif u < EXPIRE_SHARE + TERMINATE_SHARE:
                reason, note = Contract.EndReason.TERMINATED, self.pick(TERMINATION_NOTES)
                ended_on = min(end, start + timedelta(
                    days=self.randint(30, max(30, (end - start).days))))
                ended = (ended_on, self.hour())
            elif u < EXPIRE_SHARE + TERMINATE_SHARE + SWITCH_SHARE and \
                    self.switch_to.get(team.id):
                reason = Contract.EndReason.SWITCHED
                next_start = start + timedelta(days=self.randint(60, (end - start).days))
                ended_on = next_start - timedelta(days=1)
            else:
                reason, ended_on = Contract.EndReason.RENEWED, end
                next_start = end + timedelta(days=1)
            if reason:
                status = Contract.Status.ENDED
            # renewed or switched: signing the next contract (a few days before it starts;
            # a switch on its first day) ends this one
            next_team, next_years = team, 1
            if next_start is not None:
                if reason == Contract.EndReason.SWITCHED:
                    next_team = self.pick(self.switch_to[team.id])
                    ended = (next_start, self.hour())
                else:
                    ended = (max(start, next_start - timedelta(days=self.randint(0, 10))),
                             self.hour())
                    next_years = self.period()
            signed_ts = stamp(*signed)
            # the events (signing, ending) follow from these columns: ``contract_events``
            self.add(Contract, (
                cid, person.pid, team.id, doctor, start.isoformat(), end.isoformat(), status,
                reason, self.consent(person, start, since["child_end"]), signed_ts, str(fee),
                previous,
                ended_on.isoformat() if ended_on else None, note, signed_ts,
                stamp(*ended) if ended else signed_ts))
            for package in packages:
                self.add(PackageLink, (self.take(PackageLink), cid, package.id))
            if status == Contract.Status.ACTIVE:
                self.deliveries(cid, start, packages)
            if next_start is None or ended is None:
                return active
            if next_team is not team:
                team, doctor = next_team, next_team.lead
            signed, years = ended, next_years
            previous, start = cid, next_start

    def past_years(self, start: date, years: int) -> int:
        """The period of a contract starting ``start``: ``years``, or longer (at most
        :data:`MAX_PAST_YEARS`) when a one-year successor would still end before today, so
        that one past contract reaches from the history year to the active one (a history
        year long before today would otherwise take a chain of renewals)."""
        if rules.add_years(start, years + 1) > self.today:
            return years
        for longer in range(years + 1, MAX_PAST_YEARS + 1):
            if rules.add_years(start, longer + 1) > self.today:
                return longer
        return max(years, MAX_PAST_YEARS)

    def fee(self, packages: list[Package]) -> Decimal:
        key = tuple(p.id for p in packages)
        found = self._fees.get(key)
        if found is None:
            found = self._fees[key] = sum((p.fee for p in packages), Decimal("0.00"))
        return found

    def deliveries(self, contract: int, start: date, packages: list[Package]) -> None:
        """Part of the recorded services owed so far by an active contract, on the days
        follow-ups are written for (``in_window``: the history year and the tail)."""
        days = (self.today - start).days + 1
        if days <= 0:
            return
        r, in_window = self.r, self.in_window
        for package in packages:
            for service, yearly in package.recorded:
                owed = round(yearly * days / 365 + r() * 0.5)
                for _ in range(owed):
                    if r() < DELIVERY_SHARE:
                        day = start + timedelta(days=int(r() * days))
                        if in_window(day):
                            self.add(ServiceDelivery, (self.take(ServiceDelivery), contract,
                                                       service, day.isoformat(), "",
                                                       self.day_stamp(day)))

    # --- registrations and follow-ups ---------------------------------------------------------
    def in_window(self, day: date) -> bool:
        return (self.hist_start <= day <= self.hist_end) or (
            self.tail_start <= day <= self.today)

    def registration(self, person: Person, village_team: Team, reg: RegPlan,
                     contract_team: Team | None) -> None:
        r = self.r
        team = contract_team or village_team
        doctor = self.doctor_for(person, team)
        rid = self.take(Registration)
        profile = self.draw_profile()
        if reg.urgent and profile[0] == "none":
            profile = PROFILES[1]  # seen at least for the emergency
        name, _share, phone_share, recheck_kept = profile
        ctrl = float(self.draw_control[reg.disease]())
        if ctrl < POOR_CONTROL:
            recheck_kept *= POOR_RECHECK_FACTOR
        height = (160 + r() * 18) if person.male else (150 + r() * 15)
        weight = height * height / 10_000 * (20 + r() * 9)
        doctor_place = self.place_of(person, team, doctor)
        state = _ChainState(rid, person, reg, doctor, doctor_place, height, weight, ctrl)
        urgent = sorted(reg.urgent)
        if name == "none":
            day = self.hist_start - timedelta(days=self.randint(20, 110))
            if reg.enrolled <= day:
                self.follow_up(state, day, phone=False)
        else:
            if reg.enrolled < self.hist_start:
                day = self.hist_start + timedelta(days=int(r() * 80))
            else:
                day = reg.enrolled + timedelta(days=int(r() * 10))
            while True:
                if urgent and (urgent[0][0] <= day or day > self.today):
                    when, referral, inst, prac = urgent.pop(0)
                    if state.last is None or when > state.last:
                        self.follow_up(state, when, phone=False, urgent=(referral, inst, prac))
                        day = when + timedelta(days=14 + self.randint(-2, 6))
                    continue
                if day > self.today:
                    break
                finding = None
                if self.in_window(day):
                    finding = self.follow_up(state, day, phone=r() < phone_share)
                controlled = finding is None or finding.controlled
                if not controlled:  # re-check within 2 weeks, or late
                    gap = 14 + self.randint(-2, 6) if r() < recheck_kept else \
                        self.randint(25, 60)
                elif name == "irregular":
                    gap = self.randint(100, 200)
                elif name == "phone":
                    gap = self.randint(85, 150)
                else:
                    gap = 86 + self.randint(-8, 12)
                day += timedelta(days=gap)
        next_due: date | None = reg.enrolled + timedelta(days=14)
        last: date | None = None
        controlled_last: bool | None = None
        if state.last is not None:
            next_due, last, controlled_last = state.next_due, state.last, state.controlled
        assert next_due is not None
        stamp = self.day_stamp(min(max(last or reg.enrolled, reg.enrolled), self.today))
        self.add(Registration, (
            rid, person.pid, reg.disease, reg.code, Registration.Status.ACTIVE, reg.source,
            self.plan.townships[person.township].centre_id, team.id, doctor,
            reg.enrolled.isoformat(), reg.referral, reg.care_plan, next_due.isoformat(),
            last.isoformat() if last else None, controlled_last,
            self.day_stamp(reg.enrolled, 10), stamp))
        if reg.source == Registration.Source.SCREENING:
            self.screenings(person, reg)

    def place_of(self, person: Person, team: Team, doctor: int) -> int:
        if doctor in team.village_doctors.get(person.village, ()):
            return self.plan.villages[person.village].clinic_id
        return team.centre

    def screenings(self, person: Person, reg: RegPlan) -> None:
        """The three raised readings on different days that enrolled the resident."""
        place = self.plan.townships[person.township].centre_id
        day = reg.enrolled
        for back in (self.randint(40, 90), self.randint(10, 35), 0):
            when = day - timedelta(days=back)
            if reg.disease == HTN:
                sbp, dbp, glucose = self.randint(142, 168), self.randint(86, 102), None
                dbp = min(dbp, sbp - 30)
            else:
                sbp, dbp = self.randint(118, 150), self.randint(70, 92)
                glucose = f"{7.1 + self.r() * 3:.1f}"
            self.add(ScreeningReading, (self.take(ScreeningReading), person.pid,
                                        when.isoformat(), place, sbp, dbp, glucose,
                                        self.day_stamp(when, 11)))

    def reading(self, state: _ChainState, age: int, *, urgent: bool) -> rules.Reading:
        r = self.r
        disease = state.reg.disease
        chance = state.ctrl + (RECHECK_BOOST if state.controlled is False else 0.0)
        urgent = urgent or r() < URGENT_SHARE
        at_target = not urgent and r() < chance
        sbp_below, dbp_below = rules.pressure_target(age)
        glucose: Decimal | None = None
        signs: frozenset[str] = frozenset()
        if disease == HTN:
            if urgent:
                sbp, dbp = self.randint(180, 205), self.randint(92, 118)
                if r() < 0.5:
                    signs = frozenset({rules.Sign.SEVERE_HEADACHE_OR_DIZZINESS.value})
            elif at_target:
                sbp = self.randint(112, sbp_below - 1)
                dbp = self.randint(64, min(dbp_below - 1, sbp - 35))
            elif r() < 0.85:
                sbp, dbp = self.randint(sbp_below, 176), self.randint(76, 106)
            else:
                sbp, dbp = self.randint(125, sbp_below - 1), self.randint(dbp_below, 104)
        else:
            sbp, dbp = self.randint(112, 158), self.randint(66, 94)
            if urgent:
                glucose = Decimal(self.randint(167, 240)) / 10
            elif at_target:
                glucose = Decimal(self.randint(45, 69)) / 10
            else:
                glucose = Decimal(70 + int(r() ** 1.6 * 90)) / 10
        dbp = min(dbp, sbp - 25)
        adverse = r() < ADVERSE_SHARE
        intolerable = adverse and r() < INTOLERABLE_SHARE / ADVERSE_SHARE
        weight = Decimal(f"{state.weight + (r() - 0.5) * 3:.1f}")
        return rules.Reading(
            sbp=sbp, dbp=dbp, heart_rate=self.randint(62, 94), fasting_glucose=glucose,
            weight_kg=weight, height_cm=state.height, signs=signs, adverse_reaction=adverse,
            adverse_intolerable=intolerable, new_complication=r() < COMPLICATION_SHARE)

    def follow_up(self, state: _ChainState, day: date, *, phone: bool,
                  urgent: tuple[int, int, int | None] | None = None) -> rules.Finding:
        r = self.r
        person, reg = state.person, state.reg
        age = self.age(person, day)
        reading = self.reading(state, age, urgent=urgent is not None)
        finding = rules.classify(reg.disease, reading, age=age, day=day,
                                 previous_uncontrolled=state.controlled is False)
        referral: int | None = None
        institution: int = state.place
        practitioner: int | None = state.doctor
        if urgent is not None:
            referral, institution, practitioner = urgent[0], urgent[1], urgent[2]
        if phone:
            method = FollowUp.Method.PHONE
        elif age >= 75 and r() < HOME_VISIT_OLD:
            method = FollowUp.Method.HOME
        else:
            method = FollowUp.Method.CLINIC
        drugs = HTN_DRUGS if reg.disease == HTN else T2D_DRUGS
        u = r()
        adherence = (FollowUp.Adherence.REGULAR if u < 0.7 else
                     FollowUp.Adherence.INTERMITTENT if u < 0.9 else
                     FollowUp.Adherence.NONE if u < 0.96 else FollowUp.Adherence.NOT_PRESCRIBED)
        medication = "" if adherence == FollowUp.Adherence.NOT_PRESCRIBED else \
            drugs[(state.rid + (1 if finding.classification != "controlled" else 0))
                  % len(drugs)]
        symptoms = self.pick(ADVERSE_NOTES) if reading.adverse_reaction else ""
        complication = self.pick(COMPLICATIONS[reg.disease]) if reading.new_complication else ""
        note = self.pick(CONTROLLED_NOTES) if finding.controlled else ""
        self.add(FollowUp, (
            self.take(FollowUp), state.rid, person.pid, reg.disease, day.isoformat(), method,
            institution, practitioner, reading.sbp, reading.dbp, reading.heart_rate,
            None if reading.fasting_glucose is None else str(reading.fasting_glucose),
            str(reading.weight_kg), str(reading.height_cm),
            str(rules.bmi(reading.weight_kg, reading.height_cm)),
            self.json(tuple(sorted(reading.signs))), symptoms, medication, adherence,
            reading.adverse_reaction, reading.adverse_intolerable, reading.new_complication,
            complication, finding.classification.value, finding.controlled,
            self.json(finding.reasons), finding.next_due.isoformat(), referral, note,
            self.day_stamp(day), self.day_stamp(day)))
        state.last, state.controlled, state.next_due = day, finding.controlled, finding.next_due
        return finding

    # --- elderly checks -----------------------------------------------------------------------
    def elderly_check(self, person: Person, team: Team) -> None:
        r = self.r
        if self.hist_end < self.hist_start or self.age(person, self.hist_end) < 65 or \
                r() >= ELDERLY_CHECK_SHARE:
            return
        span = (self.hist_end - self.hist_start).days + 1
        for _ in range(4):
            month = int(self.draw_month())
            day = date(self.hist_start.year, month, 1) + timedelta(days=int(r() * 28))
            if day <= self.hist_end and self.age(person, day) >= 65:
                break
        else:
            day = self.hist_end
            if self.age(person, day) < 65 or span <= 0:
                return
        items = [item for item in ITEMS if item not in OPTIONAL_ITEMS or r() < 0.8]
        sbp, dbp = self.randint(112, 172), self.randint(64, 98)
        dbp = min(dbp, sbp - 30)
        glucose = Decimal(self.randint(44, 92)) / 10
        height = Decimal(f"{(160 + r() * 16) if person.male else (149 + r() * 14):.1f}")
        weight = Decimal(f"{float(height) ** 2 / 10_000 * (19 + r() * 11):.1f}")
        bmi = rules.bmi(weight, height)
        found = []
        if sbp >= 140 or dbp >= 90:
            found.append(self.pick(FINDINGS["bp"]))
        if glucose >= Decimal("7.0"):
            found.append(self.pick(FINDINGS["glucose"]))
        if bmi is not None and bmi >= 28:
            found.append(self.pick(FINDINGS["bmi"]))
        findings = "".join(found) or self.pick(FINDINGS["ok"])
        self.add(ElderlyCheck, (
            self.take(ElderlyCheck), person.pid, day.isoformat(), team.centre,
            self.pick(team.gps), self.json(tuple(items)), sbp, dbp, self.randint(60, 92),
            str(glucose), str(weight), str(height), str(bmi), findings, self.day_stamp(day),
            self.day_stamp(day)))


@dataclass(slots=True)
class _ChainState:
    rid: int
    person: Person
    reg: RegPlan
    doctor: int
    place: int
    height_f: float
    weight: float
    ctrl: float
    last: date | None = None
    controlled: bool | None = None
    next_due: date | None = None

    @property
    def height(self) -> Decimal:
        return Decimal(f"{self.height_f:.1f}")


def generate(plan: CountyPlan, *, seed: int, year: int, until: date | None, now: datetime,
             patients: tuple[int, int], write: Writer,
             observed: Observed | None = None) -> dict[str, int]:
    """Plan and write the county's teams, registries, follow-ups, contracts and elderly checks
    (module docstring). ``patients``: the county's resident ids ``[first, stop)``;
    ``write(model, fields, rows)``: the generator's bulk writer. Returns rows per model
    label. ``observed``: the residents and diagnoses taken from the chunks as they were
    written (:class:`Observed`); without it they are read from the database."""
    return ChronicGenerator(plan, seed=seed, year=year, until=until, now=now,
                            patients=patients, write=write, observed=observed).run()

