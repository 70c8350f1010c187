"""batch and transaction Bundles (issue 3): a transaction is all or nothing, references to
entries (urn:uuid) and conditional references resolve to the stored records, a batch keeps
its good entries and answers each entry's error."""

from __future__ import annotations

import json

import pytest

from tests.fhir.conftest import HIS_SYSTEM, new_encounter, new_patient
from tiercare.encounters.models import Encounter
from tiercare.patients.models import Patient

pytestmark = pytest.mark.django_db
ID_SYSTEM = "urn:oid:2.16.156.10011.1.3"
NEW_ID = "11010519491231002X"


def bundle(kind: str, *entries: dict) -> dict:
    return {"resourceType": "Bundle", "type": kind, "entry": list(entries)}


def post(fhir, body, path: str = ""):
    return fhir.client.post(f"/fhir{path}", data=json.dumps(body),
                            content_type="application/fhir+json", **fhir.headers)


def patient_and_encounter(world, *, encounter_changes=None) -> dict:
    """A new resident and her first encounter, the encounter pointing at the resident by the
    entry's urn:uuid — as a HIS registers a walk-in patient."""
    encounter = new_encounter(world, "MZ-NEW-1", **(encounter_changes or {}))
    encounter["subject"] = {"reference": "urn:uuid:0f2c6f6e-1111-4b7e-9b57-6ad1b5f0a001"}
    for condition in encounter["contained"]:
        condition["subject"] = encounter["subject"]
    return bundle(
        "transaction",
        # the encounter first: the server must store the resident before it
        {"fullUrl": "urn:uuid:0f2c6f6e-2222-4b7e-9b57-6ad1b5f0a002", "resource": encounter,
         "request": {"method": "POST", "url": "Encounter",
                     "ifNoneExist": f"identifier={HIS_SYSTEM}|MZ-NEW-1"}},
        {"fullUrl": "urn:uuid:0f2c6f6e-1111-4b7e-9b57-6ad1b5f0a001", "resource": new_patient(),
         "request": {"method": "POST", "url": "Patient",
                     "ifNoneExist": f"identifier={ID_SYSTEM}|{NEW_ID}"}},
    )


def test_a_transaction_stores_the_resident_before_the_encounter_that_refers_to_her(world,
                                                                                  fhir):
    response = post(fhir, patient_and_encounter(world))
    assert response.status_code == 200, response.content
    answer = response.json()
    assert answer["type"] == "transaction-response"
    statuses = [e["response"]["status"] for e in answer["entry"]]
    assert statuses == ["201 Created", "201 Created"]  # in the order of the request
    patient = Patient.objects.get(id_number=NEW_ID)
    encounter = Encounter.objects.get(source_id="MZ-NEW-1")
    assert encounter.patient_id == patient.pk
    assert answer["entry"][0]["response"]["location"] == f"Encounter/{encounter.pk}"
    assert answer["entry"][0]["resource"]["subject"]["reference"] == f"Patient/{patient.pk}"


def test_the_same_transaction_again_changes_nothing(world, fhir):
    first = post(fhir, patient_and_encounter(world)).json()
    again = post(fhir, patient_and_encounter(world))
    assert again.status_code == 200
    assert [e["response"]["status"] for e in again.json()["entry"]] == ["200 OK", "200 OK"]
    assert [e["resource"]["id"] for e in again.json()["entry"]] == \
        [e["resource"]["id"] for e in first["entry"]]
    assert Patient.objects.filter(id_number=NEW_ID).count() == 1


def test_a_failing_transaction_leaves_nothing_behind(world, fhir):
    patients, encounters = Patient.objects.count(), Encounter.objects.count()
    broken = patient_and_encounter(world, encounter_changes={"period": {"start": "2099-01-01"}})
    response = post(fhir, broken)
    assert response.status_code == 422
    issue = response.json()["issue"][0]
    assert issue["diagnostics"].startswith("第 1 个条目（POST Encounter）")
    assert issue["expression"] == ["Bundle.entry[0].resource.period.start"]
    assert (Patient.objects.count(), Encounter.objects.count()) == (patients, encounters)


def test_a_batch_keeps_its_good_entries_and_answers_each_error(world, fhir):
    response = post(fhir, bundle(
        "batch",
        {"resource": new_patient(), "request": {"method": "POST", "url": "Patient"}},
        {"resource": new_patient("110105194912310021"),  # bad check digit
         "request": {"method": "POST", "url": "Patient"}},
        {"request": {"method": "GET", "url": f"Patient/{world.patient.pk}"}},
        {"request": {"method": "GET", "url": "Patient?name=zs"}},
        {"request": {"method": "DELETE", "url": f"Patient/{world.patient.pk}"}},
    ))
    assert response.status_code == 200
    entries = response.json()["entry"]
    assert [e["response"]["status"][:3] for e in entries] == ["201", "422", "200", "200", "405"]
    assert entries[1]["response"]["outcome"]["resourceType"] == "OperationOutcome"
    assert entries[3]["resource"]["type"] == "searchset"
    assert Patient.objects.filter(id_number=NEW_ID).exists()


