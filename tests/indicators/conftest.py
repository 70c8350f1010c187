"""Fixtures of the indicator catalogue, policy pack and target tests."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture(autouse=True)
def _fast_passwords(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def alliance(db):
    from tiercare.registry.models import Alliance

    return Alliance.objects.create(code="A1", name="连州市医共体",
                                   kind=Alliance.Kind.COUNTY_COMMUNITY, county_code="441882")


@pytest.fixture
def other_alliance(db):
    from tiercare.registry.models import Alliance

    return Alliance.objects.create(code="A2", name="阳山县医共体",
                                   kind=Alliance.Kind.COUNTY_COMMUNITY, county_code="441823")


@pytest.fixture
def office(alliance):
    """An administrator of ``alliance`` (the alliance management office)."""
    from tiercare.accounts.models import Role, User

    return User.objects.create_user("office", password="Office-pass-2026!",
                                    role=Role.ALLIANCE_ADMIN, alliance=alliance)


@pytest.fixture
def superuser(db):
    from tiercare.accounts.models import Role, User

    return User.objects.create_superuser("root", "root@example.org", "Root-pass-2026!",
                                         role=Role.SYSTEM_ADMIN)
