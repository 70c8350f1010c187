"""Pure rules of the tiered disease catalogue: no ORM, plain data in, plain data out.

* A catalogue entry is an ICD-10 code (``E11``, ``K92.2``, ``I10.X00``) or an inclusive range
  of categories (``I10``–``I15``); codes are normalised and checked through
  :mod:`tiercare.kernel.icd10` (rules.md §10).
* The entry that decides a diagnosis is the **most specific** one that matches it: the
  longest code that is a prefix of the diagnosis (``I10.X00`` before ``E11.9`` before
  ``E11``), then the narrowest range of categories that contains its category. Ranges of one
  catalogue nest or are disjoint (:func:`check_nesting`), so there is never a tie.
* The level in an entry is the **lowest level that should treat** the condition once its
  diagnosis and plan are settled (rules.md §2, seed 001 §21). A referral up for a condition
  the sending level should treat gets a warning (rules.md §2/§3); at discharge a condition
  that a lower level can continue gets a down-referral suggestion.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from django.utils.functional import Promise
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from tiercare.errors import DomainError
from tiercare.kernel import icd10
from tiercare.kernel.errors import KernelError
from tiercare.referrals import statuses
from tiercare.referrals.errors import ReferralConflict, ReferralRefused
from tiercare.referrals.models import Direction, Referral
from tiercare.registry.models import Level

# Lowest first; "beyond county" = city or provincial.
LEVEL_ORDER: tuple[str, ...] = (Level.VILLAGE, Level.TOWNSHIP, Level.COUNTY, Level.CITY,
                                Level.PROVINCIAL)
RANK = {level: rank for rank, level in enumerate(LEVEL_ORDER)}

# Names of the levels in spreadsheets (written by export, read by import with the aliases).
LEVEL_NAMES_ZH: dict[str, str] = {
    Level.VILLAGE: "村级", Level.TOWNSHIP: "乡镇级", Level.COUNTY: "县级",
    Level.CITY: "市级", Level.PROVINCIAL: "省级",
}
LEVEL_ALIASES: dict[str, str] = {
    **{str(v): str(v) for v in Level.values},
    **{name: str(level) for level, name in LEVEL_NAMES_ZH.items()},
    "村": Level.VILLAGE, "村卫生室": Level.VILLAGE,
    "乡": Level.TOWNSHIP, "乡级": Level.TOWNSHIP, "乡镇": Level.TOWNSHIP,
    "乡镇卫生院": Level.TOWNSHIP, "社区": Level.TOWNSHIP,
    "县": Level.COUNTY, "县医院": Level.COUNTY, "市": Level.CITY, "省": Level.PROVINCIAL,
    "县外": Level.CITY,
}


class CatalogueRuleError(DomainError):
    """A catalogue rule is broken: stable ``code``, lazily translated ``message``, the
    ``field`` it concerns and the ``params`` of the message."""

    def __init__(self, field_name: str, code: str, message: str | Promise, /,
                 **params: object) -> None:
        self.field = field_name
        super().__init__(code, message, **params)


class EntryLike(Protocol):
    """What the rules read of an entry (a model row or :class:`Entry`)."""

    @property
    def code_first(self) -> str: ...
    @property
    def code_last(self) -> str: ...
    @property
    def level(self) -> str: ...


@dataclass(frozen=True)
class Entry:
    """A catalogue entry as plain data."""

    code_first: str
    code_last: str
    level: str
    name_zh: str = ""
    up_criteria: str = ""
    down_criteria: str = ""
    source: str = ""


# --- codes and ranges ---------------------------------------------------------------------------


def parse_code(text: str, field_name: str = "code_first") -> str:
    """The normalised code (``" e119 "`` → ``E11.9``), or :class:`CatalogueRuleError` with the
    kernel's code (``icd10.format`` / ``icd10.unknown``)."""
    try:
        return icd10.validate(text).code
    except KernelError as err:
        raise CatalogueRuleError(field_name, err.code, _(err.template), **err.params) from err


