"""FHIR ExplanationOfBenefit over the insurance settlements (issue 3, ADR 0007): the insurance
bureau pushes settlements in and outside the county, idempotently; reads and searches are
scoped to the caller's residents and audited; bad pushes say where and why."""

from __future__ import annotations

import copy
import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from tests.fhir.conftest import (
    BUREAU_SYSTEM,
    ICD10_CN,
    Fhir,
    new_encounter,
    new_settlement,
    settlement_totals,
)
from tiercare.accounts.models import AuditEvent
from tiercare.encounters.models import Encounter, Settlement
from tiercare.encounters.services import SETTLEMENT_TYPE
from tiercare.fhir import structure
from tiercare.registry.models import Level

pytestmark = pytest.mark.django_db

EOB = "ExplanationOfBenefit"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
DIVISION_URL = "https://tiercare.org/fhir/StructureDefinition/division-code"
LEVEL_URL = "https://tiercare.org/fhir/StructureDefinition/institution-level"
IN_COUNTY_URL = "https://tiercare.org/fhir/StructureDefinition/in-county"
SCHEME_URL = "https://tiercare.org/fhir/StructureDefinition/insurance-scheme"
DROP = object()  # in a table of changes: leave the element out


def ids(bundle) -> list[str]:
    return [e["resource"]["id"] for e in bundle["entry"] if e["search"]["mode"] == "match"]


def body(world, source_id: str = "JS20250301-0001", **changes: Any) -> dict[str, Any]:
    resource = new_settlement(world, source_id)
    for key, value in changes.items():
        if value is DROP:
            resource.pop(key, None)
        else:
            resource[key] = value
    return resource


def pushed(fhir, world, source_id: str = "JS20250301-0001", **changes: Any) -> dict[str, Any]:
    response = fhir.post(EOB, body(world, source_id, **changes))
    assert response.status_code == 201, response.content
    return response.json()


def outside(**changes: Any) -> dict[str, Any]:
    """张三's stay at the provincial hospital in Jinan (out of county, not in the registry)."""
    return {
        "subType": {"coding": [{"system": ACT_CODE, "code": "IMP"}]},
        "billablePeriod": {"start": "2025-02-03", "end": "2025-02-10"},
        "provider": {"display": "山东省立医院", "extension": [
            {"url": DIVISION_URL, "valueCode": "370102"},
            {"url": LEVEL_URL, "valueCode": "provincial"}]},
        "diagnosis": [{"sequence": 1, "diagnosisCodeableConcept": {
            "coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": "C34.9"}]}}],
        "item": [{"sequence": 1, "productOrService": {"text": "住院"}}],
        "total": settlement_totals(52000, 31200, 20800),
        **changes,
    }


def strangers_settlement(world) -> Settlement:
    return Settlement.objects.create(
        patient=world.stranger, scheme="resident", in_county=True,
        institution=world.other_township, institution_name=world.other_township.name,
        institution_level=Level.TOWNSHIP, division_code=world.other_township.division_code,
        encounter_class="outpatient", start_date=timezone.localdate() - dt.timedelta(days=5),
        diagnosis="J20.9", total=Decimal("80.00"), fund_paid=Decimal("50.00"),
        self_paid=Decimal("30.00"), source_system="test", source_id="s2")


# -- push -------------------------------------------------------------------------------------

