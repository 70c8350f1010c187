"""Reporting periods: calendar months, quarters and years.

Indicators, budgets and follow-up counts are reported per month, quarter or year
(rules.md §8 "Rates (per year …)", §9 the budget year; DHIS2 period types). Periods are
written ``2025`` (year), ``2025Q3`` (quarter; ``2025q3`` accepted) and ``2025-07`` (month).
A period runs from :attr:`Period.start` to :attr:`Period.end` inclusive, in calendar dates
(the dates are those of China Standard Time; the caller converts timestamps first).
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date

from tiercare.kernel.errors import N_, InvalidPeriod

MONTH = "month"
QUARTER = "quarter"
YEAR = "year"
KINDS = (MONTH, QUARTER, YEAR)
MIN_YEAR = 1
MAX_YEAR = 9999

_YEAR = re.compile(r"(\d{4})")
_QUARTER = re.compile(r"(\d{4})[Qq]([1-4])")
_MONTH = re.compile(r"(\d{4})-(\d{2})")


def _bad_period(text: object) -> InvalidPeriod:
    return InvalidPeriod(
        "period.format",
        N_("%(value)s is not a period: write a year (2025), a quarter (2025Q3) or a month "
           "(2025-07)."),
        {"value": text},
    )


@dataclass(frozen=True, order=True)
class Period:
    """A month, quarter or year. ``number`` is the month 1–12, the quarter 1–4, or 1 for a
    year. Periods of the same kind order chronologically."""

    kind: str  # "month" | "quarter" | "year"
    year: int
    number: int

    def __post_init__(self) -> None:
        highest = {MONTH: 12, QUARTER: 4, YEAR: 1}.get(self.kind)
        if highest is None:
            raise InvalidPeriod(
                "period.kind",
                N_("%(value)s is not a kind of period (month, quarter or year)."),
                {"value": self.kind},
            )
        if not MIN_YEAR <= self.year <= MAX_YEAR:
            raise InvalidPeriod(
                "period.out_of_range",
                N_("Periods run from year %(min)s to year %(max)s."),
                {"min": MIN_YEAR, "max": MAX_YEAR},
            )
        if not 1 <= self.number <= highest:
            templates = {
                MONTH: N_("There is no month %(number)s: months are numbered 1 to 12."),
                QUARTER: N_("There is no quarter %(number)s: quarters are numbered 1 to 4."),
                YEAR: N_("A year period has the number 1, not %(number)s."),
            }
            raise InvalidPeriod("period.range", templates[self.kind], {"number": self.number})

    def __str__(self) -> str:
        if self.kind == YEAR:
            return f"{self.year:04d}"
        if self.kind == QUARTER:
            return f"{self.year:04d}Q{self.number}"
        return f"{self.year:04d}-{self.number:02d}"

    @property
    def first_month(self) -> int:
        if self.kind == MONTH:
            return self.number
        if self.kind == QUARTER:
            return 3 * (self.number - 1) + 1
        return 1

    @property
    def last_month(self) -> int:
        if self.kind == MONTH:
            return self.number
        if self.kind == QUARTER:
            return 3 * self.number
        return 12

    @property
    def start(self) -> date:
        """First day of the period."""
        return date(self.year, self.first_month, 1)

    @property
    def end(self) -> date:
        """Last day of the period (inclusive)."""
        last = self.last_month
        return date(self.year, last, calendar.monthrange(self.year, last)[1])

    @property
    def days(self) -> int:
        """Number of days in the period."""
        return (self.end - self.start).days + 1

    def contains(self, day: date) -> bool:
        """True when ``day`` falls in the period (both ends inclusive)."""
        return self.start <= day <= self.end

    def months(self) -> list[Period]:
        """The months that make up the period, in order."""
        return [Period(MONTH, self.year, m) for m in range(self.first_month, self.last_month + 1)]

    def quarters(self) -> list[Period]:
        """The quarters of a year (or the quarter containing a month / itself)."""
        if self.kind == YEAR:
            return [Period(QUARTER, self.year, q) for q in range(1, 5)]
        return [Period(QUARTER, self.year, (self.first_month - 1) // 3 + 1)]

    def _shift(self, steps: int) -> Period:
        per_year = {MONTH: 12, QUARTER: 4, YEAR: 1}[self.kind]
        index = self.year * per_year + (self.number - 1) + steps
        year, rest = divmod(index, per_year)
        if not MIN_YEAR <= year <= MAX_YEAR:
            raise InvalidPeriod(
                "period.out_of_range",
                N_("Periods run from year %(min)s to year %(max)s."),
                {"min": MIN_YEAR, "max": MAX_YEAR},
            )
        return Period(self.kind, year, rest + 1)

    def previous(self) -> Period:
        """The period of the same kind just before this one."""
        return self._shift(-1)

    def next(self) -> Period:
        """The period of the same kind just after this one."""
        return self._shift(1)

    def same_period_last_year(self) -> Period:
        """The same month/quarter/year one year earlier (year-on-year comparisons)."""
        return Period(self.kind, self.year - 1, self.number)


def parse(text: str) -> Period:
    """Parse ``2025``, ``2025Q3``/``2025q3`` or ``2025-07``; raise :class:`InvalidPeriod`."""
    if not isinstance(text, str):
        raise _bad_period(text)
    value = text.strip()
    if m := _YEAR.fullmatch(value):
        year, kind, number = int(m.group(1)), YEAR, 1
    elif m := _QUARTER.fullmatch(value):
        year, kind, number = int(m.group(1)), QUARTER, int(m.group(2))
    elif m := _MONTH.fullmatch(value):
        year, kind, number = int(m.group(1)), MONTH, int(m.group(2))
    else:
        raise _bad_period(text)
    if year < MIN_YEAR or (kind == MONTH and not 1 <= number <= 12):
        raise _bad_period(text)
    return Period(kind, year, number)


def containing(day: date, kind: str) -> Period:
    """The month, quarter or year that contains ``day``."""
    if kind == MONTH:
        return Period(MONTH, day.year, day.month)
    if kind == QUARTER:
        return Period(QUARTER, day.year, (day.month - 1) // 3 + 1)
    if kind == YEAR:
        return Period(YEAR, day.year, 1)
    raise InvalidPeriod(
        "period.kind",
        N_("%(value)s is not a kind of period (month, quarter or year)."),
        {"value": kind},
    )


def year_to_date(day: date) -> tuple[date, date]:
    """1 January of ``day``'s year and ``day`` itself (inclusive range, 年初至今)."""
    return date(day.year, 1, 1), day
