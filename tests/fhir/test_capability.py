"""The CapabilityStatement tells the truth (issue 3 acceptance): it is generated from the
mappers, and this test walks it and calls every declared interaction and search parameter."""

from __future__ import annotations

import pytest

from tests.fhir.conftest import (
    new_appointment,
    new_encounter,
    new_patient,
    new_service_request,
    new_settlement,
)
from tests.fhir.test_chronic_fhir import chronic_care_in, new_observation

pytestmark = pytest.mark.django_db

SAMPLE = {"token": "x", "string": "a", "date": "2025", "number": "1", "reference": "1",
          "uri": "x"}
#: Parameters whose values have a fixed form (a closed list, a phone number).
CODED = {"gender": "male", "phone": "13800000000", "active": "true"}
BODIES = {"Patient": lambda world: new_patient(), "Encounter": new_encounter,
          "ExplanationOfBenefit": new_settlement, "Appointment": new_appointment,
          "ServiceRequest": new_service_request, "Observation": new_observation}


def test_metadata_needs_no_login_and_says_fhir_4_0_1(client):
    statement = client.get("/fhir/metadata").json()
    assert statement["resourceType"] == "CapabilityStatement"
    assert statement["fhirVersion"] == "4.0.1" and statement["kind"] == "instance"


def test_every_declared_interaction_and_search_parameter_works(client, world, fhir, settings,
                                                              tmp_path):
    from tiercare.indicators.engine import snapshot

    settings.DATA_DIR = tmp_path  # MeasureReport is computed from the indicator snapshot
    chronic_care_in(world)  # a team, a contract, a registration, a follow-up
    snapshot.refresh(full=True)
    statement = client.get("/fhir/metadata").json()
    resources = statement["rest"][0]["resource"]
    assert resources, "the server declares no resource"
    for resource in resources:
        kind = resource["type"]
        codes = {i["code"] for i in resource["interaction"]}
        assert codes <= {"read", "search-type", "create", "update"}, codes
        created_id = None
        if "create" in codes:
            response = fhir.post(kind, BODIES[kind](world))
            assert response.status_code == 201, (kind, response.content)
            created_id = response.json()["id"]
        if "search-type" in codes:
            bundle = fhir.get(kind).json()
            assert bundle["type"] == "searchset"
            existing = created_id or bundle["entry"][0]["resource"]["id"]
            for param in resource["searchParam"]:
                value = existing if param["name"] == "_id" else CODED.get(
                    param["name"], SAMPLE[param["type"]])
                response = fhir.get(f"{kind}?{param['name']}={value}",
                                    HTTP_PREFER="handling=strict")
                assert response.status_code == 200, (kind, param, response.content)
            for include in resource.get("searchInclude", []):
                assert fhir.get(f"{kind}?_include={include}").status_code == 200
        if "read" in codes:
            assert fhir.get(f"{kind}/{existing}").status_code == 200
        if "update" in codes:
            current = fhir.get(f"{kind}/{existing}").json()
            assert fhir.put(f"{kind}/{existing}", current).status_code == 200
        if resource.get("conditionalCreate"):
            assert "create" in codes
        if resource.get("conditionalUpdate"):
            assert "update" in codes


def test_undeclared_interactions_are_refused(fhir, world):
    assert fhir.client.delete(f"/fhir/Patient/{world.patient.pk}",
                              **fhir.headers).status_code == 405
