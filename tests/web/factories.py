"""Small factories for the web, accounts and e2e tests: one county with two alliances, a
county hospital, a township health centre, a village clinic, an out-of-county city hospital,
one user per role and residents with encounters at the three levels (rules.md §1)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import count

from django.utils import timezone

from tiercare.accounts.models import Role, User
from tiercare.accounts.services import DEMO_PASSWORD, create_user
from tiercare.encounters.models import Diagnosis, Encounter, Settlement
from tiercare.kernel import idnumber, names
from tiercare.patients.models import Patient
from tiercare.registry.models import (
    Alliance,
    Department,
    Division,
    Grid,
    Institution,
    Level,
    Posting,
    Practitioner,
)

COUNTY = "371581"  # 山东省 聊城市 临清市, present in the kernel's GB/T 2260 table
OTHER_COUNTY = "371502"  # 东昌府区: a second county with its own alliance
PASSWORD = DEMO_PASSWORD

_serial = count(1)


def _division(code: str, name: str, kind: str, parent: Division | None = None) -> Division:
    return Division.objects.get_or_create(code=code, defaults={"name": name, "kind": kind,
                                                               "parent": parent})[0]


def make_patient(name: str, village_code: str, *, birth: dt.date = dt.date(1958, 6, 1),
                 sex: str = "1", phone: str = "13812345678") -> Patient:
    """A resident with a valid ID number (GB 11643) consistent with birth date and sex."""
    n = next(_serial)
    sequence = 2 * (n % 499) + (1 if sex == "1" else 2)  # odd sequence ⇒ male (GB 11643)
    initials = names.initials(name)
    return Patient.objects.create(
        health_record_no=f"{village_code}{n:05d}", name=name,
        name_initials=initials[0], name_initials_alt=initials[1] if len(initials) > 1 else "",
        sex=sex, birth_date=birth,
        id_number=idnumber.make(village_code[:6], birth, sequence),
        phone=phone, address_code=village_code, insured_county=village_code[:6],
    )


def make_encounter(patient: Patient, institution: Institution, *, days_ago: int,
                   diagnosis: str = "I10", secondary: tuple[str, ...] = (),
                   encounter_class: str = "outpatient",
                   practitioner: Practitioner | None = None,
                   total: Decimal = Decimal("100.00")) -> Encounter:
    start = timezone.now() - dt.timedelta(days=days_ago)
    drugs = (total * Decimal("0.4")).quantize(Decimal("0.01"))
    encounter = Encounter.objects.create(
        patient=patient, institution=institution, encounter_class=encounter_class,
        department=institution.departments.first(), practitioner=practitioner,
        start=start, end=start + dt.timedelta(hours=1), primary_diagnosis=diagnosis,
        total=total, drugs=drugs, services=total - drugs,
        insurance_paid=(total / 2).quantize(Decimal("0.01")),
        source_system="test", source_id=f"e{next(_serial)}",
    )
    for rank, code in enumerate(secondary, start=1):
        Diagnosis.objects.create(encounter=encounter, rank=rank, code=code)
    return encounter


@dataclass
class World:
    alliance: Alliance
    other_alliance: Alliance
    county_hospital: Institution
    township: Institution
    village: Institution
    city_hospital: Institution
    other_township: Institution
    doctor_practitioner: Practitioner
    patient: Patient
    stranger: Patient
    users: dict[str, User] = field(default_factory=dict)

    def user(self, role: str) -> User:
        return self.users[role]


def make_world() -> World:
    """The county of the tests. ``patient`` (张三, pinyin ``zs``) lives in the alliance's grid
    and has encounters at village, township and county level plus one settlement outside the
    county; ``stranger`` lives in the other county's alliance and has no care relationship
    with the first alliance."""
    county = _division(COUNTY, "临清市", Division.Kind.COUNTY)
    town1 = _division(f"{COUNTY}001", "城关镇", Division.Kind.TOWNSHIP, county)
    town2 = _division(f"{COUNTY}002", "石桥乡", Division.Kind.TOWNSHIP, county)
    village1 = _division(f"{COUNTY}001001", "王家村", Division.Kind.VILLAGE, town1)
    other_county = _division(OTHER_COUNTY, "东昌府区", Division.Kind.COUNTY)
    other_town = _division(f"{OTHER_COUNTY}001", "柳园镇", Division.Kind.TOWNSHIP, other_county)
    other_village = _division(f"{OTHER_COUNTY}001001", "李庄村", Division.Kind.VILLAGE,
                              other_town)

    alliance = Alliance.objects.create(code="LQ-YGT", name="临清市人民医院医共体",
                                       kind=Alliance.Kind.COUNTY_COMMUNITY, county_code=COUNTY)
    other = Alliance.objects.create(code="DC-YGT", name="东昌府区医共体",
                                    kind=Alliance.Kind.COUNTY_COMMUNITY,
                                    county_code=OTHER_COUNTY)
    Grid.objects.create(alliance=alliance, division=town1)
    Grid.objects.create(alliance=alliance, division=town2)
    Grid.objects.create(alliance=other, division=other_town)

    county_hospital = Institution.objects.create(
        code="H001", name="临清市人民医院", level=Level.COUNTY,
        kind=Institution.Kind.GENERAL_HOSPITAL, alliance=alliance, division_code=COUNTY,
        beds=600, services=["emergency", "inpatient", "imaging"])
    alliance.lead = county_hospital
    alliance.save()
    township = Institution.objects.create(
        code="T001", name="城关镇卫生院", level=Level.TOWNSHIP,
        kind=Institution.Kind.TOWNSHIP_CENTRE, alliance=alliance, division_code=town1.code,
        beds=40, services=["tcm_hall"])
    village = Institution.objects.create(
        code="V001", name="王家村卫生室", level=Level.VILLAGE,
        kind=Institution.Kind.VILLAGE_CLINIC, alliance=alliance, parent=township,
        division_code=village1.code)
    city_hospital = Institution.objects.create(
        code="C001", name="聊城市人民医院", level=Level.CITY,
        kind=Institution.Kind.GENERAL_HOSPITAL, division_code=OTHER_COUNTY, beds=2000)
    other_township = Institution.objects.create(
        code="T101", name="柳园镇卫生院", level=Level.TOWNSHIP,
        kind=Institution.Kind.TOWNSHIP_CENTRE, alliance=other, division_code=other_town.code)
    for inst, dept in ((county_hospital, "心内科"), (township, "全科"), (village, "全科"),
                       (other_township, "全科")):
        Department.objects.create(institution=inst, code="D1", name=dept)

    doctor_p = Practitioner.objects.create(
        code="P-T001-1", name="李医生", sex="1", title=Practitioner.Title.ATTENDING,
        is_general_practitioner=True, institution=township,
        department=township.departments.first())
    Practitioner.objects.create(code="P-T001-2", name="王护士", sex="2",
                                title=Practitioner.Title.NURSE, institution=township)
    Practitioner.objects.create(code="P-V001-1", name="赵村医", sex="1",
                                title=Practitioner.Title.VILLAGE_DOCTOR, institution=village)
    cardiologist = Practitioner.objects.create(
        code="P-H001-1", name="陈主任", sex="1", title=Practitioner.Title.CHIEF,
        institution=county_hospital, department=county_hospital.departments.first())
    Practitioner.objects.create(code="P-H001-2", name="孙药师", sex="2",
                                title=Practitioner.Title.PHARMACIST, institution=county_hospital)
    Posting.objects.create(practitioner=cardiologist, institution=township,
                           start_date=timezone.localdate() - dt.timedelta(days=30))

    patient = make_patient("张三", village1.code)
    stranger = make_patient("赵四", other_village.code, phone="13900001111")
    make_encounter(patient, village, days_ago=40, diagnosis="J06.9")
    make_encounter(patient, township, days_ago=30, diagnosis="I10", secondary=("E11.9",),
                   practitioner=doctor_p)
    make_encounter(patient, county_hospital, days_ago=20, diagnosis="I63.9",
                   encounter_class="inpatient", practitioner=cardiologist,
                   total=Decimal("9876.50"))
    make_encounter(stranger, other_township, days_ago=5, diagnosis="J20.9")
    Settlement.objects.create(
        patient=patient, scheme="resident", in_county=False, institution=city_hospital,
        institution_name=city_hospital.name, institution_level=Level.CITY,
        division_code=OTHER_COUNTY, encounter_class="inpatient",
        start_date=timezone.localdate() - dt.timedelta(days=10), diagnosis="C34.9",
        total=Decimal("30000.00"), fund_paid=Decimal("18000.00"), self_paid=Decimal("12000.00"),
        source_system="test", source_id="s1")

    world = World(alliance, other, county_hospital, township, village, city_hospital,
                  other_township, doctor_p, patient, stranger)
    scopes: dict[str, dict[str, object]] = {
        Role.SYSTEM_ADMIN: {},
        Role.ALLIANCE_ADMIN: {"alliance": alliance},
        Role.REGULATOR: {},
        Role.AUDITOR: {"alliance": alliance},
        Role.DOCTOR: {"institution": township},
        Role.NURSE: {"institution": township},
        Role.PHARMACIST: {"institution": county_hospital},
    }
    for role, scope in scopes.items():
        world.users[role] = create_user(f"u_{role}", PASSWORD, role, **scope)  # type: ignore[arg-type]
    return world
