"""Chronic-disease management and family-doctor contracts in the indicator engine (issue 6
item 7; rules.md §7–§8; ADR 0021): the *per-span relations* behind the indicators
``htn_standard_management_rate``, ``htn_control_rate``, ``t2d_standard_management_rate``,
``t2d_control_rate``, ``contract_coverage_rate``, ``priority_contract_coverage_rate`` and
``contract_fulfilment_rate``, and the same figures per family-doctor team
(:func:`team_rates`).

These indicators do not add up over months (residents are counted once a year, the *latest*
follow-up decides control, a contract covers a *day*, a service is counted up to what was
owed), so they are not monthly measures: for every span asked, one SQL relation (DuckDB's
dialect, translated like every query of the engine) gives one row per resident, resident ×
disease or contract service line, and the measures (``definitions.MEASURES``, ``per_span``)
are sums over it. The definitions:

* **Patients under management** (rules.md §8) in a window: residents with a registration of
  the disease active at any time in it — ``enrolled_on ≤ last day`` and (``closed_on`` empty
  or ``≥ first day``); a resident counts once per disease, at the managing institution (and
  team) of the latest such registration (latest ``enrolled_on``, then id).
* **The window is the year to date.** The rates are defined per year; for a span ending in
  month *m* of year *Y* (a month, a quarter, a year to date or the year itself) the window
  is 1 January *Y* to the span's last day. So the year's value is the December value, a
  quarter shows the year to date at its end (2025Q2 = January–June 2025), and the
  dashboards' twelve-month trend is the cumulative rate that restarts every January.
* **Standard management**: at least ``floor(N × m ÷ 12)`` face-to-face follow-ups (method
  not ``phone``) of the disease in the window — ``N`` the alliance's
  ``ChronicPolicy.standard_follow_ups`` (default 4, ``chronic.rules.Targets``) of the
  managing institution's alliance: the follow-ups due by then at one a quarter; the full
  ``N`` for the year. When the alliance also requires the annual check
  (``standard_needs_annual_check``) an elderly check in the window is required too, for the
  full year only (``floor(1 × m ÷ 12)`` checks are due) and only of residents aged 65 or
  over on the window's last day: the annual health check of younger patients is not
  recorded by TierCare (the elderly check is for 65 and over), so for them the
  requirement is treated as met (a documented simplification, ADR 0021).
* **Control**: the latest follow-up of the disease in the window (latest date, then id; any
  method) was at target (``FollowUp.controlled``); residents without a follow-up in the
  window count in the denominator only.
* **Contract coverage** (rules.md §7): county residents (``fact_resident``, the engine's
  population of rates per resident: active, alive, by the resident's alliance and township)
  with a contract covering the span's last day (``start_date ≤ day ≤ COALESCE(ended_on,
  end_date)``) ÷ those residents; residents born after that day are left out of both.
  **Priority coverage**: the same over residents in a priority group on that day — aged 65
  or over, or 6 or under (``chronic.services.priority_groups_of``), or with a hypertension
  or diabetes registration active that day, or with a declared priority-group membership
  (``chronic_prioritygroupmembership``) covering it.
* **Fulfilment** (rules.md §7): over the contracts covering any day of the span (not the
  year to date: services are owed pro rata to days), for each service of each contract's
  packages, ``owed = chronic.rules.owed_in_span(yearly_count, overlap days)`` and
  ``counted = min(delivered in the overlap, owed)``; the rate is Σ counted ÷ Σ owed.
  Delivered services are ``fact_delivery`` (``facts.py``); the result for one contract
  equals ``chronic.rules.fulfilment`` of ``chronic.services.delivered_counts`` over the
  same days. Owed and counted services are kept in hundredths (integers) in SQL.

Org units: management and control by the registration's managing institution (its
alliance, institution, township); fulfilment by the contract team's base institution;
coverage by the resident's alliance and township (residents belong to no institution).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from tiercare.chronic import rules as chronic_rules

if TYPE_CHECKING:
    from tiercare.indicators.engine.backends import Backend
    from tiercare.indicators.engine.compute import Span

_EPOCH = dt.date(1970, 1, 1)
#: Age from which the annual check is the elderly check (``chronic.services.ELDERLY_MIN_AGE``)
#: and the elderly priority group begins; children are a priority group up to this age.
ELDERLY_AGE = 65
CHILD_MAX_AGE = 6

#: The relations (names used by ``definitions.MEASURES`` as their ``fact``).
MANAGED = "span_managed"
COVERAGE = "span_coverage"
FULFILMENT = "span_fulfilment"


def periods_sql(spans: Sequence[Span]) -> str:
    """A ``periods`` relation: for each span its index, first and last day (day numbers),
    the first day of its year to date, the number of months of that year to date and the
    last day as ``yyyymmdd`` (for ages)."""
    rows = []
    for index, span in enumerate(spans):
        first, last = span.days()
        year, month = divmod(span.last, 100)
        last_date = _EPOCH + dt.timedelta(days=last)
        ytd_first = (dt.date(year, 1, 1) - _EPOCH).days
        rows.append(f"SELECT {index} AS span_index, {first} AS first_day, {last} AS last_day, "
                    f"{ytd_first} AS ytd_first, {month} AS months, "
                    f"{int(last_date.strftime('%Y%m%d'))} AS last_ymd")
    return " UNION ALL ".join(rows)


def _managed() -> str:
    return f"""
