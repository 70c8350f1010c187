"""Compute indicator values for org units and periods on any backend.

One grouped query per fact and side gives every monthly measure of the request for every
org unit and month at once (the whole catalogue for every institution × 12 months is one
scan of each fact); periods are then sums of their months, and values are computed from the
sums (indicators.md: never by averaging rates). Medians and the stationed-physician coverage
are computed per period from the records. Values are ``Decimal`` rounded to two places.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from tiercare.indicators.engine.backends import Backend
from tiercare.indicators.engine.definitions import (
    DEFINITIONS,
    MEASURES,
    SIDES,
    Definition,
    org_kinds,
)
from tiercare.kernel.periods import Period

TWO_PLACES = Decimal("0.01")
_EPOCH = dt.date(1970, 1, 1)


@dataclass(frozen=True, order=True)
class Span:
    """A run of whole months, ``first`` to ``last`` as ``yyyymm`` (a month, quarter, year or
    year to date), with the label it is shown by."""

    first: int
    last: int
    label: str

    @classmethod
    def of(cls, period: Period) -> Span:
        return cls(period.year * 100 + period.first_month,
                   period.year * 100 + period.last_month, str(period))

    @classmethod
    def year_to_date(cls, year: int, month: int) -> Span:
        return cls(year * 100 + 1, year * 100 + month, f"{year}-01..{year}-{month:02d}")

    def months(self) -> list[int]:
        out, month = [], self.first
        while month <= self.last:
            out.append(month)
            month = month + 1 if month % 100 < 12 else (month // 100 + 1) * 100 + 1
        return out

    def a_year_before(self) -> Span:
        return Span(self.first - 100, self.last - 100, f"{self.label} −1y")

    def days(self) -> tuple[int, int]:
        """First and last day as day numbers (days since 1970-01-01, as staged)."""
        first = dt.date(self.first // 100, self.first % 100, 1)
        year, month = divmod(self.last, 100)
        following = dt.date(year + month // 12, month % 12 + 1, 1)
        return (first - _EPOCH).days, (following - _EPOCH).days - 1


@dataclass(frozen=True)
class Cell:
    """One indicator for one org unit and span: the counts behind it and the value
    (``None`` when the denominator is zero or no record exists)."""

    indicator: str
    org_kind: str
    org: str
    span: Span
    numerator: Decimal | None
    denominator: Decimal | None
    value: Decimal | None


def _decimal(value: Any) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value))


def _round(value: Decimal) -> Decimal:
    return value.quantize(TWO_PLACES, rounding=ROUND_HALF_UP)


def _key(value: Any) -> str:
    return str(value)


def _org_filter(column: str, orgs: Sequence[str] | None) -> str:
    if orgs is None:
        return ""
    quoted = ", ".join("'" + org.replace("'", "''") + "'" for org in orgs) or "NULL"
    return f" AND CAST({column} AS VARCHAR) IN ({quoted})"


def _needed(ids: Iterable[str]) -> set[str]:
    """The indicators to compute for ``ids``: with the bases of growth indicators."""
    out: set[str] = set()
    for indicator in ids:
        out.add(indicator)
        base = DEFINITIONS[indicator].base
        if base:
            out |= _needed([base])
    return out


def compute(backend: Backend, spans: Sequence[Span], org_kind: str,
            ids: Iterable[str] | None = None, orgs: Sequence[str] | None = None) -> list[Cell]:
    """Every defined indicator of ``ids`` (default: all) that is given for ``org_kind``, for
    each org unit of that kind found in the facts (or only ``orgs``) and each span."""
    wanted = [i for i in (ids if ids is not None else DEFINITIONS) if i in DEFINITIONS
              and org_kind in org_kinds(i)]
    if not wanted or not spans:
        return []
    todo = _needed(wanted)
    growth_spans = list(spans) + [s.a_year_before() for s in spans]
    any_growth = any(DEFINITIONS[i].kind == "growth" for i in wanted)
    reach = growth_spans if any_growth else list(spans)
    monthly: dict[tuple[str, str], set[str]] = defaultdict(set)
    current: dict[tuple[str, str], set[str]] = defaultdict(set)
    for indicator in todo:
        definition = DEFINITIONS[indicator]
        for name in (definition.numerator, definition.denominator):
            if name:
                spec = MEASURES[name]
                (monthly if spec.monthly else current)[(spec.fact, spec.side)].add(name)
    low, high = min(s.first for s in reach), max(s.last for s in reach)
    by_month: dict[tuple[str, str, int], Decimal] = {}  # (measure, org, month)
    seen: dict[str, set[str]] = defaultdict(set)  # measure → org units with rows
    for (fact, side), names in monthly.items():
        column = SIDES[side][org_kind]
        ordered = sorted(names)
        sums = ", ".join(f"{MEASURES[n].sql} AS {n}" for n in ordered)
        for row in backend.rows(
                f"SELECT {column} AS org, month, {sums} FROM {fact} "
                f"WHERE month >= {low} AND month <= {high} AND {column} IS NOT NULL"
                f"{_org_filter(column, orgs)} GROUP BY {column}, month"):
            org, month = _key(row[0]), int(row[1])
            for name, value in zip(ordered, row[2:], strict=True):
                by_month[(name, org, month)] = _decimal(value or 0)
                seen[name].add(org)
    present: dict[tuple[str, str], Decimal] = {}
    for (fact, side), names in current.items():
        column = SIDES[side][org_kind]
        ordered = sorted(names)
        sums = ", ".join(f"{MEASURES[n].sql} AS {n}" for n in ordered)
        for row in backend.rows(f"SELECT {column} AS org, {sums} FROM {fact} "
                                f"WHERE {column} IS NOT NULL{_org_filter(column, orgs)} "
                                f"GROUP BY {column}"):
            for name, value in zip(ordered, row[1:], strict=True):
                present[(name, _key(row[0]))] = _decimal(value or 0)
                seen[name].add(_key(row[0]))

    def measure(name: str, org: str, span: Span) -> Decimal:
        if not MEASURES[name].monthly:
            return present.get((name, org), Decimal(0))
        return sum((by_month.get((name, org, m), Decimal(0)) for m in span.months()),
                   Decimal(0))

    cells: list[Cell] = []
    values: dict[tuple[str, str, Span], Decimal | None] = {}
    order = sorted(todo, key=lambda i: DEFINITIONS[i].kind == "growth")  # bases first
    for indicator in order:
        definition = DEFINITIONS[indicator]
        if definition.kind in ("ratio", "count", "current"):
            found = seen[definition.numerator] | seen[definition.denominator]
            orgs_here = sorted(found if orgs is None else set(orgs))
            for span in (reach if indicator not in wanted or any_growth else spans):
                for org in orgs_here:
                    cell = _ratio_cell(indicator, definition, org_kind, org, span, measure)
                    values[(indicator, org, span)] = cell.value
                    if indicator in wanted and span in spans:
                        cells.append(cell)
        elif definition.kind == "growth":
            base_orgs = {org for (i, org, _s) in values if i == definition.base}
            for span in spans:
                for org in sorted(base_orgs):
                    now = values.get((definition.base, org, span))
                    before = values.get((definition.base, org, span.a_year_before()))
                    value = (_round((now - before) / before * 100)
                             if now is not None and before is not None and before != 0
                             else None)
                    cells.append(Cell(indicator, org_kind, org, span, now, before, value))
        elif definition.kind == "median" and indicator in wanted:
            cells.extend(_medians(backend, indicator, definition, org_kind, spans, orgs))
        elif definition.kind == "posted" and indicator in wanted:
            cells.extend(_posted(backend, indicator, org_kind, spans, orgs))
    return cells


def _ratio_cell(indicator: str, definition: Definition, org_kind: str, org: str, span: Span,
                measure: Any) -> Cell:
    numerator = measure(definition.numerator, org, span)
    if definition.kind == "count":
        return Cell(indicator, org_kind, org, span, numerator, None, numerator)
    denominator = measure(definition.denominator, org, span)
    value = (_round(numerator / denominator * definition.scale) if denominator
             else None)
    return Cell(indicator, org_kind, org, span, numerator, denominator, value)


def _medians(backend: Backend, indicator: str, definition: Definition, org_kind: str,
             spans: Sequence[Span], orgs: Sequence[str] | None) -> list[Cell]:
    column = SIDES[definition.median_side][org_kind]
    cells = []
    for span in spans:
        rows = backend.rows(
            f"SELECT {column} AS org, MEDIAN({definition.median_value}), COUNT(*) "
            f"FROM {definition.median_fact} WHERE {definition.median_condition} "
            f"AND month >= {span.first} AND month <= {span.last} AND {column} IS NOT NULL"
            f"{_org_filter(column, orgs)} GROUP BY {column}")
        for org, median, count in sorted(rows, key=lambda r: _key(r[0])):
            value = _round(_decimal(median)) if median is not None else None
            cells.append(Cell(indicator, org_kind, _key(org), span, None, _decimal(count),
                              value))
    return cells


def _posted(backend: Backend, indicator: str, org_kind: str, spans: Sequence[Span],
            orgs: Sequence[str] | None) -> list[Cell]:
    """Township centres of the org unit with a posting, spanning the whole period, of an
    attending-or-above physician of their alliance's lead hospital (indicators.md
    stationed_physician_coverage) ÷ township centres."""
    column = SIDES["institution"][org_kind]
    cells = []
    for span in spans:
        first, last = span.days()
        rows = backend.rows(f"""
