"""Fact tables, built from the staging tables by SQL written once (DuckDB's dialect) and
translated by SQLGlot for PostgreSQL and Spark (DESIGN.md "Analytics").

* ``fact_event`` — one row per **care event** of indicators.md ("one care event, counted
  once"): every encounter, and every settlement that pays for no encounter (care outside
  the county, or in the county but not sent by the institution). A settlement pays for an
  encounter when it names it, otherwise when patient, institution, class and day agree
  (indicators.md). The fund paid for an encounter is the sum of its settlements. Each event
  carries its institution's side (id, level, alliance, township, primary care, in county)
  and its resident's side (alliance and township of a county resident); ``in_county`` says
  whether the care was given in the resident's county, and ``managed`` whether an
  out-of-county admission followed an approved out-of-county referral of the resident in
  the 30 days before (``managed_outflow_share``).
* ``fact_referral`` — one row per referral *step that counts*: ``arrived`` (the patient
  reached the receiving side: the referral happened; month of arrival) and ``answered``
  (accepted or rejected; month of submission, hours to the answer), with the sending and
  the receiving side.
* ``fact_resident`` — county residents alive and active (the population of rates per
  resident), ``fact_institution`` — institutions with their side and TCM services,
  ``fact_practitioner`` — active practitioners with their institution's side.
* Family-doctor contracts and chronic registries (rules.md §7–§8; ADR 0021):
  ``fact_registration`` — one row per hypertension or diabetes registration with the side
  of its *managing institution*, its team, the resident's birth (``yyyymmdd``) and the
  standard of the managing institution's alliance (``chronic_chronicpolicy``: face-to-face
  follow-ups a year, whether the annual check is needed; the defaults of
  ``chronic.rules.Targets`` without a policy); ``fact_contract`` — one row per contract
  with its last day covered (``ended_on``, else ``end_date``), the side of its team's
  *base institution* and the resident's side; ``fact_contract_line`` — the package
  services of each contract (distinct services of its packages); ``fact_delivery`` — one
  row per service delivered to a contract during its term, counted from the records as
  ``chronic.services.delivered_counts`` counts them: hypertension and diabetes follow-ups
  of the resident (any method), elderly checks, outpatient encounters at the team's
  institutions (its base and the primary-care institutions of its current members) and the
  services recorded by hand (with their service code).
"""

from __future__ import annotations

from tiercare.chronic import rules as chronic_rules

#: Days after an approved out-of-county referral within which an out-of-county admission
#: counts as managed (the product's own rule; indicators.md: managed_outflow_share).
MANAGED_WITHIN_DAYS = 30

_RESIDENT_SIDE = """
resident_side AS (
  SELECT r.id AS patient_id, r.county, a.alliance_id AS res_alliance,
         r.township AS res_township
  FROM stg_resident r
  JOIN (SELECT county, MIN(id) AS alliance_id FROM dim_alliance
        WHERE county IS NOT NULL GROUP BY county) a ON a.county = r.county
)"""

