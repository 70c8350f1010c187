"""FHIR Encounter and Condition over the encounters of the shared record (issue 3): a HIS
pushes an encounter with its diagnoses and costs, idempotently; reads and searches are scoped
and audited; errors say where and why."""

from __future__ import annotations

import copy

import pytest

from tests.fhir.conftest import HIS_SYSTEM, ICD10_CN, Fhir, new_encounter
from tiercare.accounts.models import AuditEvent
from tiercare.encounters.models import Diagnosis, Encounter

pytestmark = pytest.mark.django_db


def ids(bundle) -> list[str]:
    return [e["resource"]["id"] for e in bundle["entry"] if e["search"]["mode"] == "match"]


def pushed(fhir, world, **changes):
    response = fhir.post("Encounter", new_encounter(world, **changes))
    assert response.status_code == 201, response.content
    return response.json()


# -- push -------------------------------------------------------------------------------------

def test_a_pushed_encounter_is_stored_with_diagnoses_by_rank_and_costs(world, fhir):
    resource = pushed(fhir, world)
    stored = Encounter.objects.get(pk=resource["id"])
    assert (stored.source_system, stored.source_id) == (HIS_SYSTEM, "MZ20250301-0001")
    assert stored.encounter_class == "outpatient" and stored.primary_diagnosis == "I10"
    assert [d.code for d in stored.diagnoses.order_by("rank")] == ["E11.9"]
    assert str(stored.total) == "85.50" and str(stored.insurance_paid) == "40.00"
    assert stored.practitioner_id == world.doctor_practitioner.pk
    assert resource["identifier"] == [{"system": HIS_SYSTEM, "value": "MZ20250301-0001"}]
    assert resource["period"]["start"] == "2025-03-01T08:30:00+08:00"
    assert [d["rank"] for d in resource["diagnosis"]] == [1, 2]


def test_pushing_the_same_encounter_with_if_none_exist_twice_stores_it_once(world, fhir):
    condition = f"identifier={HIS_SYSTEM}|MZ20250301-0001"
    first = fhir.post("Encounter", new_encounter(world), HTTP_IF_NONE_EXIST=condition)
    again = fhir.post("Encounter", new_encounter(world), HTTP_IF_NONE_EXIST=condition)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    assert Encounter.objects.filter(source_id="MZ20250301-0001").count() == 1


def test_a_plain_create_of_a_known_identifier_is_409(world, fhir):
    pushed(fhir, world)
    response = fhir.post("Encounter", new_encounter(world))
    assert response.status_code == 409 and response.json()["issue"][0]["code"] == "duplicate"


def test_conditional_update_creates_then_corrects_keeping_condition_ids(world, fhir):
    path = f"Encounter?identifier={HIS_SYSTEM}|MZ1"
    created = fhir.put(path, new_encounter(world, "MZ1"))
    assert created.status_code == 201
    secondary = created.json()["diagnosis"][1]["condition"]["reference"]
    corrected = new_encounter(world, "MZ1", period={"start": "2025-03-01T08:30:00+08:00",
                                                    "end": "2025-03-01T10:00:00+08:00"})
    updated = fhir.put(path, corrected)
    assert updated.status_code == 200 and updated.json()["id"] == created.json()["id"]
    assert updated.json()["diagnosis"][1]["condition"]["reference"] == secondary
    assert updated.json()["period"]["end"] == "2025-03-01T10:00:00+08:00"


def test_read_back_and_put_unchanged_keeps_everything(world, fhir):
    resource = pushed(fhir, world)
    response = fhir.put(f"Encounter/{resource['id']}", copy.deepcopy(resource))
    assert response.status_code == 200
    again = response.json()
    for key in ("identifier", "class", "period", "diagnosis", "subject", "serviceProvider",
                "extension", "participant"):
        assert again[key] == resource[key], key


def test_an_update_cannot_change_the_identifier(world, fhir):
    resource = pushed(fhir, world)
    resource["identifier"][0]["value"] = "OTHER"
    response = fhir.put(f"Encounter/{resource['id']}", resource)
    assert response.status_code == 422
    assert response.json()["issue"][0]["expression"] == ["Encounter.identifier"]


