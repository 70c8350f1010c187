import pytest

from tests.web.factories import make_world


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """Password hashing at test speed; the policy (validators) is unchanged."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def world(db):
    return make_world()


@pytest.fixture
def as_role(client, world):
    """``as_role("doctor")`` logs the test client in as that role's user and returns it."""

    def login(role: str):
        client.force_login(world.user(role))
        return client

    return login
