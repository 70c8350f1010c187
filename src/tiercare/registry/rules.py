"""Pure rules of the alliance registry: no ORM, plain data in, plain data out.

* Grid coverage (rules.md §1, seed 002, issue 2 §3): every township of the county belongs to
  exactly one community; gaps and overlaps are reported.
* Level/kind coherence of institutions (rules.md §1, glossary "Organisations and places").
* Posting dates are ordered; the lead hospital's attending-or-higher physicians stationed at
  township centres ("four downward flows", seed 003).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from tiercare.errors import DomainError


class RegistryRuleError(DomainError):
    """A registry rule is broken: stable ``code``, lazily translated ``message``, the
    ``field`` it concerns and the ``params`` of the message."""

    def __init__(self, field_name: str, code: str, message: str | Promise, /,
                 **params: object) -> None:
        self.field = field_name
        super().__init__(code, message, **params)


# --- division codes (rules.md §10) ------------------------------------------------------------


def division_prefix(code: str) -> str:
    """The significant prefix of a division code: a 12-digit statistical code padded with zeros
    stands for its township (``…001000`` → 9 digits) or its county (``…000000`` → 6 digits).
    A resident lives inside a division when their address code starts with this prefix."""
    code = code.strip()
    if len(code) == 12 and code.endswith("000000"):
        return code[:6]
    if len(code) == 12 and code.endswith("000"):
        return code[:9]
    return code


def township_of(code: str) -> str | None:
    """The 9-digit township part of a 9- or 12-digit code, ``None`` for a county code."""
    prefix = division_prefix(code)
    return prefix[:9] if len(prefix) >= 9 else None


# --- grid coverage (rules.md §1) ----------------------------------------------------------------


@dataclass(frozen=True)
class TownshipRef:
    """A township Division of the county."""

    code: str
    name: str


@dataclass(frozen=True)
class AllianceRef:
    """An alliance that answers for part of the county."""

    id: int
    code: str
    name: str


@dataclass(frozen=True)
class GridEntry:
    """One row of an alliance's grid: the division (county, township or village code) it
    answers for."""

    alliance: AllianceRef
    division_code: str


@dataclass(frozen=True)
class Overlap:
    """A township claimed by more than one alliance."""

    township: TownshipRef
    alliances: list[AllianceRef]


@dataclass(frozen=True)
class CoverageReport:
    """The coverage of a county's townships by its alliances' grids: ``gaps`` are townships
    in no alliance, ``overlaps`` townships in more than one. ``ok`` when both are empty."""

    county_code: str
    townships: int
    covered: int
    gaps: list[TownshipRef] = field(default_factory=list)
    overlaps: list[Overlap] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.gaps and not self.overlaps


def check_grid_coverage(
    county_code: str, townships: Iterable[TownshipRef], entries: Iterable[GridEntry]
) -> CoverageReport:
    """Every township of the county must be in exactly one alliance's grid [seed 002,
    rules.md §1]. A grid entry covers a township when the township's code starts with the
    entry's division prefix (a county entry covers all its townships; a village entry alone
    does not cover its township). Townships outside ``county_code`` are ignored."""
    claims: dict[str, dict[int, AllianceRef]] = {}
    entries = list(entries)
    town_list = sorted(
        (t for t in townships if t.code.startswith(county_code)), key=lambda t: t.code
    )
    for township in town_list:
        town = township.code[:9]
        for entry in entries:
            prefix = division_prefix(entry.division_code)
            if len(prefix) <= 9 and town.startswith(prefix):
                claims.setdefault(township.code, {})[entry.alliance.id] = entry.alliance
    gaps = [t for t in town_list if not claims.get(t.code)]
    overlaps = [
        Overlap(t, sorted(claims[t.code].values(), key=lambda a: a.code))
        for t in town_list
        if len(claims.get(t.code, {})) > 1
    ]
    return CoverageReport(
        county_code=county_code,
        townships=len(town_list),
        covered=len(town_list) - len(gaps),
        gaps=gaps,
        overlaps=overlaps,
    )


# --- institutions (rules.md §1) --------------------------------------------------------------

#: The levels at which each kind of institution exists (glossary: county hospitals are
#: general, TCM or maternal & child; township centres / community health service centres are
#: township level; village clinics / community health stations are village level).
KIND_LEVELS: dict[str, frozenset[str]] = {
    "general_hospital": frozenset({"provincial", "city", "county"}),
    "tcm_hospital": frozenset({"provincial", "city", "county"}),
    "maternal_child": frozenset({"provincial", "city", "county"}),
    "township_centre": frozenset({"township"}),
    "community_centre": frozenset({"township"}),
    "village_clinic": frozenset({"village"}),
    "community_station": frozenset({"village"}),
    "public_health": frozenset({"provincial", "city", "county", "township"}),
}

#: How many digits a site's division code must have at least, per level: a township-level
#: institution sits in a township (9), a village clinic in a village (12).
LEVEL_MIN_CODE_DIGITS = {"township": 9, "village": 12}


def check_level_kind(level: str, kind: str) -> None:
    """A kind of institution exists only at some levels, e.g. a village clinic is at village
    level (rules.md §1)."""
    allowed = KIND_LEVELS.get(kind)
    if allowed is None:
        raise RegistryRuleError("kind", "kind.unknown",
                                _("“%(kind)s” is not a kind of institution."), kind=kind)
    if level not in allowed:
        raise RegistryRuleError(
            "level", "level.kind_mismatch",
            _("An institution of kind “%(kind)s” cannot be at level “%(level)s”."),
            kind=kind, level=level,
        )


def check_division_code_shape(code: str, level: str) -> str:
    """A site's division code has 6, 9 or 12 digits (GB/T 2260 + township + village,
    rules.md §10) and is at least as fine as its level needs. Returns the code."""
    code = code.strip()
    if len(code) not in (6, 9, 12) or not code.isascii() or not code.isdigit():
        raise RegistryRuleError(
            "division_code", "division_code.format",
            _("A division code has 6, 9 or 12 digits, got “%(code)s”."), code=code,
        )
    needed = LEVEL_MIN_CODE_DIGITS.get(level, 6)
    if len(division_prefix(code)) < needed:
        raise RegistryRuleError(
            "division_code", "division_code.too_coarse",
            _("An institution at level “%(level)s” needs a division code of at least "
              "%(digits)s digits naming its site, got “%(code)s”."),
            level=level, digits=needed, code=code,
        )
    return code


# --- postings (rules.md §1, seed 003) ---------------------------------------------------------

#: Titles that count as "attending physician or higher" for the township rule [seed 003].
ATTENDING_OR_HIGHER = frozenset({"attending", "associate_chief", "chief"})


def check_posting_dates(start: date, end: date | None) -> None:
    """A posting ends on or after the day it starts."""
    if end is not None and end < start:
        raise RegistryRuleError(
            "end_date", "posting.dates",
            _("The posting ends (%(end)s) before it starts (%(start)s)."),
            start=start.isoformat(), end=end.isoformat(),
        )


def posting_active_on(start: date, end: date | None, on: date) -> bool:
    """A posting serves on ``on`` when ``start <= on`` and it has not ended before ``on``."""
    return start <= on and (end is None or on <= end)
