"""No input makes the FHIR interface answer 5xx (issue 3 acceptance; DESIGN.md "never a
500"): Hypothesis throws arbitrary search parameters, ids, headers and bodies at it. Every
answer is FHIR JSON: a resource or an OperationOutcome."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fhir.conftest import new_patient

pytestmark = pytest.mark.django_db
FUZZ = settings(max_examples=120, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])

names = st.sampled_from(["identifier", "name", "name:exact", "name:contains", "birthdate",
                         "gender", "phone", "address-district", "_id", "_lastUpdated",
                         "_count", "_sort", "_include", "_offset", "_total", "colour",
                         "name:fuzzy"])
values = st.one_of(st.text(max_size=40), st.sampled_from(
    ["ge2025", "le1958-06", "gt9999", "lt0001-01-01", "eq2025-02-30", "2025-03-01T25:00",
     "urn:oid:2.16.156.10011.1.3|", "|x", "-birthdate", "99999999999999999999", "-1",
     "1e9", "Patient:patient", "%00", "\x00", "男"]))
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner,
                                                                 max_size=4),
    max_leaves=12)


def _answers_fhir(response) -> None:
    assert response.status_code < 500, response.content[:500]
    assert response["Content-Type"].startswith("application/fhir+json")
    body = response.json()
    assert body["resourceType"] in ("Bundle", "Patient", "OperationOutcome",
                                    "CapabilityStatement")


@FUZZ
@given(params=st.lists(st.tuples(names, values), max_size=4))
def test_any_search_is_answered_without_a_server_error(world, fhir, params):
    from urllib.parse import urlencode

    _answers_fhir(fhir.get(f"Patient?{urlencode(params)}"))


@FUZZ
@given(resource_id=st.text(max_size=30))
def test_any_id_is_answered_without_a_server_error(world, fhir, resource_id):
    from urllib.parse import quote

    response = fhir.get(f"Patient/{quote(resource_id, safe='')}")
    assert response.status_code < 500


@FUZZ
@given(changes=st.dictionaries(st.sampled_from(
    ["identifier", "name", "gender", "birthDate", "telecom", "address", "id", "active",
     "deceasedDateTime", "resourceType", "meta", "extension"]), json_values, max_size=3),
       condition=st.one_of(st.none(), st.text(max_size=30)))
def test_any_body_is_answered_without_a_server_error(world, fhir, changes, condition):
    extra = {} if condition is None else {"HTTP_IF_NONE_EXIST": condition}
    _answers_fhir(fhir.post("Patient", {**new_patient(), **changes}, **extra))
    _answers_fhir(fhir.put(f"Patient/{world.patient.pk}",
                           {**new_patient(id=str(world.patient.pk)), **changes}))


@FUZZ
@given(raw=st.binary(max_size=200))
def test_any_bytes_are_answered_without_a_server_error(world, fhir, raw):
    response = fhir.client.post("/fhir/Patient", data=raw, content_type="application/fhir+json",
                                **fhir.headers)
    _answers_fhir(response)
    json.dumps(response.json())