def test_a_pushed_settlement_is_stored_and_linked_to_the_encounter_it_pays_for(world, fhir):
    encounter = fhir.post("Encounter", new_encounter(world)).json()
    resource = pushed(fhir, world)
    stored = Settlement.objects.get(pk=resource["id"])
    assert (stored.source_system, stored.source_id) == (BUREAU_SYSTEM, "JS20250301-0001")
    assert stored.encounter_id == int(encounter["id"]) and stored.in_county
    assert stored.institution_id == world.township.pk and stored.scheme == "resident"
    assert (str(stored.total), str(stored.fund_paid), str(stored.self_paid)) == (
        "85.50", "40.00", "45.50")
    assert stored.settled_at == dt.datetime(2025, 3, 1, 2, 15, tzinfo=dt.UTC)
    assert resource["type"]["coding"][0]["code"] == "professional"
    assert resource["subType"]["coding"][0]["code"] == "AMB"
    assert (resource["status"], resource["use"], resource["outcome"]) == (
        "active", "claim", "complete")
    assert resource["item"][0]["encounter"] == [{
        "reference": f"Encounter/{encounter['id']}",
        "identifier": {"value": "MZ20250301-0001"}}]
    assert resource["provider"]["reference"] == f"Organization/institution-{world.township.pk}"
    assert {e["url"]: e for e in resource["extension"]}[IN_COUNTY_URL]["valueBoolean"] is True
    totals = {t["category"]["coding"][0]["code"]: t["amount"] for t in resource["total"]}
    assert totals == {"submitted": {"value": 85.5, "currency": "CNY"},
                      "benefit": {"value": 40.0, "currency": "CNY"},
                      "self-paid": {"value": 45.5, "currency": "CNY"}}
    assert resource["diagnosis"][0]["diagnosisCodeableConcept"]["coding"][0] == {
        "system": ICD10_CN, "code": "I10",
        "display": resource["diagnosis"][0]["diagnosisCodeableConcept"]["text"]}
    structure.check(resource)


def test_a_settlement_that_arrives_first_is_linked_when_its_encounter_comes(world, fhir):
    resource = pushed(fhir, world)
    assert "reference" not in resource["item"][0]["encounter"][0]
    encounter = fhir.post("Encounter", new_encounter(world)).json()
    again = fhir.get(f"{EOB}/{resource['id']}").json()
    assert again["item"][0]["encounter"][0]["reference"] == f"Encounter/{encounter['id']}"


def test_care_outside_the_county_and_the_registry_keeps_the_hospital_as_sent(world, fhir):
    resource = pushed(fhir, world, "ZY-JN-1", **outside())
    stored = Settlement.objects.get(pk=resource["id"])
    assert stored.institution_id is None and not stored.in_county
    assert (stored.institution_name, stored.institution_level, stored.division_code) == (
        "山东省立医院", "provincial", "370102")
    assert stored.diagnosis == "C34.9" and stored.encounter_ref == ""
    assert resource["provider"] == outside()["provider"] | {"display": "山东省立医院"}
    assert resource["type"]["coding"][0]["code"] == "institutional"
    assert resource["billablePeriod"] == {"start": "2025-02-03", "end": "2025-02-10"}
    assert "encounter" not in resource["item"][0]
    assert {e["url"]: e for e in resource["extension"]}[IN_COUNTY_URL]["valueBoolean"] is False


def test_pushing_the_same_settlement_with_if_none_exist_twice_stores_it_once(world, fhir):
    condition = f"identifier={BUREAU_SYSTEM}|JS20250301-0001"
    first = fhir.post(EOB, new_settlement(world), HTTP_IF_NONE_EXIST=condition)
    again = fhir.post(EOB, new_settlement(world), HTTP_IF_NONE_EXIST=condition)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    assert Settlement.objects.filter(source_id="JS20250301-0001").count() == 1


def test_a_plain_create_of_a_known_identifier_is_409(world, fhir):
    pushed(fhir, world)
    response = fhir.post(EOB, new_settlement(world))
    assert response.status_code == 409 and response.json()["issue"][0]["code"] == "duplicate"


def test_conditional_update_creates_then_corrects(world, fhir):
    path = f"{EOB}?identifier={BUREAU_SYSTEM}|JS1"
    created = fhir.put(path, new_settlement(world, "JS1"))
    assert created.status_code == 201
    corrected = new_settlement(world, "JS1", total=settlement_totals(90, 40, 50))
    updated = fhir.put(path, corrected)
    assert updated.status_code == 200 and updated.json()["id"] == created.json()["id"]
    stored = Settlement.objects.get(source_id="JS1")
    assert (str(stored.total), str(stored.self_paid)) == ("90.00", "50.00")
    assert AuditEvent.objects.filter(action=AuditEvent.Action.UPDATE, object_type=SETTLEMENT_TYPE,
                                     object_id=str(stored.pk)).count() == 1