reg AS (
  SELECT * FROM (
    SELECT pd.span_index, pd.ytd_first, pd.last_day, pd.months, pd.last_ymd,
           g.patient_id, g.disease, g.team_id, g.inst_id, g.inst_level, g.inst_alliance,
           g.inst_township, g.follow_ups_due, g.needs_check, g.birth,
           ROW_NUMBER() OVER (PARTITION BY pd.span_index, g.patient_id, g.disease
                              ORDER BY g.enrolled_day DESC, g.id DESC) AS pick
    FROM fact_registration g
    JOIN periods pd ON g.enrolled_day <= pd.last_day
      AND (g.closed_day IS NULL OR g.closed_day >= pd.ytd_first)
  ) ranked WHERE pick = 1
),
seen AS (
  SELECT r.span_index, r.patient_id, r.disease, f.id, f.day, f.face, f.controlled,
         ROW_NUMBER() OVER (PARTITION BY r.span_index, r.patient_id, r.disease
                            ORDER BY f.day DESC, f.id DESC) AS latest
  FROM reg r
  JOIN stg_followup f ON f.patient_id = r.patient_id AND f.disease = r.disease
    AND f.day >= r.ytd_first AND f.day <= r.last_day
),
faced AS (
  SELECT span_index, patient_id, disease, SUM(face) AS face,
         MAX(CASE WHEN latest = 1 THEN controlled ELSE 0 END) AS controlled
  FROM seen GROUP BY span_index, patient_id, disease
),
checked AS (
  SELECT DISTINCT r.span_index, r.patient_id
  FROM reg r
  JOIN stg_elderly_check e ON e.patient_id = r.patient_id AND e.day >= r.ytd_first
    AND e.day <= r.last_day
),
{MANAGED} AS (
  SELECT r.span_index, r.patient_id, r.disease, r.team_id, r.inst_id, r.inst_level,
         r.inst_alliance, r.inst_township,
         CASE WHEN (COALESCE(fc.face, 0) + 1) * 12 > r.follow_ups_due * r.months
                AND (r.needs_check = 0 OR r.months < 12 OR r.birth IS NULL
                     OR r.last_ymd - r.birth < {ELDERLY_AGE * 10000}
                     OR ch.patient_id IS NOT NULL)
              THEN 1 ELSE 0 END AS standard,
         COALESCE(fc.controlled, 0) AS controlled
  FROM reg r
  LEFT JOIN faced fc ON fc.span_index = r.span_index AND fc.patient_id = r.patient_id
    AND fc.disease = r.disease
  LEFT JOIN checked ch ON ch.span_index = r.span_index AND ch.patient_id = r.patient_id
)"""


def _coverage() -> str:
    return f"""
