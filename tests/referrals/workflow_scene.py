"""The county of the workflow tests (``tests.web.factories.make_world``): a village doctor
and a township doctor of the alliance, the county hospital's emergency doctor with a ward of
referral beds and a clinic schedule, the alliance office, another alliance's office, and
the default tiered disease catalogue."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.utils import timezone

from tests.web.factories import PASSWORD, World, make_world
from tiercare.accounts.models import Role, User
from tiercare.accounts.services import create_user
from tiercare.referrals import services
from tiercare.referrals.models import Direction, Referral
from tiercare.registry.models import Department, Practitioner
from tiercare.scheduling.models import Bed, Pool, Schedule, Slot, Ward


@dataclass
class Scene:
    world: World
    village_doctor: User
    township_doctor: User
    county_doctor: User
    office: User
    other_office: User
    emergency: Department
    ward: Ward
    schedule: Schedule


def make_scene() -> Scene:
    services.ensure_default_catalogue()
    world = make_world()
    hospital = world.county_hospital
    emergency = Department.objects.create(institution=hospital, code="ED", name="急诊科")
    ward = Ward.objects.create(institution=hospital, department=emergency, code="W-ED",
                               name="急诊病区")
    for code in ("01", "02"):
        Bed.objects.create(ward=ward, code=code, pool=Pool.REFERRAL)
    schedule = Schedule.objects.create(institution=hospital,
                                       department=hospital.departments.get(code="D1"),
                                       name="心内科普通门诊")
    village_doctor = create_user("v_doctor", PASSWORD, Role.DOCTOR, institution=world.village,
                                 practitioner=Practitioner.objects.get(code="P-V001-1"))
    county_doctor = create_user("c_doctor", PASSWORD, Role.DOCTOR, institution=hospital,
                                practitioner=Practitioner.objects.get(code="P-H001-1"))
    other_office = create_user("o_admin", PASSWORD, Role.ALLIANCE_ADMIN,
                               alliance=world.other_alliance)
    return Scene(world, village_doctor, world.user(Role.DOCTOR), county_doctor,
                 world.user(Role.ALLIANCE_ADMIN), other_office, emergency, ward, schedule)


def make_slot(schedule: Schedule, *, capacity: int = 1, pool: str = Pool.REFERRAL,
              days: int = 2, hour: int = 9) -> Slot:
    day = timezone.localdate() + dt.timedelta(days=days)
    start = dt.datetime.combine(day, dt.time(hour), tzinfo=timezone.get_default_timezone())
    return Slot.objects.create(schedule=schedule, start=start,
                               end=start + dt.timedelta(minutes=30), pool=pool,
                               capacity=capacity)


def draft_up(scene: Scene, *, green_channel: bool = False, diagnosis: str = "I10",
             direction: str = Direction.UP, to=None, department=None) -> Referral:
    """The village doctor's draft for 张三 to the county hospital (or ``to``)."""
    return services.create_referral(
        patient=scene.world.patient, direction=direction, diagnosis=diagnosis,
        reason="血压190/115 mmHg，头痛、视物模糊", clinical_summary="高血压病史10年，今晨血压骤升",
        by=scene.village_doctor,
        receiving_institution=to or scene.world.county_hospital,
        receiving_department=department, green_channel=green_channel)
