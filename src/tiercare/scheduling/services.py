"""Use cases of scheduling: the only place that changes slots, appointments and beds. One
function per use case, one transaction each; every status change goes through the transition
table (``scheduling.statuses``), writes an event row and an audit event (rules.md §11).

Capacity (DESIGN.md, rules.md §4 "a slot is never booked beyond its capacity, whatever the
concurrency"):

* a booking takes a place with one conditional update,
  ``UPDATE slot SET booked = booked + 1 WHERE id = … AND status = 'open' AND booked <
  capacity``; no row updated = the slot is full (or closed) and the booking is refused with
  ``slot.full``. A cancellation gives the place back with ``booked = booked − 1``;
* an appointment changes status with ``UPDATE … WHERE id = … AND status = <the state read>``,
  so two cancellations of one appointment cannot both give its place back;
* a bed changes hands with ``UPDATE bed SET status = …, patient = … WHERE id = … AND status
  = 'free'``;
* the release of unused referral capacity locks the referral slot's row (``SELECT … FOR
  UPDATE``; on SQLite the IMMEDIATE transaction holds the write lock) and moves
  ``capacity − booked`` to the public slot of the same time in the same transaction.

Who may book which pool (rules.md §3–§4; ``docs/scheduling.md``):

* **public**: anyone who may book (staff of any institution, or a named system);
* **referral**: a booking made for a referral (``source_referral_id`` given: the referral
  workflow, which checks who may accept it, books in the receiving institution's name);
  staff of *another* member institution of the slot's alliance booking for their resident;
  the alliance's administrators. Not the slot's own institution without a referral, not
  outsiders;
* **internal**: staff of the slot's own institution only.
"""

from __future__ import annotations

import bisect
import contextlib
import datetime as dt
import json
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

from django.db import connection, transaction
from django.db.models import F
from django.db.models.functions import Now
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from tiercare.accounts import audit
from tiercare.accounts.models import AuditEvent, Role, User
from tiercare.patients.models import Patient
from tiercare.registry.models import Alliance, Institution
from tiercare.scheduling import booking_sql, rules, statuses
from tiercare.scheduling.errors import SchedulingConflict, SchedulingInvalid, SchedulingRefused
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

PRESETS_FILE = Path(__file__).resolve().parent / "data" / "policy_presets.json"
#: the name recorded for work done by the background task
RELEASE_ACTOR = "system:release_slots"
APPOINTMENT_LABEL = Appointment._meta.label
BED_LABEL = Bed._meta.label


# --- policy --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Policy:
    """An alliance's reserve (rules.md §3–§4); the defaults reserve nothing."""

    reserve_share: Fraction = Fraction(0)
    specialist_share: Fraction = Fraction(0)
    release_lead_days: int = 0


def presets() -> dict[str, dict[str, Any]]:
    """The policy presets shipped as data (``data/policy_presets.json``: default, beijing)."""
    data: dict[str, dict[str, Any]] = json.loads(PRESETS_FILE.read_text(encoding="utf-8"))[
        "presets"]
    return data


def policy_for(alliance: Alliance | int | None) -> Policy:
    """The alliance's policy, or the defaults when it has none (or there is no alliance)."""
    if alliance is None:
        return Policy()
    alliance_id = alliance if isinstance(alliance, int) else alliance.pk
    row = SchedulingPolicy.objects.filter(alliance_id=alliance_id).first()
    if row is None:
        return Policy()
    return Policy(rules.as_fraction(row.reserve_share), rules.as_fraction(row.specialist_share),
                  row.release_lead_days)


@transaction.atomic
def apply_preset(alliance: Alliance, name: str, *, by: User | None = None) -> SchedulingPolicy:
    """Set an alliance's policy to a shipped preset (the alliance may edit it afterwards)."""
    preset = presets().get(name)
    if preset is None:
        raise SchedulingInvalid("policy.preset_unknown",
                                _("There is no scheduling policy preset “%(name)s”."), name=name)
    values = {"reserve_share": Decimal(preset["reserve_share"]),
              "specialist_share": Decimal(preset["specialist_share"]),
              "release_lead_days": int(preset["release_lead_days"]),
              "preset": name, "source": preset.get("source", "")[:300], "updated_by": by}
    policy, _created = SchedulingPolicy.objects.update_or_create(alliance=alliance,
                                                                 defaults=values)
    audit.record(AuditEvent.Action.UPDATE, user=by, object_type=SchedulingPolicy._meta.label,
                 object_id=policy.pk, summary=f"{alliance.code}: preset {name}",
                 changes={k: str(v) for k, v in values.items() if k != "updated_by"})
    return policy


