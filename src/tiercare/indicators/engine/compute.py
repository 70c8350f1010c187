"""Compute indicator values for org units and periods on any backend.

One grouped query per fact and side gives every monthly measure of the request for every
org unit and month at once (the whole catalogue for every institution × 12 months is one
scan of each fact); periods are then sums of their months, and values are computed from the
sums (indicators.md: never by averaging rates). Medians, the stationed-physician coverage and
the chronic indicators (``span`` definitions, ``chronic.py``: one query per relation for all
spans) are computed per period from the records. Values are ``Decimal`` rounded to two places.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from tiercare.indicators.engine import chronic
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


def ratio_value(numerator: Decimal, denominator: Decimal | None, scale: int) -> Decimal | None:
    """``numerator ÷ denominator × scale`` rounded to two places; ``None`` for no
    denominator."""
    return _round(numerator / denominator * scale) if denominator else None


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


def _layers(spans: Sequence[Span]) -> list[list[Span]]:
    """``spans`` in groups of pairwise disjoint spans (a year and its months fall in
    different groups), so that one query per group computes a per-period statistic."""
    layers: list[list[Span]] = []
    for span in sorted(set(spans)):
        for layer in layers:
            if all(span.last < other.first or span.first > other.last for other in layer):
                layer.append(span)
                break
        else:
            layers.append([span])
    return layers


def _span_case(layer: list[Span], column: str = "month") -> str:
    """SQL giving each row the index (in ``layer``) of the span its month falls in."""
    whens = " ".join(f"WHEN {column} >= {s.first} AND {column} <= {s.last} THEN {i}"
                     for i, s in enumerate(layer))
    return f"CASE {whens} END"


def compute(backend: Backend, spans: Sequence[Span], org_kind: str,
            ids: Iterable[str] | None = None, orgs: Sequence[str] | None = None) -> list[Cell]:
    """Every defined indicator of ``ids`` (default: all) that is given for ``org_kind``, for
    each org unit of that kind found in the facts (or only ``orgs``) and each span."""
    wanted = {i for i in (ids if ids is not None else DEFINITIONS) if i in DEFINITIONS
              and org_kind in org_kinds(i)}
    if not wanted or not spans:
        return []
    todo = _needed(wanted)
    asked = list(dict.fromkeys(spans))
    asked_set = set(asked)
    earlier = [s.a_year_before() for s in asked]
    # a growth indicator's base is needed a year earlier too; nothing else is
    bases = {DEFINITIONS[i].base for i in wanted if DEFINITIONS[i].kind == "growth"}
    reach = asked + earlier if bases else asked
    months_of = {span: span.months() for span in reach}
    monthly: dict[tuple[str, str], set[str]] = defaultdict(set)
    current: dict[tuple[str, str], set[str]] = defaultdict(set)
    per_span: dict[str, set[str]] = defaultdict(set)  # relation → measures
    for indicator in todo:
        definition = DEFINITIONS[indicator]
        for name in (definition.numerator, definition.denominator):
            if name:
                spec = MEASURES[name]
                if spec.per_span:
                    per_span[spec.fact].add(name)
                    continue
                (monthly if spec.monthly else current)[(spec.fact, spec.side)].add(name)
    low, high = min(s.first for s in reach), max(s.last for s in reach)
    # measure → org → month → sum; present-state measures: measure → org → sum
    series: dict[str, dict[str, dict[int, Decimal]]] = defaultdict(lambda: defaultdict(dict))
    present: dict[str, dict[str, Decimal]] = defaultdict(dict)
    for (fact, side), names in monthly.items():
        column = SIDES[side][org_kind]
        ordered = sorted(names)
        cube = all(MEASURES[n].cube_sql for n in ordered)
        table = "cube_event" if cube else fact
        sums = ", ".join(f"{MEASURES[n].cube_sql if cube else MEASURES[n].sql} AS {n}"
                         for n in ordered)
        for row in backend.rows(
                f"SELECT {column} AS org, month, {sums} FROM {table} "
                f"WHERE month >= {low} AND month <= {high} AND {column} IS NOT NULL"
                f"{_org_filter(column, orgs)} GROUP BY {column}, month"):
            org, month = _key(row[0]), int(row[1])
            for name, value in zip(ordered, row[2:], strict=True):
                series[name][org][month] = _decimal(value or 0)
    for (fact, side), names in current.items():
        column = SIDES[side][org_kind]
        ordered = sorted(names)
        sums = ", ".join(f"{MEASURES[n].sql} AS {n}" for n in ordered)
        for row in backend.rows(f"SELECT {column} AS org, {sums} FROM {fact} "
                                f"WHERE {column} IS NOT NULL{_org_filter(column, orgs)} "
                                f"GROUP BY {column}"):
            for name, value in zip(ordered, row[1:], strict=True):
                present[name][_key(row[0])] = _decimal(value or 0)
    # per-span measures: measure → org → span → sum (one query per relation, all spans)
    spanned = _per_span_sums(backend, per_span, asked, org_kind, orgs)
    zero = Decimal(0)
    span_months = {span: (months[0] if len(months) == 1 else None, months)
                   for span, months in months_of.items()}

    def amount(by_org: dict[str, Any], name: str, org: str,
               one: int | None, months: list[int]) -> Decimal:
        """The measure ``name`` for ``org`` over a span (its months, or its one month)."""
        if not MEASURES[name].monthly:
            value: Decimal = by_org.get(org, zero)
            return value
        by_month = by_org.get(org)
        if not by_month:
            return zero
        if one is not None:
            single: Decimal = by_month.get(one, zero)
            return single
        return sum((by_month.get(m, zero) for m in months), zero)

    def source(name: str) -> dict[str, Any]:
        return present[name] if not MEASURES[name].monthly else series[name]

    cells: list[Cell] = []
    values: dict[tuple[str, str, Span], Decimal | None] = {}  # growth bases only
    order = sorted(todo, key=lambda i: DEFINITIONS[i].kind == "growth")  # bases first
    for indicator in order:
        definition = DEFINITIONS[indicator]
        if definition.kind in ("ratio", "count", "current"):
            numerator_name, denominator_name = definition.numerator, definition.denominator
            numerators = source(numerator_name)
            denominators = source(denominator_name) if denominator_name else {}
            found = set(numerators) | set(denominators)
            orgs_here = sorted(found if orgs is None else set(orgs))
            is_base, is_wanted = indicator in bases, indicator in wanted
            is_count, scale = definition.kind == "count", definition.scale
            for span in (reach if is_base else asked):
                one, months = span_months[span]
                keep = is_wanted and span in asked_set
                for org in orgs_here:
                    numerator = amount(numerators, numerator_name, org, one, months)
                    if is_count:
                        denominator, value = None, numerator
                    else:
                        denominator = amount(denominators, denominator_name, org, one,
                                             months)
                        value = (_round(numerator / denominator * scale) if denominator
                                 else None)
                    if is_base:
                        values[(indicator, org, span)] = value
                    if keep:
                        cells.append(Cell(indicator, org_kind, org, span, numerator,
                                          denominator, value))
        elif definition.kind == "growth":
            base_orgs = sorted({org for (i, org, _s) in values if i == definition.base})
            for span in asked:
                before_span = span.a_year_before()
                for org in base_orgs:
                    now = values.get((definition.base, org, span))
                    before = values.get((definition.base, org, before_span))
                    value = (_round((now - before) / before * 100)
                             if now is not None and before is not None and before != 0
                             else None)
                    cells.append(Cell(indicator, org_kind, org, span, now, before, value))
        elif definition.kind == "span" and indicator in wanted:
            numerators, denominators = (spanned.get(definition.numerator, {}),
                                        spanned.get(definition.denominator, {}))
            found = set(numerators) | set(denominators)
            for span in asked:
                for org in sorted(found if orgs is None else set(orgs)):
                    numerator = numerators.get(org, {}).get(span, zero)
                    denominator = denominators.get(org, {}).get(span, zero)
                    cells.append(Cell(indicator, org_kind, org, span, numerator, denominator,
                                      ratio_value(numerator, denominator, definition.scale)))
        elif definition.kind == "median" and indicator in wanted:
            cells.extend(_medians(backend, indicator, definition, org_kind, asked, orgs))
        elif definition.kind == "posted" and indicator in wanted:
            cells.extend(_posted(backend, indicator, org_kind, asked, orgs))
    return cells


def _per_span_sums(backend: Backend, relations: dict[str, set[str]], spans: Sequence[Span],
                   org_kind: str, orgs: Sequence[str] | None,
                   ) -> dict[str, dict[str, dict[Span, Decimal]]]:
    """The per-span measures (``chronic.py``) for every org unit of ``org_kind`` and span:
    one grouped query per relation. Sums in hundredths are turned into units here."""
    out: dict[str, dict[str, dict[Span, Decimal]]] = defaultdict(lambda: defaultdict(dict))
    for relation, names in relations.items():
        ordered = sorted(names)
        column = SIDES[MEASURES[ordered[0]].side][org_kind]
        sums = ", ".join(f"{MEASURES[n].sql} AS {n}" for n in ordered)
        rows = backend.rows(
            f"{chronic.relation_sql(relation, spans)}SELECT {column} AS org, span_index, "
            f"{sums} FROM {relation} WHERE {column} IS NOT NULL"
            f"{_org_filter(column, orgs)} GROUP BY {column}, span_index")
        for row in rows:
            org, span = _key(row[0]), spans[int(row[1])]
            for name, value in zip(ordered, row[2:], strict=True):
                amount = _decimal(value or 0)
                out[name][org][span] = amount / 100 if MEASURES[name].hundredths else amount
    return out


def _medians(backend: Backend, indicator: str, definition: Definition, org_kind: str,
             spans: Sequence[Span], orgs: Sequence[str] | None) -> list[Cell]:
    column = SIDES[definition.median_side][org_kind]
    cells = []
    for layer in _layers(spans):
        low, high = layer[0].first, layer[-1].last
        rows = backend.rows(
            f"SELECT org, span_index, MEDIAN(value), COUNT(*) FROM ("
            f"SELECT {column} AS org, {definition.median_value} AS value, "
            f"{_span_case(layer)} AS span_index FROM {definition.median_fact} "
            f"WHERE {definition.median_condition} AND month >= {low} AND month <= {high} "
            f"AND {column} IS NOT NULL{_org_filter(column, orgs)}) picked "
            f"WHERE span_index IS NOT NULL GROUP BY org, span_index")
        for org, index, median, count in sorted(rows, key=lambda r: (_key(r[0]), r[1])):
            value = _round(_decimal(median)) if median is not None else None
            cells.append(Cell(indicator, org_kind, _key(org), layer[int(index)], None,
                              _decimal(count), value))
    return cells


def _posted(backend: Backend, indicator: str, org_kind: str, spans: Sequence[Span],
            orgs: Sequence[str] | None) -> list[Cell]:
    """Township centres of the org unit with a posting, spanning the whole period, of an
    attending-or-above physician of their alliance's lead hospital (indicators.md
    stationed_physician_coverage) ÷ township centres. One query for all spans."""
    column = SIDES["institution"][org_kind]
    ordered = list(dict.fromkeys(spans))
    periods = " UNION ALL ".join(
        f"SELECT {i} AS span_index, {first} AS first_day, {last} AS last_day"
        for i, (first, last) in enumerate(span.days() for span in ordered))
    rows = backend.rows(f"""
