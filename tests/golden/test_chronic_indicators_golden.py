"""Golden test of the chronic-care and family-doctor indicators (issue 6 item 7; rules.md
§7–§8; ADR 0021): a hand-built alliance whose standard-management and control rates,
contract coverage, priority-group coverage and fulfilment are worked out by hand below.
Everything happens in 2024–2025 (in the past), written with the ORM.

The alliance (临清市 371581, alliance "LQC"):

    institutions   CH county hospital (371581); CT1 township centre 371581001;
                   CT2 township centre 371581002; CV1 village clinic 371581001001
    teams          K1 based at CT1: CP1 (CT1, lead), CP3 (CV1, village doctor), CP5 (CH,
                   left the team in 2024: CH is not one of K1's institutions)
                   K2 based at CT2: CP2 (CT2, lead)
    residents      township 371581001: R1 (born 1950-05-01), R2 (1980-03-01),
                   R3 (1955-01-01), R4 (1985-01-01), R5 (2021-06-01, a child)
                   township 371581002: R6 (1970-01-01), R7 (1985-06-01), R8 (1960-07-01)

    registrations (managing institution, team)
     G1 R1 hypertension CT1 K1, enrolled 2024-06-01
     G2 R2 hypertension CT1 K1, enrolled 2024-01-15
     G3 R4 hypertension CV1 K1, enrolled 2024-03-01, closed 2025-04-30 (moved away)
     G4 R6 hypertension CT2 K2, enrolled 2025-09-01
     G5 R3 diabetes     CT1 K1, enrolled 2023-05-01
     G6 R8 diabetes     CT2 K2, enrolled 2024-02-01
     G7 R7 hypertension CT2 K2, enrolled 2023-01-01, closed 2024-12-31 (not in 2025)

    follow-ups 2025 (method, at target?)
     R1 htn  02-10 clinic ✓, 05-10 clinic ✓, 08-10 phone ✓, 11-10 home ✗
     R2 htn  01-20 clinic ✗, 04-20 clinic ✓, 07-20 clinic ✓, 10-20 clinic ✓
     R4 htn  03-01 clinic ✓
     R6 htn  09-15 clinic ✓
     R3 t2d  03-01, 06-01, 09-01, 12-01 clinic: ✓ ✓ ✗ ✓
     R8 t2d  02-01, 05-01, 08-01 clinic ✓, 11-01 clinic ✗
    elderly checks   R3 2025-06-15 at CT1; R1 2025-10-01 at CV1
    declared group   R4 disabled 2025-01-01 … 2025-06-30

    packages  B basic: visit (primary_visit, 2 a year), htn (hypertension_follow_up, 4),
                       home (recorded, 1)
              E elderly: check (elderly_check, 1);  D diabetes: t2d (diabetes_follow_up, 4)
    contracts (team, packages, start – last day covered)
     C0  R8 K2 B    2023-01-01 – 2024-12-31 (expired)
     C1  R1 K1 B+E  2024-07-01 – 2025-06-30 (renewed) → C1' R1 K1 B+E 2025-07-01 – 2026-06-30
     C2  R2 K1 B    2025-03-01 – 2026-02-28
     C3  R3 K1 B+D  2025-01-01 – 2025-12-30 (switched team on the year's last day)
                                             → C3' R3 K2 B 2025-12-31 – 2026-12-30
     C4  R6 K2 B    2024-10-01 – 2025-09-30 (expired)
     C5  R5 K1 B    2025-05-01 – 2026-04-30
    outpatient encounters  R1 CV1 03-05, R1 CH 04-01 (not K1's), R1 CT1 08-01 emergency (not
    outpatient), R1 CT1 09-01; R2 CT1 02-15 (before C2), 06-01, 07-01, 08-01; R3 CT1 05-05,
    R3 CT2 12-31
    recorded "home" visits  C1 2024-12-01 and 2025-02-01; C2 2025-05-01

**Hypertension, 2025** (the window is the year; 4 face-to-face follow-ups due): under
management R1, R2, R4 (closed in April, still managed in the year), R6 (enrolled in
September) = 4; R7 closed in 2024 is not. Standard: R2 (4 at the clinic); R1 has 3 face to
face (the phone call does not count), R4 1, R6 1 → 1/4 = **25.00 %**. Controlled: R2 (latest
10-20 ✓), R4 (03-01 ✓), R6 (09-15 ✓); R1's latest (11-10) is not at target after three that
were → 3/4 = **75.00 %**. Institutions: CT1 (R1, R2) 50.00 % / 50.00 %; CV1 (R4) 0.00 % /
100.00 %; CT2 (R6) 0.00 % / 100.00 %. Townships: 371581001 (R1, R2, R4) 33.33 % / 66.67 %;
371581002 (R6) 0.00 % / 100.00 %.

**Diabetes, 2025**: R3 and R8, 4 face to face each → 2/2 = 100.00 %; controlled R3 (12-01 ✓),
not R8 (11-01 ✗) → 1/2 = 50.00 %. With the annual check required (ChronicPolicy): R3 (70)
had an elderly check, R8 (65 on 1 July) had none → 1/2 = 50.00 %; R2 (45) stays standard
(younger residents: no check recorded, the requirement is waived) → hypertension 25.00 %.
With 5 follow-ups required: nobody is standard (0.00 %).

**Shorter spans: the year to date, follow-ups due pro rata** (⌊4 × months ÷ 12⌋):
* 2025Q2 = January–June, 2 due: managed R1, R2, R4 (R6 not yet) = 3; face to face R1 2,
  R2 2, R4 1 → 2/3 = 66.67 %; latest R1 05-10 ✓, R2 04-20 ✓, R4 03-01 ✓ → 100.00 %.
* 2025-03 = January–March, 1 due: R1 1, R2 1, R4 1 → 100.00 %; latest R1 ✓, R2 01-20 ✗,
  R4 ✓ → 66.67 %.
* 2025-01: none due → 3/3 = 100.00 %; only R2 was seen (✗) → 0.00 %.

**Coverage on 31 December 2025**: residents R1–R8 = 8; covered R1 (C1'), R2 (C2), R3 (C3',
the new team from that day: counted once), R5 (C5) = 4 → **50.00 %**; township 371581001 4/5
= 80.00 %, 371581002 0/3 = 0.00 %. Priority groups that day: R1 (75), R2 (hypertension), R3
(70), R5 (4), R6 (hypertension), R8 (65, diabetes) = 6 — not R4 (registration closed,
declared group ended in June) nor R7 (40, registration closed in 2024); covered 4 →
**66.67 %**; townships 4/4 = 100.00 %, 0/2 = 0.00 %. On 30 June 2025 (2025Q2): covered R1
(C1's last day), R2, R3, R5, R6 (C4) = 5/8 = 62.50 %; priority R1, R2, R3, R4 (declared),
R5, R8 (diabetes) = 6 — R6 not yet registered and 55 — covered R1, R2, R3, R5 = 4 → 66.67 %.

**Fulfilment, 2025** (owed = yearly count × days ÷ 365, two places; counted = min(delivered,
owed)):

    contract  days  visit            htn              home            check / t2d
    C1        181   0.99 / 1 → 0.99  1.98 / 2 → 1.98  0.50 / 1 → 0.50  check 0.50 / 0
    C1'       184   1.01 / 1 → 1.00  2.02 / 2 → 2.00  0.50 / 0         check 0.50 / 1 → 0.50
    C2        306   1.68 / 3 → 1.68  3.35 / 3 → 3.00  0.84 / 1 → 0.84
    C3        364   1.99 / 1 → 1.00  3.99 / 0         1.00 / 0         t2d 3.99 / 4 → 3.99
    C3'         1   0.01 / 1 → 0.01  0.01 / 0         0.00 / 0
    C4        273   1.50 / 0         2.99 / 1 → 1.00  0.75 / 0
    C5        245   1.34 / 0         2.68 / 0         0.67 / 0

(C1's visit: CV1 on 03-05, not CH; C1' visit: CT1 09-01, not the emergency; C1' htn: the
phone call counts as a delivered follow-up; C2 visits 06-01, 07-01, 08-01 — 02-15 is before
it; C3 visit CT1 05-05, C3' visit CT2 12-31 at K2's base.) Owed: C1 3.97, C1' 4.03, C2 5.87,
C3 10.97, C3' 0.02, C4 5.24, C5 4.69 = 34.79; counted 3.47 + 3.50 + 5.52 + 4.99 + 0.01 + 1.00
+ 0 = 18.49 → **53.15 %**. By base institution (= township): CT1 (K1: C1, C1', C2, C3, C5)
17.48 / 29.53 = 59.19 %; CT2 (K2: C3', C4) 1.01 / 5.26 = 19.20 %.

Teams, 2025: K1 hypertension (R1, R2, R4) 33.33 % / 66.67 %, diabetes (R3) 100 % / 100 %,
fulfilment 59.19 %, 3 residents contracted on 31 December (R1, R2, R5); K2 hypertension (R6)
0.00 % / 100.00 %, diabetes (R8) 100.00 % / 0.00 %, fulfilment 19.20 %, 1 contracted (R3).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from tests.web.factories import COUNTY, make_patient
from tiercare.chronic import rules, services
from tiercare.chronic.models import (
    ChronicPolicy,
    Contract,
    ElderlyCheck,
    FamilyDoctorTeam,
    FollowUp,
    PackageService,
    PriorityGroup,
    PriorityGroupMembership,
    Registration,
    ServiceDelivery,
    ServicePackage,
    TeamMember,
)
from tiercare.encounters.models import Encounter
from tiercare.indicators.engine import Span, chronic, compute, snapshot
from tiercare.indicators.engine.backends import Backend
from tiercare.kernel.periods import parse
from tiercare.patients.models import Patient
from tiercare.registry.models import Alliance, Institution, Level, Practitioner

CST = dt.timezone(dt.timedelta(hours=8))
YEAR = Span.of(parse("2025"))
Q2 = Span.of(parse("2025Q2"))
MARCH = Span.of(parse("2025-03"))
JANUARY = Span.of(parse("2025-01"))
CHRONIC = ("htn_standard_management_rate", "htn_control_rate", "t2d_standard_management_rate",
           "t2d_control_rate", "contract_coverage_rate", "priority_contract_coverage_rate",
           "contract_fulfilment_rate")


def d(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def _institution(code: str, level: str, kind: str, division: str,
                 alliance: Alliance) -> Institution:
    return Institution.objects.create(code=code, name=code, level=level, kind=kind,
                                      alliance=alliance, division_code=division)


def _registration(patient: Patient, disease: str, institution: Institution,
                  team: FamilyDoctorTeam, enrolled: str, closed: str | None = None
                  ) -> Registration:
    return Registration.objects.create(
        patient=patient, disease=disease, diagnosis="I10" if disease == rules.HYPERTENSION
        else "E11.9", source=Registration.Source.DIAGNOSIS, institution=institution,
        team=team, enrolled_on=d(enrolled), next_due=d(enrolled),
        status=Registration.Status.CLOSED if closed else Registration.Status.ACTIVE,
        closed_on=d(closed) if closed else None,
        close_reason=Registration.CloseReason.MOVED if closed else "")


def _follow_ups(registration: Registration, rows: list[tuple[str, str, bool]]) -> None:
    for day, method, controlled in rows:
        FollowUp.objects.create(
            registration=registration, patient=registration.patient,
            disease=registration.disease, date=d(day), method=method,
            institution=registration.institution, sbp=130 if controlled else 160,
            dbp=80 if controlled else 95,
            fasting_glucose=Decimal("6.0") if controlled else Decimal("9.0"),
            classification="controlled" if controlled else "recheck", controlled=controlled,
            next_due=d(day) + dt.timedelta(days=90))


def _contract(patient: Patient, team: FamilyDoctorTeam, packages: list[ServicePackage],
              start: str, end: str, *, ended: str | None = None, reason: str = "",
              previous: Contract | None = None) -> Contract:
    contract = Contract.objects.create(
        patient=patient, team=team, start_date=d(start), end_date=d(end),
        status=Contract.Status.ENDED if reason else Contract.Status.ACTIVE, end_reason=reason,
        ended_on=d(ended) if ended else None, consent=Contract.Consent.SIGNATURE,
        consent_at=dt.datetime(2023, 1, 1, 9, tzinfo=CST), previous=previous)
    contract.packages.set(packages)
    return contract


def _visit(n: int, patient: Patient, institution: Institution, day: str,
           klass: str = "outpatient") -> None:
    moment = dt.datetime.combine(d(day), dt.time(9), tzinfo=CST)
    Encounter.objects.create(patient=patient, institution=institution, encounter_class=klass,
                             start=moment, primary_diagnosis="I10", source_system="golden",
                             source_id=f"chronic-{n}")


def _package(alliance: Alliance, code: str, kind: str,
             services_: list[tuple[str, int, str]]) -> ServicePackage:
    package = ServicePackage.objects.create(alliance=alliance, code=code, name=code, kind=kind)
    for service, count, delivered_by in services_:
        PackageService.objects.create(package=package, code=service, name=service,
                                      yearly_count=count, delivered_by=delivered_by)
    return package


def build_chronic_county(code: str = "LQC", prefix: str = "C") -> dict[str, Any]:
    """The alliance of the module docstring (``code`` and ``prefix`` make its codes unique
    beside another county, as in the engine-equivalence test)."""
    a = Alliance.objects.create(code=code, name="临清市医共体（慢病）",
                                kind=Alliance.Kind.COUNTY_COMMUNITY, county_code=COUNTY)
    ch = _institution(f"{prefix}H", Level.COUNTY, Institution.Kind.GENERAL_HOSPITAL, COUNTY, a)
    ct1 = _institution(f"{prefix}T1", Level.TOWNSHIP, Institution.Kind.TOWNSHIP_CENTRE,
                       f"{COUNTY}001", a)
    ct2 = _institution(f"{prefix}T2", Level.TOWNSHIP, Institution.Kind.TOWNSHIP_CENTRE,
                       f"{COUNTY}002", a)
    cv1 = _institution(f"{prefix}V1", Level.VILLAGE, Institution.Kind.VILLAGE_CLINIC,
                       f"{COUNTY}001001", a)
    p = {n: Practitioner.objects.create(code=f"{prefix}P{n}", name=f"医生{n}", sex="1",
                                        institution=inst, title=Practitioner.Title.ATTENDING)
         for n, inst in ((1, ct1), (2, ct2), (3, cv1), (5, ch))}
    k1 = FamilyDoctorTeam.objects.create(alliance=a, institution=ct1, code=f"{prefix}K1",
                                         name="一组", lead=p[1])
    k2 = FamilyDoctorTeam.objects.create(alliance=a, institution=ct2, code=f"{prefix}K2",
                                         name="二组", lead=p[2])
    for team, practitioner, role, left in (
            (k1, p[1], TeamMember.Role.LEAD, None), (k1, p[3], TeamMember.Role.VILLAGE_DOCTOR,
                                                     None),
            (k1, p[5], TeamMember.Role.SPECIALIST, d("2024-06-30")),
            (k2, p[2], TeamMember.Role.LEAD, None)):
        TeamMember.objects.create(team=team, practitioner=practitioner, role=role,
                                  start_date=d("2023-01-01"), end_date=left)
    births = {1: "1950-05-01", 2: "1980-03-01", 3: "1955-01-01", 4: "1985-01-01",
              5: "2021-06-01", 6: "1970-01-01", 7: "1985-06-01", 8: "1960-07-01"}
    r = {n: make_patient(f"慢病居民{n}", f"{COUNTY}001001" if n <= 5 else f"{COUNTY}002001",
                         birth=d(birth)) for n, birth in births.items()}
    htn, t2d = rules.HYPERTENSION, rules.DIABETES
    g1 = _registration(r[1], htn, ct1, k1, "2024-06-01")
    g2 = _registration(r[2], htn, ct1, k1, "2024-01-15")
    g3 = _registration(r[4], htn, cv1, k1, "2024-03-01", closed="2025-04-30")
    g4 = _registration(r[6], htn, ct2, k2, "2025-09-01")
    g5 = _registration(r[3], t2d, ct1, k1, "2023-05-01")
    g6 = _registration(r[8], t2d, ct2, k2, "2024-02-01")
    _registration(r[7], htn, ct2, k2, "2023-01-01", closed="2024-12-31")
    clinic, home, phone = FollowUp.Method.CLINIC, FollowUp.Method.HOME, FollowUp.Method.PHONE
    _follow_ups(g1, [("2025-02-10", clinic, True), ("2025-05-10", clinic, True),
                     ("2025-08-10", phone, True), ("2025-11-10", home, False)])
    _follow_ups(g2, [("2025-01-20", clinic, False), ("2025-04-20", clinic, True),
                     ("2025-07-20", clinic, True), ("2025-10-20", clinic, True)])
    _follow_ups(g3, [("2025-03-01", clinic, True)])
    _follow_ups(g4, [("2025-09-15", clinic, True)])
    _follow_ups(g5, [("2025-03-01", clinic, True), ("2025-06-01", clinic, True),
                     ("2025-09-01", clinic, False), ("2025-12-01", clinic, True)])
    _follow_ups(g6, [("2025-02-01", clinic, True), ("2025-05-01", clinic, True),
                     ("2025-08-01", clinic, True), ("2025-11-01", clinic, False)])
    for patient, day, inst in ((r[3], "2025-06-15", ct1), (r[1], "2025-10-01", cv1)):
        ElderlyCheck.objects.create(patient=patient, date=d(day), institution=inst,
                                    items=["assessment"])
    PriorityGroupMembership.objects.create(patient=r[4], group=PriorityGroup.DISABLED,
                                           start_date=d("2025-01-01"),
                                           end_date=d("2025-06-30"))
    visit, recorded = PackageService.DeliveredBy.PRIMARY_VISIT, PackageService.DeliveredBy.RECORDED
    basic = _package(a, f"{prefix}B", ServicePackage.Kind.BASIC, [
        ("visit", 2, visit), ("htn", 4, PackageService.DeliveredBy.HYPERTENSION_FOLLOW_UP),
        ("home", 1, recorded)])
    elderly = _package(a, f"{prefix}E", ServicePackage.Kind.PRIORITY, [
        ("check", 1, PackageService.DeliveredBy.ELDERLY_CHECK)])
    diabetes = _package(a, f"{prefix}D", ServicePackage.Kind.PRIORITY, [
        ("t2d", 4, PackageService.DeliveredBy.DIABETES_FOLLOW_UP)])
    ended, expired = Contract.EndReason, Contract.EndReason.EXPIRED
    c = {"C0": _contract(r[8], k2, [basic], "2023-01-01", "2024-12-31", ended="2024-12-31",
                         reason=expired)}
    c["C1"] = _contract(r[1], k1, [basic, elderly], "2024-07-01", "2025-06-30",
                        ended="2025-06-30", reason=ended.RENEWED)
    c["C1'"] = _contract(r[1], k1, [basic, elderly], "2025-07-01", "2026-06-30",
                         previous=c["C1"])
    c["C2"] = _contract(r[2], k1, [basic], "2025-03-01", "2026-02-28")
    c["C3"] = _contract(r[3], k1, [basic, diabetes], "2025-01-01", "2025-12-31",
                        ended="2025-12-30", reason=ended.SWITCHED)
    c["C3'"] = _contract(r[3], k2, [basic], "2025-12-31", "2026-12-30", previous=c["C3"])
    c["C4"] = _contract(r[6], k2, [basic], "2024-10-01", "2025-09-30", ended="2025-09-30",
                        reason=expired)
    c["C5"] = _contract(r[5], k1, [basic], "2025-05-01", "2026-04-30")
    for n, (patient, inst, day, klass) in enumerate([
            (r[1], cv1, "2025-03-05", "outpatient"), (r[1], ch, "2025-04-01", "outpatient"),
            (r[1], ct1, "2025-08-01", "emergency"), (r[1], ct1, "2025-09-01", "outpatient"),
            (r[2], ct1, "2025-02-15", "outpatient"), (r[2], ct1, "2025-06-01", "outpatient"),
            (r[2], ct1, "2025-07-01", "outpatient"), (r[2], ct1, "2025-08-01", "outpatient"),
            (r[3], ct1, "2025-05-05", "outpatient"), (r[3], ct2, "2025-12-31", "outpatient")]):
        _visit(n, patient, inst, day, klass)
    home_visit = basic.services.get(code="home")
    for contract, day in ((c["C1"], "2024-12-01"), (c["C1"], "2025-02-01"),
                          (c["C2"], "2025-05-01")):
        ServiceDelivery.objects.create(contract=contract, service=home_visit, date=d(day))
    return {"a": a, "ct1": ct1, "ct2": ct2, "cv1": cv1, "k1": k1, "k2": k2, "r": r,
            "contracts": c}


@pytest.fixture
def county(db: Any, settings: Any, tmp_path: Path) -> dict[str, Any]:
    settings.DATA_DIR = tmp_path
    world = build_chronic_county()
    snapshot.refresh(full=True)
    return world


def _values(kind: str, span: Span = YEAR, orgs: list[str] | None = None
            ) -> dict[tuple[str, str], str | None]:
    with snapshot.reader() as backend:
        return {(c.indicator, c.org): None if c.value is None else format(c.value, "f")
                for c in compute(backend, [span], kind, ids=CHRONIC, orgs=orgs)}


def _of(values: dict[tuple[str, str], str | None], org: str) -> dict[str, str | None]:
    return {indicator: value for (indicator, o), value in values.items() if o == org}


def test_the_alliance_has_its_hand_values_for_the_year(county: dict[str, Any]):
    a = str(county["a"].pk)
    assert _of(_values("alliance", orgs=[a]), a) == {
        "htn_standard_management_rate": "25.00", "htn_control_rate": "75.00",
        "t2d_standard_management_rate": "100.00", "t2d_control_rate": "50.00",
        "contract_coverage_rate": "50.00", "priority_contract_coverage_rate": "66.67",
        "contract_fulfilment_rate": "53.15"}


def test_the_counts_behind_the_alliance_values(county: dict[str, Any]):
    a = str(county["a"].pk)
    with snapshot.reader() as backend:
        cells = {c.indicator: (c.numerator, c.denominator)
                 for c in compute(backend, [YEAR], "alliance", ids=CHRONIC, orgs=[a])}
    assert cells["htn_standard_management_rate"] == (1, 4)
    assert cells["htn_control_rate"] == (3, 4)
    assert cells["contract_coverage_rate"] == (4, 8)
    assert cells["priority_contract_coverage_rate"] == (4, 6)
    assert cells["contract_fulfilment_rate"] == (Decimal("18.49"), Decimal("34.79"))


def test_institutions_and_townships_have_their_hand_values(county: dict[str, Any]):
    institutions = _values("institution")
    ct1, ct2, cv1 = (str(county[k].pk) for k in ("ct1", "ct2", "cv1"))
    assert _of(institutions, ct1) == {
        "htn_standard_management_rate": "50.00", "htn_control_rate": "50.00",
        "t2d_standard_management_rate": "100.00", "t2d_control_rate": "100.00",
        "contract_fulfilment_rate": "59.19"}
    assert _of(institutions, cv1) == {
        "htn_standard_management_rate": "0.00", "htn_control_rate": "100.00",
        "t2d_standard_management_rate": None, "t2d_control_rate": None}
    assert _of(institutions, ct2)["contract_fulfilment_rate"] == "19.20"
    assert _of(institutions, ct2)["t2d_control_rate"] == "0.00"
    townships = _values("township")
    assert _of(townships, f"{COUNTY}001") == {
        "htn_standard_management_rate": "33.33", "htn_control_rate": "66.67",
        "t2d_standard_management_rate": "100.00", "t2d_control_rate": "100.00",
        "contract_coverage_rate": "80.00", "priority_contract_coverage_rate": "100.00",
        "contract_fulfilment_rate": "59.19"}
    assert _of(townships, f"{COUNTY}002") == {
        "htn_standard_management_rate": "0.00", "htn_control_rate": "100.00",
        "t2d_standard_management_rate": "100.00", "t2d_control_rate": "0.00",
        "contract_coverage_rate": "0.00", "priority_contract_coverage_rate": "0.00",
        "contract_fulfilment_rate": "19.20"}
    assert "contract_coverage_rate" not in _of(institutions, ct1)  # residents' rate


def test_shorter_spans_are_the_year_to_date_with_follow_ups_due_pro_rata(
        county: dict[str, Any]):
    a = str(county["a"].pk)
    q2 = _of(_values("alliance", Q2, [a]), a)
    assert (q2["htn_standard_management_rate"], q2["htn_control_rate"]) == ("66.67", "100.00")
    assert (q2["contract_coverage_rate"], q2["priority_contract_coverage_rate"]) == (
        "62.50", "66.67")
    march = _of(_values("alliance", MARCH, [a]), a)
    assert (march["htn_standard_management_rate"], march["htn_control_rate"]) == (
        "100.00", "66.67")
    january = _of(_values("alliance", JANUARY, [a]), a)
    assert (january["htn_standard_management_rate"], january["htn_control_rate"]) == (
        "100.00", "0.00")
    ytd = _of(_values("alliance", Span.year_to_date(2025, 6), [a]), a)
    assert ytd["htn_standard_management_rate"] == q2["htn_standard_management_rate"]


def test_the_records_behind_a_cell_are_its_residents(county: dict[str, Any]):
    """The drill-down lists the residents of a management or coverage cell (the service
    lines of fulfilment are not listed)."""
    from tiercare.indicators.engine import drill

    a, r = str(county["a"].pk), county["r"]
    with snapshot.reader() as backend:
        controlled = drill.records(backend, "htn_control_rate", "numerator", "alliance", a,
                                   YEAR)
        managed = drill.records(backend, "htn_control_rate", "denominator", "alliance", a,
                                YEAR, limit=2)
        covered = drill.records(backend, "contract_coverage_rate", "numerator", "township",
                                f"{COUNTY}001", YEAR)
        with pytest.raises(drill.NotDrillable):
            drill.records(backend, "contract_fulfilment_rate", "numerator", "alliance", a, YEAR)
    assert controlled.columns == ("resident", "patient_id", "inst_id")
    assert [row[1] for row in controlled.rows] == sorted(r[n].pk for n in (2, 4, 6))
    assert (managed.total, len(managed.rows)) == (4, 2)
    assert {row[1] for row in covered.rows} == {r[n].pk for n in (1, 2, 3, 5)}


def test_the_standard_follows_the_alliance_policy(county: dict[str, Any]):
    a = county["a"]
    policy = ChronicPolicy.objects.create(alliance=a, standard_needs_annual_check=True)
    snapshot.refresh(full=True)
    values = _of(_values("alliance", orgs=[str(a.pk)]), str(a.pk))
    assert values["t2d_standard_management_rate"] == "50.00"  # R8 (65) had no check
    assert values["htn_standard_management_rate"] == "25.00"  # R2 (45): waived
    policy.standard_needs_annual_check = False
    policy.standard_follow_ups = 5
    policy.save()
    snapshot.refresh(full=True)
    values = _of(_values("alliance", orgs=[str(a.pk)]), str(a.pk))
    assert values["t2d_standard_management_rate"] == "0.00"
    assert values["htn_standard_management_rate"] == "0.00"
    assert values["htn_control_rate"] == "75.00"


def _per_contract(backend: Backend, span: Span) -> dict[int, tuple[Decimal, Decimal]]:
    rows = backend.rows(
        f"{chronic.relation_sql(chronic.FULFILMENT, [span])}SELECT contract_id, SUM(owed), "
        f"SUM(counted) FROM {chronic.FULFILMENT} GROUP BY contract_id")
    return {int(pk): (Decimal(owed) / 100, Decimal(counted) / 100)
            for pk, owed, counted in rows}


def _reference(contract: Contract, span: Span) -> tuple[Decimal, Decimal] | None:
    """``chronic.rules.fulfilment`` of ``chronic.services.delivered_counts`` over the days
    the contract covered in the span (the per-contract reference of the chronic app)."""
    first_day, last_day = span.days()
    epoch = dt.date(1970, 1, 1)
    first = max(contract.start_date, epoch + dt.timedelta(days=first_day))
    last = min(services.contract_last_day(contract), epoch + dt.timedelta(days=last_day))
    if last < first:
        return None
    lines = [rules.ServiceLine(s.code, s.yearly_count, s.delivered_by)
             for s in PackageService.objects.filter(package__contracts=contract).distinct()]
    result = rules.fulfilment(lines, services.delivered_counts(contract, first, last),
                              (last - first).days + 1)
    return result.owed, result.counted


def test_fulfilment_agrees_with_the_chronic_apps_reference_per_contract(
        county: dict[str, Any]):
    contracts = county["contracts"]
    spans = [YEAR, Q2, MARCH, Span.of(parse("2025-12")), Span.of(parse("2024")),
             Span.of(parse("2026-01"))]
    with snapshot.reader() as backend:
        for span in spans:
            engine = _per_contract(backend, span)
            expected = {c.pk: ref for c in contracts.values()
                        if (ref := _reference(c, span)) is not None}
            assert engine == expected, span.label
        year = _per_contract(backend, YEAR)
    # the hand table of the module docstring
    hand = {"C1": ("3.97", "3.47"), "C1'": ("4.03", "3.50"), "C2": ("5.87", "5.52"),
            "C3": ("10.97", "4.99"), "C3'": ("0.02", "0.01"), "C4": ("5.24", "1.00"),
            "C5": ("4.69", "0")}
    assert {name: (format(year[contracts[name].pk][0], "f"),
                   format(year[contracts[name].pk][1].normalize(), "f"))
            for name in hand} == {k: (v[0], format(Decimal(v[1]).normalize(), "f"))
                                  for k, v in hand.items()}
    # a contract wholly inside the span: the chronic app's fulfilment_of so far
    switched = contracts["C3"]
    so_far = services.fulfilment_of(switched, upto=dt.date(2025, 12, 31)).so_far
    assert year[switched.pk] == (so_far.owed, so_far.counted)


def test_team_rates_for_the_team_pages(county: dict[str, Any]):
    k1, k2 = county["k1"].pk, county["k2"].pk
    with snapshot.reader() as backend:
        rates = chronic.team_rates(backend, county["a"].pk, [YEAR])
    got = {(r.team_id, r.figure): (None if r.value is None else format(r.value, "f"))
           if r.figure != "contracted" else str(r.numerator) for r in rates}
    assert got == {
        (k1, "htn_standard_management_rate"): "33.33", (k1, "htn_control_rate"): "66.67",
        (k1, "t2d_standard_management_rate"): "100.00", (k1, "t2d_control_rate"): "100.00",
        (k1, "contract_fulfilment_rate"): "59.19", (k1, "contracted"): "3",
        (k2, "htn_standard_management_rate"): "0.00", (k2, "htn_control_rate"): "100.00",
        (k2, "t2d_standard_management_rate"): "100.00", (k2, "t2d_control_rate"): "0.00",
        (k2, "contract_fulfilment_rate"): "19.20", (k2, "contracted"): "1"}
    with snapshot.reader() as backend:
        only = chronic.team_rates(backend, county["a"].pk, [YEAR], team_ids=[k2])
    assert {r.team_id for r in only} == {k2}


def test_an_incremental_refresh_gives_what_a_full_refresh_gives(county: dict[str, Any],
                                                                 tmp_path: Path):
    """New follow-ups, a closed registration and a renewed contract reach the snapshot by an
    incremental refresh (rows changed since the last one), as a full refresh would."""
    from tests.indicators.engine_equivalence import differences

    an_hour_ago = timezone.now() - dt.timedelta(hours=1)
    for model in (Registration, FollowUp, Contract, ElderlyCheck):
        model.objects.update(updated_at=an_hour_ago)
    snapshot.refresh(full=True)
    r = county["r"]
    g6 = Registration.objects.get(patient=r[8])
    _follow_ups(g6, [("2025-12-20", FollowUp.Method.CLINIC, True)])  # R8 now controlled
    Registration.objects.filter(patient=r[1]).update(
        status=Registration.Status.CLOSED, closed_on=d("2025-03-31"), updated_at=timezone.now())
    c2 = county["contracts"]["C2"]
    Contract.objects.filter(pk=c2.pk).update(ended_on=d("2025-11-30"),
                                             status=Contract.Status.ENDED,
                                             end_reason=Contract.EndReason.TERMINATED,
                                             updated_at=timezone.now())
    report = snapshot.refresh()
    assert not report.full and report.rows["stg_followup"] == 1
    spans = [YEAR, Q2, MARCH]

    def cells(backend: Backend) -> dict[Any, Any]:
        out = {}
        for kind in ("alliance", "institution", "township"):
            for c in compute(backend, spans, kind, ids=CHRONIC):
                out[(c.indicator, kind, c.org, c.span)] = (c.numerator, c.denominator,
                                                           c.value)
        return out

    with snapshot.reader() as backend:
        incremental = cells(backend)
    scratch = tmp_path / "scratch.duckdb"
    snapshot.refresh(full=True, path=scratch)
    with snapshot.reader(scratch) as backend:
        full = cells(backend)
    assert differences(incremental, full) == []
    a = str(county["a"].pk)
    # R8's latest is now at target (2/2); R1's registration closed in March is still managed
    assert incremental[("t2d_control_rate", "alliance", a, YEAR)][2] == Decimal("100.00")
    assert incremental[("contract_coverage_rate", "alliance", a, YEAR)][0] == 3


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL pass of make test")
def test_the_same_cells_on_duckdb_and_postgresql(county: dict[str, Any]):
    from tests.indicators.engine_equivalence import catalogue_cells, differences
    from tiercare.indicators.engine import postgres

    with snapshot.reader() as duck:
        on_duckdb = catalogue_cells(duck)
        teams_duck = chronic.team_rates(duck, county["a"].pk, [YEAR, Q2])
    backend = postgres.build()
    assert differences(on_duckdb, catalogue_cells(backend)) == []
    assert chronic.team_rates(backend, county["a"].pk, [YEAR, Q2]) == teams_duck