# --- slot generation -----------------------------------------------------------------------


def _spec(t: SlotTemplate) -> rules.TemplateSpec:
    return rules.TemplateSpec(t.weekday, t.start_time, t.end_time, t.slot_minutes, t.capacity,
                              t.internal_capacity, t.valid_from, t.valid_to, t.pk)


def specialist_fraction(institution_id: int) -> Fraction:
    """The share of an institution's weekly bookable clinic capacity (templates of active
    clinic schedules, less internal capacity) that is specialist."""
    total = specialist = 0
    templates = SlotTemplate.objects.filter(
        schedule__institution_id=institution_id, schedule__kind=Schedule.Kind.CLINIC,
        schedule__is_active=True, is_active=True).select_related("schedule")
    for t in templates:
        minutes = ((t.end_time.hour * 60 + t.end_time.minute)
                   - (t.start_time.hour * 60 + t.start_time.minute))
        weekly = (minutes // t.slot_minutes) * (t.capacity - t.internal_capacity)
        total += weekly
        if t.schedule.is_specialist:
            specialist += weekly
    return Fraction(specialist, total) if total else Fraction(0)


def schedule_reserve_share(schedule: Schedule, policy: Policy) -> Fraction:
    """The reserve share of one schedule: the alliance's share, shifted towards specialist
    clinics when needed to meet the specialist share (``rules.reserve_shares``)."""
    if policy.reserve_share == 0:
        return Fraction(0)
    if schedule.kind != Schedule.Kind.CLINIC:
        return policy.reserve_share
    general, specialist = rules.reserve_shares(
        policy.reserve_share, policy.specialist_share,
        specialist_fraction(schedule.institution_id))
    return specialist if schedule.is_specialist else general


@transaction.atomic
def generate_slots(schedule: Schedule, first: dt.date, last: dt.date, *,
                   by: User | None = None, now: dt.datetime | None = None) -> int:
    """Make the slots of ``schedule``'s active templates for the days ``first``…``last``
    (local dates). Idempotent: a time that already has slots is left as it is, so running it
    again makes nothing. The bookable capacity of each day is split into pools by the
    alliance's policy (``rules.split_day``); a referral slot whose release time has already
    passed is made public at once. Returns the number of slot times made."""
    try:
        rules.check_range(first, last)
    except rules.RuleError as err:
        raise SchedulingInvalid(err.code, err.message, **err.params) from err
    now = now or timezone.now()
    tz = timezone.get_default_timezone()
    templates = [_spec(t) for t in schedule.templates.filter(is_active=True)]
    try:
        times = rules.slot_times(templates, first, last, tz)
    except rules.RuleError as err:
        raise SchedulingInvalid(err.code, err.message, **err.params) from err
    window_start = dt.datetime.combine(first, dt.time.min, tzinfo=tz)
    window_end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time.min, tzinfo=tz)
    existing = sorted(Slot.objects.filter(
        schedule=schedule, start__gte=window_start - dt.timedelta(days=1),
        start__lt=window_end).values_list("start", "end"))
    starts = [s for s, _e in existing]
    latest_end: list[dt.datetime] = []  # latest_end[i]: the latest end among existing[0..i]
    for _s, e in existing:
        latest_end.append(max(e, latest_end[-1]) if latest_end else e)

    def overlaps(t: rules.SlotTime) -> bool:
        """An existing slot starts before ``t`` ends and ends after ``t`` starts."""
        before = bisect.bisect_left(starts, t.end)
        return before > 0 and latest_end[before - 1] > t.start

    new = [t for t in times if not overlaps(t)]
    institution = Institution.objects.only("alliance_id").get(pk=schedule.institution_id)
    policy = policy_for(institution.alliance_id)
    share = schedule_reserve_share(schedule, policy)
    by_day: dict[dt.date, list[rules.SlotTime]] = defaultdict(list)
    for t in new:
        by_day[t.start.astimezone(tz).date()].append(t)
    rows: list[Slot] = []
    for day_times in by_day.values():
        for t, split in zip(day_times, rules.split_day(day_times, share), strict=True):
            release_at = rules.release_time(t.start, policy.release_lead_days)
            public, referral = split.public, split.referral
            if referral and release_at <= now:
                public, referral = public + referral, 0
            template_id = t.key if isinstance(t.key, int) else None
            for pool, capacity in ((Pool.PUBLIC, public), (Pool.REFERRAL, referral),
                                   (Pool.INTERNAL, split.internal)):
                if capacity:
                    rows.append(Slot(
                        schedule=schedule, template_id=template_id, start=t.start, end=t.end,
                        pool=pool, capacity=capacity,
                        release_at=release_at if pool == Pool.REFERRAL else None))
    Slot.objects.bulk_create(rows, batch_size=1000, ignore_conflicts=True)
    if new:
        audit.record(AuditEvent.Action.CREATE, user=by, object_type=Schedule._meta.label,
                     object_id=schedule.pk, summary=f"slots {first}…{last}: {len(new)}",
                     changes={"first": first.isoformat(), "last": last.isoformat(),
                              "times": len(new), "rows": len(rows), "reserve_share": str(share)})
    return len(new)


