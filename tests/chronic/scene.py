"""The county of the chronic-care tests: the referral tests' county (``workflow_scene``) plus a
family-doctor team at the township health centre with the township GP (lead) and the village
doctor, and three residents aged 40, 66 and 70 in the alliance's grid."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.utils import timezone

from tests.referrals.workflow_scene import Scene, make_scene
from tests.web.factories import PASSWORD, make_patient
from tiercare.accounts.models import Role, User
from tiercare.accounts.services import create_user
from tiercare.chronic import services
from tiercare.chronic.models import FamilyDoctorTeam, TeamMember
from tiercare.patients.models import Patient
from tiercare.registry.models import Practitioner

VILLAGE_CODE = "371581001001"


@dataclass
class ChronicScene:
    base: Scene
    team: FamilyDoctorTeam
    gp: User
    village_doctor: User
    young: Patient
    elderly: Patient
    old: Patient

    @property
    def today(self) -> dt.date:
        return timezone.localdate()


def born_years_ago(years: int, days: int = 10) -> dt.date:
    today = timezone.localdate()
    return today.replace(year=today.year - years, day=min(today.day, 28)) - dt.timedelta(
        days=days)


def make_chronic_scene() -> ChronicScene:
    base = make_scene()
    world = base.world
    gp = create_user("t_gp", PASSWORD, Role.DOCTOR, institution=world.township,
                     practitioner=world.doctor_practitioner)
    team = services.create_team(institution=world.township, code="T001-A", name="城关镇一组",
                                lead=world.doctor_practitioner)
    services.add_member(team, Practitioner.objects.get(code="P-V001-1"),
                        role=TeamMember.Role.VILLAGE_DOCTOR)
    young = make_patient("钱一", VILLAGE_CODE, birth=born_years_ago(40))
    elderly = make_patient("孙二", VILLAGE_CODE, birth=born_years_ago(66),
                           phone="13900002222")
    old = make_patient("周三", VILLAGE_CODE, birth=born_years_ago(70), phone="13900003333")
    return ChronicScene(base, team, gp, base.village_doctor, young, elderly, old)