def test_conditional_references_resolve_to_the_one_match(world, fhir):
    encounter = new_encounter(world, "MZ-COND-1")
    encounter["subject"] = {"reference": f"Patient?identifier={ID_SYSTEM}|"
                                         f"{world.patient.id_number}"}
    response = post(fhir, bundle("transaction", {
        "resource": encounter, "request": {"method": "PUT",
                                           "url": f"Encounter?identifier={HIS_SYSTEM}|MZ-COND-1"}}))
    assert response.status_code == 200, response.content
    assert Encounter.objects.get(source_id="MZ-COND-1").patient_id == world.patient.pk
    encounter["subject"] = {"reference": f"Patient?identifier={ID_SYSTEM}|{NEW_ID}"}
    missing = post(fhir, bundle("transaction", {
        "resource": encounter, "request": {"method": "POST", "url": "Encounter"}}))
    assert missing.status_code == 404


@pytest.mark.parametrize("body, status", [
    ({"resourceType": "Patient"}, 400),
    ({"resourceType": "Bundle", "type": "collection", "entry": []}, 400),
    ({"resourceType": "Bundle", "type": "batch", "entry": {"not": "a list"}}, 400),
    ({"resourceType": "Bundle", "type": "transaction", "entry": [{"resource": {}}]}, 400),
    ({"resourceType": "Bundle", "type": "transaction",
      "entry": [{"request": {"method": "POST", "url": "Patient"}}]}, 400),
    ({"resourceType": "Bundle", "type": "transaction",
      "entry": [{"request": {"method": "GET", "url": "Nonsense/1/2/3"}}]}, 400),
    ({"resourceType": "Bundle", "type": "transaction",
      "entry": [{"resource": {"resourceType": "Patient", "birthDate": "yesterday"},
                 "request": {"method": "POST", "url": "Patient"}}]}, 400),
    ({"resourceType": "Bundle", "type": "transaction",
      "entry": [{"resource": {"resourceType": "Encounter",
                              "subject": {"reference": "urn:uuid:nowhere"}},
                 "request": {"method": "POST", "url": "Encounter"}}]}, 400),
])
def test_malformed_bundles_are_refused_with_an_operation_outcome(fhir, body, status):
    response = post(fhir, body)
    assert response.status_code == status, response.content
    assert response.json()["resourceType"] == "OperationOutcome"


def test_entries_that_refer_to_each_other_in_a_circle_are_400(world, fhir):
    a, b = new_encounter(world, "A"), new_encounter(world, "B")
    a["subject"] = {"reference": "urn:uuid:b"}
    b["subject"] = {"reference": "urn:uuid:a"}
    response = post(fhir, bundle(
        "transaction",
        {"fullUrl": "urn:uuid:a", "resource": a, "request": {"method": "POST", "url": "Encounter"}},
        {"fullUrl": "urn:uuid:b", "resource": b, "request": {"method": "POST", "url": "Encounter"}},
    ))
    assert response.status_code == 400 and "循环" in response.json()["issue"][0]["diagnostics"]


def test_entries_obey_the_token_scopes(client, world, token):
    from tests.fhir.conftest import Fhir

    reader = Fhir(client, token("system/*.read"))
    response = post(reader, bundle("transaction", {
        "resource": new_patient(), "request": {"method": "POST", "url": "Patient"}}))
    assert response.status_code == 403
    assert not Patient.objects.filter(id_number=NEW_ID).exists()


def test_the_base_address_takes_only_post_and_limits_entries(fhir, settings):
    assert fhir.client.get("/fhir", **fhir.headers).status_code == 405
    settings.TIERCARE_FHIR_MAX_BUNDLE_ENTRIES = 2
    entries = [{"request": {"method": "GET", "url": "Patient"}}] * 3
    assert post(fhir, bundle("batch", *entries)).status_code == 413
    assert post(fhir, bundle("batch", *entries[:2]), "/").status_code == 200


# -- many new residents and encounters at once (the batch path of a transaction) ------------

