"""``tiercare token create|revoke|list``: bearer tokens of integrating systems (issue 3)."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from tiercare.fhir.models import ApiToken
from tiercare.fhir.tokens import authenticate, digest

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command("token", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_create_prints_a_secret_that_is_stored_only_as_a_digest(world):
    secret = run("create", "--name", "城关镇卫生院 HIS", "--institution", "T001",
                 "--scope", "system/*.read system/Patient.write").strip()
    token = ApiToken.objects.get(name="城关镇卫生院 HIS")
    assert secret.startswith("tc_") and len(secret) > 40
    assert token.digest == digest(secret) and secret not in token.digest
    assert token.institution == world.township and authenticate(secret) == token


def test_revoke_ends_the_token_and_list_shows_it(world):
    secret = run("create", "--name", "LIS", "--all", "--scope", "system/*.read").strip()
    run("revoke", "LIS")
    assert authenticate(secret) is None
    assert "LIS\t*\tsystem/*.read" in run("list")


@pytest.mark.parametrize("args", [
    ("create", "--name", "x", "--institution", "NOPE", "--scope", "system/*.read"),
    ("create", "--name", "x", "--all", "--scope", "user/*.read"),
    ("create", "--name", "x", "--all", "--scope", "system/*.read system/Patient.cruds x"),
    ("revoke", "nobody"),
])
def test_bad_requests_are_clear_errors(world, args):
    with pytest.raises(CommandError):
        run(*args)


def test_a_name_is_taken_once(world):
    run("create", "--name", "HIS", "--all", "--scope", "system/*.read")
    with pytest.raises(CommandError, match="HIS"):
        run("create", "--name", "HIS", "--all", "--scope", "system/*.read")
