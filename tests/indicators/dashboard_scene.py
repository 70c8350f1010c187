"""The county of the dashboard tests: ``tests.web.factories.make_world`` (alliance LQ-YGT of
临清市 371581 with a county hospital, the township centre of 城关镇 and the village clinic of
王家村; alliance DC-YGT of 东昌府区; the city hospital outside both; one user per role) plus
the care of 2025 below, whose values are worked out by hand. ``make_world``'s own records
lie days before today (2026 and later), outside 2025.

Residents of LQ: 张三 (``world.patient``) and 李四 in 城关镇 371581001, 王五 in 石桥乡
371581002. Care in 2025 (CST):

    E1  张三  village clinic   outpatient  10 Jul      E5 赵四 (DC) township of DC  1 Jul
    E2  李四  township centre  outpatient  15 Jul      E6 张三  township centre  outpatient 5 May
    E3  王五  county hospital  outpatient   5 Aug
    E4  李四  county hospital  inpatient   20 Aug
    S1  王五  city hospital    inpatient    3 Sep  out of county, fund 6,000 (own event)
    S2  张三  city hospital    outpatient  10 Sep  out of county, fund 100 (own event)

    referrals (all arrived): 李四 up township → county 1 Aug; 李四 down county → township
    25 Aug; 王五 out of county, county → city, approved 1 Sep, arrived 2 Sep (so S1, two
    days later, is a managed outflow).

Hand values for LQ, 2025Q3 (July–September):

* care events of LQ's residents E1–E4, S1, S2 = 6, in county E1–E4 = 4 →
  in_county_visit_rate 66.67 %; by township of residence: 城关镇 E1, E2, E4, S2 → 3/4 =
  75.00 %, 石桥乡 E3, S1 → 1/2 = 50.00 %.
* admissions E4, S1 = 2, in county E4 → in_county_inpatient_rate 50.00 %;
  out_of_county_admissions 1 (S1), managed 1/1 → managed_outflow_share 100.00 %.
* visits at LQ's institutions E1, E2, E3 = 3, at primary care E1, E2 → 66.67 %; by
  institution: village clinic 1/1, township centre 1/1 (100.00 %), county hospital 0/1.
* referrals sent from LQ that arrived: up 1, down 1 (and one out of county).

For 2025 as a whole add E6: 7 events, 5 in county → 71.43 %. Month by month:
2025-05 100.00 %, 2025-07 100.00 % (E1, E2), 2025-08 100.00 % (E3, E4), 2025-09 0.00 %.

Under the Guangdong 2025 pack: in-county visit rate ≥ 90 % (national) → missed;
primary-care visit share ≥ 65 % → met; in-county inpatient rate ≈ 85 % ± 2 → missed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.web.factories import COUNTY, World, make_patient, make_world
from tiercare.encounters.models import Encounter, Settlement
from tiercare.indicators import services
from tiercare.indicators.engine import snapshot
from tiercare.patients.models import Patient
from tiercare.referrals.models import Referral
from tiercare.registry.models import Division, Institution

CST = dt.timezone(dt.timedelta(hours=8))
Q3 = "2025Q3"


def at(month: int, day: int, hour: int = 9) -> dt.datetime:
    return dt.datetime(2025, month, day, hour, tzinfo=CST)


@dataclass
class Scene:
    world: World
    lisi: Patient
    wangwu: Patient
    s1: Settlement


def encounter(n: int, patient: Patient, institution: Institution, klass: str,
              when: dt.datetime, total: int = 100) -> Encounter:
    amount = Decimal(total)
    return Encounter.objects.create(
        patient=patient, institution=institution, encounter_class=klass, start=when,
        end=when + dt.timedelta(hours=1), primary_diagnosis="I10", total=amount,
        drugs=amount * Decimal("0.4"), services=amount * Decimal("0.6"),
        source_system="dash", source_id=f"e{n}")


def settlement(n: int, patient: Patient, institution: Institution, klass: str, fund: int,
               day: dt.date) -> Settlement:
    return Settlement.objects.create(
        patient=patient, scheme="resident", in_county=False, institution=institution,
        institution_name=institution.name, institution_level=institution.level,
        division_code=institution.division_code, encounter_class=klass, start_date=day,
        diagnosis="C34.9", total=Decimal(fund * 2), fund_paid=Decimal(fund),
        self_paid=Decimal(fund), source_system="dash", source_id=f"s{n}")


def referral(patient: Patient, direction: str, sender: Institution, receiver: Institution,
             arrived: dt.datetime, approved: dt.datetime | None = None) -> Referral:
    return Referral.objects.create(
        patient=patient, direction=direction, status=Referral.Status.ARRIVED,
        sending_institution=sender, receiving_institution=receiver, diagnosis="I10",
        reason="dashboard test", submitted_at=arrived - dt.timedelta(days=1),
        responded_at=arrived - dt.timedelta(hours=20), arrived_at=arrived,
        approved_at=approved)


def build() -> Scene:
    """``make_world`` plus the care of 2025 of the module docstring; LQ follows the
    Guangdong 2025 pack."""
    world = make_world()
    town2 = Division.objects.get(code=f"{COUNTY}002")
    Division.objects.create(code=f"{COUNTY}002001", name="石桥村", kind=Division.Kind.VILLAGE,
                            parent=town2)
    lisi = make_patient("李四", f"{COUNTY}001001", phone="13800002222")
    wangwu = make_patient("王五", f"{COUNTY}002001", phone="13800003333")
    zhangsan = world.patient
    encounter(1, zhangsan, world.village, "outpatient", at(7, 10))
    encounter(2, lisi, world.township, "outpatient", at(7, 15))
    encounter(3, wangwu, world.county_hospital, "outpatient", at(8, 5))
    encounter(4, lisi, world.county_hospital, "inpatient", at(8, 20), total=8000)
    encounter(5, world.stranger, world.other_township, "outpatient", at(7, 1))
    encounter(6, zhangsan, world.township, "outpatient", at(5, 5))
    s1 = settlement(1, wangwu, world.city_hospital, "inpatient", 6000, dt.date(2025, 9, 3))
    settlement(2, zhangsan, world.city_hospital, "outpatient", 100, dt.date(2025, 9, 10))
    referral(lisi, "up", world.township, world.county_hospital, at(8, 1))
    referral(lisi, "down", world.county_hospital, world.township, at(8, 25))
    referral(wangwu, "out_of_county", world.county_hospital, world.city_hospital, at(9, 2),
             approved=at(9, 1))
    services.choose_pack(world.alliance, "guangdong_2025")
    return Scene(world, lisi, wangwu, s1)


@pytest.fixture(name="scene")
def scene_fixture(db: Any, settings: Any, tmp_path: Path) -> Scene:
    """The county of this module with its snapshot refreshed (``DATA_DIR`` in a temporary
    directory)."""
    settings.DATA_DIR = tmp_path
    built = build()
    snapshot.refresh(full=True)
    return built
