"""Fixtures of the family-doctor and chronic-care tests."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture(autouse=True)
def _fast_passwords(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def scene(db: Any) -> Any:
    from tests.chronic.scene import make_chronic_scene

    return make_chronic_scene()
