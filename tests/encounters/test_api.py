"""JSON API of encounters: status codes and problem+json errors (RFC 9457)."""

from __future__ import annotations

import pytest

from tests.encounters.factories import encounter_input
from tiercare.accounts.models import AuditEvent, Role, User
from tiercare.encounters import services
from tiercare.encounters.models import Encounter, Settlement

pytestmark = pytest.mark.django_db
BASE = "/api/encounters"


def user(role, **kwargs):
    return User.objects.create_user(username=f"{role}-{User.objects.count()}",
                                    password="x-Very-long-9", role=role, **kwargs)


@pytest.fixture
def admin_client(client, county):
    client.force_login(user(Role.SYSTEM_ADMIN))
    return client


def fields(response):
    assert response["Content-Type"] == "application/problem+json"
    return {e["field"] for e in response.json()["errors"]}


def payload(patient, **overrides):
    body = {
        "resident_id_number": patient.id_number, "institution_code": "H001",
        "department_code": "NK", "practitioner_code": "D001", "encounter_class": "outpatient",
        "start": "2025-03-04T09:30:00+08:00", "primary_diagnosis": "I10",
        "secondary_diagnoses": ["E11.9"], "total": "100.00", "drugs": "60.00",
        "consumables": "10.00", "examinations": "20.00", "services": "10.00",
        "insurance_paid": "50.00", "source_system": "HIS", "source_id": "E1",
    }
    body.update(overrides)
    return body


def test_login_is_required(client, county):
    response = client.get(f"{BASE}/patients/{county['patient'].pk}/encounters")
    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"


def test_post_creates_then_is_idempotent_then_updates(admin_client, county):
    body = payload(county["patient"])
    first = admin_client.post(f"{BASE}/", body, content_type="application/json")
    assert first.status_code == 201, first.content
    data = first.json()
    assert data["institution_level"] == "county"
    assert data["secondary_diagnoses"] == [{"rank": 1, "code": "E11.9"}]
    again = admin_client.post(f"{BASE}/", body, content_type="application/json")
    assert again.status_code == 200 and again.json()["id"] == data["id"]
    changed = admin_client.post(f"{BASE}/", {**body, "primary_diagnosis": "E11.9"},
                                content_type="application/json")
    assert changed.status_code == 200
    assert Encounter.objects.get().primary_diagnosis == "E11.9"


def test_bad_input_is_a_422_problem_with_field_errors(admin_client, county):
    body = payload(county["patient"], primary_diagnosis="ZZZ", total="99.00")
    response = admin_client.post(f"{BASE}/", body, content_type="application/json",
                                 HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 422
    assert response["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 422
    assert {e["field"] for e in problem["errors"]} == {"primary_diagnosis", "total"}
    assert Encounter.objects.count() == 0


def test_unknown_institution_and_resident_are_422(admin_client, county):
    response = admin_client.post(f"{BASE}/", payload(county["patient"], institution_code="X"),
                                 content_type="application/json")
    assert response.status_code == 422
    assert fields(response) == {"institution_code"}
    response = admin_client.post(f"{BASE}/", payload(county["patient"],
                                                     resident_id_number="11010519491231002X"),
                                 content_type="application/json")
    assert response.status_code == 422
    assert fields(response) == {"resident_id_number"}


def test_missing_field_is_refused(admin_client, county):
    body = payload(county["patient"])
    del body["start"]
    response = admin_client.post(f"{BASE}/", body, content_type="application/json")
    assert response.status_code == 422
    assert fields(response) == {"start"}


def test_doctor_writes_only_for_their_institution_and_reads_only_their_patients(client,
                                                                                county):
    doctor = user(Role.DOCTOR, institution=county["township"])
    client.force_login(doctor)
    response = client.post(f"{BASE}/", payload(county["patient"]),
                           content_type="application/json")
    assert response.status_code == 403
    assert response["Content-Type"] == "application/problem+json"
    response = client.get(f"{BASE}/patients/{county['patient'].pk}/encounters")
    assert response.status_code == 403
    # once the resident has an encounter at the doctor's institution, the record is visible
    response = client.post(f"{BASE}/", payload(county["patient"], institution_code="T001",
                                               department_code="", practitioner_code=""),
                           content_type="application/json")
    assert response.status_code == 201
    response = client.get(f"{BASE}/patients/{county['patient'].pk}/encounters")
    assert response.status_code == 200 and len(response.json()) == 1


def test_list_and_get_are_audited_and_ordered(admin_client, county):
    patient = county["patient"]
    from tests.encounters.factories import aware

    old = services.record_encounter(encounter_input(patient, county["village"], "A",
                                                    start=aware(2024, 1, 1, 8, 0)))
    new = services.record_encounter(encounter_input(patient, county["hospital"], "B"))
    response = admin_client.get(f"{BASE}/patients/{patient.pk}/encounters")
    assert response.status_code == 200
    assert [e["id"] for e in response.json()] == [new.pk, old.pk]
    assert AuditEvent.objects.filter(action=AuditEvent.Action.VIEW,
                                     patient_id=patient.pk).count() == 1
    assert admin_client.get(f"{BASE}/{old.pk}").json()["source_id"] == "A"
    missing = admin_client.get(f"{BASE}/999999")
    assert missing.status_code == 404
    assert missing["Content-Type"] == "application/problem+json"
    assert admin_client.get(f"{BASE}/patients/999999/encounters").status_code == 404


def test_settlements_post_and_list(admin_client, county):
    patient = county["patient"]
    body = {
        "resident_id_number": patient.id_number, "institution_name": "安庆市立医院",
        "institution_level": "city", "division_code": "340802", "encounter_class": "inpatient",
        "start_date": "2025-02-01", "end_date": "2025-02-10", "diagnosis": "I63.9",
        "total": "8000.00", "fund_paid": "5000.00", "self_paid": "3000.00",
        "source_system": "YB", "source_id": "S1",
    }
    response = admin_client.post(f"{BASE}/settlements", body, content_type="application/json")
    assert response.status_code == 201, response.content
    assert response.json()["in_county"] is False
    assert admin_client.post(f"{BASE}/settlements", body,
                             content_type="application/json").status_code == 200
    wrong = admin_client.post(f"{BASE}/settlements", {**body, "source_id": "S2",
                                                      "in_county": True},
                              content_type="application/json")
    assert wrong.status_code == 422 and fields(wrong) == {"in_county"}
    listed = admin_client.get(f"{BASE}/patients/{patient.pk}/settlements?in_county=false")
    assert [s["source_id"] for s in listed.json()] == ["S1"]
    assert Settlement.objects.count() == 1


def test_settlements_are_not_written_by_doctors(client, county):
    client.force_login(user(Role.DOCTOR, institution=county["hospital"]))
    response = client.post(f"{BASE}/settlements", {
        "resident_id_number": county["patient"].id_number, "institution_code": "H001",
        "encounter_class": "outpatient", "start_date": "2025-02-01", "diagnosis": "I10",
        "total": "1.00", "fund_paid": "0.50", "self_paid": "0.50", "source_system": "YB",
        "source_id": "S1"}, content_type="application/json")
    assert response.status_code == 403