covered AS (
  SELECT pd.span_index, c.patient_id, MIN(c.team_id) AS team_id
  FROM fact_contract c
  JOIN periods pd ON c.start_day <= pd.last_day AND c.last_day >= pd.last_day
  GROUP BY pd.span_index, c.patient_id
),
registered AS (
  SELECT DISTINCT pd.span_index, g.patient_id
  FROM fact_registration g
  JOIN periods pd ON g.enrolled_day <= pd.last_day
    AND (g.closed_day IS NULL OR g.closed_day >= pd.last_day)
),
declared AS (
  SELECT DISTINCT pd.span_index, m.patient_id
  FROM stg_priority_membership m
  JOIN periods pd ON m.start_day <= pd.last_day
    AND (m.end_day IS NULL OR m.end_day >= pd.last_day)
),
{COVERAGE} AS (
  SELECT pd.span_index, f.id AS patient_id, f.res_alliance, f.res_township, cv.team_id,
         CASE WHEN cv.patient_id IS NULL THEN 0 ELSE 1 END AS covered,
         CASE WHEN (r.birth IS NOT NULL
                    AND (pd.last_ymd - r.birth >= {ELDERLY_AGE * 10000}
                         OR pd.last_ymd - r.birth < {(CHILD_MAX_AGE + 1) * 10000}))
                OR rg.patient_id IS NOT NULL OR dc.patient_id IS NOT NULL
              THEN 1 ELSE 0 END AS priority
  FROM fact_resident f
  CROSS JOIN periods pd
  JOIN stg_resident r ON r.id = f.id
  LEFT JOIN covered cv ON cv.span_index = pd.span_index AND cv.patient_id = f.id
  LEFT JOIN registered rg ON rg.span_index = pd.span_index AND rg.patient_id = f.id
  LEFT JOIN declared dc ON dc.span_index = pd.span_index AND dc.patient_id = f.id
  WHERE r.birth IS NULL OR r.birth <= pd.last_ymd
)"""


def _owed_hundredths(count: str, days: str) -> str:
    """``chronic.rules.owed_in_span`` in hundredths: whole years of 365 days (plus the leap
    days so many years can hold) owe the yearly count times the years; otherwise the count
    pro rata, rounded to hundredths (``yearly × days ÷ 365`` never ends in a half
    hundredth: 365 = 5 × 73)."""
    years = f"FLOOR({days} / 365.0)"
    return (f"CAST(CASE WHEN {days} >= 365 AND {days} - 365 * {years} "
            f"<= FLOOR(({years} + 3) / 4.0) THEN {count} * {years} * 100 "
            f"ELSE ROUND({count} * {days} * 100 / 365.0) END AS BIGINT)")


def _fulfilment() -> str:
    # deliveries are counted per span, contract, kind (and service code for services
    # recorded by hand) first, then matched to the service lines by equality only
    return f"""