# --- finding free capacity ----------------------------------------------------------------


def free_slots(*, schedule: Schedule | None = None, institution: Institution | None = None,
               department_id: int | None = None, pool: str | None = None,
               start_from: dt.datetime | None = None, start_to: dt.datetime | None = None,
               limit: int = 50) -> list[Slot]:
    """Open slots with a free place that have not begun, earliest first (the next free
    referral slots of a department when a referral is written; issue 4 item 5). Filters:
    a schedule, an institution, a department, a pool, a start window. Reads only; nothing
    is held — the booking itself may still find the slot full."""
    queryset = Slot.objects.filter(status=Slot.Status.OPEN, booked__lt=F("capacity"),
                                   start__gt=start_from or timezone.now(),
                                   schedule__is_active=True)
    if schedule is not None:
        queryset = queryset.filter(schedule=schedule)
    if institution is not None:
        queryset = queryset.filter(schedule__institution=institution)
    if department_id is not None:
        queryset = queryset.filter(schedule__department_id=department_id)
    if pool is not None:
        queryset = queryset.filter(pool=pool)
    if start_to is not None:
        queryset = queryset.filter(start__lt=start_to)
    return list(queryset.select_related("schedule").order_by("start", "pk")[:limit])


# --- who may use a pool --------------------------------------------------------------------


def _same_alliance_member(user: User, institution: Institution) -> bool:
    """``user`` works at another member institution of ``institution``'s alliance."""
    other = user.institution
    return (other is not None and institution.alliance_id is not None
            and other.pk != institution.pk and other.alliance_id == institution.alliance_id)


def may_use_pool(pool: str, institution: Institution, user: User | None, *,
                 source_referral_id: int | None = None) -> bool:
    """Whether ``user`` (``None``: a named system) may book capacity of ``pool`` at
    ``institution`` (module docstring: who may book which pool)."""
    if pool == Pool.PUBLIC:
        return True
    if pool == Pool.REFERRAL:
        if source_referral_id is not None:
            return True
        if user is None:
            return False
        if user.role == Role.ALLIANCE_ADMIN:
            return user.alliance_id is not None and user.alliance_id == institution.alliance_id
        return _same_alliance_member(user, institution)
    if pool == Pool.INTERNAL:
        return user is not None and user.institution_id == institution.pk
    return False


def _pool_refusal(pool: str, code: str) -> SchedulingRefused:
    if pool == Pool.REFERRAL:
        return SchedulingRefused(code, _("These places are reserved for referrals from the "
                                         "alliance's member institutions."))
    return SchedulingRefused(code, _("These places are kept for the institution's own use."))


# --- appointments --------------------------------------------------------------------------


def _local(value: dt.datetime) -> str:
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M")


def _check_patient(patient: Patient | int) -> Patient:
    """The resident's record as stored now (``patient``: the record or its id;
    ``Patient.DoesNotExist`` when the id names nothing), refused when merged or closed."""
    current = Patient.objects.only("pk", "is_active", "deceased_date", "health_record_no",
                                   "name").get(pk=patient if isinstance(patient, int)
                                               else patient.pk)
    _refuse_inactive(current)
    return current


def _refuse_inactive(current: Patient) -> None:
    """A merged or closed record cannot be booked for (its resident's active record can)."""
    if not current.is_active or current.deceased_date is not None:
        raise SchedulingConflict("patient.inactive",
                                 _("Record %(record)s is merged or closed; book for the "
                                   "resident's active record."),
                                 record=current.health_record_no)


