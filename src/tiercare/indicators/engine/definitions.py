"""How each indicator of the catalogue is computed: numerator and denominator as
*measures* over the fact tables (``facts.py``), written once in DuckDB's SQL and translated
for PostgreSQL and Spark. Definitions in words: ``data/catalogue.toml`` and
``shared/domain/indicators.md``; where this file decides something the words leave open, the
docstring of the definition says so.

Kinds of computation:

* ``ratio`` — numerator measure ÷ denominator measure × scale (100 for a percent, 10,000
  per 10k); monthly counts are summed over the period first, never rates averaged
  (indicators.md: "rates for longer periods are computed from the underlying counts");
* ``count`` — the numerator measure alone;
* ``growth`` — the change of another indicator against the same period a year before, in
  percent;
* ``median`` — the median of a value over the records of the period (computed per period:
  medians do not add up);
* ``current`` — numerator and denominator over the snapshot's present state (practitioners,
  institutions, residents), the same for every period: the registry keeps no history;
* ``posted`` — the stationed-physician coverage of a period (postings that span it all);
* ``span`` — numerator measure ÷ denominator measure × scale, where both are sums over a
  relation computed *for each span* (``per_span`` measures, ``chronic.py``): the chronic
  management, contract coverage and fulfilment indicators, which do not add up over months
  (rules.md §7–§8; ADR 0021 — their periods, org units and teams are decided there).

An *org unit* is an alliance, an institution, a township area or a level. Each measure
belongs to a *side* of its fact: the resident's (alliance and township of the county
resident concerned), the institution's (the institution that gave the care or holds the
practitioner), the sending or the receiving side of a referral. An indicator is given for
the org kinds its side has: rates of residents have no institution or level.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tiercare.indicators.engine import chronic

ALLIANCE = "alliance"
INSTITUTION = "institution"
TOWNSHIP = "township"
LEVEL = "level"
ORG_KINDS = (ALLIANCE, INSTITUTION, TOWNSHIP, LEVEL)

#: Org columns of each side of each fact, by org kind.
SIDES: dict[str, dict[str, str]] = {
    "resident": {ALLIANCE: "res_alliance", TOWNSHIP: "res_township"},
    "institution": {ALLIANCE: "inst_alliance", INSTITUTION: "inst_id",
                    TOWNSHIP: "inst_township", LEVEL: "inst_level"},
    "sending": {ALLIANCE: "send_alliance", INSTITUTION: "send_id",
                TOWNSHIP: "send_township", LEVEL: "send_level"},
    "receiving": {ALLIANCE: "recv_alliance", INSTITUTION: "recv_id",
                  TOWNSHIP: "recv_township", LEVEL: "recv_level"},
}

_CARE = "class IN ('outpatient', 'emergency', 'inpatient')"
_VISIT = "class IN ('outpatient', 'emergency')"
_ADMISSION = "class = 'inpatient'"


def _count(condition: str) -> str:
    return f"SUM(CASE WHEN {condition} THEN 1 ELSE 0 END)"


def _sum(value: str, condition: str) -> str:
    return f"SUM(CASE WHEN {condition} THEN {value} ELSE 0 END)"


@dataclass(frozen=True)
class Measure:
    """A monthly (``monthly=True``: grouped by ``month``) or present-state sum over one
    fact, on one side. ``condition``: the rows a drill-down lists."""

    fact: str
    side: str
    sql: str
    condition: str
    monthly: bool = True
    cube_sql: str = ""  # the same sum over ``cube_event`` (care-event measures)
    per_span: bool = False  # a sum over a relation of ``chronic.RELATIONS`` per span
    hundredths: bool = False  # the sum is in hundredths (services owed pro rata)


def _event(side: str, rows: str, value: str | None) -> Measure:
    """A measure over the care events; computed from ``cube_event``, whose rows are the
    events grouped by every column a condition reads, with ``events`` their number and the
    money columns their sums (so a sum over the cube equals the sum over the events)."""
    return Measure("fact_event", side, _sum(value, rows) if value else _count(rows), rows,
                   cube_sql=_sum(value or "events", rows))


def _event_r(condition: str, value: str | None = None) -> Measure:
    return _event("resident", f"res_alliance IS NOT NULL AND {condition}", value)


def _event_i(condition: str, value: str | None = None) -> Measure:
    return _event("institution", f"inst_in_county = 1 AND {condition}", value)


def _arrived(condition: str) -> Measure:
    rows = f"kind = 'arrived' AND {condition}"
    return Measure("fact_referral", "sending", _count(rows), rows)


_OWN_SERVICE = "source = 'E'"  # only encounters carry the cost structure

def _span(relation: str, side: str, condition: str, value: str = "", *,
          hundredths: bool = False) -> Measure:
    """A per-span measure over a relation of ``chronic.py``: rows counted, or ``value``
    summed (written as a sum of ``value × 1`` so that the pages and FHIR read it as a
    count of services, not an amount of money)."""
    sql = (f"SUM({value} * CASE WHEN {condition} THEN 1 ELSE 0 END)" if value
           else _count(condition))
    return Measure(relation, side, sql, condition, monthly=False, per_span=True,
                   hundredths=hundredths)


def _managed(condition: str) -> Measure:
    return _span(chronic.MANAGED, "institution", condition)


_HTN = f"disease = '{chronic.HYPERTENSION}'"
_T2D = f"disease = '{chronic.DIABETES}'"

MEASURES: dict[str, Measure] = {
    # residents' care, wherever it was given (rates of county residents)
    "care": _event_r(_CARE),
    "care_in_county": _event_r(f"{_CARE} AND in_county = 1"),
    "admissions": _event_r(_ADMISSION),
    "admissions_in_county": _event_r(f"{_ADMISSION} AND in_county = 1"),
    "admissions_out_of_county": _event_r(f"{_ADMISSION} AND in_county = 0"),
    "admissions_out_managed": _event_r(f"{_ADMISSION} AND in_county = 0 AND managed = 1"),
    "fund_all": _event_r("fund <> 0", "fund"),
    "fund_in_county": _event_r("fund <> 0 AND in_county = 1", "fund"),
    # care given by the county's institutions
    "visits": _event_i(_VISIT),
    "visits_primary": _event_i(f"{_VISIT} AND inst_primary = 1"),
    "revenue": _event_i(_OWN_SERVICE, "total"),
    "drug_revenue": _event_i(_OWN_SERVICE, "drugs"),
    "service_revenue": _event_i(_OWN_SERVICE, "total - drugs - consumables - examinations"),
    "visit_cost": _event_i(f"{_OWN_SERVICE} AND {_VISIT}", "total"),
    "visits_with_cost": _event_i(f"{_OWN_SERVICE} AND {_VISIT}"),
    "admission_cost": _event_i(f"{_OWN_SERVICE} AND {_ADMISSION}", "total"),
    "admissions_with_cost": _event_i(f"{_OWN_SERVICE} AND {_ADMISSION}"),
    "fund_institutions": _event_i("fund <> 0", "fund"),
    "fund_primary": _event_i("fund <> 0 AND inst_primary = 1", "fund"),
    # referrals that happened (the patient arrived), by the sending side
    "up_referrals": _arrived("direction = 'up'"),
    "down_referrals": _arrived("direction = 'down'"),
    "up_referrals_warned": _arrived("direction = 'up' AND warned = 1"),
    # present state
    "general_practitioners": Measure("fact_practitioner", "institution",
                                     _count("gp = 1 AND inst_in_county = 1"),
                                     "gp = 1 AND inst_in_county = 1", monthly=False),
    "residents": Measure("fact_resident", "resident", "COUNT(*)", "1 = 1", monthly=False),
    "township_centres": Measure("fact_institution", "institution",
                                _count("kind = 'township_centre' AND inst_in_county = 1"),
                                "kind = 'township_centre' AND inst_in_county = 1",
                                monthly=False),
    "township_centres_tcm": Measure(
        "fact_institution", "institution",
        _count("kind = 'township_centre' AND inst_in_county = 1 AND tcm = 1"),
        "kind = 'township_centre' AND inst_in_county = 1 AND tcm = 1", monthly=False),
    "township_centres_tcm_hall": Measure(
        "fact_institution", "institution",
        _count("kind = 'township_centre' AND inst_in_county = 1 AND tcm_hall = 1"),
        "kind = 'township_centre' AND inst_in_county = 1 AND tcm_hall = 1", monthly=False),
    "village_clinics": Measure("fact_institution", "institution",
                               _count("kind = 'village_clinic' AND inst_in_county = 1"),
                               "kind = 'village_clinic' AND inst_in_county = 1",
                               monthly=False),
    "village_clinics_tcm": Measure(
        "fact_institution", "institution",
        _count("kind = 'village_clinic' AND inst_in_county = 1 AND tcm = 1"),
        "kind = 'village_clinic' AND inst_in_county = 1 AND tcm = 1", monthly=False),
    # chronic registries, family-doctor contracts (per span: chronic.py)
    "htn_managed": _managed(_HTN),
    "htn_standard": _managed(f"{_HTN} AND standard = 1"),
    "htn_controlled": _managed(f"{_HTN} AND controlled = 1"),
    "t2d_managed": _managed(_T2D),
    "t2d_standard": _managed(f"{_T2D} AND standard = 1"),
    "t2d_controlled": _managed(f"{_T2D} AND controlled = 1"),
    "contract_residents": _span(chronic.COVERAGE, "resident", "1 = 1"),
    "contracted_residents": _span(chronic.COVERAGE, "resident", "covered = 1"),
    "priority_residents": _span(chronic.COVERAGE, "resident", "priority = 1"),
    "priority_contracted": _span(chronic.COVERAGE, "resident", "priority = 1 AND covered = 1"),
    "services_owed": _span(chronic.FULFILMENT, "institution", "owed > 0", "owed",
                           hundredths=True),
    "services_counted": _span(chronic.FULFILMENT, "institution", "owed > 0", "counted",
                              hundredths=True),
}


@dataclass(frozen=True)
class Definition:
    """How one indicator is computed (module docstring: kinds)."""

    kind: str
    numerator: str = ""
    denominator: str = ""
    scale: int = 1
    base: str = ""  # growth: the indicator whose change it is
    median_fact: str = ""
    median_side: str = ""
    median_value: str = ""
    median_condition: str = ""
    note: str = ""
    org_kinds: tuple[str, ...] = field(default=())


def _ratio(numerator: str, denominator: str, scale: int = 100, note: str = "") -> Definition:
    return Definition("ratio", numerator, denominator, scale, note=note)


_BY_INSTITUTION = (ALLIANCE, INSTITUTION, TOWNSHIP)
_MANAGED_NOTE = ("year to date at the span's end; residents once per disease at the managing "
                 "institution of their latest registration")


def _per_span(numerator: str, denominator: str, note: str,
              kinds: tuple[str, ...] = _BY_INSTITUTION) -> Definition:
    return Definition("span", numerator, denominator, 100, note=note, org_kinds=kinds)


DEFINITIONS: dict[str, Definition] = {
    "in_county_visit_rate": _ratio("care_in_county", "care"),
    "in_county_inpatient_rate": _ratio("admissions_in_county", "admissions"),
    "primary_care_visit_share": _ratio("visits_primary", "visits"),
    "out_of_county_admissions": Definition("count", "admissions_out_of_county"),
    "managed_outflow_share": _ratio(
        "admissions_out_managed", "admissions_out_of_county",
        note="managed: an approved out-of-county referral of the resident in the 30 days "
             "before the admission"),
    "up_referrals": Definition("count", "up_referrals",
                               note="counted when the patient arrived, by the sending side"),
    "down_referrals": Definition("count", "down_referrals",
                                 note="counted when the patient arrived, by the sending side"),
    "down_up_ratio": _ratio("down_referrals", "up_referrals", scale=1),
    "down_referral_growth": Definition("growth", base="down_referrals"),
    "referral_response_hours": Definition(
        "median", median_fact="fact_referral", median_side="receiving",
        median_value="hours", median_condition="kind = 'answered'",
        note="referrals submitted in the period, by the receiving side"),
    "avoidable_up_referral_share": _ratio(
        "up_referrals_warned", "up_referrals",
        note="an up-referral the catalogue warned about (a condition the sending level "
             "should treat)"),
    "gp_per_10k": Definition("current", "general_practitioners", "residents", 10_000,
                             org_kinds=(ALLIANCE, TOWNSHIP)),
    "tcm_township_share": Definition("current", "township_centres_tcm", "township_centres",
                                     100),
    "tcm_village_share": Definition("current", "village_clinics_tcm", "village_clinics", 100),
    "tcm_hall_share": Definition("current", "township_centres_tcm_hall", "township_centres",
                                 100),
    "stationed_physician_coverage": Definition(
        "posted", scale=100,
        note="a posting of an attending-or-above physician of the alliance's lead hospital "
             "that spans the whole period"),
    "drug_share": _ratio("drug_revenue", "revenue"),
    "service_revenue_share": _ratio("service_revenue", "revenue"),
    "cost_per_visit": _ratio("visit_cost", "visits_with_cost", scale=1),
    "cost_per_admission": _ratio("admission_cost", "admissions_with_cost", scale=1),
    "cost_per_visit_growth": Definition("growth", base="cost_per_visit"),
    "cost_per_admission_growth": Definition("growth", base="cost_per_admission"),
    "in_county_fund_share": _ratio("fund_in_county", "fund_all"),
    "primary_fund_share": _ratio("fund_primary", "fund_institutions"),
    # rules.md §7–§8, ADR 0021 (chronic.py): definitions, periods and org units
    "htn_standard_management_rate": _per_span(
        "htn_standard", "htn_managed",
        _MANAGED_NOTE + "; standard: the face-to-face follow-ups due by then (N a year, "
                        "N of the alliance's policy, default 4)"),
    "htn_control_rate": _per_span(
        "htn_controlled", "htn_managed", _MANAGED_NOTE + "; the latest follow-up at target"),
    "t2d_standard_management_rate": _per_span(
        "t2d_standard", "t2d_managed",
        _MANAGED_NOTE + "; standard: the face-to-face follow-ups due by then (N a year, "
                        "N of the alliance's policy, default 4)"),
    "t2d_control_rate": _per_span(
        "t2d_controlled", "t2d_managed", _MANAGED_NOTE + "; the latest follow-up at target"),
    "contract_coverage_rate": _per_span(
        "contracted_residents", "contract_residents",
        "a contract covering the span's last day; county residents by where they live",
        (ALLIANCE, TOWNSHIP)),
    "priority_contract_coverage_rate": _per_span(
        "priority_contracted", "priority_residents",
        "priority groups on the span's last day: 65 and over, 6 and under, on a registry or "
        "declared", (ALLIANCE, TOWNSHIP)),
    "contract_fulfilment_rate": _per_span(
        "services_counted", "services_owed",
        "contracts covering part of the span, by the team's base institution; services owed "
        "pro rata to the days covered, each counted up to what it owed"),
}

#: The operational tables each fact source of the catalogue is read from. An indicator
#: whose sources all have their tables must have a definition above (tests/indicators);
#: the others are declared and start computing when their tables arrive.
SOURCE_TABLES: dict[str, tuple[str, ...]] = {
    "residents": ("patients_patient",),
    "institutions": ("registry_institution",),
    "practitioners": ("registry_practitioner",),
    "postings": ("registry_posting",),
    "emergency_centres": ("registry_emergencycentre",),
    "encounters": ("encounters_encounter",),
    "settlements": ("encounters_settlement",),
    "referrals": ("referrals_referral",),
    "disease_catalogue": ("referrals_catalogueentry",),
    "chronic_registry": ("chronic_registration",),
    "followups": ("chronic_followup",),
    "contracts": ("chronic_contract",),
    "budgets": ("insurance_budget",),
    "diagnostics": ("diagnostics_order", "diagnostics_report"),
}


def org_kinds(indicator_id: str) -> tuple[str, ...]:
    """The org kinds the indicator is given for (its side's, or its own list)."""
    definition = DEFINITIONS[indicator_id]
    if definition.org_kinds:
        return definition.org_kinds
    if definition.kind == "growth":
        return org_kinds(definition.base)
    if definition.kind == "median":
        return tuple(SIDES[definition.median_side])
    if definition.kind == "posted":
        return (ALLIANCE, TOWNSHIP)
    sides = [MEASURES[m].side for m in (definition.numerator, definition.denominator) if m]
    kinds = [kind for kind in ORG_KINDS if all(kind in SIDES[side] for side in sides)]
    return tuple(kinds)
