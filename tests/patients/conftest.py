"""Fixtures of the resident-record tests: the small county of ``tests.registry.factories``,
users per role and a helper that registers residents through the service."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import pytest

from tests.registry.factories import County, make_county, users
from tiercare.kernel import idnumber
from tiercare.patients import services
from tiercare.patients.models import Patient

VILLAGE_A = "330122100201"  # township 100: community A
VILLAGE_B = "330122101201"  # township 101: community A
VILLAGE_C = "330122102201"  # township 102: community B


@pytest.fixture
def county(db: Any) -> County:
    return make_county()


@pytest.fixture
def people(county: County) -> dict[str, Any]:
    return users(county)


def id_number(birth: date, sequence: int, division: str = "330122") -> str:
    return idnumber.make(division, birth, sequence)


@pytest.fixture
def register(county: County) -> Callable[..., Patient]:
    def _register(name: str = "张三", *, birth: date = date(1980, 5, 1), sequence: int = 11,
                  address_code: str = VILLAGE_A, **extra: Any) -> Patient:
        extra.setdefault("id_number", id_number(birth, sequence))
        return services.register_patient(
            services.PatientInput(name=name, address_code=address_code, **extra))
    return _register


@pytest.fixture(autouse=True)
def _fast_passwords(settings: Any) -> None:
    """Users are made per test; the production hasher's cost is not what these tests check."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