def _event(appointment: Appointment, source: str, target: str, by: User | None, by_name: str,
           reason: str) -> AppointmentEvent:
    return AppointmentEvent.objects.create(
        appointment=appointment, by=by, by_name=(by.get_username() if by else by_name)[:150],
        from_status=source, to_status=target, reason=reason[:200])


def book(slot: Slot | int, patient: Patient | int, *, by: User | None = None,
         by_name: str = "", source_referral_id: int | None = None, note: str = "",
         now: dt.datetime | None = None, check: Callable[[Slot], None] | None = None,
         ) -> Appointment:
    """Book one place of ``slot`` for ``patient`` (rules.md §4). The pool is the slot's; the
    caller must be allowed to use it (module docstring). The place is taken with one
    conditional update, so a full slot refuses (``slot.full``) whatever the concurrency.
    ``by`` is the user booking, or ``None`` with ``by_name`` for a system (``token:NAME``).

    ``slot`` and ``patient`` are records or their ids: both are read here, in the booking's
    transaction (``Slot.DoesNotExist`` / ``Patient.DoesNotExist`` when an id names nothing),
    so a caller need not read them first. ``check`` (optional) looks at the slot read before
    anything is written and raises to refuse (the FHIR interface: "start and end are the
    slot's"). One transaction; inside a caller's it is a savepoint, so that a refusal changes
    nothing and the caller may go on; on PostgreSQL outside any transaction, none (below).

    The statements (a booking storm's hot path, written in SQL: ``booking_sql``, ADR 0016):
    the slot with its schedule and the resident, one ``SELECT`` (the institution is read
    only when the pool is not public: public places are open to every booker,
    ``may_use_pool``); then the place taken with the conditional update and the
    appointment, its event row and the audit event written — one statement on PostgreSQL,
    four on SQLite. Nothing is written when no place was free (``slot.full``) or the
    resident already has an active booking in the slot (``appointment.duplicate``, said
    before "full"): a refusal changes nothing."""
    # outside a caller's transaction on PostgreSQL the booking needs none of its own: its
    # only write is one statement, and the read before it decides nothing the statement
    # does not check again (open, capacity) — two round trips fewer (ADR 0016)
    alone = booking_sql.one_statement() and not connection.in_atomic_block
    with contextlib.nullcontext() if alone else transaction.atomic():
        now = now or timezone.now()
        current, patient = booking_sql.read(slot if isinstance(slot, int) else slot.pk,
                                            patient if isinstance(patient, int)
                                            else patient.pk)
        if check is not None:
            check(current)
        _refuse_inactive(patient)
        if current.status != Slot.Status.OPEN:
            raise SchedulingConflict("slot.closed", _("The slot at %(time)s is closed."),
                                     time=_local(current.start))
        if current.end <= now:
            raise SchedulingConflict("slot.past", _("The slot at %(time)s is over."),
                                     time=_local(current.start))
        if current.pool != Pool.PUBLIC and not may_use_pool(
                current.pool, current.schedule.institution, by,
                source_referral_id=source_referral_id):
            raise _pool_refusal(current.pool, "slot.pool_refused")
        at = timezone.now()
        name = (by.get_username() if by else by_name)[:150]
        summary = f"{current.schedule.name} {_local(current.start)} ({current.pool})"
        event = audit.pending(AuditEvent.Action.CREATE, user=by,
                              username="" if by else by_name, object_type=APPOINTMENT_LABEL,
                              patient_id=patient.pk, summary=summary,
                              changes={"slot": current.pk, "pool": current.pool,
                                       "referral": source_referral_id})
        event.at = at
        try:
            appointment_id = booking_sql.take(booking_sql.Booking(
                slot=current, patient=patient, by_id=by.pk if by else None, by_name=name,
                source_referral_id=source_referral_id, note=note[:200], at=at,
                audit_event=event))
        except booking_sql.Duplicate:
            raise SchedulingConflict(
                "appointment.duplicate",
                _("The resident already has a booking in this slot.")) from None
        if appointment_id is None:
            raise SchedulingConflict("slot.full", _("The slot at %(time)s is fully booked."),
                                     time=_local(current.start))
        current.booked += 1
        current.updated_at = at
        appointment = Appointment(
            id=appointment_id, slot=current, patient=patient, pool=current.pool,
            status=Appointment.Status.BOOKED, booked_by=by, booked_by_name=name,
            source_referral_id=source_referral_id, note=note[:200], booked_at=at,
            updated_at=at)
        return booking_sql.loaded(appointment)