FACTS: dict[str, str] = {
    "fact_event": f"""
WITH enc_key AS (
  SELECT patient_id, institution_id, class, day, MIN(id) AS id
  FROM stg_encounter GROUP BY patient_id, institution_id, class, day
),
settle AS (
  SELECT s.*, COALESCE(s.encounter_id, k.id) AS matched_id
  FROM stg_settlement s
  LEFT JOIN enc_key k ON s.encounter_id IS NULL AND k.patient_id = s.patient_id
    AND k.institution_id = s.institution_id AND k.class = s.class AND k.day = s.day
),
fund_of AS (
  SELECT matched_id, SUM(fund) AS fund FROM settle
  WHERE matched_id IS NOT NULL GROUP BY matched_id
),
{_RESIDENT_SIDE},
events AS (
  SELECT 'E' AS source, e.id, e.patient_id, e.class, e.month, e.day, e.diagnosis,
         CASE WHEN i.county = rs.county THEN 1 ELSE 0 END AS in_county,
         e.total, e.drugs, e.consumables, e.examinations,
         COALESCE(f.fund, 0) AS fund, e.institution_id AS inst_id
  FROM stg_encounter e
  JOIN dim_institution i ON i.id = e.institution_id
  LEFT JOIN resident_side rs ON rs.patient_id = e.patient_id
  LEFT JOIN fund_of f ON f.matched_id = e.id
  UNION ALL
  SELECT 'S' AS source, s.id, s.patient_id, s.class, s.month, s.day, s.diagnosis,
         s.in_county, s.total, NULL, NULL, NULL, s.fund, s.institution_id
  FROM settle s WHERE s.matched_id IS NULL
),
managed AS (
  SELECT DISTINCT ev.source, ev.id FROM events ev
  JOIN stg_referral r ON r.patient_id = ev.patient_id AND r.direction = 'out_of_county'
    AND r.approved_day IS NOT NULL AND r.approved_day <= ev.day
    AND r.approved_day >= ev.day - {MANAGED_WITHIN_DAYS}
  WHERE ev.class = 'inpatient' AND ev.in_county = 0
)
SELECT ev.source, ev.id, ev.patient_id, ev.class, ev.month, ev.day, ev.diagnosis,
       ev.in_county, ev.total, ev.drugs, ev.consumables, ev.examinations, ev.fund,
       ev.inst_id, i.level AS inst_level, i.alliance_id AS inst_alliance,
       i.township AS inst_township, COALESCE(i.primary_care, 0) AS inst_primary,
       COALESCE(i.in_county, 0) AS inst_in_county,
       rs.res_alliance, rs.res_township,
       CASE WHEN m.id IS NULL THEN 0 ELSE 1 END AS managed
FROM events ev
LEFT JOIN dim_institution i ON i.id = ev.inst_id
LEFT JOIN resident_side rs ON rs.patient_id = ev.patient_id
LEFT JOIN managed m ON m.source = ev.source AND m.id = ev.id
""",
    # fact_event grouped by every column a measure's condition reads (definitions._event):
    # the monthly measures of care events read this instead of millions of events
    "cube_event": """
SELECT month, res_alliance, res_township, inst_id, inst_alliance, inst_township, inst_level,
       inst_primary, inst_in_county, class, in_county, source, managed,
       COUNT(*) AS events, SUM(total) AS total, SUM(drugs) AS drugs,
       SUM(consumables) AS consumables, SUM(examinations) AS examinations, SUM(fund) AS fund
FROM fact_event
GROUP BY month, res_alliance, res_township, inst_id, inst_alliance, inst_township,
         inst_level, inst_primary, inst_in_county, class, in_county, source, managed
""",
    "fact_referral": """
WITH steps AS (
  SELECT 'arrived' AS kind, r.id, r.patient_id, r.direction, r.green, r.warned,
         r.arrived_month AS month, CAST(NULL AS DOUBLE) AS hours,
         r.sending_id, r.receiving_id, r.diagnosis
  FROM stg_referral r WHERE r.arrived_month IS NOT NULL
  UNION ALL
  SELECT 'answered' AS kind, r.id, r.patient_id, r.direction, r.green, r.warned,
         r.submitted_month AS month, r.response_hours AS hours,
         r.sending_id, r.receiving_id, r.diagnosis
  FROM stg_referral r
  WHERE r.submitted_month IS NOT NULL AND r.response_hours IS NOT NULL
)
SELECT st.kind, st.id, st.patient_id, st.direction, st.green, st.warned, st.month,
       st.hours, st.diagnosis,
       st.sending_id AS send_id, si.level AS send_level, si.alliance_id AS send_alliance,
       si.township AS send_township,
       st.receiving_id AS recv_id, ri.level AS recv_level, ri.alliance_id AS recv_alliance,
       ri.township AS recv_township
FROM steps st
LEFT JOIN dim_institution si ON si.id = st.sending_id
LEFT JOIN dim_institution ri ON ri.id = st.receiving_id
""",
    "fact_resident": f"""
WITH {_RESIDENT_SIDE.strip()}
SELECT rs.patient_id AS id, rs.res_alliance, rs.res_township
FROM resident_side rs JOIN stg_resident r ON r.id = rs.patient_id
WHERE r.active = 1 AND r.deceased = 0
""",
    "fact_registration": f"""
SELECT g.id, g.patient_id, g.disease, g.enrolled_day, g.closed_day, g.team_id,
       g.institution_id AS inst_id, i.level AS inst_level, i.alliance_id AS inst_alliance,
       i.township AS inst_township, r.birth,
       COALESCE(p.follow_ups, {chronic_rules.DEFAULT_TARGETS.standard_follow_ups})
         AS follow_ups_due,
       COALESCE(p.needs_check, {int(chronic_rules.DEFAULT_TARGETS.standard_needs_annual_check)})
         AS needs_check
FROM stg_registration g
LEFT JOIN dim_institution i ON i.id = g.institution_id
LEFT JOIN stg_chronic_policy p ON p.alliance_id = i.alliance_id
LEFT JOIN stg_resident r ON r.id = g.patient_id
""",
    "fact_contract": f"""
WITH {_RESIDENT_SIDE.strip()}
SELECT c.id, c.patient_id, c.team_id, c.start_day, c.last_day,
       t.institution_id AS inst_id, i.level AS inst_level, i.alliance_id AS inst_alliance,
       i.township AS inst_township, rs.res_alliance, rs.res_township
FROM stg_contract c
LEFT JOIN stg_team t ON t.id = c.team_id
LEFT JOIN dim_institution i ON i.id = t.institution_id
LEFT JOIN resident_side rs ON rs.patient_id = c.patient_id
""",
    "fact_contract_line": """
SELECT DISTINCT cp.contract_id, s.id AS service_id, s.code, s.yearly_count, s.delivered_by
FROM stg_contract_package cp JOIN stg_package_service s ON s.package_id = cp.package_id
""",
    "fact_delivery": f"""
WITH places AS (
  SELECT id AS team_id, institution_id FROM stg_team
  UNION
  SELECT m.team_id, p.institution_id FROM stg_team_member m
  JOIN stg_practitioner p ON p.id = m.practitioner_id
  JOIN dim_institution i ON i.id = p.institution_id
  WHERE m.end_day IS NULL AND i.level IN ('township', 'village')
)
SELECT c.id AS contract_id,
       CASE WHEN f.disease = '{chronic_rules.HYPERTENSION}' THEN 'hypertension_follow_up'
            ELSE 'diabetes_follow_up' END AS delivered_by,
       CAST(NULL AS VARCHAR) AS code, f.day
FROM stg_contract c
JOIN stg_followup f ON f.patient_id = c.patient_id AND f.day >= c.start_day
  AND f.day <= c.last_day
UNION ALL
SELECT c.id, 'elderly_check', CAST(NULL AS VARCHAR), e.day
FROM stg_contract c
JOIN stg_elderly_check e ON e.patient_id = c.patient_id AND e.day >= c.start_day
  AND e.day <= c.last_day
UNION ALL
SELECT c.id, 'primary_visit', CAST(NULL AS VARCHAR), e.day
FROM stg_contract c
JOIN places pl ON pl.team_id = c.team_id
JOIN stg_encounter e ON e.patient_id = c.patient_id AND e.institution_id = pl.institution_id
  AND e.class = 'outpatient' AND e.day >= c.start_day AND e.day <= c.last_day
UNION ALL
SELECT d.contract_id, 'recorded', s.code, d.day
FROM stg_service_delivery d
JOIN stg_package_service s ON s.id = d.service_id
JOIN stg_contract c ON c.id = d.contract_id AND d.day >= c.start_day AND d.day <= c.last_day
""",
    "fact_institution": """
SELECT id AS inst_id, level AS inst_level, alliance_id AS inst_alliance,
       township AS inst_township, kind, tcm, tcm_hall, in_county AS inst_in_county
FROM dim_institution
""",
    "fact_practitioner": """
SELECT p.id, p.gp, p.title, p.institution_id AS inst_id, i.level AS inst_level,
       i.alliance_id AS inst_alliance, i.township AS inst_township,
       i.in_county AS inst_in_county
FROM stg_practitioner p JOIN dim_institution i ON i.id = p.institution_id
WHERE p.active = 1
""",
}