@pytest.mark.parametrize("changes, status, path", [
    ({"identifier": []}, 422, "Encounter.identifier"),
    ({"subject": {"reference": "Patient/999999"}}, 422, "Encounter.subject"),
    ({"subject": {"reference": "Organization/institution-1"}}, 422, "Encounter.subject"),
    ({"serviceProvider": {"reference": "Organization/alliance-1"}}, 422,
     "Encounter.serviceProvider"),
    ({"period": {"start": "2025-03-01T08:30:00"}}, 400, "Encounter.period.start"),  # no zone
    ({"period": {"start": "2099-03-01"}}, 422, "Encounter.period.start"),
    ({"period": {"start": "2025-03-02", "end": "2025-03-01"}}, 422, "Encounter.period.end"),
    ({"class": {"code": "XYZ"}}, 422, "Encounter.class"),
    ({"diagnosis": []}, 422, "Encounter.diagnosis"),
    ({"diagnosis": [{"condition": {"reference": "#nowhere"}}]}, 422,
     "Encounter.diagnosis[0].condition"),
    ({"contained": [{"resourceType": "Condition", "id": "d1", "subject": {"reference": "x"},
                     "code": {"coding": [{"system": ICD10_CN, "code": "A00.7"}]}}],
      "diagnosis": [{"condition": {"reference": "#d1"}}]}, 422, "Encounter.diagnosis[0]"),
    ({"contained": [{"resourceType": "Condition", "id": "d1", "subject": {"reference": "x"},
                     "code": {"text": "高血压"}}],
      "diagnosis": [{"condition": {"reference": "#d1"}}]}, 422,
     "Encounter.diagnosis[0].condition.code"),
    ({"extension": [{"url": "https://tiercare.org/fhir/StructureDefinition/encounter-costs",
                     "extension": [{"url": "total",
                                    "valueMoney": {"value": 10, "currency": "USD"}}]}]}, 422,
     "Encounter.extension"),
    ({"extension": [{"url": "https://tiercare.org/fhir/StructureDefinition/encounter-costs",
                     "extension": [{"url": "total", "valueMoney": {"value": 10}}]}]}, 422,
     "Encounter.extension"),
])
def test_bad_pushes_are_refused_with_the_place_and_a_reason(world, fhir, changes, status,
                                                             path):
    response = fhir.post("Encounter", new_encounter(world, **changes))
    assert response.status_code == status, response.content
    issues = response.json()["issue"]
    assert any(path in issue.get("expression", [""])[0] for issue in issues), issues
    assert all(issue["diagnostics"] for issue in issues)
    assert not Encounter.objects.filter(source_id="MZ20250301-0001").exists()


def test_a_township_system_records_only_its_own_care(client, world, token):
    own = Fhir(client, token("system/Encounter.write system/*.read",
                             institution="T001"))
    assert own.post("Encounter", new_encounter(world)).status_code == 201
    elsewhere = new_encounter(world, "MZ2", serviceProvider={
        "reference": f"Organization/institution-{world.county_hospital.pk}"})
    assert own.post("Encounter", elsewhere).status_code == 403
    reader = Fhir(client, token("system/*.read"))
    assert reader.post("Encounter", new_encounter(world, "MZ3")).status_code == 403


# -- read and search ----------------------------------------------------------------------------

def test_reads_and_searches_of_encounters_and_conditions_are_audited(world, fhir):
    resource = pushed(fhir, world)
    before = AuditEvent.objects.filter(patient_id=world.patient.pk,
                                       action=AuditEvent.Action.VIEW).count()
    fhir.get(f"Encounter/{resource['id']}")
    fhir.get(f"Condition/primary-{resource['id']}")
    fhir.get(f"Encounter?patient=Patient/{world.patient.pk}")
    after = AuditEvent.objects.filter(patient_id=world.patient.pk,
                                      action=AuditEvent.Action.VIEW).count()
    assert after - before == 2  # two reads; the search is one SEARCH event
    assert AuditEvent.objects.filter(action=AuditEvent.Action.SEARCH,
                                     summary__startswith="FHIR Encounter?").exists()


