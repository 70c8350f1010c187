"""Fixtures of the scheduling tests: the county of ``tests.web.factories.make_world`` (county
hospital, township centre, village clinic of one alliance; a second alliance), a clinic
schedule at the county hospital with its slots, and staff users on both sides."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import pytest
from django.utils import timezone

from tests.web.factories import PASSWORD, World, make_world
from tiercare.accounts.models import Role, User
from tiercare.accounts.services import create_user
from tiercare.scheduling.models import Pool, Schedule, Slot


@dataclass
class Scene:
    world: World
    schedule: Schedule
    hospital_doctor: User  # staff of the slot's own institution (county hospital)
    township_doctor: User  # staff of another member institution
    outsider: User  # staff of the other alliance's township centre
    alliance_admin: User


@pytest.fixture(autouse=True)
def _fast_passwords(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def make_scene() -> Scene:
    world = make_world()
    department = world.county_hospital.departments.get()
    schedule = Schedule.objects.create(institution=world.county_hospital,
                                       department=department, name="心内科普通门诊")
    hospital_doctor = create_user("h_doctor", PASSWORD, Role.DOCTOR,
                                  institution=world.county_hospital)
    outsider = create_user("o_doctor", PASSWORD, Role.DOCTOR, institution=world.other_township)
    return Scene(world, schedule, hospital_doctor, world.user(Role.DOCTOR), outsider,
                 world.user(Role.ALLIANCE_ADMIN))


@pytest.fixture
def scene(db: Any) -> Scene:
    return make_scene()


def make_slot(schedule: Schedule, *, capacity: int = 2, pool: str = Pool.PUBLIC,
              days: int = 3, hour: int = 9, release_at: dt.datetime | None = None) -> Slot:
    """A slot ``days`` from today at ``hour`` (local time), 30 minutes long."""
    day = timezone.localdate() + dt.timedelta(days=days)
    start = dt.datetime.combine(day, dt.time(hour), tzinfo=timezone.get_default_timezone())
    return Slot.objects.create(schedule=schedule, start=start,
                               end=start + dt.timedelta(minutes=30), pool=pool,
                               capacity=capacity, release_at=release_at)
