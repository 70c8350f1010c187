"""Fixtures of the JSON API fuzz tests: a small seeded county (``tests.registry.factories``:
桐庐县 with two communities) with residents, encounters, a settlement and a merge, and the
session cookie plus CSRF token of a logged-in system administrator (the API authenticates
with the web session, ``ninja.security.django_auth``, and checks CSRF on unsafe methods)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.test import Client
from django.utils.crypto import get_random_string

from tests.encounters.factories import aware, encounter_input
from tests.registry.factories import make_county, make_user
from tiercare.accounts.models import Role
from tiercare.encounters import services as encounter_services
from tiercare.kernel import idnumber
from tiercare.patients import services as patient_services
from tiercare.patients.models import Merge, Patient

VILLAGE_A = "330122100201"
VILLAGE_B = "330122101201"


@dataclass
class World:
    """Ids of seeded records the fuzzer can aim at (path parameters and body references)."""

    alliance_id: int
    institution_id: int
    institution_code: str
    patient_id: int
    other_patient_id: int
    id_number: str
    health_record_no: str
    encounter_id: int
    merge_id: int
    county_code: str
    village_code: str


@dataclass
class Session:
    """What a browser of a logged-in user sends: cookies and the CSRF header."""

    cookies: dict[str, str]
    headers: dict[str, str]


@pytest.fixture(autouse=True)
def _fast_passwords(settings: Any) -> None:
    """The production hasher's cost is not what these tests check."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def _resident(name: str, birth: dt.date, sequence: int, village: str, **extra: Any) -> Patient:
    return patient_services.register_patient(patient_services.PatientInput(
        name=name, address_code=village, id_number=idnumber.make("330122", birth, sequence),
        birth_date=birth, **extra))


@pytest.fixture
def world(transactional_db: Any) -> World:
    county = make_county()
    zhang = _resident("张三", dt.date(1958, 3, 1), 11, VILLAGE_A, phone="13800001234")
    li = _resident("李四", dt.date(1972, 9, 9), 23, VILLAGE_B)
    wang = _resident("王五", dt.date(1990, 1, 2), 35, VILLAGE_A)
    wang_again = _resident("王五", dt.date(1990, 1, 2), 47, VILLAGE_A)
    recorded = encounter_services.save_encounter(
        encounter_input(zhang, county.lead, "E1", secondary_diagnoses=["E11.9"]))
    encounter_services.save_encounter(
        encounter_input(li, county.township_a, "E2", encounter_class="inpatient",
                        start=aware(2025, 5, 1, 8, 0), end=aware(2025, 5, 6, 10, 0)))
    encounter_services.save_settlement(encounter_services.SettlementInput(
        patient_id=zhang.pk, scheme="resident", in_county=False, institution_id=None,
        institution_name="浙江大学医学院附属第一医院", institution_level="provincial",
        division_code="330102", encounter_class="inpatient", start_date=dt.date(2025, 2, 1),
        end_date=dt.date(2025, 2, 10), diagnosis="I63.9", total=Decimal("8000.00"),
        fund_paid=Decimal("5000.00"), self_paid=Decimal("3000.00"), encounter_ref="",
        settled_at=aware(2025, 2, 10, 16, 0), source_system="YB", source_id="S1"))
    merge: Merge = patient_services.merge_patients(wang, wang_again, reason="同一人")
    return World(
        alliance_id=county.alliance.pk, institution_id=county.lead.pk,
        institution_code=county.lead.code, patient_id=zhang.pk, other_patient_id=li.pk,
        id_number=zhang.id_number, health_record_no=li.health_record_no,
        encounter_id=recorded.record.pk, merge_id=merge.pk, county_code="330122",
        village_code=VILLAGE_A)


@pytest.fixture
def admin_session(world: World) -> Session:
    """A system administrator logged in through Django's session machinery. The CSRF secret is
    sent both as the cookie and (unmasked, which Django accepts) as the ``X-CSRFToken``
    header."""
    admin = make_user("fuzz-admin", Role.SYSTEM_ADMIN)
    client = Client()
    client.force_login(admin)
    csrf = get_random_string(32)
    return Session(
        cookies={django_settings.SESSION_COOKIE_NAME:
                 client.cookies[django_settings.SESSION_COOKIE_NAME].value,
                 django_settings.CSRF_COOKIE_NAME: csrf},
        headers={"X-CSRFToken": csrf},
    )