def parse_range(first: str, last: str = "") -> tuple[str, str]:
    """``(code_first, code_last)`` normalised: ``code_last`` is ``""`` for a single code.

    A range joins two **categories** (3 characters) in order; a range whose ends are equal
    is that category alone. ``first`` may also be written ``"I10-I15"`` (or with ``–``/``~``)
    when ``last`` is empty."""
    first, last = (first or "").strip(), (last or "").strip()
    if not last:
        for dash in ("–", "—", "~", "～", "-"):
            if dash in first:
                first, last = (part.strip() for part in first.split(dash, 1))
                break
    if not first:
        raise CatalogueRuleError("code_first", "required", _("An ICD-10 code is required."))
    code_first = parse_code(first, "code_first")
    if not last:
        return code_first, ""
    code_last = parse_code(last, "code_last")
    for name, code in (("code_first", code_first), ("code_last", code_last)):
        if len(code) != 3:
            raise CatalogueRuleError(
                name, "range.not_category",
                _("A range joins two ICD-10 categories (3 characters, e.g. I10–I15); "
                  "“%(code)s” is not a category."), code=code)
    if code_last < code_first:
        raise CatalogueRuleError(
            "code_last", "range.order",
            _("The range %(first)s–%(last)s is reversed: the last category must come after "
              "the first."), first=code_first, last=code_last)
    if code_last == code_first:
        return code_first, ""
    return code_first, code_last


def parse_level(text: str) -> str:
    """A level from its value (``township``) or a Chinese name (``乡镇级``, ``县级`` …)."""
    value = LEVEL_ALIASES.get((text or "").strip().lower()) or LEVEL_ALIASES.get(
        (text or "").strip())
    if value is None:
        raise CatalogueRuleError(
            "level", "level.invalid",
            _("“%(value)s” is not a level of care (use village, township, county, city or "
              "provincial; 村级, 乡镇级, 县级, 市级 or 省级)."), value=text)
    return value


def _ordinal(category: str) -> int:
    return (ord(category[0]) - ord("A")) * 100 + int(category[1:3])


def span(entry: EntryLike) -> int:
    """How many categories a range covers (1 for a single code)."""
    if not entry.code_last:
        return 1
    return _ordinal(entry.code_last) - _ordinal(entry.code_first) + 1


def specificity(entry: EntryLike) -> tuple[int, int]:
    """Larger is more specific: a longer code first, then a narrower range."""
    return (len(entry.code_first) if not entry.code_last else 3, -span(entry))


def matches(entry: EntryLike, code: icd10.Icd10Code) -> bool:
    """True when the entry covers the (valid) diagnosis code."""
    if entry.code_last:
        return entry.code_first <= code.category <= entry.code_last
    return code.code.startswith(entry.code_first)


def check_nesting(new: EntryLike, others: Iterable[EntryLike]) -> None:
    """Two ranges of one catalogue nest or are disjoint, and a code or range appears once
    (so that "most specific" decides every diagnosis without a tie)."""
    for other in others:
        if (other.code_first, other.code_last) == (new.code_first, new.code_last):
            raise CatalogueRuleError(
                "code_first", "range.duplicate",
                _("The catalogue already has an entry for %(range)s."),
                range=display_range(new))
        if not (new.code_last and other.code_last):
            continue
        overlap = new.code_first <= other.code_last and other.code_first <= new.code_last
        inside = (new.code_first >= other.code_first and new.code_last <= other.code_last) or (
            other.code_first >= new.code_first and other.code_last <= new.code_last)
        if overlap and not inside:
            raise CatalogueRuleError(
                "code_last", "range.overlap",
                _("The range %(range)s overlaps %(other)s without containing it or lying "
                  "inside it; split one of them."),
                range=display_range(new), other=display_range(other))


def display_range(entry: EntryLike) -> str:
    return f"{entry.code_first}–{entry.code_last}" if entry.code_last else entry.code_first


# --- look-ups -----------------------------------------------------------------------------------


