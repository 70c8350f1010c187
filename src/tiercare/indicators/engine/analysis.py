"""Analyses behind the supervision pages and the quarterly report (issue 5 items 4 and 6):
the **out-of-county analysis**, the **cost structure** and the **data quality** of one
alliance over one span of months.

Every query is SQL over the fact tables only (``fact_event``, ``facts.py``), written once in
DuckDB's dialect with portable functions (``SUBSTR``, ``UPPER``, ``COALESCE``, ``CASE``), so
that ``backends.translate(sql, "postgres")`` runs the same SQL on PostgreSQL and both engines
give the same numbers (``tests/indicators/test_analysis.py``). Sums are exact (counts and
``DECIMAL`` money); shares are computed here from the sums, never by averaging rates
(indicators.md, common definitions).

Business rules (indicators.md; issue 5 item 4):

* **Out-of-county** care is care of a county resident (``res_alliance``: the alliance of the
  resident's county) given outside the county (``in_county = 0``: known from insurance
  settlements). *Admissions* are inpatient care events, counted once (a settlement that pays
  for an encounter is that encounter); *fund* is the insurance fund paid for out-of-county
  care of any class (the fund that leaves the county). Each group (the diagnosis's ICD-10
  category — 3 characters, rules.md §10 "match on the category" — or the township of
  residence) shows its out-of-county admissions and fund, their share of the alliance's
  out-of-county total, the *outflow rate* (out-of-county ÷ all admissions, or fund, of the
  alliance's residents in the group) and the change against the same span a year before.
  This is the list the county reads to decide which departments to build up.
* **Cost structure** of the care the alliance's in-county institutions give (encounters:
  settlements carry no breakdown): drugs, consumables, examinations and other medical
  services (total less the three; indicators.md ``service_revenue_share``), per visit
  (outpatient + emergency) and per admission, by level and by institution — the same rows
  as ``cost_per_visit`` / ``cost_per_admission``.
* **Data quality**: care events without a diagnosis, diagnoses that are not valid ICD-10
  (validated in Python with ``kernel.icd10`` over the distinct codes: the SQL engines know
  no ICD-10), and in-county settlements matched to no encounter (indicators.md: an in-county
  settlement and the encounter it pays for are one event; an unmatched one means the
  institution did not send the encounter, or sent it with another patient, class or day).
  An event is the alliance's when its institution is a member (encounters, settlements) or
  its resident lives in the alliance's county (settlements).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from tiercare.indicators.engine.backends import Backend
from tiercare.indicators.engine.compute import Span
from tiercare.kernel import icd10

TWO_PLACES = Decimal("0.01")
_EPOCH = dt.date(1970, 1, 1)
_ADMISSION = "class = 'inpatient'"
_VISIT = "class IN ('outpatient', 'emergency')"
_CARE = "class IN ('outpatient', 'emergency', 'inpatient')"
#: Group keys: the ICD-10 category of the primary diagnosis, the township of residence.
DIAGNOSIS = "diagnosis"
TOWNSHIP = "township"
_GROUP_SQL = {DIAGNOSIS: "UPPER(SUBSTR(diagnosis, 1, 3))", TOWNSHIP: "res_township"}
#: Orders of the out-of-county tables.
BY_ADMISSIONS = "admissions"
BY_FUND = "fund"
#: At most this many codes are looked up for the samples of invalid diagnoses.
_MAX_SAMPLE_CODES = 200


def _decimal(value: Any) -> Decimal:
    if value is None:
        return Decimal(0)
    return value if isinstance(value, Decimal) else Decimal(str(value))


def _round(value: Decimal) -> Decimal:
    return value.quantize(TWO_PLACES, rounding=ROUND_HALF_UP)


def percent(part: Decimal | int, whole: Decimal | int) -> Decimal | None:
    """``part`` ÷ ``whole`` in percent, two places; ``None`` when ``whole`` is 0."""
    if not whole:
        return None
    return _round(Decimal(part) / Decimal(whole) * 100)


def change(now: Decimal | int, before: Decimal | int) -> Decimal | None:
    """The change from ``before`` to ``now`` in percent of ``before``; ``None`` when there
    was nothing before (a change from nothing has no percent)."""
    if not before:
        return None
    return _round((Decimal(now) - Decimal(before)) / Decimal(before) * 100)


def _count(condition: str) -> str:
    return f"SUM(CASE WHEN {condition} THEN 1 ELSE 0 END)"


def _sum(value: str, condition: str) -> str:
    return f"SUM(CASE WHEN {condition} THEN {value} ELSE 0 END)"


def _months(span: Span) -> str:
    return f"month >= {int(span.first)} AND month <= {int(span.last)}"


def day_date(day: int | None) -> dt.date | None:
    """The calendar date of a staged day number (days since 1970-01-01, CST)."""
    return None if day is None else _EPOCH + dt.timedelta(days=int(day))


# --- out-of-county analysis ---------------------------------------------------------------


@dataclass(frozen=True)
class OutflowRow:
    """One group of the out-of-county analysis (``key``: an ICD-10 category, a township's
    division code, ``None`` for records without one, ``"*"`` for the alliance's total).

    ``admissions``/``fund``: out of county in the span; ``*_all``: all care of the
    alliance's residents in the group (in and out of county); ``*_before``: out of county in
    the same span a year before; ``*_share``: share of the alliance's out-of-county total."""

    key: str | None
    admissions: int
    admissions_all: int
    fund: Decimal
    fund_all: Decimal
    admissions_before: int
    fund_before: Decimal
    admission_share: Decimal | None = None
    fund_share: Decimal | None = None

    @property
    def admission_rate(self) -> Decimal | None:
        """Out-of-county admissions ÷ all admissions of the group's residents, in %."""
        return percent(self.admissions, self.admissions_all)

    @property
    def fund_rate(self) -> Decimal | None:
        """Out-of-county fund ÷ all fund paid for the group's residents, in %."""
        return percent(self.fund, self.fund_all)

    @property
    def admissions_change(self) -> Decimal | None:
        return change(self.admissions, self.admissions_before)

    @property
    def fund_change(self) -> Decimal | None:
        return change(self.fund, self.fund_before)


@dataclass(frozen=True)
class OutflowTable:
    """The top groups of one dimension (``rows``, at most ``top``) and the alliance's total
    over every group (``total``); ``groups``: how many groups had out-of-county care."""

    dimension: str
    order: str
    rows: list[OutflowRow]
    total: OutflowRow
    groups: int


def outflow_sql(alliance_id: int, span: Span, dimension: str) -> str:
    """The grouped query of :func:`outflow` (DuckDB's dialect)."""
    group = _GROUP_SQL[dimension]
    now, then = _months(span), _months(span.a_year_before())
    out = "in_county = 0"
    return f"""
SELECT {group} AS grp,
  {_count(f"{now} AND {_ADMISSION} AND {out}")} AS admissions,
  {_count(f"{now} AND {_ADMISSION}")} AS admissions_all,
  {_sum("fund", f"{now} AND {out}")} AS fund,
  {_sum("fund", now)} AS fund_all,
  {_count(f"{then} AND {_ADMISSION} AND {out}")} AS admissions_before,
  {_sum("fund", f"{then} AND {out}")} AS fund_before
FROM fact_event
WHERE res_alliance = {int(alliance_id)} AND (({now}) OR ({then}))
GROUP BY {group}"""


def outflow(backend: Backend, alliance_id: int, span: Span, dimension: str, *,
            top: int = 10, order: str = BY_ADMISSIONS) -> OutflowTable:
    """The out-of-county analysis of the alliance's residents by ``dimension``
    (:data:`DIAGNOSIS` or :data:`TOWNSHIP`), the ``top`` groups by ``order``
    (:data:`BY_ADMISSIONS`, ties by fund, or :data:`BY_FUND`, ties by admissions; then by
    key). Groups without out-of-county care in the span are left out of the rows but
    counted in the total."""
    if dimension not in _GROUP_SQL:
        raise ValueError(dimension)
    raw = [OutflowRow(None if row[0] is None else str(row[0]), int(row[1] or 0),
                      int(row[2] or 0), _decimal(row[3]), _decimal(row[4]),
                      int(row[5] or 0), _decimal(row[6]))
           for row in backend.rows(outflow_sql(alliance_id, span, dimension))]
    total = OutflowRow(
        "*", sum(r.admissions for r in raw), sum(r.admissions_all for r in raw),
        sum((r.fund for r in raw), Decimal(0)), sum((r.fund_all for r in raw), Decimal(0)),
        sum(r.admissions_before for r in raw), sum((r.fund_before for r in raw), Decimal(0)))
    total = _with_shares(total, total)
    out = [r for r in raw if r.admissions or r.fund]
    if order == BY_FUND:
        out.sort(key=lambda r: (-r.fund, -r.admissions, r.key or ""))
    else:
        out.sort(key=lambda r: (-r.admissions, -r.fund, r.key or ""))
    rows = [_with_shares(r, total) for r in out[:max(int(top), 0)]]
    return OutflowTable(dimension, order, rows, total, len(out))


def _with_shares(row: OutflowRow, total: OutflowRow) -> OutflowRow:
    return OutflowRow(row.key, row.admissions, row.admissions_all, row.fund, row.fund_all,
                      row.admissions_before, row.fund_before,
                      percent(row.admissions, total.admissions), percent(row.fund, total.fund))


# --- cost structure -----------------------------------------------------------------------

VISIT = "visit"
ADMISSION = "admission"


@dataclass(frozen=True)
class CostRow:
    """Costs of one kind of care (:data:`VISIT` or :data:`ADMISSION`) at one institution,
    one level (``institution`` ``None``) or the whole alliance (both ``None``)."""

    level: str | None
    institution: int | None
    kind: str
    events: int
    total: Decimal
    drugs: Decimal
    consumables: Decimal
    examinations: Decimal

    @property
    def other(self) -> Decimal:
        """Other medical services: the total less drugs, consumables and examinations."""
        return self.total - self.drugs - self.consumables - self.examinations

    def parts(self) -> dict[str, Decimal]:
        """The four parts of the cost, in the order the pages show them."""
        return {"drugs": self.drugs, "consumables": self.consumables,
                "examinations": self.examinations, "other": self.other}

    def per_event(self) -> dict[str, Decimal | None]:
        """Each part and the total per visit (per admission), yuan to two places."""
        values = {**self.parts(), "total": self.total}
        return {name: (_round(value / self.events) if self.events else None)
                for name, value in values.items()}

    def shares(self) -> dict[str, Decimal | None]:
        """Each part as a share of the total cost, in %."""
        return {name: percent(value, self.total) for name, value in self.parts().items()}


@dataclass(frozen=True)
class CostStructure:
    """The alliance's cost structure: ``total`` per kind, ``levels`` per (level, kind) and
    ``institutions`` per (institution, kind)."""

    total: dict[str, CostRow]
    levels: list[CostRow]
    institutions: list[CostRow]


def cost_sql(alliance_id: int, span: Span) -> str:
    """The grouped query of :func:`cost_structure` (DuckDB's dialect)."""
    kind = f"CASE WHEN {_ADMISSION} THEN '{ADMISSION}' ELSE '{VISIT}' END"
    return f"""
SELECT inst_level, inst_id, {kind} AS kind, COUNT(*) AS events,
  SUM(COALESCE(total, 0)) AS total, SUM(COALESCE(drugs, 0)) AS drugs,
  SUM(COALESCE(consumables, 0)) AS consumables,
  SUM(COALESCE(examinations, 0)) AS examinations
FROM fact_event
WHERE source = 'E' AND inst_in_county = 1 AND inst_alliance = {int(alliance_id)}
  AND {_CARE} AND {_months(span)}
GROUP BY inst_level, inst_id, {kind}"""


def _add(rows: Iterable[CostRow], level: str | None, kind: str) -> CostRow:
    rows = list(rows)
    return CostRow(level, None, kind, sum(r.events for r in rows),
                   sum((r.total for r in rows), Decimal(0)),
                   sum((r.drugs for r in rows), Decimal(0)),
                   sum((r.consumables for r in rows), Decimal(0)),
                   sum((r.examinations for r in rows), Decimal(0)))


def cost_structure(backend: Backend, alliance_id: int, span: Span,
                   level_order: Sequence[str] = ()) -> CostStructure:
    """The cost structure of the care the alliance's in-county institutions gave in the
    span (module docstring). Levels in ``level_order`` (unknown ones after, by name);
    institutions by level, then by total cost, largest first."""
    rows = [CostRow(None if r[0] is None else str(r[0]), None if r[1] is None else int(r[1]),
                    str(r[2]), int(r[3] or 0), _decimal(r[4]), _decimal(r[5]),
                    _decimal(r[6]), _decimal(r[7]))
            for r in backend.rows(cost_sql(alliance_id, span))]

    def rank(level: str | None) -> tuple[int, str]:
        known = list(level_order)
        return (known.index(level), "") if level in known else (len(known), level or "")

    by_level: dict[tuple[str | None, str], list[CostRow]] = defaultdict(list)
    for row in rows:
        by_level[(row.level, row.kind)].append(row)
    kinds = (VISIT, ADMISSION)
    levels = [_add(group, level, kind) for (level, kind), group in
              sorted(by_level.items(),
                     key=lambda item: (rank(item[0][0]), kinds.index(item[0][1])))]
    total = {kind: _add((r for r in rows if r.kind == kind), None, kind) for kind in kinds}
    institutions = sorted(rows, key=lambda r: (rank(r.level), kinds.index(r.kind), -r.total,
                                               r.institution or 0))
    return CostStructure(total, levels, institutions)


# --- data quality -------------------------------------------------------------------------

MISSING_DIAGNOSIS = "missing_diagnosis"
INVALID_DIAGNOSIS = "invalid_diagnosis"
UNMATCHED_SETTLEMENT = "unmatched_settlement"
CHECKS = (MISSING_DIAGNOSIS, INVALID_DIAGNOSIS, UNMATCHED_SETTLEMENT)


@dataclass(frozen=True)
class Sample:
    """One record behind a data-quality count: its source (``E`` encounter, ``S``
    settlement) and id, institution, class, date, diagnosis as sent and fund. No resident
    is named (rules.md §11: aggregates for administrators)."""

    source: str
    id: int
    institution: int | None
    klass: str
    date: dt.date | None
    diagnosis: str | None
    fund: Decimal


@dataclass(frozen=True)
class Check:
    """One data-quality check: how many records fail it (``count``) out of how many it
    looked at (``checked``), the first ``samples`` and, for invalid codes, each code with its
    number of records."""

    name: str
    count: int
    checked: int
    samples: list[Sample]
    codes: list[tuple[str, int]] = field(default_factory=list)

    @property
    def rate(self) -> Decimal | None:
        return percent(self.count, self.checked)


def _scope(alliance_id: int) -> str:
    """The alliance's events (module docstring, data quality)."""
    a = int(alliance_id)
    return (f"((source = 'E' AND inst_alliance = {a}) OR "
            f"(source = 'S' AND (res_alliance = {a} OR inst_alliance = {a})))")


_SAMPLE_COLUMNS = "source, id, inst_id, class, day, diagnosis, COALESCE(fund, 0) AS fund"


def _samples(backend: Backend, where: str, limit: int) -> list[Sample]:
    return [Sample(str(r[0]), int(r[1]), None if r[2] is None else int(r[2]), str(r[3]),
                   day_date(r[4]), r[5], _decimal(r[6]))
            for r in backend.rows(f"SELECT {_SAMPLE_COLUMNS} FROM fact_event WHERE {where} "
                                  f"ORDER BY source, id LIMIT {int(limit)}")]


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def data_quality(backend: Backend, alliance_id: int, span: Span, *,
                 samples: int = 20) -> dict[str, Check]:
    """The three checks of the module docstring for the alliance's events in the span,
    each with up to ``samples`` records (by source and id)."""
    scope = f"{_scope(alliance_id)} AND {_months(span)}"
    # settled in-county events: encounters paid by a settlement, and unmatched settlements
    settled = _count("(source = 'S' AND in_county = 1) OR (source = 'E' AND fund <> 0)")
    checked_all, checked_settlements = (int(v or 0) for v in backend.rows(
        f"SELECT COUNT(*), {settled} FROM fact_event WHERE {scope}")[0])
    # missing diagnoses
    missing = f"{scope} AND diagnosis IS NULL"
    missing_count = int(backend.rows(f"SELECT COUNT(*) FROM fact_event WHERE {missing}")[0][0])
    # invalid codes: the distinct codes, validated here
    codes = backend.rows(f"SELECT diagnosis, COUNT(*) FROM fact_event WHERE {scope} "
                         f"AND diagnosis IS NOT NULL GROUP BY diagnosis")
    invalid = sorted(((str(code), int(n)) for code, n in codes if not icd10.exists(str(code))),
                     key=lambda item: (-item[1], item[0]))
    invalid_count = sum(n for _code, n in invalid)
    invalid_samples: list[Sample] = []
    if invalid:
        listed = ", ".join(_quote(code) for code, _n in invalid[:_MAX_SAMPLE_CODES])
        invalid_samples = _samples(backend, f"{scope} AND diagnosis IN ({listed})", samples)
    # in-county settlements that pay for no encounter
    unmatched = f"{scope} AND source = 'S' AND in_county = 1"
    unmatched_count = int(backend.rows(
        f"SELECT COUNT(*) FROM fact_event WHERE {unmatched}")[0][0])
    return {
        MISSING_DIAGNOSIS: Check(MISSING_DIAGNOSIS, missing_count, checked_all,
                                 _samples(backend, missing, samples) if missing_count else []),
        INVALID_DIAGNOSIS: Check(INVALID_DIAGNOSIS, invalid_count, checked_all - missing_count,
                                 invalid_samples, invalid),
        UNMATCHED_SETTLEMENT: Check(
            UNMATCHED_SETTLEMENT, unmatched_count, checked_settlements,
            _samples(backend, unmatched, samples) if unmatched_count else []),
    }


# --- the span to show ---------------------------------------------------------------------


def latest_month(backend: Backend, alliance_id: int) -> int | None:
    """The last month (``yyyymm``) with a care event of the alliance (given by its
    institutions or to its residents); ``None`` when it has none."""
    a = int(alliance_id)
    row = backend.rows(f"SELECT MAX(month) FROM fact_event "
                       f"WHERE inst_alliance = {a} OR res_alliance = {a}")
    return int(row[0][0]) if row and row[0][0] is not None else None