_STATE_MESSAGE = _("An appointment that is “%(state)s” cannot be marked “%(target)s”.")


def _move(appointment: Appointment, target: str, *, by: User | None, by_name: str,
          reason: str, gives_place_back: bool = False,
          check: Any = None) -> Appointment:
    current = Appointment.objects.select_related("slot").get(pk=appointment.pk)
    try:
        rules.check_transition(statuses.APPOINTMENT_TRANSITIONS, current.status, target)
    except rules.RuleError as err:
        raise SchedulingConflict(err.code, _STATE_MESSAGE,
                                 state=Appointment.Status(current.status).label,
                                 target=Appointment.Status(target).label) from err
    if check is not None:
        check(current)
    source = current.status
    moved = Appointment.objects.filter(pk=current.pk, status=source).update(
        status=target, updated_at=timezone.now())
    if not moved:
        raise SchedulingConflict("appointment.changed",
                                 _("The appointment was changed meanwhile; reload it."))
    if gives_place_back:
        Slot.objects.filter(pk=current.slot_id, booked__gt=0).update(booked=F("booked") - 1,
                                                                       updated_at=Now())
    current.status = target
    _event(current, source, target, by, by_name, reason)
    audit.record(AuditEvent.Action.UPDATE, user=by, username="" if by else by_name,
                 object_type=APPOINTMENT_LABEL, object_id=current.pk,
                 patient_id=current.patient_id, summary=f"{source} → {target}",
                 changes={"status": {"from": source, "to": target}, "reason": reason[:200]})
    return current


@transaction.atomic
def cancel(appointment: Appointment, *, by: User | None = None, by_name: str = "",
           reason: str = "") -> Appointment:
    """Withdraw a booking before the visit; its place in the slot is free again (an unused
    referral place whose release time has passed goes to the public pool at the next
    release run)."""
    return _move(appointment, Appointment.Status.CANCELLED, by=by, by_name=by_name,
                 reason=reason, gives_place_back=True)


@transaction.atomic
def check_in(appointment: Appointment, *, by: User | None = None, by_name: str = "",
             reason: str = "") -> Appointment:
    """The resident arrived (rules.md §4: arrived / checked-in)."""
    return _move(appointment, Appointment.Status.CHECKED_IN, by=by, by_name=by_name,
                 reason=reason)


@transaction.atomic
def mark_no_show(appointment: Appointment, *, by: User | None = None, by_name: str = "",
                 reason: str = "", now: dt.datetime | None = None) -> Appointment:
    """The resident did not come. Only once the slot has begun; the place is not given
    back."""
    moment = now or timezone.now()

    def started(current: Appointment) -> None:
        if current.slot.start > moment:
            raise SchedulingConflict("appointment.not_started",
                                     _("A no-show can be recorded only after the slot at "
                                       "%(time)s has begun."), time=_local(current.slot.start))

    return _move(appointment, Appointment.Status.NO_SHOW, by=by, by_name=by_name,
                 reason=reason, check=started)


@transaction.atomic
def fulfil(appointment: Appointment, *, by: User | None = None, by_name: str = "",
           reason: str = "") -> Appointment:
    """The visit or examination took place."""
    return _move(appointment, Appointment.Status.FULFILLED, by=by, by_name=by_name,
                 reason=reason)


@transaction.atomic
def set_slot_status(slot: Slot, status: str, *, by: User | None = None,
                    reason: str = "") -> Slot:
    """Close a slot to new bookings (the doctor is away) or open it again. Bookings already
    made stay; the caller cancels them if the visit cannot take place."""
    if status not in Slot.Status.values:
        raise SchedulingInvalid("slot.status_invalid", _("“%(value)s” is not a valid choice."),
                                value=status)
    current = Slot.objects.get(pk=slot.pk)
    if current.status != status:
        Slot.objects.filter(pk=current.pk).update(status=status, updated_at=Now())
        audit.record(AuditEvent.Action.UPDATE, user=by, object_type=Slot._meta.label,
                     object_id=current.pk, summary=f"{current.status} → {status}",
                     changes={"status": {"from": current.status, "to": status},
                              "reason": reason[:200]})
        current.status = status
    return current


# --- release of unused referral capacity --------------------------------------------------


@dataclass(frozen=True)
class ReleaseResult:
    slots: int
    places: int