class Catalogue:
    """The entries of one catalogue, indexed for fast look-ups."""

    def __init__(self, entries: Iterable[EntryLike]) -> None:
        self._codes: dict[str, EntryLike] = {}
        ranges: list[EntryLike] = []
        for entry in entries:
            if entry.code_last:
                ranges.append(entry)
            else:
                self._codes[entry.code_first] = entry
        # Narrowest first; ties (only possible when nesting was not checked) by code.
        self._ranges = sorted(ranges, key=lambda e: (span(e), e.code_first, e.code_last))

    def lookup(self, code: str) -> EntryLike | None:
        """The most specific entry covering the diagnosis code, or ``None`` (also for an
        invalid code: the catalogue has no opinion on it)."""
        if not icd10.exists(code):
            return None
        parsed = icd10.validate(code)
        text = parsed.code
        for length in range(len(text), 2, -1):
            hit = self._codes.get(text[:length])
            if hit is not None:
                return hit
        for entry in self._ranges:
            if entry.code_first <= parsed.category <= entry.code_last:
                return entry
        return None

    def lowest_level(self, code: str) -> str | None:
        """The lowest level that should treat the diagnosis, ``None`` when not listed."""
        entry = self.lookup(code)
        return entry.level if entry is not None else None

    def should_treat_at(self, level: str, code: str) -> bool:
        """True when an institution of ``level`` should treat the diagnosis: the catalogue
        lists it at that level or a lower one (rules.md §2)."""
        lowest = self.lowest_level(code)
        return lowest is not None and RANK[lowest] <= RANK[level]

    def up_referral_warning(self, code: str, sending: str,
                            receiving: str) -> ReferralAdvice | None:
        """The warning for a referral from ``sending`` up to ``receiving`` when the sending
        level should treat the diagnosis itself (rules.md §2 "uses", §3); ``None`` when the
        referral does not go up or the condition belongs higher."""
        if RANK[receiving] <= RANK[sending]:
            return None
        entry = self.lookup(code)
        if entry is None or RANK[entry.level] > RANK[sending]:
            return None
        return ReferralAdvice(
            code="catalogue.treat_here", entry=entry, level=entry.level,
            message=_("The tiered disease catalogue lists this condition (%(range)s) as "
                      "treated at %(level)s level or below: refer up only when the up-referral "
                      "criteria are met."),
            params={"range": display_range(entry), "level": Level(entry.level).label})

    def down_referral_suggestion(self, code: str, current: str) -> ReferralAdvice | None:
        """At discharge: a suggestion to refer down when a lower level can continue the
        treatment (rules.md §2 "uses"); ``None`` otherwise."""
        entry = self.lookup(code)
        if entry is None or RANK[entry.level] >= RANK[current]:
            return None
        return ReferralAdvice(
            code="catalogue.refer_down", entry=entry, level=entry.level,
            message=_("The tiered disease catalogue lists this condition (%(range)s) as "
                      "treated at %(level)s level: consider a down-referral once the "
                      "down-referral criteria are met."),
            params={"range": display_range(entry), "level": Level(entry.level).label})


@dataclass(frozen=True)
class ReferralAdvice:
    """A warning or suggestion from the catalogue, with the entry it comes from."""

    code: str
    entry: EntryLike
    level: str
    message: str | Promise
    params: dict[str, object]

    def __str__(self) -> str:
        return str(self.message) % {k: str(v) for k, v in self.params.items()}


# --- the referral workflow (issue 4 item 3; rules.md §3) ---------------------------------------
# Pure: plain values in, plain values out. States and sides: ``referrals.statuses``.


@dataclass(frozen=True)
class DeadlinePolicy:
    """An alliance's response deadlines (issue 4 defaults: routine 24 h, green channel
    15 min), the expiry limit of an unanswered referral (TierCare's choice: 7 days, ADR 0012)
    and the follow-up after an up-referral (rules.md §3: within 2 weeks)."""

    routine_hours: int = 24
    green_channel_minutes: int = 15
    expiry_days: int = 7
    follow_up_days: int = 14


def response_deadline(sent: dt.datetime, green_channel: bool,
                      policy: DeadlinePolicy) -> dt.datetime:
    """When the receiving side must answer: from the moment the referral reaches it (sent,
    or approved for an out-of-county referral), 15 minutes in the green channel, else 24
    hours (the alliance's values)."""
    if green_channel:
        return sent + dt.timedelta(minutes=policy.green_channel_minutes)
    return sent + dt.timedelta(hours=policy.routine_hours)


