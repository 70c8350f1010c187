"""Golden test of the indicator engine (issue 5 "Golden tests"): a hand-built county whose
indicator values are worked out by hand below, checked for every catalogue indicator that
has data. All care happens in March 2025 (China Standard Time).

The county (临清市 371581, alliance A "LQ"; a second alliance B for 东昌府区 371502):

    institutions of A   H  county hospital (division 371581, the lead hospital)
                        T1 township centre 371581001, TCM service and TCM hall
                        T2 township centre 371581002, TCM service
                        V1 village clinic 371581001001, TCM service
                        V2 village clinic 371581002001, no TCM
    outside A           X  city hospital in 371502 (no alliance); T101 township centre of B
    residents of A      R1–R6 in township 371581001, R7–R10 in township 371581002
    resident of B       O1 (371502001001)

    encounters (total / drugs / consumables / examinations, yuan)
     1 V1 R1 outpatient   50 /  20 /  5 /  5       8 H R5 outpatient  300 / 100 / 20 /  80
     2 V1 R2 outpatient   60 /  30 /  0 / 10       9 H R9 outpatient  250 /  50 / 10 /  90
     3 V1 R3 outpatient   40 /  10 /  0 /  0      10 H O1 outpatient  200 /  80 /  0 /  40
     4 T1 R1 outpatient  100 /  40 / 10 / 20      11 H R6 emergency   500 / 150 / 50 / 200
     5 T1 R4 outpatient   80 /  30 /  0 / 20      12 H R2 inpatient  8000 / 3000 / 1000 / 2000
     6 T2 R7 outpatient   90 /  50 /  0 / 10      13 H R10 inpatient 6000 / 2000 /  500 / 1500
     7 T2 R8 outpatient   70 /  20 /  5 / 15      14 T1 R3 inpatient 1500 /  500 /  100 /  200

    settlements (fund paid)
     S1 R2  H  inpatient, names encounter 12          5000  → pays for 12
     S2 R10 H  inpatient, no reference, same day as 13 3000 → matched to 13 (key)
     S3 R3  T1 inpatient, names encounter 14           800  → pays for 14
     S4 R6  T2 inpatient in county, no encounter       700  → its own care event
     S5 R4  X  inpatient out of county (15 March)     6000  → own event, managed (F1)
     S6 R8  X  inpatient out of county                4000  → own event
     S7 R9  X  outpatient out of county                100  → own event

    referrals
     F1 R4 out-of-county H→X, approved 5 March (10 days before S5); never answered
     F2 R2 up   T1→H  submitted 1 Mar 08:00, answered 10:00 (2 h), arrived
     F3 R10 up  V2→H  submitted 2 Mar 08:00, answered 14:00 (6 h), arrived; catalogue warned
     F4 R5 up   V1→H  submitted 3 Mar 08:00, rejected 12:00 (4 h)
     F5 R2 down H→T1  submitted 10 Mar 08:00, answered 09:00 (1 h), arrived 11 March

    practitioners: T1 attending GP, T2 resident GP, V1 village doctor, H chief (posted to T1
    from 1 Jan 2025, open), H attending (posted to T2 from 10 Mar to 31 Dec 2025); B: a GP.

Hand counts for A, March 2025 (and for 2025 and 2025Q1: the same, nothing else happened):

* care events of A's residents: encounters 1–9, 11–14 (13, all in county) + S4–S7 (4)
  = 17; in county: 13 + S4 = 14 → in_county_visit_rate 14/17 = 82.35 %.
* admissions: 12, 13, 14, S4, S5, S6 = 6; in county 12, 13, 14, S4 = 4 → 66.67 %;
  out of county S5, S6 = 2 (out_of_county_admissions 2); managed S5 → 1/2 = 50.00 %.
* fund of A's residents: 5000 + 3000 + 800 + 700 + 6000 + 4000 + 100 = 19,600; in county
  5000 + 3000 + 800 + 700 = 9,500 → in_county_fund_share 48.47 %.
* visits at A's institutions (encounters 1–11, O1's included) = 11; at primary care (V1, T1,
  T2: 1–7) = 7 → primary_care_visit_share 63.64 %.
* revenue of A's institutions (encounters 1–14) 17,240; drugs 6,080 → drug_share 35.27 %;
  consumables 1,700, examinations 4,190 → service revenue 5,270 → 30.57 %.
* cost per visit 1,740 / 11 = 158.18; per admission (12–14) 15,500 / 3 = 5,166.67.
* fund at A's institutions 9,500; at primary care (14: 800, S4: 700) 1,500 → 15.79 %.
* referrals sent from A that arrived: up F2, F3 = 2; down F5 = 1 → ratio 0.50; warned
  F3 → avoidable_up_referral_share 1/2 = 50.00 %. Growth against March 2024 (none): no
  value.
* response hours of answered referrals received in A: 2, 6, 4, 1 → median 3.00.
* general practitioners in A 2, residents 10 → gp_per_10k 2,000.00; township centres 2,
  with TCM 2 (100.00 %), with a TCM hall 1 (50.00 %); village clinics 2, with TCM 1
  (50.00 %).
* stationed physicians, March: T1 covered (chief, posted since January), T2 not (posting
  starts 10 March) → 50.00 %; 2025Q2: both → 100.00 %.

Alliance B: O1's one care event was at H, outside B's county → in_county_visit_rate 0.00 %.
Townships of residence: 371581001 (R1–R6): 11 events, 10 in county → 90.91 %;
371581002 (R7–R10): 6 events, 4 in county → 66.67 %. Institutions: V1's
primary_care_visit_share 100.00 %, H's 0.00 %.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from tests.web.factories import COUNTY, OTHER_COUNTY, make_patient
from tiercare.encounters.models import Encounter, Settlement
from tiercare.indicators.engine import DEFINITIONS, Span, compute, snapshot
from tiercare.indicators.engine.definitions import SOURCE_TABLES
from tiercare.kernel.periods import parse
from tiercare.patients.models import Patient
from tiercare.referrals.models import Referral
from tiercare.registry.models import Alliance, Institution, Level, Posting, Practitioner

CST = dt.timezone(dt.timedelta(hours=8))
MARCH = Span.of(parse("2025-03"))


def at(day: int, hour: int = 9, month: int = 3) -> dt.datetime:
    return dt.datetime(2025, month, day, hour, tzinfo=CST)


def _institution(code: str, level: str, kind: str, division: str, alliance: Alliance | None,
                 services: list[str] | None = None) -> Institution:
    return Institution.objects.create(code=code, name=code, level=level, kind=kind,
                                      alliance=alliance, division_code=division,
                                      services=services or [])


def _encounter(n: int, patient: Patient, institution: Institution, klass: str,
               costs: tuple[int, int, int, int], day: int = 12) -> Encounter:
    total, drugs, consumables, examinations = (Decimal(v) for v in costs)
    return Encounter.objects.create(
        patient=patient, institution=institution, encounter_class=klass, start=at(day),
        primary_diagnosis="I10", total=total, drugs=drugs, consumables=consumables,
        examinations=examinations, services=total - drugs - consumables - examinations,
        source_system="golden", source_id=f"e{n}")


def _settlement(n: int, patient: Patient, institution: Institution, klass: str, fund: int,
                *, in_county: bool, encounter: Encounter | None = None,
                day: int = 12) -> Settlement:
    return Settlement.objects.create(
        patient=patient, scheme="resident", in_county=in_county, institution=institution,
        institution_name=institution.name, institution_level=institution.level,
        division_code=institution.division_code, encounter_class=klass,
        start_date=dt.date(2025, 3, day), diagnosis="C34.9", total=Decimal(fund * 2),
        fund_paid=Decimal(fund), self_paid=Decimal(fund), encounter=encounter,
        source_system="golden", source_id=f"s{n}")


def _referral(patient: Patient, direction: str, status: str, sender: Institution,
              receiver: Institution, *, submitted: dt.datetime | None = None,
              answered: dt.datetime | None = None, arrived: dt.datetime | None = None,
              approved: dt.datetime | None = None, warning: str = "") -> Referral:
    return Referral.objects.create(
        patient=patient, direction=direction, status=status, sending_institution=sender,
        receiving_institution=receiver, diagnosis="I10", reason="golden",
        catalogue_warning=warning, submitted_at=submitted, responded_at=answered,
        arrived_at=arrived, approved_at=approved)


def build_county() -> dict[str, Any]:
    a = Alliance.objects.create(code="LQ", name="临清市医共体",
                                kind=Alliance.Kind.COUNTY_COMMUNITY, county_code=COUNTY)
    b = Alliance.objects.create(code="DC", name="东昌府区医共体",
                                kind=Alliance.Kind.COUNTY_COMMUNITY, county_code=OTHER_COUNTY)
    h = _institution("H", Level.COUNTY, Institution.Kind.GENERAL_HOSPITAL, COUNTY, a)
    a.lead = h
    a.save()
    t1 = _institution("T1", Level.TOWNSHIP, Institution.Kind.TOWNSHIP_CENTRE,
                      f"{COUNTY}001", a, ["tcm", "tcm_hall"])
    t2 = _institution("T2", Level.TOWNSHIP, Institution.Kind.TOWNSHIP_CENTRE,
                      f"{COUNTY}002", a, ["tcm"])
    v1 = _institution("V1", Level.VILLAGE, Institution.Kind.VILLAGE_CLINIC,
                      f"{COUNTY}001001", a, ["tcm"])
    v2 = _institution("V2", Level.VILLAGE, Institution.Kind.VILLAGE_CLINIC,
                      f"{COUNTY}002001", a)
    x = _institution("X", Level.CITY, Institution.Kind.GENERAL_HOSPITAL, OTHER_COUNTY, None)
    t101 = _institution("T101", Level.TOWNSHIP, Institution.Kind.TOWNSHIP_CENTRE,
                        f"{OTHER_COUNTY}001", b)
    r = {n: make_patient(f"居民{n}", f"{COUNTY}001001" if n <= 6 else f"{COUNTY}002001")
         for n in range(1, 11)}
    o1 = make_patient("外县居民", f"{OTHER_COUNTY}001001")
    for n, (inst, patient, klass, costs) in enumerate([
            (v1, r[1], "outpatient", (50, 20, 5, 5)), (v1, r[2], "outpatient", (60, 30, 0, 10)),
            (v1, r[3], "outpatient", (40, 10, 0, 0)), (t1, r[1], "outpatient", (100, 40, 10, 20)),
            (t1, r[4], "outpatient", (80, 30, 0, 20)), (t2, r[7], "outpatient", (90, 50, 0, 10)),
            (t2, r[8], "outpatient", (70, 20, 5, 15)), (h, r[5], "outpatient", (300, 100, 20, 80)),
            (h, r[9], "outpatient", (250, 50, 10, 90)), (h, o1, "outpatient", (200, 80, 0, 40)),
            (h, r[6], "emergency", (500, 150, 50, 200))], start=1):
        _encounter(n, patient, inst, klass, costs)
    e12 = _encounter(12, r[2], h, "inpatient", (8000, 3000, 1000, 2000))
    _encounter(13, r[10], h, "inpatient", (6000, 2000, 500, 1500), day=20)
    e14 = _encounter(14, r[3], t1, "inpatient", (1500, 500, 100, 200))
    _settlement(1, r[2], h, "inpatient", 5000, in_county=True, encounter=e12)
    _settlement(2, r[10], h, "inpatient", 3000, in_county=True, day=20)
    _settlement(3, r[3], t1, "inpatient", 800, in_county=True, encounter=e14)
    _settlement(4, r[6], t2, "inpatient", 700, in_county=True)
    _settlement(5, r[4], x, "inpatient", 6000, in_county=False, day=15)
    _settlement(6, r[8], x, "inpatient", 4000, in_county=False)
    _settlement(7, r[9], x, "outpatient", 100, in_county=False)
    _referral(r[4], "out_of_county", Referral.Status.SUBMITTED, h, x, submitted=at(4),
              approved=at(5))
    _referral(r[2], "up", Referral.Status.ARRIVED, t1, h, submitted=at(1, 8),
              answered=at(1, 10), arrived=at(1, 12))
    _referral(r[10], "up", Referral.Status.ARRIVED, v2, h, submitted=at(2, 8),
              answered=at(2, 14), arrived=at(2, 16), warning="I10 为村卫生室可诊治的病种")
    _referral(r[5], "up", Referral.Status.REJECTED, v1, h, submitted=at(3, 8),
              answered=at(3, 12))
    _referral(r[2], "down", Referral.Status.ARRIVED, h, t1, submitted=at(10, 8),
              answered=at(10, 9), arrived=at(11, 9))
    Practitioner.objects.create(code="P1", name="甲", sex="1", institution=t1,
                                title=Practitioner.Title.ATTENDING, is_general_practitioner=True)
    Practitioner.objects.create(code="P2", name="乙", sex="1", institution=t2,
                                title=Practitioner.Title.RESIDENT, is_general_practitioner=True)
    Practitioner.objects.create(code="P3", name="丙", sex="1", institution=v1,
                                title=Practitioner.Title.VILLAGE_DOCTOR)
    chief = Practitioner.objects.create(code="P4", name="丁", sex="1", institution=h,
                                        title=Practitioner.Title.CHIEF)
    attending = Practitioner.objects.create(code="P5", name="戊", sex="1", institution=h,
                                            title=Practitioner.Title.ATTENDING)
    Practitioner.objects.create(code="P6", name="己", sex="1", institution=t101,
                                title=Practitioner.Title.ATTENDING, is_general_practitioner=True)
    Posting.objects.create(practitioner=chief, institution=t1, start_date=dt.date(2025, 1, 1))
    Posting.objects.create(practitioner=attending, institution=t2,
                           start_date=dt.date(2025, 3, 10), end_date=dt.date(2025, 12, 31))
    return {"a": a, "b": b, "h": h, "v1": v1}


#: The hand values of alliance A in March 2025 (module docstring).
EXPECTED_A: dict[str, str | None] = {
    "in_county_visit_rate": "82.35",
    "in_county_inpatient_rate": "66.67",
    "primary_care_visit_share": "63.64",
    "out_of_county_admissions": "2",
    "managed_outflow_share": "50.00",
    "up_referrals": "2",
    "down_referrals": "1",
    "down_up_ratio": "0.50",
    "down_referral_growth": None,
    "referral_response_hours": "3.00",
    "avoidable_up_referral_share": "50.00",
    "gp_per_10k": "2000.00",
    "tcm_township_share": "100.00",
    "tcm_village_share": "50.00",
    "tcm_hall_share": "50.00",
    "stationed_physician_coverage": "50.00",
    "drug_share": "35.27",
    "service_revenue_share": "30.57",
    "cost_per_visit": "158.18",
    "cost_per_admission": "5166.67",
    "cost_per_visit_growth": None,
    "cost_per_admission_growth": None,
    "in_county_fund_share": "48.47",
    "primary_fund_share": "15.79",
    # no family-doctor contracts: 0 of 10 residents, all 10 in a priority group (born 1958,
    # 66 on 31 March 2025); no registrations or contracts: nobody under management, nothing
    # owed (tests/golden/test_chronic_indicators_golden.py)
    "contract_coverage_rate": "0.00",
    "priority_contract_coverage_rate": "0.00",
    "htn_standard_management_rate": None,
    "htn_control_rate": None,
    "t2d_standard_management_rate": None,
    "t2d_control_rate": None,
    "contract_fulfilment_rate": None,
}


@pytest.fixture
def county(db: Any, settings: Any, tmp_path: Path) -> dict[str, Any]:
    settings.DATA_DIR = tmp_path
    world = build_county()
    snapshot.refresh(full=True)
    return world


def _values(kind: str, span: Span = MARCH, orgs: list[str] | None = None
            ) -> dict[tuple[str, str], Decimal | None]:
    with snapshot.reader() as backend:
        return {(c.indicator, c.org): c.value
                for c in compute(backend, [span], kind, orgs=orgs)}


def test_every_indicator_with_data_has_its_hand_value_for_the_alliance(county: dict[str, Any]):
    values = _values("alliance", orgs=[str(county["a"].pk)])
    got = {indicator: (None if value is None else format(value, "f"))
           for (indicator, _org), value in values.items()}
    assert got == EXPECTED_A


def test_longer_periods_are_sums_of_their_months(county: dict[str, Any]):
    a = str(county["a"].pk)
    for period in ("2025", "2025Q1"):
        values = _values("alliance", Span.of(parse(period)), orgs=[a])
        assert values[("in_county_visit_rate", a)] == Decimal("82.35")
        assert values[("out_of_county_admissions", a)] == 2
    assert _values("alliance", Span.of(parse("2025Q2")), orgs=[a])[
        ("stationed_physician_coverage", a)] == Decimal("100.00")


def test_other_org_units_have_their_hand_values(county: dict[str, Any]):
    assert _values("alliance", orgs=[str(county["b"].pk)])[
        ("in_county_visit_rate", str(county["b"].pk))] == Decimal("0.00")
    townships = _values("township")
    assert townships[("in_county_visit_rate", f"{COUNTY}001")] == Decimal("90.91")
    assert townships[("in_county_visit_rate", f"{COUNTY}002")] == Decimal("66.67")
    institutions = _values("institution")
    assert institutions[("primary_care_visit_share", str(county["v1"].pk))] == Decimal("100.00")
    assert institutions[("primary_care_visit_share", str(county["h"].pk))] == Decimal("0.00")


def test_an_incremental_refresh_sees_new_care(county: dict[str, Any]):
    """A new out-of-county admission of R1 in March raises the count from 2 to 3 after an
    incremental refresh (only the changed rows are copied)."""
    a = county["a"]
    an_hour_ago = timezone.now() - dt.timedelta(hours=1)
    for model in (Settlement, Encounter, Patient, Referral):
        model.objects.update(updated_at=an_hour_ago)  # stored well before the refresh
    snapshot.refresh(full=True)
    r1 = Patient.objects.get(name="居民1")
    x = Institution.objects.get(code="X")
    _settlement(8, r1, x, "inpatient", 900, in_county=False)
    report = snapshot.refresh()
    assert not report.full
    assert report.rows["stg_settlement"] == 1
    assert _values("alliance", orgs=[str(a.pk)])[("out_of_county_admissions", str(a.pk))] == 3


def test_an_indicator_whose_source_tables_exist_has_a_computation(db: Any):
    """Issue 5 item 1: indicators whose data exist compute now; the others are declared."""
    from tiercare.indicators.catalogue import load_catalogue

    tables = set(connection.introspection.table_names())
    missing = [i.id for i in load_catalogue().indicators
               if all(t in tables for fact in i.facts for t in SOURCE_TABLES[fact])
               and i.id not in DEFINITIONS]
    assert missing == []
    assert set(DEFINITIONS) <= {i.id for i in load_catalogue().indicators}


def test_when_nothing_was_ever_refreshed_the_reader_says_so(settings: Any, tmp_path: Path):
    settings.DATA_DIR = tmp_path
    with pytest.raises(FileNotFoundError), snapshot.reader():
        pass


def test_a_period_boundary_is_china_standard_time(db: Any, settings: Any, tmp_path: Path):
    """An encounter at 23:30 on 31 March CST (15:30 UTC) belongs to March, one at 00:30 on
    1 April CST (16:30 UTC on 31 March) to April."""
    settings.DATA_DIR = tmp_path
    world = build_county()
    h, r1 = world["h"], Patient.objects.get(name="居民1")
    for n, moment in ((90, dt.datetime(2025, 3, 31, 23, 30, tzinfo=CST)),
                      (91, dt.datetime(2025, 4, 1, 0, 30, tzinfo=CST))):
        Encounter.objects.create(patient=r1, institution=h, encounter_class="outpatient",
                                 start=moment.astimezone(timezone.get_current_timezone()),
                                 primary_diagnosis="I10", source_system="golden",
                                 source_id=f"e{n}")
    snapshot.refresh(full=True)
    a = str(world["a"].pk)
    march = _values("alliance", MARCH, orgs=[a])
    april = _values("alliance", Span.of(parse("2025-04")), orgs=[a])
    # March: 17 + 1 care events, all of the new one in county (15/18)
    assert march[("in_county_visit_rate", a)] == Decimal("83.33")
    assert april[("in_county_visit_rate", a)] == Decimal("100.00")


def test_an_incremental_refresh_gives_what_a_full_refresh_gives(county: dict[str, Any],
                                                                 tmp_path: Path):
    """After new care, a changed settlement and a new referral, the incrementally refreshed
    snapshot holds the same cells as one built from scratch."""
    from tests.indicators.engine_equivalence import catalogue_cells, differences

    an_hour_ago = timezone.now() - dt.timedelta(hours=1)
    for model in (Settlement, Encounter, Patient, Referral):
        model.objects.update(updated_at=an_hour_ago)
    snapshot.refresh(full=True)
    r4, h = Patient.objects.get(name="居民4"), county["h"]
    new = _encounter(40, r4, h, "inpatient", (3000, 1000, 100, 400), day=25)
    _settlement(41, r4, h, "inpatient", 1200, in_county=True, day=25)  # matches ``new``
    Settlement.objects.filter(source_id="s2").update(fund_paid=Decimal("2500"),
                                                     self_paid=Decimal("3500"),
                                                     updated_at=timezone.now())
    _referral(r4, "up", Referral.Status.ARRIVED, county["v1"], h, submitted=at(24, 8),
              answered=at(24, 9), arrived=at(25, 8))
    assert new.pk
    assert not snapshot.refresh().full
    with snapshot.reader() as backend:
        incremental = catalogue_cells(backend)
    scratch = tmp_path / "scratch.duckdb"
    snapshot.refresh(full=True, path=scratch)
    with snapshot.reader(scratch) as backend:
        full = catalogue_cells(backend)
    assert differences(incremental, full) == []
    a = str(county["a"].pk)
    march = {(k[0], k[2], k[3]): v[2] for k, v in incremental.items() if k[1] == "alliance"}
    # fund in county 9,500 − 500 (S2) + 1,200 (new) = 10,200 of 19,600 − 500 + 1,200 = 20,300
    assert march[("in_county_fund_share", a, MARCH)] == Decimal("50.25")


@pytest.mark.django_db(transaction=True)
def test_the_sqlite_shell_copies_in_parts_what_the_connection_would(
        settings: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Outside a transaction, SQLite's tables are copied by its command-line shell, big ones
    in parallel id ranges (here forced to parts of 5 rows); the values are the same."""
    if connection.vendor != "sqlite" or not snapshot.shutil.which("sqlite3"):
        pytest.skip("the SQLite shell path")
    settings.DATA_DIR = tmp_path
    monkeypatch.setattr(snapshot, "PART_ROWS", 5)
    county = build_county()
    assert snapshot._sqlite_shell() is not None
    report = snapshot.refresh(full=True)
    assert report.rows["stg_encounter"] == 14 and report.rows["stg_resident"] == 11
    values = _values("alliance", orgs=[str(county["a"].pk)])
    assert {i: (None if v is None else format(v, "f"))
            for (i, _o), v in values.items()} == EXPECTED_A


def test_a_damaged_or_outdated_snapshot_reads_as_none_and_a_refresh_rebuilds_it(
        county: dict[str, Any]):
    """A snapshot built with other tables (an older version) or not a DuckDB file at all
    is "no snapshot yet" for the pages (never a 500), and the next refresh is a full one."""
    import duckdb

    path = snapshot.snapshot_path()
    with duckdb.connect(str(path)) as db:  # as an older version would have left it
        db.execute("UPDATE snapshot_state SET value = 'older' WHERE key = 'layout'")
    with pytest.raises(snapshot.SnapshotUnavailable), snapshot.reader():
        pass
    assert snapshot.state() == {}
    assert snapshot.refresh().full
    assert _values("alliance", orgs=[str(county["a"].pk)])[
        ("out_of_county_admissions", str(county["a"].pk))] == 2
    path.write_bytes(b"not a database")
    with pytest.raises(snapshot.SnapshotUnavailable), snapshot.reader():
        pass
    assert snapshot.refresh().full
