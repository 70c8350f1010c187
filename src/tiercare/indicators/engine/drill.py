"""Drill-down: the records behind one cell — the rows of the numerator or the denominator of
an indicator for one org unit and span (issue 5 item 3). The rows come from the same fact
table and the same condition as the measure (``definitions.MEASURES``), so that they add up
to the cell's count; the chronic indicators' rows (residents under management, residents of
the coverage rates) come from their per-span relation for the one span asked
(``chronic.py``); fulfilment's service lines are not listed. Who may see them, the masking
of names and the audit of the read are the caller's (``tiercare.indicators.board``): this
module returns ids, never names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tiercare.indicators.engine import chronic
from tiercare.indicators.engine.backends import Backend
from tiercare.indicators.engine.compute import Span
from tiercare.indicators.engine.definitions import DEFINITIONS, MEASURES, SIDES, org_kinds

#: Columns listed per fact (the first two identify the record: kind or source, and id).
COLUMNS: dict[str, tuple[str, ...]] = {
    "fact_event": ("source", "id", "patient_id", "class", "month", "diagnosis", "inst_id",
                   "in_county", "total", "fund"),
    "fact_referral": ("kind", "id", "patient_id", "direction", "month", "diagnosis",
                      "send_id", "recv_id", "hours"),
    "fact_practitioner": ("'practitioner'", "id", "inst_id", "gp", "title"),
    "fact_resident": ("'resident'", "id", "res_township"),
    "fact_institution": ("'institution'", "inst_id", "kind", "tcm", "tcm_hall"),
    chronic.MANAGED: ("'resident'", "patient_id", "inst_id"),
    chronic.COVERAGE: ("'resident'", "patient_id", "res_township"),
}


class NotDrillable(ValueError):
    """The indicator, part or org kind has no records to list."""


@dataclass(frozen=True)
class Page:
    """One page of records: column names, rows, and the total number of records."""

    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]
    total: int


def measure_of(indicator: str, part: str) -> str:
    """The measure behind ``part`` ("numerator" or "denominator") of ``indicator``."""
    definition = DEFINITIONS.get(indicator)
    if definition is None or definition.kind not in ("ratio", "count", "current", "span"):
        raise NotDrillable(indicator)
    name = definition.numerator if part == "numerator" else definition.denominator
    if part not in ("numerator", "denominator") or not name:
        raise NotDrillable(part)
    if MEASURES[name].fact not in COLUMNS:
        raise NotDrillable(indicator)
    return name


def records(backend: Backend, indicator: str, part: str, org_kind: str, org: str,
            span: Span, *, limit: int = 50, offset: int = 0) -> Page:
    """The records of ``part`` of ``indicator`` for ``org`` (of ``org_kind``) in ``span``,
    ordered by id."""
    if org_kind not in org_kinds(indicator):
        raise NotDrillable(org_kind)
    measure = MEASURES[measure_of(indicator, part)]
    column = SIDES[measure.side][org_kind]
    where = (f"{measure.condition} AND CAST({column} AS VARCHAR) = "
             f"'{org.replace(chr(39), chr(39) * 2)}'")
    prefix = ""
    if measure.per_span:  # the relation for this one span (span_index 0)
        prefix = chronic.relation_sql(measure.fact, [span])
    elif measure.monthly:
        where += f" AND month >= {span.first} AND month <= {span.last}"
    columns = COLUMNS[measure.fact]
    select = ", ".join(columns)
    order = columns[1] if columns[0].startswith("'") else f"{columns[1]}, {columns[0]}"
    total = backend.rows(f"{prefix}SELECT COUNT(*) FROM {measure.fact} WHERE {where}")[0][0]
    rows = backend.rows(f"{prefix}SELECT {select} FROM {measure.fact} WHERE {where} "
                        f"ORDER BY {order} LIMIT {int(limit)} OFFSET {int(offset)}")
    names = tuple(c.strip("'") if c.startswith("'") else c for c in columns)
    return Page(names, rows, int(total))
