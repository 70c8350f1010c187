"""Fixtures of the FHIR tests: the web tests' county (two alliances, residents with care at
three levels) and bearer tokens of integrating systems."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.web.conftest import fast_password_hashing, world  # noqa: F401 (shared fixtures)
from tiercare.fhir import tokens

FHIR_JSON = "application/fhir+json"


@pytest.fixture
def token(db):
    """``token(scope, institution=…)`` → the bearer header of a new token."""
    made = iter(range(1, 1000))

    def make(scope: str = "system/*.read system/Patient.write", **reach: Any) -> dict[str, str]:
        if not reach:
            reach = {"whole_county": True}
        _token, secret = tokens.create_token(f"system-{next(made)}", scope=scope, **reach)
        return {"HTTP_AUTHORIZATION": f"Bearer {secret}"}

    return make


class Fhir:
    """The Django test client speaking FHIR JSON with a given set of headers."""

    def __init__(self, client: Any, headers: dict[str, str]) -> None:
        self.client = client
        self.headers = headers

    def get(self, path: str, **extra: Any) -> Any:
        return self.client.get(f"/fhir/{path}", **self.headers, **extra)

    def post(self, path: str, body: Any, **extra: Any) -> Any:
        return self.client.post(f"/fhir/{path}", data=json.dumps(body),
                                content_type=FHIR_JSON, **self.headers, **extra)

    def put(self, path: str, body: Any, **extra: Any) -> Any:
        return self.client.put(f"/fhir/{path}", data=json.dumps(body),
                               content_type=FHIR_JSON, **self.headers, **extra)


@pytest.fixture
def fhir(client, token):
    """A whole-county system with read on everything and write on Patient."""
    return Fhir(client, token())


def new_patient(number: str = "11010519491231002X", **changes: Any) -> dict[str, Any]:
    """A Patient resource as a HIS would push it (ID number valid: born 1949-12-31, female)."""
    resource = {
        "resourceType": "Patient",
        "identifier": [{"system": "urn:oid:2.16.156.10011.1.3", "value": number}],
        "name": [{"text": "王秀英"}],
        "gender": "female",
        "birthDate": "1949-12-31",
        "telecom": [{"system": "phone", "value": "13700001234"}],
        "address": [{"text": "城关镇王家村", "extension": [{
            "url": "https://tiercare.org/fhir/StructureDefinition/division-code",
            "valueCode": "371581001001"}]}],
    }
    resource.update(changes)
    return resource