def residents_with_encounters(world, count: int, *, condition: bool = True) -> dict:
    """``count`` new residents of one village, each with a first encounter referring to
    the resident's entry."""
    import datetime as dt

    from tiercare.kernel import idnumber

    entries = []
    for n in range(count):
        birth = dt.date(1950, 1, 1) + dt.timedelta(days=n)
        number = idnumber.make("110105", birth, 2 * n + 1)
        patient = new_patient(number, gender="male", birthDate=birth.isoformat(),
                              name=[{"text": f"王{'一二三四五六七八九十'[n % 10]}"}])
        request = {"method": "POST", "url": "Patient"}
        if condition:
            request["ifNoneExist"] = f"identifier={ID_SYSTEM}|{number}"
        entries.append({"fullUrl": f"urn:uuid:p{n}", "resource": patient, "request": request})
        encounter = new_encounter(world, f"MZ-MANY-{n}")
        encounter["subject"] = {"reference": f"urn:uuid:p{n}"}
        entries.append({"fullUrl": f"urn:uuid:e{n}", "resource": encounter, "request": {
            "method": "PUT", "url": f"Encounter?identifier={HIS_SYSTEM}|MZ-MANY-{n}"}})
    return bundle("transaction", *entries)


def test_many_new_residents_get_consecutive_record_numbers_and_audit_events(world, fhir):
    from tiercare.accounts.models import AuditEvent

    response = post(fhir, residents_with_encounters(world, 6))
    assert response.status_code == 200, response.content
    statuses = [e["response"]["status"] for e in response.json()["entry"]]
    assert statuses == ["201 Created"] * 12
    patients = list(Patient.objects.filter(id_number__startswith="110105").order_by("pk"))
    numbers = [int(p.health_record_no[12:]) for p in patients]
    assert numbers == list(range(numbers[0], numbers[0] + 6))
    assert {p.name_initials for p in patients} == {"wy", "we", "ws", "ww", "wl"}
    for patient in patients:
        encounter = Encounter.objects.get(patient=patient)
        assert encounter.diagnoses.count() == 1
        assert AuditEvent.objects.filter(action="create", patient_id=patient.pk,
                                         username__startswith="token:").count() == 2


def test_a_bad_resident_in_the_middle_fails_the_whole_transaction_naming_it(world, fhir):
    body = residents_with_encounters(world, 4)
    body["entry"][4]["resource"]["birthDate"] = "1990-01-01"  # contradicts the ID number
    response = post(fhir, body)
    assert response.status_code == 422
    assert response.json()["issue"][0]["diagnostics"].startswith("第 5 个条目（POST Patient）")
    assert not Patient.objects.filter(id_number__startswith="110105").exists()
    assert not Encounter.objects.filter(source_id__startswith="MZ-MANY-").exists()


def test_the_same_new_resident_twice_in_one_transaction(world, fhir):
    body = residents_with_encounters(world, 2)
    body["entry"][2]["resource"] = body["entry"][0]["resource"]
    body["entry"][2]["request"] = body["entry"][0]["request"]
    answer = post(fhir, body).json()
    assert answer["entry"][2]["response"]["status"] == "200 OK"
    assert answer["entry"][2]["resource"]["id"] == answer["entry"][0]["resource"]["id"]
    plain = residents_with_encounters(world, 2, condition=False)
    plain["entry"][2]["resource"] = plain["entry"][0]["resource"]
    assert post(fhir, plain).status_code == 409


def test_a_known_resident_and_a_known_encounter_in_a_batch_run_are_matched(world, fhir):
    first = post(fhir, residents_with_encounters(world, 3)).json()
    again = post(fhir, residents_with_encounters(world, 3)).json()
    assert [e["response"]["status"][:3] for e in again["entry"]] == ["200"] * 6
    assert [e["resource"]["id"] for e in again["entry"]] == \
        [e["resource"]["id"] for e in first["entry"]]
    assert Encounter.objects.filter(source_id__startswith="MZ-MANY-").count() == 3


def test_a_settlement_waiting_for_a_new_encounter_is_linked(world, fhir):
    from decimal import Decimal

    from django.utils import timezone

    from tiercare.encounters.models import Settlement

    body = residents_with_encounters(world, 2)
    post(fhir, bundle("transaction", body["entry"][0]))
    patient = Patient.objects.get(id_number=body["entry"][0]["resource"]["identifier"][0][
        "value"])
    waiting = Settlement.objects.create(
        patient=patient, scheme="resident", in_county=True, institution=world.township,
        institution_name=world.township.name, institution_level="township",
        division_code=world.township.division_code, encounter_class="outpatient",
        start_date=timezone.localdate(), diagnosis="I10", total=Decimal("85.50"),
        fund_paid=Decimal("40.00"), self_paid=Decimal("45.50"), source_system="bureau",
        source_id="S-1", encounter_ref="MZ-MANY-0")
    assert post(fhir, body).status_code == 200
    waiting.refresh_from_db()
    assert waiting.encounter == Encounter.objects.get(source_id="MZ-MANY-0")
