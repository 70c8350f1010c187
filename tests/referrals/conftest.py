"""Fixtures of the tiered disease catalogue tests."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture(autouse=True)
def _fast_passwords(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def default_catalogue(db):
    from tiercare.referrals import services

    catalogue, _result = services.load_default_catalogue()
    return catalogue


@pytest.fixture
def alliance(db):
    from tiercare.registry.models import Alliance

    return Alliance.objects.create(code="A1", name="临清市第一医共体",
                                   kind=Alliance.Kind.COUNTY_COMMUNITY, county_code="371581")