def _put_back(fhir, resource: dict[str, Any]) -> dict[str, Any]:
    response = fhir.put(f"{EOB}/{resource['id']}", copy.deepcopy(resource))
    assert response.status_code == 200, response.content
    return response.json()


ROUND_TRIP = ("identifier", "type", "subType", "patient", "billablePeriod", "created",
              "provider", "diagnosis", "insurance", "item", "total", "extension")


def test_read_back_and_put_unchanged_keeps_everything(world, fhir):
    fhir.post("Encounter", new_encounter(world))
    for resource in (pushed(fhir, world), pushed(fhir, world, "ZY-JN-1", **outside())):
        before = Settlement.objects.get(pk=resource["id"])
        again = _put_back(fhir, resource)
        for key in ROUND_TRIP:
            assert again[key] == resource[key], (resource["id"], key)
        after = Settlement.objects.get(pk=resource["id"])
        assert (after.updated_at, after.source_hash) == (before.updated_at, before.source_hash)
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.UPDATE,
                                         object_type=SETTLEMENT_TYPE).exists()


def test_a_settlement_recorded_without_its_time_keeps_none_when_put_back(world, fhir):
    """``created`` falls back to when TierCare recorded the settlement; sending that back is
    not a settlement time. (Written past the service, the row was not matched to its
    encounter; the first push through the service matches it.)"""
    settlement = strangers_settlement(world)
    resource = fhir.get(f"{EOB}/{settlement.pk}").json()
    assert resource["created"].startswith(timezone.localdate().isoformat())
    again = _put_back(fhir, resource)
    for key in ROUND_TRIP:
        if key != "item":
            assert again[key] == resource[key], key
    theirs = Encounter.objects.get(patient=world.stranger)
    assert again["item"][0]["encounter"] == [{"reference": f"Encounter/{theirs.pk}"}]
    assert Settlement.objects.get(pk=settlement.pk).settled_at is None
    assert _put_back(fhir, again)["item"] == again["item"]


def test_an_update_cannot_change_the_identifier(world, fhir):
    resource = pushed(fhir, world)
    resource["identifier"][0]["value"] = "OTHER"
    response = fhir.put(f"{EOB}/{resource['id']}", resource)
    assert response.status_code == 422
    assert response.json()["issue"][0]["expression"] == [f"{EOB}.identifier"]


def _inpatient(**changes: Any) -> dict[str, Any]:
    return {"subType": {"coding": [{"system": ACT_CODE, "code": "IMP"}]}, **changes}