overlap AS (
  SELECT pd.span_index, c.id AS contract_id, c.team_id, c.inst_id, c.inst_level,
         c.inst_alliance, c.inst_township,
         GREATEST(c.start_day, pd.first_day) AS o_first,
         LEAST(c.last_day, pd.last_day) AS o_last
  FROM fact_contract c
  JOIN periods pd ON c.start_day <= pd.last_day AND c.last_day >= pd.first_day
  WHERE c.last_day >= c.start_day
),
given AS (
  SELECT o.span_index, o.contract_id, d.delivered_by, COALESCE(d.code, '') AS code_key,
         COUNT(*) AS delivered
  FROM overlap o
  JOIN fact_delivery d ON d.contract_id = o.contract_id AND d.day >= o.o_first
    AND d.day <= o.o_last
  GROUP BY o.span_index, o.contract_id, d.delivered_by, COALESCE(d.code, '')
),
lines AS (
  SELECT o.span_index, o.contract_id, o.team_id, o.inst_id, o.inst_level, o.inst_alliance,
         o.inst_township, l.service_id, l.delivered_by,
         CASE WHEN l.delivered_by = 'recorded' THEN l.code ELSE '' END AS code_key,
         {_owed_hundredths('l.yearly_count', '(o.o_last - o.o_first + 1)')} AS owed
  FROM overlap o JOIN fact_contract_line l ON l.contract_id = o.contract_id
),
{FULFILMENT} AS (
  SELECT ln.span_index, ln.contract_id, ln.service_id, ln.team_id, ln.inst_id, ln.inst_level,
         ln.inst_alliance, ln.inst_township, ln.owed,
         COALESCE(gv.delivered, 0) AS delivered,
         LEAST(COALESCE(gv.delivered, 0) * 100, ln.owed) AS counted
  FROM lines ln
  LEFT JOIN given gv ON gv.span_index = ln.span_index AND gv.contract_id = ln.contract_id
    AND gv.delivered_by = ln.delivered_by AND gv.code_key = ln.code_key
)"""


RELATIONS = {MANAGED: _managed, COVERAGE: _coverage, FULFILMENT: _fulfilment}


def relation_sql(relation: str, spans: Sequence[Span]) -> str:
    """The ``WITH`` clause (periods and the relation's steps) after which ``relation`` can
    be selected from, for ``spans`` (span ``i`` is ``span_index = i``)."""
    return f"WITH periods AS ({periods_sql(spans)}),{RELATIONS[relation]()}\n"


# --- per team ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class TeamRate:
    """One figure of one family-doctor team for one span: numerator, denominator and the
    percentage (``None`` when nothing is in the denominator). ``denominator`` is ``None``
    for ``contracted`` (a count: a team has no population of its own in the engine)."""

    figure: str
    team_id: int
    span: Span
    numerator: Decimal
    denominator: Decimal | None
    value: Decimal | None


#: Figures of :func:`team_rates`: the indicator measures computed per team.
TEAM_FIGURES = ("htn_standard_management_rate", "htn_control_rate",
                "t2d_standard_management_rate", "t2d_control_rate",
                "contract_fulfilment_rate", "contracted")


def team_rates(backend: Backend, alliance_id: int, spans: Sequence[Span],
               team_ids: Sequence[int] | None = None) -> list[TeamRate]:
    """The chronic indicators of every family-doctor team of ``alliance_id`` (or only
    ``team_ids``) for each span, from the snapshot (``snapshot.reader()``) or any backend,
    with the engine's definitions (module docstring): standard-management and control rates
    of the registrations whose latest registration in the window names the team
    (``Registration.team``), the fulfilment of the team's contracts, and ``contracted``:
    residents with a contract of the team covering the span's last day (a count).

    A team belongs to the alliance through its base institution (``fact_contract``) or the
    managing institution of its registrations; teams with no row in the snapshot are left
    out. Rates are percentages with two places, as ``compute`` gives them."""
    from tiercare.indicators.engine.compute import ratio_value
    from tiercare.indicators.engine.definitions import DEFINITIONS, MEASURES

    ordered = list(dict.fromkeys(spans))
    if not ordered:
        return []
    alliance = int(alliance_id)
    only = ""
    if team_ids is not None:
        only = " AND team_id IN (" + (", ".join(str(int(t)) for t in team_ids) or "NULL") + ")"
    sums: dict[tuple[str, int, int], Decimal] = {}
    wanted = {name: DEFINITIONS[name] for name in TEAM_FIGURES if name in DEFINITIONS}
    by_relation: dict[str, set[str]] = {}
    for definition in wanted.values():
        for name in (definition.numerator, definition.denominator):
            by_relation.setdefault(MEASURES[name].fact, set()).add(name)
    by_relation.setdefault(COVERAGE, set()).add("contracted_residents_any")
    for relation, names in by_relation.items():
        listed = sorted(names)
        columns = ", ".join(f"{_team_sql(n)} AS {n}" for n in listed)
        where = ("res_alliance IS NOT NULL AND covered = 1" if relation == COVERAGE
                 else f"inst_alliance = {alliance}")
        rows = backend.rows(
            f"{relation_sql(relation, ordered)}SELECT team_id, span_index, {columns} "
            f"FROM {relation} WHERE team_id IS NOT NULL AND {where}{only} "
            f"GROUP BY team_id, span_index")
        for row in rows:
            for name, value in zip(listed, row[2:], strict=True):
                sums[(name, int(row[0]), int(row[1]))] = Decimal(str(value or 0))
    teams = _teams_of(backend, alliance, team_ids)
    out: list[TeamRate] = []
    for team in teams:
        for index, span in enumerate(ordered):
            for figure in TEAM_FIGURES:
                if figure == "contracted":
                    count = sums.get(("contracted_residents_any", team, index), Decimal(0))
                    out.append(TeamRate(figure, team, span, count, None, None))
                    continue
                definition = wanted[figure]
                numerator = _scaled(definition.numerator,
                                    sums.get((definition.numerator, team, index), Decimal(0)))
                denominator = _scaled(definition.denominator, sums.get(
                    (definition.denominator, team, index), Decimal(0)))
                out.append(TeamRate(figure, team, span, numerator, denominator,
                                    ratio_value(numerator, denominator, definition.scale)))
    return out


def _team_sql(name: str) -> str:
    from tiercare.indicators.engine.definitions import MEASURES

    if name == "contracted_residents_any":
        return "COUNT(*)"
    return MEASURES[name].sql


def _scaled(name: str, value: Decimal) -> Decimal:
    from tiercare.indicators.engine.definitions import MEASURES

    return value / 100 if MEASURES[name].hundredths else value


def _teams_of(backend: Backend, alliance: int, team_ids: Sequence[int] | None) -> list[int]:
    """The teams of the alliance known to the snapshot (by their base institution)."""
    rows = backend.rows(
        "SELECT t.id FROM stg_team t JOIN dim_institution i ON i.id = t.institution_id "
        f"WHERE i.alliance_id = {alliance} ORDER BY t.id")
    found = [int(r[0]) for r in rows]
    if team_ids is not None:
        wanted = {int(t) for t in team_ids}
        found = [t for t in found if t in wanted]
    return found


#: The chronic disease codes of the registries (``chronic.rules``), for the definitions.
HYPERTENSION = chronic_rules.HYPERTENSION
DIABETES = chronic_rules.DIABETES
