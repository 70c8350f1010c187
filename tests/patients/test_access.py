"""Who sees which residents (rules.md §11), given/when/then."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from tests.patients.conftest import VILLAGE_A, VILLAGE_B, VILLAGE_C
from tests.registry.factories import make_user
from tiercare.accounts.models import Role
from tiercare.encounters.models import Encounter
from tiercare.patients import access, services


@pytest.fixture
def residents(register):
    return {
        "a": register("甲", sequence=11, address_code=VILLAGE_A),
        "b": register("乙", sequence=13, address_code=VILLAGE_B),
        "c": register("丙", sequence=15, address_code=VILLAGE_C),
    }


def visible(user):
    return sorted(p.name for p in access.visible_patients(user))


@pytest.mark.parametrize(("role", "expected"), [
    ("system_admin", ["丙", "乙", "甲"]),
    ("regulator", ["丙", "乙", "甲"]),
    ("auditor", ["丙", "乙", "甲"]),
    ("alliance_admin", ["乙", "甲"]),  # community A: townships 100 and 101
    ("other_admin", ["丙"]),  # community B: township 102
    ("doctor", ["乙", "甲"]),  # works in community A
    ("nurse", ["乙", "甲"]),
    ("pharmacist", ["乙", "甲"]),
    ("other_doctor", ["丙"]),
])
def test_scope_by_role(residents, people, role, expected):
    assert visible(people[role]) == expected


def test_auditor_held_to_one_alliance_sees_its_grid(residents, county):
    auditor = make_user("aud2", Role.AUDITOR, alliance=county.other)
    assert visible(auditor) == ["丙"]


def test_encounter_at_the_institution_brings_a_resident_into_scope(residents, people, county):
    # given community B's doctor does not see 甲 who lives in community A's grid
    doctor = people["other_doctor"]
    assert not access.can_view(doctor, residents["a"])
    # when 甲 has an encounter at that doctor's township centre
    Encounter.objects.create(
        patient=residents["a"], encounter_class="outpatient", institution=county.other_township,
        start=datetime(2025, 1, 5, tzinfo=ZoneInfo("Asia/Shanghai")), primary_diagnosis="J06",
        total=Decimal("30.00"), source_system="t", source_id="1")
    # then 甲 is in scope for that doctor, but not for community B's administrator
    assert access.can_view(doctor, residents["a"])
    assert visible(doctor) == ["丙", "甲"]
    assert not access.can_view(people["other_admin"], residents["a"])


def test_users_without_scope_see_nobody(residents, county):
    orphan = make_user("orphan", Role.DOCTOR)
    assert visible(orphan) == []
    assert not access.can_view(orphan, residents["a"])
    from django.contrib.auth.models import AnonymousUser

    assert visible(AnonymousUser()) == []


def test_inactive_account_sees_nobody(residents, people):
    admin = people["system_admin"]
    admin.is_active = False
    assert not access.can_view(admin, residents["a"])


def test_merged_records_are_not_listed(residents, people):
    services.merge_patients(residents["a"], residents["b"])
    assert visible(people["system_admin"]) == ["丙", "甲"]


@pytest.mark.parametrize(("role", "full"), [
    ("system_admin", True), ("doctor", True), ("nurse", True), ("alliance_admin", False),
    ("regulator", False), ("auditor", False), ("pharmacist", False),
])
def test_who_sees_identifiers(people, role, full):
    assert access.can_see_identifiers(people[role]) is full
