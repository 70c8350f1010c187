"""A small hand-built county for the out-of-county analysis, cost structure, data quality and
report tests. All care of the quarter happens on 12 August 2025 (2025Q3); two
out-of-county admissions a year earlier (12 August 2024) give the changes.

    alliance A "LQ" (临清市 371581)    H  county hospital (division 371581)
                                      T1 township centre 371581001 (城关镇)
                                      V1 village clinic 371581001001
    outside the county                X  city hospital in 371502, P provincial hospital
    alliance B "DC" (东昌府区 371502)  no institution here; resident O1
    residents of A   R1–R4 in 城关镇 371581001, R5–R6 in 石桥乡 371581002

    out-of-county settlements (fund paid, yuan)
      S1 R1 X inpatient  C34.9  10,000        S4 R3 X outpatient C34.9     500
      S2 R2 X inpatient  C34.1   8,000        S5 R6 X inpatient  K35.8   3,000
      S3 R5 X inpatient  I21.0  20,000        S10 O1 P inpatient C34.9   9,999 (B's)
      a year before: S8 R1 X inpatient C34.9 5,000; S9 R5 X inpatient I21.0 20,000
    in-county care (total / drugs / consumables / examinations)
      E1 R4 H  inpatient  C34.9  9,000 / 3,000 / 1,000 / 2,000; paid by S6 (names E1) 6,000
      E2 R1 T1 outpatient I10      100 /    40 /    10 /    20
      E3 R5 V1 outpatient J06.9     50 /    20 /     0 /     5
      E4 R6 H  inpatient  I21.9 12,000 / 4,000 / 2,000 / 3,000 (no settlement)
      E5 R2 H  outpatient (none)   200 /    60 /    10 /    50   ← no diagnosis
      E6 R3 T1 outpatient U99       80 /    30 /     0 /    10   ← not ICD-10
      S7 R3 T1 inpatient in county, I10, 700, no encounter       ← unmatched

Hand values for A, 2025Q3 (``tests/indicators/test_analysis.py`` checks them):

* admissions of A's residents: S1, S2, S3, S5 out of the county, E1, E4, S7 in it = 7;
  out-of-county fund S1–S5 = 41,500; all fund of A's residents 41,500 + 6,000 + 700 = 48,200.
* by diagnosis (admissions order): C34 — 2 out of 3 admissions (66.67 %), 50.00 % of the
  out-of-county admissions, fund 18,500 (S1 + S2 + S4) of 24,500 (75.51 %), 44.58 % of the
  out-of-county fund; a year before 1 admission, 5,000 → +100.00 %, +270.00 %.
  I21 — 1 of 2 (50.00 %), 25.00 %, fund 20,000 of 20,000 (100.00 %), 48.19 %; a year before
  1, 20,000 → 0.00 %, 0.00 %. K35 — 1 of 1, 25.00 %, 3,000 (7.23 %); nothing before → no
  change. By fund: I21, C34, K35. Total: 4 of 7 (57.14 %), 41,500 of 48,200 (86.10 %); a
  year before 2 and 25,000 → +100.00 %, +66.00 %.
* by township: 石桥乡 371581002 — 2 of 3 (66.67 %), 23,000 of 23,000; before 1, 20,000 →
  +100.00 %, +15.00 %; 城关镇 371581001 — 2 of 4 (50.00 %), 18,500 of 25,200 (73.41 %);
  before 1, 5,000. Tied on admissions, 石桥乡 comes first by fund.
* cost structure of A's institutions: visits E2, E3, E5, E6 = 4, total 430, drugs 150,
  consumables 20, examinations 85, other 175 → per visit 107.50 / 37.50 / 5.00 / 21.25 /
  43.75; admissions E1, E4 = 2, total 21,000 → per admission 10,500 / 3,500 / 1,500 / 2,500
  / 3,000. Township visits (E2, E6): 2, total 180 → 90.00 per visit.
* data quality: A's events are E1–E6 and the unmatched settlements S1–S5, S7 (S6 paid for
  E1: one event) = 12; without diagnosis E5 (1 of 12); not ICD-10 U99 (1 of the 11 with a
  diagnosis); unmatched in-county settlements S7 (1 of 2 settled in-county events: E1, S7).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from tests.web.factories import COUNTY, OTHER_COUNTY, make_patient
from tiercare.encounters.models import Encounter, Settlement
from tiercare.patients.models import Patient
from tiercare.registry.models import Alliance, Division, Institution, Level

CST = dt.timezone(dt.timedelta(hours=8))
T1_CODE, T2_CODE = f"{COUNTY}001", f"{COUNTY}002"


@dataclass
class Scene:
    a: Alliance
    b: Alliance
    h: Institution
    t1: Institution
    v1: Institution
    x: Institution
    residents: dict[str, Patient]
    encounters: dict[str, Encounter]
    settlements: dict[str, Settlement]


def _institution(code: str, level: str, kind: str, division: str,
                 alliance: Alliance | None) -> Institution:
    return Institution.objects.create(code=code, name=f"机构{code}", level=level, kind=kind,
                                      alliance=alliance, division_code=division)


def _encounter(n: str, patient: Patient, institution: Institution, klass: str,
               diagnosis: str, costs: tuple[int, int, int, int]) -> Encounter:
    total, drugs, consumables, examinations = (Decimal(v) for v in costs)
    return Encounter.objects.create(
        patient=patient, institution=institution, encounter_class=klass,
        start=dt.datetime(2025, 8, 12, 9, tzinfo=CST), primary_diagnosis=diagnosis,
        total=total, drugs=drugs, consumables=consumables, examinations=examinations,
        services=total - drugs - consumables - examinations, source_system="scene",
        source_id=n)


def _settlement(n: str, patient: Patient, institution: Institution, klass: str,
                diagnosis: str, fund: int, *, in_county: bool, year: int = 2025,
                encounter: Encounter | None = None) -> Settlement:
    return Settlement.objects.create(
        patient=patient, scheme="resident", in_county=in_county, institution=institution,
        institution_name=institution.name, institution_level=institution.level,
        division_code=institution.division_code, encounter_class=klass,
        start_date=dt.date(year, 8, 12), diagnosis=diagnosis, total=Decimal(fund * 2),
        fund_paid=Decimal(fund), self_paid=Decimal(fund), encounter=encounter,
        source_system="scene", source_id=n)


def build_scene() -> Scene:
    county = Division.objects.get_or_create(
        code=COUNTY, defaults={"name": "临清市", "kind": Division.Kind.COUNTY})[0]
    for code, name in ((T1_CODE, "城关镇"), (T2_CODE, "石桥乡")):
        Division.objects.get_or_create(code=code, defaults={
            "name": name, "kind": Division.Kind.TOWNSHIP, "parent": county})
    a = Alliance.objects.create(code="LQ", name="临清市医共体",
                                kind=Alliance.Kind.COUNTY_COMMUNITY, county_code=COUNTY)
    b = Alliance.objects.create(code="DC", name="东昌府区医共体",
                                kind=Alliance.Kind.COUNTY_COMMUNITY, county_code=OTHER_COUNTY)
    h = _institution("H", Level.COUNTY, Institution.Kind.GENERAL_HOSPITAL, COUNTY, a)
    a.lead = h
    a.save()
    t1 = _institution("T1", Level.TOWNSHIP, Institution.Kind.TOWNSHIP_CENTRE, T1_CODE, a)
    v1 = _institution("V1", Level.VILLAGE, Institution.Kind.VILLAGE_CLINIC,
                      f"{T1_CODE}001", a)
    x = _institution("X", Level.CITY, Institution.Kind.GENERAL_HOSPITAL, OTHER_COUNTY, None)
    p = _institution("P", Level.PROVINCIAL, Institution.Kind.GENERAL_HOSPITAL, "370102", None)
    r = {f"R{n}": make_patient(f"居民{n}", f"{T1_CODE}001" if n <= 4 else f"{T2_CODE}001")
         for n in range(1, 7)}
    r["O1"] = make_patient("外县居民", f"{OTHER_COUNTY}001001")
    e = {
        "E1": _encounter("E1", r["R4"], h, "inpatient", "C34.9", (9000, 3000, 1000, 2000)),
        "E2": _encounter("E2", r["R1"], t1, "outpatient", "I10", (100, 40, 10, 20)),
        "E3": _encounter("E3", r["R5"], v1, "outpatient", "J06.9", (50, 20, 0, 5)),
        "E4": _encounter("E4", r["R6"], h, "inpatient", "I21.9", (12000, 4000, 2000, 3000)),
        "E5": _encounter("E5", r["R2"], h, "outpatient", "", (200, 60, 10, 50)),
        "E6": _encounter("E6", r["R3"], t1, "outpatient", "U99", (80, 30, 0, 10)),
    }
    s = {
        "S1": _settlement("S1", r["R1"], x, "inpatient", "C34.9", 10000, in_county=False),
        "S2": _settlement("S2", r["R2"], x, "inpatient", "C34.1", 8000, in_county=False),
        "S3": _settlement("S3", r["R5"], x, "inpatient", "I21.0", 20000, in_county=False),
        "S4": _settlement("S4", r["R3"], x, "outpatient", "C34.9", 500, in_county=False),
        "S5": _settlement("S5", r["R6"], x, "inpatient", "K35.8", 3000, in_county=False),
        "S6": _settlement("S6", r["R4"], h, "inpatient", "C34.9", 6000, in_county=True,
                          encounter=e["E1"]),
        "S7": _settlement("S7", r["R3"], t1, "inpatient", "I10", 700, in_county=True),
        "S8": _settlement("S8", r["R1"], x, "inpatient", "C34.9", 5000, in_county=False,
                          year=2024),
        "S9": _settlement("S9", r["R5"], x, "inpatient", "I21.0", 20000, in_county=False,
                          year=2024),
        "S10": _settlement("S10", r["O1"], p, "inpatient", "C34.9", 9999, in_county=False),
    }
    return Scene(a, b, h, t1, v1, x, r, e, s)