def release_due_referral_capacity(now: dt.datetime | None = None) -> ReleaseResult:
    """Move the unused capacity of every referral slot whose release time has passed (and
    which has not ended) to the public slot of the same schedule and time (rules.md §4).
    Each slot moves in its own short transaction under a row lock; running it again moves
    nothing more (idempotent), and a place freed later by a cancellation moves at the next
    run."""
    now = now or timezone.now()
    due = list(Slot.objects.filter(pool=Pool.REFERRAL, release_at__lte=now, end__gt=now,
                                   capacity__gt=F("booked")).values_list("pk", flat=True))
    slots = places = 0
    for pk in due:
        with transaction.atomic():
            locked = Slot.objects.select_for_update().filter(pk=pk).first()
            if locked is None or locked.capacity <= locked.booked:
                continue
            free = locked.capacity - locked.booked
            Slot.objects.filter(pk=pk).update(capacity=F("booked"),
                                              released=F("released") + free, updated_at=Now())
            grown = Slot.objects.filter(schedule_id=locked.schedule_id, start=locked.start,
                                        pool=Pool.PUBLIC).update(capacity=F("capacity") + free,
                                                                 updated_at=Now())
            if not grown:
                Slot.objects.create(schedule_id=locked.schedule_id, template_id=locked.template_id,
                                    start=locked.start, end=locked.end, pool=Pool.PUBLIC,
                                    capacity=free, status=locked.status)
            slots += 1
            places += free
    if slots:
        audit.record(AuditEvent.Action.UPDATE, username=RELEASE_ACTOR,
                     object_type=Slot._meta.label,
                     summary=f"referral capacity released: {places} places in {slots} slots",
                     changes={"slots": slots, "places": places, "at": now.isoformat()})
    return ReleaseResult(slots, places)


# --- beds ----------------------------------------------------------------------------------


def _bed_event(bed: Bed, source: str, target: str, by: User | None, by_name: str,
               patient_id: int | None, reason: str) -> None:
    BedEvent.objects.create(bed=bed, by=by, by_name=(by.get_username() if by else by_name)[:150],
                            from_status=source, to_status=target, patient_id=patient_id,
                            reason=reason[:200])
    audit.record(AuditEvent.Action.UPDATE, user=by, username="" if by else by_name,
                 object_type=BED_LABEL, object_id=bed.pk, patient_id=patient_id,
                 summary=f"{bed.code}: {source} → {target}",
                 changes={"status": {"from": source, "to": target}, "reason": reason[:200]})


_BED_STATE_MESSAGE = _("Bed %(bed)s is “%(state)s”; it cannot become “%(target)s”.")


def _bed_refusal(bed: Bed, source: str, target: str) -> SchedulingConflict:
    return SchedulingConflict("bed.transition", _BED_STATE_MESSAGE, bed=bed.code,
                              state=Bed.Status(source).label, target=Bed.Status(target).label)


def _take_bed(bed: Bed, patient: Patient, target: str, *, by: User | None, by_name: str,
              source_referral_id: int | None, reason: str) -> Bed:
    """free → reserved or occupied, for ``patient``: one conditional update."""
    current = Bed.objects.select_related("ward__institution").get(pk=bed.pk)
    patient = _check_patient(patient)
    if current.status != Bed.Status.FREE:
        raise SchedulingConflict("bed.unavailable", _("Bed %(bed)s is not free."),
                                 bed=current.code)
    if not may_use_pool(current.pool, current.ward.institution, by,
                        source_referral_id=source_referral_id):
        raise _pool_refusal(current.pool, "bed.pool_refused")
    taken = Bed.objects.filter(pk=current.pk, status=Bed.Status.FREE).update(
        status=target, patient=patient, source_referral_id=source_referral_id,
        updated_at=timezone.now())
    if not taken:
        raise SchedulingConflict("bed.unavailable", _("Bed %(bed)s is not free."),
                                 bed=current.code)
    _bed_event(current, Bed.Status.FREE, target, by, by_name, patient.pk, reason)
    current.status, current.patient, current.source_referral_id = (target, patient,
                                                                   source_referral_id)
    return current


@transaction.atomic
def reserve_bed(bed: Bed, patient: Patient, *, by: User | None = None, by_name: str = "",
                source_referral_id: int | None = None, reason: str = "") -> Bed:
    """Hold a free bed for an incoming resident (an accepted referral: ``source_referral_id``).
    A referral bed is held only under the referral-pool rule."""
    return _take_bed(bed, patient, Bed.Status.RESERVED, by=by, by_name=by_name,
                     source_referral_id=source_referral_id, reason=reason)