WITH covered AS (
  SELECT DISTINCT ps.institution_id, home.lead_of AS alliance_id
  FROM stg_posting ps
  JOIN stg_practitioner p ON p.id = ps.practitioner_id
  JOIN dim_institution home ON home.id = p.institution_id
  WHERE home.lead_of IS NOT NULL AND p.title IN ('chief', 'associate_chief', 'attending')
    AND ps.start_day <= {first} AND (ps.end_day IS NULL OR ps.end_day >= {last})
)
SELECT f.{column} AS org,
       SUM(CASE WHEN c.institution_id IS NULL THEN 0 ELSE 1 END) AS covered, COUNT(*) AS centres
FROM fact_institution f
LEFT JOIN covered c ON c.institution_id = f.inst_id AND c.alliance_id = f.inst_alliance
WHERE f.kind = 'township_centre' AND f.inst_in_county = 1 AND f.{column} IS NOT NULL
{_org_filter('f.' + column, orgs)}
GROUP BY f.{column}""")
        for org, covered, centres in sorted(rows, key=lambda r: _key(r[0])):
            numerator, denominator = _decimal(covered or 0), _decimal(centres)
            value = _round(numerator / denominator * 100) if denominator else None
            cells.append(Cell(indicator, org_kind, _key(org), span, numerator, denominator,
                              value))
    return cells