WITH periods AS ({periods}),
covered AS (
  SELECT DISTINCT ps.institution_id, home.lead_of AS alliance_id, pd.span_index
  FROM stg_posting ps
  JOIN stg_practitioner p ON p.id = ps.practitioner_id
  JOIN dim_institution home ON home.id = p.institution_id
  JOIN periods pd ON ps.start_day <= pd.first_day
    AND (ps.end_day IS NULL OR ps.end_day >= pd.last_day)
  WHERE home.lead_of IS NOT NULL AND p.title IN ('chief', 'associate_chief', 'attending')
),
centres AS (
  SELECT f.{column} AS org, f.inst_id, f.inst_alliance, pd.span_index
  FROM fact_institution f CROSS JOIN periods pd
  WHERE f.kind = 'township_centre' AND f.inst_in_county = 1 AND f.{column} IS NOT NULL
  {_org_filter('f.' + column, orgs)}
)
SELECT c.org, c.span_index,
       SUM(CASE WHEN cv.institution_id IS NULL THEN 0 ELSE 1 END) AS covered, COUNT(*)
FROM centres c
LEFT JOIN covered cv ON cv.institution_id = c.inst_id AND cv.alliance_id = c.inst_alliance
  AND cv.span_index = c.span_index
GROUP BY c.org, c.span_index""")
    cells = []
    for org, index, covered, centres in sorted(rows, key=lambda r: (_key(r[0]), r[1])):
        numerator, denominator = _decimal(covered or 0), _decimal(centres)
        value = _round(numerator / denominator * 100) if denominator else None
        cells.append(Cell(indicator, org_kind, _key(org), ordered[int(index)], numerator,
                          denominator, value))
    return cells