@pytest.mark.parametrize("changes, status, path", [
    ({"identifier": []}, 422, f"{EOB}.identifier"),
    ({"identifier": [{"system": BUREAU_SYSTEM, "value": "x" * 65}]}, 422, f"{EOB}.identifier"),
    ({"status": "cancelled"}, 422, f"{EOB}.status"),
    ({"use": "preauthorization"}, 422, f"{EOB}.use"),
    ({"outcome": "queued"}, 422, f"{EOB}.outcome"),
    ({"patient": {"reference": "Patient/999999"}}, 422, f"{EOB}.patient"),
    ({"patient": {"reference": "Organization/institution-1"}}, 422, f"{EOB}.patient"),
    ({"provider": {"reference": "Organization/alliance-1"}}, 422, f"{EOB}.provider"),
    ({"provider": {"reference": "Organization/institution-999999"}}, 422, f"{EOB}.provider"),
    ({"provider": {"display": "某医院"}}, 422, f"{EOB}.provider.extension"),
    ({"provider": {"display": "某医院", "extension": [
        {"url": DIVISION_URL, "valueCode": "999999"},
        {"url": LEVEL_URL, "valueCode": "city"}]}}, 422, f"{EOB}.provider.extension"),
    ({"provider": {"display": "某医院", "extension": [
        {"url": DIVISION_URL, "valueCode": "370102"},
        {"url": LEVEL_URL, "valueCode": "grade-3a"}]}}, 422, f"{EOB}.provider.extension"),
    ({"provider": {"display": "医" * 201}}, 422, f"{EOB}.provider.display"),
    ({"subType": {"coding": [{"system": ACT_CODE, "code": "XYZ"}]}}, 422, f"{EOB}.subType"),
    ({"subType": DROP}, 422, f"{EOB}.subType"),
    ({"item": [{"sequence": 1, "productOrService": {"coding": [
        {"system": ACT_CODE, "code": "IMP"}]}}]}, 422, f"{EOB}.subType"),
    ({"billablePeriod": {"start": "2099-03-01"}}, 422, f"{EOB}.billablePeriod.start"),
    ({"billablePeriod": {"start": "2025-03-02", "end": "2025-03-01"}}, 422,
     f"{EOB}.billablePeriod.end"),
    ({"billablePeriod": {"end": "2025-03-01"}}, 422, f"{EOB}.billablePeriod.start"),
    ({"billablePeriod": {"start": "2025-03-01T08:30:00"}}, 400,  # a time without its zone
     f"{EOB}.billablePeriod.start"),
    (_inpatient(billablePeriod={"start": "2025-03-01"}), 422, f"{EOB}.billablePeriod.end"),
    ({"created": "2025-03-01T10:15:00"}, 400, f"{EOB}.created"),
    ({"diagnosis": []}, 422, f"{EOB}.diagnosis"),
    ({"diagnosis": [{"sequence": 1, "diagnosisCodeableConcept": {"coding": [
        {"system": ICD10_CN, "code": "A00.7"}]}}]}, 422,
     f"{EOB}.diagnosis[0].diagnosisCodeableConcept"),
    ({"diagnosis": [{"sequence": 1, "diagnosisCodeableConcept": {"text": "高血压"}}]}, 422,
     f"{EOB}.diagnosis[0].diagnosisCodeableConcept"),
    ({"diagnosis": [{"sequence": 1, "diagnosisReference": {
        "reference": "Condition/primary-999999"}}]}, 422,
     f"{EOB}.diagnosis[0].diagnosisReference"),
    ({"total": settlement_totals(100, 40, 45.5)}, 422, f"{EOB}.total[0].amount"),
    ({"total": settlement_totals(85.5, 40, 45.5, currency="USD")}, 422, f"{EOB}.total[0]"),
    ({"total": settlement_totals(85.5, -40, 125.5)}, 422, f"{EOB}.total[1].amount"),
    ({"total": settlement_totals(85.505, 40, 45.505)}, 422, f"{EOB}.total[0].amount"),
    ({"total": settlement_totals(85.5, 40, 45.5)[:2]}, 422, f"{EOB}.total"),
    ({"total": [*settlement_totals(85.5, 40, 45.5)[:2], {
        "category": {"coding": [{"system": "http://example.org", "code": "copay"}]},
        "amount": {"value": 45.5, "currency": "CNY"}}]}, 422, f"{EOB}.total[2].category"),
    ({"total": [*settlement_totals(85.5, 40, 45.5), settlement_totals(1, 1, 1)[0]]}, 422,
     f"{EOB}.total[3].category"),
    ({"extension": [{"url": SCHEME_URL, "valueCode": "gold"}]}, 422, f"{EOB}.extension"),
    ({"extension": [{"url": SCHEME_URL, "valueString": "resident"}]}, 422, f"{EOB}.extension"),
    ({"extension": [{"url": IN_COUNTY_URL, "valueBoolean": False}]}, 422, f"{EOB}.extension"),
    ({"item": [{"sequence": 1, "productOrService": {"text": "门诊"},
                "encounter": [{"reference": "Encounter/999999"}]}]}, 422,
     f"{EOB}.item[0].encounter[0]"),
    ({"item": [{"sequence": 1, "productOrService": {"text": "门诊"},
                "encounter": [{"identifier": {"value": "A"}}]},
               {"sequence": 2, "productOrService": {"text": "门诊"},
                "encounter": [{"identifier": {"value": "B"}}]}]}, 422, f"{EOB}.item"),
    ({"item": [{"sequence": 1, "productOrService": {"text": "门诊"},
                "encounter": [{"identifier": {"value": "M" * 65}}]}]}, 422,
     f"{EOB}.item[0].encounter[0].identifier.value"),
])
def test_bad_pushes_are_refused_with_the_place_and_a_reason(world, fhir, changes, status,
                                                             path):
    response = fhir.post(EOB, body(world, **changes))
    assert response.status_code == status, response.content
    issues = response.json()["issue"]
    assert any(path in issue.get("expression", [""])[0] for issue in issues), issues
    assert all(issue["diagnostics"] for issue in issues)
    assert not Settlement.objects.exclude(source_id="s1").exists()