@pytest.mark.parametrize("query, expected", [
    ("patient=Patient/{patient}", {"J06.9", "I10", "I63.9"}),
    ("subject={patient}", {"J06.9", "I10", "I63.9"}),
    ("class=IMP", {"I63.9"}),
    ("class=http://terminology.hl7.org/CodeSystem/v3-ActCode|AMB", {"J06.9", "I10", "J20.9"}),
    ("service-provider=Organization/institution-{township}", {"I10"}),
    ("practitioner=Practitioner/{doctor}", {"I10"}),
    ("date=ge{twentyfive_days_ago}", {"I63.9", "J20.9"}),
    ("date=lt{twentyfive_days_ago}&patient={patient}", {"J06.9", "I10"}),
    ("identifier=nothing-like-this", set()),
])
def test_each_encounter_search_parameter_finds_what_it_says(world, fhir, query, expected):
    import datetime as dt

    from django.utils import timezone

    day = (timezone.localdate() - dt.timedelta(days=25)).isoformat()
    path = "Encounter?" + query.format(patient=world.patient.pk, township=world.township.pk,
                                       doctor=world.doctor_practitioner.pk,
                                       twentyfive_days_ago=day)
    response = fhir.get(path, HTTP_PREFER="handling=strict")
    assert response.status_code == 200, response.content
    found = {Encounter.objects.get(pk=i).primary_diagnosis for i in ids(response.json())}
    assert found == expected


def test_include_brings_the_residents_and_institutions_once(world, fhir):
    bundle = fhir.get("Encounter?_include=Encounter:patient"
                      "&_include=Encounter:service-provider&_count=50").json()
    included = [e["resource"] for e in bundle["entry"] if e["search"]["mode"] == "include"]
    patients = [r["id"] for r in included if r["resourceType"] == "Patient"]
    assert sorted(patients) == sorted({str(world.patient.pk), str(world.stranger.pk)})
    organizations = {r["id"] for r in included if r["resourceType"] == "Organization"}
    assert f"institution-{world.village.pk}" in organizations and len(organizations) == 4


def test_a_township_system_sees_encounters_of_its_residents_only(client, world, token):
    reader = Fhir(client, token("system/*.read", institution="T001"))
    found = reader.get("Encounter?_count=50").json()
    patients = {Encounter.objects.get(pk=i).patient_id for i in ids(found)}
    assert patients == {world.patient.pk}
    strangers = Encounter.objects.get(patient=world.stranger)
    assert reader.get(f"Encounter/{strangers.pk}").status_code == 404
    assert reader.get(f"Condition/primary-{strangers.pk}").status_code == 404


def test_conditions_carry_both_icd10_systems_and_search_by_code(world, fhir):
    encounter = Encounter.objects.get(primary_diagnosis="I10")
    secondary = Diagnosis.objects.get(encounter=encounter)
    primary = fhir.get(f"Condition/primary-{encounter.pk}").json()
    systems = {c["system"]: c for c in primary["code"]["coding"]}
    assert systems[ICD10_CN]["code"] == "I10" and systems[ICD10_CN]["display"]
    assert systems["http://hl7.org/fhir/sid/icd-10"]["code"] == "I10"
    assert primary["encounter"]["reference"] == f"Encounter/{encounter.pk}"
    by_code = fhir.get("Condition?code=http://hl7.org/fhir/sid/icd-10|E11",
                       HTTP_PREFER="handling=strict").json()
    assert ids(by_code) == [f"diagnosis-{secondary.pk}"]
    of_encounter = fhir.get(f"Condition?encounter=Encounter/{encounter.pk}"
                            "&_sort=recorded-date").json()
    assert sorted(ids(of_encounter)) == sorted([f"primary-{encounter.pk}",
                                                f"diagnosis-{secondary.pk}"])
    everything = fhir.get(f"Condition?patient={world.patient.pk}&_sort=-recorded-date"
                          "&_include=Condition:encounter").json()
    assert len(ids(everything)) == 4
    assert {e["resource"]["resourceType"] for e in everything["entry"]
            if e["search"]["mode"] == "include"} == {"Encounter"}


def test_pushes_are_audited_under_the_systems_name(world, fhir):
    resource = pushed(fhir, world)
    event = AuditEvent.objects.get(action=AuditEvent.Action.CREATE,
                                   object_type="encounters.Encounter", object_id=resource["id"])
    assert event.username.startswith("token:system-") and event.user is None
