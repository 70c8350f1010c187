"""Pure policy functions of scheduling: no ORM, no state, unit-tested in milliseconds.

* Slot generation (rules.md §4, 分时段预约): a weekly template (weekday, local start and end
  time, slot length, capacity per slot) gives the slot times of a date range. A last slot
  that would run past the template's end is not made. Slots of one schedule never overlap:
  when two templates of a day overlap, the earlier-starting slot is kept and a slot that
  begins before the kept one ends is dropped.
* Pools (rules.md §3–§4): the alliance reserves a share of each day's clinic capacity for
  referrals from its members. The reserve of a schedule's day is **at least** the share
  (rounded up: the Beijing rule says "not less than 30 %") and is spread evenly over the
  day's slots by cumulative rounding, so no slot gives more than it has and the day's sum
  is exactly ``ceil(share × day capacity)``.
* Specialist share (Beijing: at least half of the reserved slots are specialist slots
  [local]): when uniform reservation would give too few specialist slots, specialist
  schedules reserve a larger share and the others a smaller one, keeping the total.
* Release (rules.md §4): unused reserved capacity returns to the public pool
  ``release_lead_days`` before the slot starts (0 = at its start: nothing is released early).
* Transitions: a move not in the table is refused.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from django.utils.translation import gettext_lazy as _

from tiercare.errors import DomainError

#: the longest date range generated in one call (a year and a little)
MAX_RANGE_DAYS = 400


class RuleError(DomainError):
    """A scheduling rule is broken: stable ``code``, lazily translated ``message``."""


# --- slot generation ---------------------------------------------------------------------------


@dataclass(frozen=True)
class TemplateSpec:
    """The parts of a slot template the generator needs (``key``: the template's id)."""

    weekday: int
    start_time: dt.time
    end_time: dt.time
    slot_minutes: int
    capacity: int
    internal_capacity: int = 0
    valid_from: dt.date | None = None
    valid_to: dt.date | None = None
    key: object = None


@dataclass(frozen=True)
class SlotTime:
    """One generated slot time with the capacity of its template."""

    start: dt.datetime
    end: dt.datetime
    capacity: int
    internal_capacity: int
    key: object = None


def check_template(spec: TemplateSpec) -> None:
    """A template that can give slots: weekday 0–6, end after start, a slot length of at
    least one minute that fits at least once, capacity ≥ 1, internal capacity within it."""
    if not 0 <= spec.weekday <= 6:
        raise RuleError("template.invalid", _("The weekday must be between Monday and Sunday."))
    if spec.end_time <= spec.start_time:
        raise RuleError("template.invalid", _("The end time must be after the start time."))
    if spec.slot_minutes < 1:
        raise RuleError("template.invalid", _("A slot lasts at least one minute."))
    span = (dt.datetime.combine(dt.date.min, spec.end_time)
            - dt.datetime.combine(dt.date.min, spec.start_time))
    if span < dt.timedelta(minutes=spec.slot_minutes):
        raise RuleError("template.invalid",
                        _("The hours are shorter than one slot of %(minutes)s minutes."),
                        minutes=spec.slot_minutes)
    if spec.capacity < 1:
        raise RuleError("template.invalid", _("A slot has a capacity of at least one."))
    if not 0 <= spec.internal_capacity <= spec.capacity:
        raise RuleError("template.invalid",
                        _("The internal capacity cannot exceed the slot's capacity."))


def check_range(first: dt.date, last: dt.date) -> None:
    if last < first:
        raise RuleError("range.invalid", _("The last day is before the first day."))
    if (last - first).days >= MAX_RANGE_DAYS:
        raise RuleError("range.invalid",
                        _("Slots are generated for at most %(days)s days at a time."),
                        days=MAX_RANGE_DAYS)


def _days(first: dt.date, last: dt.date) -> Iterable[dt.date]:
    day = first
    while day <= last:
        yield day
        day += dt.timedelta(days=1)


def slot_times(templates: Iterable[TemplateSpec], first: dt.date, last: dt.date,
               tz: dt.tzinfo) -> list[SlotTime]:
    """The slot times of ``templates`` on the days ``first``…``last`` (inclusive), in time
    zone ``tz``, ordered by start, none overlapping another (see the module's rule)."""
    check_range(first, last)
    specs = list(templates)
    for spec in specs:
        check_template(spec)
    candidates: list[SlotTime] = []
    for day in _days(first, last):
        for spec in specs:
            if spec.weekday != day.weekday():
                continue
            if (spec.valid_from and day < spec.valid_from) or (spec.valid_to
                                                               and day > spec.valid_to):
                continue
            length = dt.timedelta(minutes=spec.slot_minutes)
            start = dt.datetime.combine(day, spec.start_time, tzinfo=tz)
            stop = dt.datetime.combine(day, spec.end_time, tzinfo=tz)
            while start + length <= stop:
                candidates.append(SlotTime(start, start + length, spec.capacity,
                                           spec.internal_capacity, spec.key))
                start += length
    candidates.sort(key=lambda s: (s.start, s.end))
    kept: list[SlotTime] = []
    for slot in candidates:
        if kept and slot.start < kept[-1].end:
            continue
        kept.append(slot)
    return kept


# --- pools ---------------------------------------------------------------------------------


def as_fraction(share: Decimal | Fraction | int | str) -> Fraction:
    """An exact share (never a float: 0.3 must stay 3/10)."""
    value = Fraction(share) if not isinstance(share, Decimal) else Fraction(str(share))
    if not 0 <= value <= 1:
        raise RuleError("policy.share_range", _("A share lies between 0 and 1."))
    return value


def split_reserve(capacities: Sequence[int], share: Decimal | Fraction | int | str) -> list[int]:
    """How much of each slot's capacity (in order of the day) goes to the referral pool:
    the day's reserve is ``ceil(share × sum)``, spread by cumulative rounding (slot ``i``
    gets ``ceil(share × C_i) − ceil(share × C_{i-1})`` where ``C_i`` is the capacity up to
    and including it), so each part lies in ``0…capacity`` and the parts add up exactly."""
    s = as_fraction(share)
    parts: list[int] = []
    running = 0
    previous = 0
    for capacity in capacities:
        if capacity < 0:
            raise RuleError("template.invalid", _("A slot has a capacity of at least one."))
        running += capacity
        reached = math.ceil(s * running)
        parts.append(reached - previous)
        previous = reached
    return parts


@dataclass(frozen=True)
class PoolSplit:
    public: int
    referral: int
    internal: int

    @property
    def total(self) -> int:
        return self.public + self.referral + self.internal


def split_day(slots: Sequence[SlotTime], share: Decimal | Fraction | int | str
              ) -> list[PoolSplit]:
    """Split each slot of one schedule's day into pools: the internal capacity first, then
    the reserve of the rest (``split_reserve``), the remainder public."""
    bookable = [s.capacity - s.internal_capacity for s in slots]
    reserved = split_reserve(bookable, share)
    return [PoolSplit(public=b - r, referral=r, internal=s.internal_capacity)
            for s, b, r in zip(slots, bookable, reserved, strict=True)]


def reserve_shares(reserve_share: Decimal | Fraction | int | str,
                   specialist_share: Decimal | Fraction | int | str,
                   specialist_fraction: Decimal | Fraction | int | str
                   ) -> tuple[Fraction, Fraction]:
    """The reserve share of (general, specialist) schedules that reserves ``reserve_share``
    of all capacity with at least ``specialist_share`` of the reserve in specialist slots,
    when ``specialist_fraction`` of the capacity is specialist (Beijing: 30 % reserved, at
    least half specialist [local]).

    Uniform reservation is kept when it already meets the specialist share; otherwise
    specialist schedules reserve ``s·R/f`` and the others ``R·(1−s)/(1−f)`` (same total), each
    capped at 1 with the rest moved to the other group."""
    r, s, f = (as_fraction(reserve_share), as_fraction(specialist_share),
               as_fraction(specialist_fraction))
    if f == 0 or f == 1 or f >= s:
        return r, r
    specialist = s * r / f
    general = r * (1 - s) / (1 - f)
    if specialist > 1:
        specialist = Fraction(1)
        general = (r - f) / (1 - f)
    return general, specialist


# --- release -------------------------------------------------------------------------------


def release_time(start: dt.datetime, lead_days: int) -> dt.datetime:
    """When a referral slot's unused capacity returns to the public pool (rules.md §4):
    ``lead_days`` before the slot starts; with the default 0, at its start."""
    if lead_days < 0:
        raise RuleError("policy.lead_negative", _("The release lead time cannot be negative."))
    return start - dt.timedelta(days=lead_days)


# --- transitions ---------------------------------------------------------------------------


def check_transition(table: Mapping[str, frozenset[str]], source: str, target: str,
                     code: str = "appointment.transition") -> None:
    """Refuse a move that the transition table does not allow (nothing changes)."""
    if target not in table.get(source, frozenset()):
        raise RuleError(code, _("This cannot be done in the state “%(source)s”."),
                        source=source, target=target)