def test_an_encounter_of_another_resident_or_another_number_is_refused(world, fhir):
    theirs = Encounter.objects.get(patient=world.stranger)
    item = {"sequence": 1, "productOrService": {"text": "门诊"},
            "encounter": [{"reference": f"Encounter/{theirs.pk}"}]}
    response = fhir.post(EOB, body(world, item=[item]))
    assert response.status_code == 422
    assert response.json()["issue"][0]["expression"] == [f"{EOB}.item[0].encounter[0]"]
    own = Encounter.objects.get(patient=world.patient, primary_diagnosis="I10")
    item["encounter"] = [{"reference": f"Encounter/{own.pk}", "identifier": {"value": "X9"}}]
    assert fhir.post(EOB, body(world, item=[item])).status_code == 422
    item["encounter"] = [{"reference": f"Encounter/{own.pk}"}]
    linked = pushed(fhir, world, item=[item])
    assert linked["item"][0]["encounter"] == [{"reference": f"Encounter/{own.pk}",
                                               "identifier": {"value": own.source_id}}]


def test_who_may_push_settlements(client, world, token):
    township = Fhir(client, token(f"system/{EOB}.write system/*.read", institution="T001"))
    assert township.post(EOB, new_settlement(world)).status_code == 201
    at_the_hospital = new_settlement(world, "JS2", provider={
        "reference": f"Organization/institution-{world.county_hospital.pk}"})
    assert township.post(EOB, at_the_hospital).status_code == 403
    assert township.post(EOB, body(world, "JS3", **outside())).status_code == 403
    reader = Fhir(client, token("system/*.read"))
    assert reader.post(EOB, new_settlement(world, "JS4")).status_code == 403
    bureau = Fhir(client, token(f"system/{EOB}.write system/*.read"))
    assert bureau.post(EOB, body(world, "JS5", **outside())).status_code == 201


def test_a_session_needs_the_system_administrator_role_to_push(client, world):
    client.force_login(world.user("doctor"))
    doctor = Fhir(client, {})
    assert doctor.get(f"{EOB}?_count=5").status_code == 200
    assert doctor.post(EOB, new_settlement(world)).status_code == 403


# -- read and search ----------------------------------------------------------------------------

def test_reads_and_searches_are_audited(world, fhir):
    settlement = Settlement.objects.get(source_id="s1")
    fhir.get(f"{EOB}/{settlement.pk}")
    fhir.get(f"{EOB}?patient=Patient/{world.patient.pk}")
    views = AuditEvent.objects.filter(action=AuditEvent.Action.VIEW, object_type=SETTLEMENT_TYPE)
    assert [(v.object_id, v.patient_id, v.username) for v in views] == [
        (str(settlement.pk), world.patient.pk, "token:system-1")]
    assert AuditEvent.objects.filter(action=AuditEvent.Action.SEARCH,
                                     object_type=SETTLEMENT_TYPE,
                                     summary__startswith=f"FHIR {EOB}?").exists()


