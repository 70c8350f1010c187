"""No input makes the FHIR interface answer 5xx (issue 3 acceptance; DESIGN.md "never a
500"): Hypothesis throws arbitrary search parameters, ids, headers and bodies at it. Every
answer is FHIR JSON: a resource or an OperationOutcome."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fhir.conftest import new_encounter, new_patient
from tiercare.fhir.mapping import all_mappers

pytestmark = pytest.mark.django_db
FUZZ = settings(max_examples=120, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])

TYPES = sorted(m.resource_type for m in all_mappers())
types = st.sampled_from(TYPES)
#: every parameter some type declares, its modifiers, and a few no type has
names = st.sampled_from(sorted({name for m in all_mappers() for name in m.all_params()}
                               | {f"{name}:{modifier}" for m in all_mappers()
                                  for name, p in m.all_params().items()
                                  for modifier in p.modifiers}
                               | {"_count", "_sort", "_include", "_offset", "_total", "colour",
                                  "name:fuzzy"}))
values = st.one_of(st.text(max_size=40), st.sampled_from(
    ["ge2025", "le1958-06", "gt9999", "lt0001-01-01", "eq2025-02-30", "2025-03-01T25:00",
     "urn:oid:2.16.156.10011.1.3|", "|x", "-birthdate", "99999999999999999999", "-1",
     "1e9", "Patient:patient", "%00", "\x00", "男", "Organization/institution-1",
     "institution-", "alliance-99999999999999999999", "Encounter:patient", "-date",
     "Patient/1", "http://hl7.org/fhir/sid/icd-10|I10", "IMP", "true", "posting-1"]))
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner,
                                                                 max_size=4),
    max_leaves=12)


def _answers_fhir(response) -> None:
    assert response.status_code < 500, response.content[:500]
    assert response["Content-Type"].startswith("application/fhir+json")
    body = response.json()
    assert body["resourceType"] in ("Bundle", "OperationOutcome", "CapabilityStatement",
                                    *TYPES)


@FUZZ
@given(kind=types, params=st.lists(st.tuples(names, values), max_size=4))
def test_any_search_is_answered_without_a_server_error(world, fhir, kind, params):
    from urllib.parse import urlencode

    _answers_fhir(fhir.get(f"{kind}?{urlencode(params)}"))


@FUZZ
@given(kind=types, resource_id=st.one_of(st.text(max_size=30), st.sampled_from(
    ["institution-1", "alliance-1", "primary-1", "diagnosis-1", "site-1", "division-1",
     "employment-1", "posting-1", "1", "institution-99999999999999999999"])))
def test_any_id_is_answered_without_a_server_error(world, fhir, kind, resource_id):
    from urllib.parse import quote

    response = fhir.get(f"{kind}/{quote(resource_id, safe='')}")
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


@FUZZ
@given(changes=st.dictionaries(st.sampled_from(
    ["identifier", "class", "subject", "serviceProvider", "period", "participant", "contained",
     "diagnosis", "extension", "status", "id"]), json_values, max_size=3))
def test_any_encounter_is_answered_without_a_server_error(world, fhir, changes):
    _answers_fhir(fhir.post("Encounter", {**new_encounter(world), **changes}))


entries = st.fixed_dictionaries({}, optional={
    "fullUrl": st.sampled_from(["urn:uuid:a", "urn:uuid:b", "Patient/1", ""]),
    "request": st.one_of(json_values, st.fixed_dictionaries({
        "method": st.sampled_from(["GET", "POST", "PUT", "DELETE", "get", ""]),
        "url": st.one_of(st.text(max_size=20), st.sampled_from(
            ["Patient", "Encounter", "Patient/1", "Patient?name=zs", "Encounter?identifier=x",
             "Organization/institution-1", "/", "?"]))})),
    "resource": st.one_of(json_values, st.just(new_patient()),
                          st.just({"resourceType": "Encounter",
                                   "subject": {"reference": "urn:uuid:a"}})),
})


@FUZZ
@given(kind=st.sampled_from(["batch", "transaction", "searchset", None]),
       items=st.lists(entries, max_size=4))
def test_any_bundle_is_answered_without_a_server_error(world, fhir, kind, items):
    response = fhir.client.post("/fhir", data=json.dumps(
        {"resourceType": "Bundle", "type": kind, "entry": items}),
        content_type="application/fhir+json", **fhir.headers)
    _answers_fhir(response)