def is_overdue(status: str, deadline: dt.datetime | None, escalated_at: dt.datetime | None,
               now: dt.datetime) -> bool:
    """The response deadline has passed without an answer and the alliance office has not
    been told yet (escalation happens once)."""
    return (status in statuses.AWAITING_ANSWER and deadline is not None and deadline <= now
            and escalated_at is None)


def expires_at(sent: dt.datetime, policy: DeadlinePolicy) -> dt.datetime:
    """When a referral still unanswered expires."""
    return sent + dt.timedelta(days=policy.expiry_days)


def is_expired(status: str, sent: dt.datetime | None, now: dt.datetime,
               policy: DeadlinePolicy) -> bool:
    """Unanswered for longer than the expiry limit."""
    return (status in statuses.AWAITING_ANSWER and sent is not None
            and expires_at(sent, policy) <= now)


def follow_up_due(sent_on: dt.date, policy: DeadlinePolicy) -> dt.date:
    """The due date of the sending institution's follow-up (rules.md §3: within 2 weeks)."""
    return sent_on + dt.timedelta(days=policy.follow_up_days)


def needs_approval(direction: str, green_channel: bool) -> bool:
    """Out-of-county referral needs the alliance's approval (rules.md §3 [seed 001 §21,
    seed 004]); the green channel skips approval queues [seed 001 §18]."""
    return direction == Direction.OUT_OF_COUNTY and not green_channel


def needs_follow_up(direction: str) -> bool:
    """After any up-referral the sending institution follows the patient up (rules.md §3);
    an out-of-county referral goes up beyond the county."""
    return direction in (Direction.UP, Direction.OUT_OF_COUNTY)


def check_move(source: str, target: str, sides: frozenset[str] | set[str]) -> None:
    """Refuse a move the table does not have (``referral.transition``) or that the actor's
    sides may not make (``referral.not_allowed``). Nothing changes either way."""
    state, goal = Referral.Status(source).label, Referral.Status(target).label
    if not statuses.can_move(source, target):
        raise ReferralConflict("referral.transition",
                               _("A referral that is “%(state)s” cannot become “%(target)s”."),
                               state=state, target=goal)
    if not statuses.may_move(source, target, sides):
        who = statuses.TRANSITIONS[(source, target)]
        raise ReferralRefused(
            "referral.not_allowed",
            _("Only %(who)s may move a referral from “%(state)s” to “%(target)s”."),
            who=format_lazy(" / ".join("{}" for _s in who),
                            *(statuses.Side(s).label for s in sorted(who))),
            state=state, target=goal)


def direction_problem(direction: str, sending_level: str, receiving_level: str, *,
                      out_of_county: bool, same_institution: bool) -> str | None:
    """The code of what is wrong with the direction, or ``None`` (rules.md §3): up goes to a
    higher level, down to a lower one, lateral to the same level, all three inside the
    county; an out-of-county referral goes to an institution outside the county; never to
    the sending institution itself."""
    if same_institution:
        return "referral.same_institution"
    if direction == Direction.OUT_OF_COUNTY:
        return None if out_of_county else "referral.direction"
    if out_of_county:
        return "referral.direction"
    up, down = RANK[receiving_level] > RANK[sending_level], (
        RANK[receiving_level] < RANK[sending_level])
    ok = {Direction.UP: up, Direction.DOWN: down,
          Direction.LATERAL: not up and not down}.get(Direction(direction), False)
    return None if ok else "referral.direction"


def catalogue_warning(catalogue: Catalogue | None, direction: str, code: str,
                      sending_level: str, receiving_level: str) -> ReferralAdvice | None:
    """The catalogue's warning for a referral going up (rules.md §2 "uses"): ``None`` for
    other directions, without a catalogue, or when the condition belongs higher."""
    if catalogue is None or direction not in (Direction.UP, Direction.OUT_OF_COUNTY):
        return None
    return catalogue.up_referral_warning(code, sending_level, receiving_level)