def test_a_township_system_sees_settlements_of_its_residents_only(client, world, token):
    theirs = strangers_settlement(world)
    reader = Fhir(client, token("system/*.read", institution="T001"))
    found = reader.get(f"{EOB}?_count=50").json()
    assert {Settlement.objects.get(pk=i).patient_id for i in ids(found)} == {world.patient.pk}
    assert reader.get(f"{EOB}/{theirs.pk}").status_code == 404
    whole = Fhir(client, token("system/*.read"))
    assert whole.get(f"{EOB}/{theirs.pk}").status_code == 200


@pytest.fixture
def settlements(world, fhir):
    """s1 (the test county's, out of county at the city hospital ten days ago, recorded now),
    s2 (the stranger's), JS20250301-0001 (pushed, linked to its encounter, made 2025-03-01)."""
    encounter = fhir.post("Encounter", new_encounter(world)).json()
    strangers_settlement(world)
    pushed(fhir, world)
    return {"encounter": encounter["id"]}


@pytest.mark.parametrize("query, expected", [
    ("", {"s1", "s2", "JS20250301-0001"}),
    ("identifier=https://tiercare.org/fhir/identifier/settlement/test|s1", {"s1"}),
    ("identifier=s2", {"s2"}),
    (f"identifier={BUREAU_SYSTEM}|", {"JS20250301-0001"}),
    ("identifier=http://elsewhere.example|s1", set()),
    ("patient=Patient/{patient}", {"s1", "JS20250301-0001"}),
    ("patient={stranger}", {"s2"}),
    ("created=2025-03-01", {"JS20250301-0001"}),
    ("created=lt2025-03-02T00:00:00%2B08:00", {"JS20250301-0001"}),
    ("created=ge{today}", {"s1", "s2"}),
    ("created=gt2025-03&patient={patient}", {"s1"}),
    ("provider=Organization/institution-{city}", {"s1"}),
    ("provider=Organization/institution-{township}", {"JS20250301-0001"}),
    ("provider=Organization/alliance-1", set()),
    ("encounter=Encounter/{encounter}", {"JS20250301-0001"}),
    ("encounter={encounter}", {"JS20250301-0001"}),
    ("status=active", {"s1", "s2", "JS20250301-0001"}),
    ("status=http://hl7.org/fhir/fm-status|active&patient={stranger}", {"s2"}),
    ("status=cancelled", set()),
    ("_id={s1}", {"s1"}),
])
def test_each_search_parameter_finds_what_it_says(world, fhir, settlements, query, expected):
    path = f"{EOB}?" + query.format(
        patient=world.patient.pk, stranger=world.stranger.pk, city=world.city_hospital.pk,
        township=world.township.pk, encounter=settlements["encounter"],
        today=timezone.localdate().isoformat(), s1=Settlement.objects.get(source_id="s1").pk)
    response = fhir.get(path, HTTP_PREFER="handling=strict")
    assert response.status_code == 200, response.content
    found = {Settlement.objects.get(pk=i).source_id for i in ids(response.json())}
    assert found == expected


def test_sorting_by_created(world, fhir, settlements):
    def order(sort: str) -> list[str]:
        bundle = fhir.get(f"{EOB}?patient={world.patient.pk}&_sort={sort}").json()
        return [Settlement.objects.get(pk=i).source_id for i in ids(bundle)]

    assert order("created") == ["JS20250301-0001", "s1"]
    assert order("-created") == ["s1", "JS20250301-0001"]


def test_include_brings_residents_institutions_and_encounters_once(world, fhir, settlements):
    bundle = fhir.get(f"{EOB}?_include={EOB}:patient&_include={EOB}:provider"
                      f"&_include={EOB}:encounter&_count=50").json()
    included = [e["resource"] for e in bundle["entry"] if e["search"]["mode"] == "include"]
    by_type: dict[str, list[str]] = {}
    for resource in included:
        by_type.setdefault(resource["resourceType"], []).append(resource["id"])
    assert sorted(by_type["Patient"]) == sorted([str(world.patient.pk), str(world.stranger.pk)])
    assert sorted(by_type["Organization"]) == sorted(
        f"institution-{i.pk}" for i in (world.city_hospital, world.township,
                                        world.other_township))
    assert by_type["Encounter"] == [settlements["encounter"]]