@transaction.atomic
def reserve_free_bed(ward: Ward, patient: Patient, *, pool: str = Pool.REFERRAL,
                     by: User | None = None, by_name: str = "",
                     source_referral_id: int | None = None, reason: str = "") -> Bed:
    """Hold any free bed of ``pool`` in ``ward`` (lowest code first). Beds taken by others
    meanwhile are skipped; none left is refused with ``bed.none_free``."""
    ward = Ward.objects.select_related("institution").get(pk=ward.pk)
    if not may_use_pool(pool, ward.institution, by, source_referral_id=source_referral_id):
        raise _pool_refusal(pool, "bed.pool_refused")
    for candidate in Bed.objects.filter(ward=ward, pool=pool,
                                        status=Bed.Status.FREE).order_by("code")[:50]:
        try:
            with transaction.atomic():
                return _take_bed(candidate, patient, Bed.Status.RESERVED, by=by,
                                 by_name=by_name, source_referral_id=source_referral_id,
                                 reason=reason)
        except SchedulingConflict as err:
            if err.code != "bed.unavailable":
                raise
    raise SchedulingConflict("bed.none_free", _("Ward %(ward)s has no free bed left."),
                             ward=ward.name)


@transaction.atomic
def occupy_bed(bed: Bed, patient: Patient, *, by: User | None = None, by_name: str = "",
               source_referral_id: int | None = None, reason: str = "") -> Bed:
    """The resident takes the bed: the one reserved for them, or a free bed (direct
    admission, under the pool rule)."""
    current = Bed.objects.get(pk=bed.pk)
    if current.status == Bed.Status.FREE:
        return _take_bed(current, patient, Bed.Status.OCCUPIED, by=by, by_name=by_name,
                         source_referral_id=source_referral_id, reason=reason)
    if current.status != Bed.Status.RESERVED:
        raise _bed_refusal(current, current.status, Bed.Status.OCCUPIED)
    if current.patient_id != patient.pk:
        raise SchedulingConflict("bed.reserved_for_other",
                                 _("Bed %(bed)s is reserved for another resident."),
                                 bed=current.code)
    moved = Bed.objects.filter(pk=current.pk, status=Bed.Status.RESERVED,
                               patient=patient).update(status=Bed.Status.OCCUPIED,
                                                       updated_at=timezone.now())
    if not moved:
        raise SchedulingConflict("bed.changed", _("Bed %(bed)s was changed meanwhile."),
                                 bed=current.code)
    _bed_event(current, Bed.Status.RESERVED, Bed.Status.OCCUPIED, by, by_name, patient.pk,
               reason)
    current.status = Bed.Status.OCCUPIED
    return current


def _bed_move(bed: Bed, target: str, *, by: User | None, by_name: str, reason: str) -> Bed:
    current = Bed.objects.get(pk=bed.pk)
    source = current.status
    try:
        rules.check_transition(statuses.BED_TRANSITIONS, source, target, "bed.transition")
    except rules.RuleError as err:
        raise _bed_refusal(current, source, target) from err
    if target in (Bed.Status.RESERVED, Bed.Status.OCCUPIED):  # only through _take_bed
        raise _bed_refusal(current, source, target)
    moved = Bed.objects.filter(pk=current.pk, status=source).update(
        status=target, patient=None, source_referral_id=None, updated_at=timezone.now())
    if not moved:
        raise SchedulingConflict("bed.changed", _("Bed %(bed)s was changed meanwhile."),
                                 bed=current.code)
    _bed_event(current, source, target, by, by_name, current.patient_id, reason)
    current.status, current.patient = target, None
    return current


@transaction.atomic
def free_bed(bed: Bed, *, by: User | None = None, by_name: str = "", reason: str = "") -> Bed:
    """Discharge (occupied → free) or give up a reservation (reserved → free)."""
    return _bed_move(bed, Bed.Status.FREE, by=by, by_name=by_name, reason=reason)


@transaction.atomic
def close_bed(bed: Bed, *, by: User | None = None, by_name: str = "", reason: str = "") -> Bed:
    """Take a free bed out of service."""
    return _bed_move(bed, Bed.Status.CLOSED, by=by, by_name=by_name, reason=reason)
