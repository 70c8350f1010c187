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

    def make(scope: str = "system/*.read system/Patient.write system/Encounter.write "
                          "system/ExplanationOfBenefit.write system/Appointment.write "
                          "system/ServiceRequest.write system/Task.write system/Observation.write",
             **reach: Any) -> dict[str, str]:
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


ICD10_CN = "urn:oid:2.16.156.10011.2.3.3.11"
COSTS_URL = "https://tiercare.org/fhir/StructureDefinition/encounter-costs"
HIS_SYSTEM = "http://his.t001.example.cn/encounter"


def new_encounter(county: Any, source_id: str = "MZ20250301-0001",
                  **changes: Any) -> dict[str, Any]:
    """An outpatient Encounter as the township centre's HIS pushes it: 张三 seen by 李医生
    for hypertension (I10) with type 2 diabetes (E11.9), diagnoses contained, costs 85.50."""
    patient = {"reference": f"Patient/{county.patient.pk}"}
    resource = {
        "resourceType": "Encounter",
        "identifier": [{"system": HIS_SYSTEM, "value": source_id}],
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        "subject": patient,
        "serviceProvider": {"reference": f"Organization/institution-{county.township.pk}"},
        "participant": [{"individual": {
            "reference": f"Practitioner/{county.doctor_practitioner.pk}"}}],
        "period": {"start": "2025-03-01T08:30:00+08:00", "end": "2025-03-01T09:00:00+08:00"},
        "contained": [
            {"resourceType": "Condition", "id": "d1", "subject": patient,
             "code": {"coding": [{"system": ICD10_CN, "code": "I10"}]}},
            {"resourceType": "Condition", "id": "d2", "subject": patient,
             "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10",
                                  "code": "E11.9"}]}},
        ],
        "diagnosis": [{"condition": {"reference": "#d2"}, "rank": 2},
                      {"condition": {"reference": "#d1"}, "rank": 1}],
        "extension": [{"url": COSTS_URL, "extension": [
            {"url": name, "valueMoney": {"value": value, "currency": "CNY"}}
            for name, value in (("total", 85.5), ("drugs", 30), ("services", 55.5),
                                ("insurance-paid", 40))]}],
    }
    resource.update(changes)
    return resource


def assert_pages_in_name_order(fhir: Fhir, resource_type: str, *, size: int,
                               expected: int) -> None:
    """Following ``next`` links with ``_sort=name`` in pages of ``size`` gives exactly the
    one-page answer, which is in name order, and ``-name`` gives it reversed."""
    everything = fhir.get(f"{resource_type}?_count=200&_sort=name").json()
    names = [e["resource"]["name"] for e in everything["entry"]]
    assert len(names) == expected and names == sorted(names)
    seen: list[str] = []
    url = f"{resource_type}?_count={size}&_sort=name"
    while url:
        bundle = fhir.get(url).json()
        seen += [e["resource"]["name"] for e in bundle["entry"]]
        url = next((link["url"].split("/fhir/", 1)[1] for link in bundle["link"]
                    if link["relation"] == "next"), "")
    assert seen == names
    descending = fhir.get(f"{resource_type}?_count=200&_sort=-name&_total=accurate").json()
    assert [e["resource"]["name"] for e in descending["entry"]] == names[::-1]
    assert descending["total"] == expected


BUREAU_SYSTEM = "http://ybj.linqing.example.cn/settlement"
ADJUDICATION = "http://terminology.hl7.org/CodeSystem/adjudication"
SELF_PAID = ("https://tiercare.org/fhir/CodeSystem/adjudication", "self-paid")


def settlement_totals(total: float, fund: float, own: float,
                      currency: str = "CNY") -> list[dict[str, Any]]:
    """The three totals of a settlement: submitted, benefit (fund) and self-paid."""
    return [{"category": {"coding": [{"system": system, "code": code}]},
             "amount": {"value": value, "currency": currency}}
            for (system, code), value in (((ADJUDICATION, "submitted"), total),
                                          ((ADJUDICATION, "benefit"), fund),
                                          (SELF_PAID, own))]


def new_settlement(county: Any, source_id: str = "JS20250301-0001",
                   **changes: Any) -> dict[str, Any]:
    """An ExplanationOfBenefit as the insurance bureau pushes it: 张三's outpatient visit at
    the township centre on 2025-03-01 for hypertension (I10), 85.50 of which the fund paid
    40.00 and he paid 45.50, for the HIS encounter MZ20250301-0001 (``new_encounter``)."""
    resource = {
        "resourceType": "ExplanationOfBenefit",
        "identifier": [{"system": BUREAU_SYSTEM, "value": source_id}],
        "status": "active",
        "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/claim-type",
                             "code": "professional"}]},
        "subType": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                                "code": "AMB"}]},
        "use": "claim",
        "patient": {"reference": f"Patient/{county.patient.pk}"},
        "billablePeriod": {"start": "2025-03-01", "end": "2025-03-01"},
        "created": "2025-03-01T10:15:00+08:00",
        "insurer": {"display": "临清市医疗保障局"},
        "provider": {"reference": f"Organization/institution-{county.township.pk}"},
        "outcome": "complete",
        "diagnosis": [{"sequence": 1, "diagnosisCodeableConcept": {
            "coding": [{"system": ICD10_CN, "code": "I10"}]}}],
        "insurance": [{"focal": True, "coverage": {"display": "城乡居民基本医疗保险"}}],
        "item": [{"sequence": 1, "productOrService": {"text": "门诊"},
                  "encounter": [{"identifier": {"value": "MZ20250301-0001"}}]}],
        "total": settlement_totals(85.5, 40, 45.5),
    }
    resource.update(changes)
    return resource


def free_slot(county: Any, *, capacity: int = 2, days: int = 3, hour: int = 9,
              pool: str = "public") -> Any:
    """A slot of the county hospital's cardiology clinic ``days`` from today at ``hour``
    (China time, 30 minutes), made as ``tests/scheduling/conftest.py`` makes them; the
    schedule is made once."""
    import datetime as dt

    from django.utils import timezone

    from tiercare.scheduling.models import Schedule, Slot

    department = county.county_hospital.departments.order_by("pk").first()
    schedule, _made = Schedule.objects.get_or_create(
        institution=county.county_hospital, department=department, name="心内科普通门诊")
    day = timezone.localdate() + dt.timedelta(days=days)
    start = dt.datetime.combine(day, dt.time(hour), tzinfo=timezone.get_default_timezone())
    return Slot.objects.create(schedule=schedule, start=start,
                               end=start + dt.timedelta(minutes=30), pool=pool,
                               capacity=capacity)


def new_appointment(county: Any, slot: Any = None, **changes: Any) -> dict[str, Any]:
    """An Appointment as a HIS books it: 张三 in ``slot`` (a new free public slot of the county
    hospital when none is given)."""
    slot = slot if slot is not None else free_slot(county)
    resource = {
        "resourceType": "Appointment",
        "status": "booked",
        "slot": [{"reference": f"Slot/{slot.pk}"}],
        "participant": [{"actor": {"reference": f"Patient/{county.patient.pk}"},
                         "status": "accepted"}],
    }
    resource.update(changes)
    return resource


REFERRAL_DIRECTION = "https://tiercare.org/fhir/CodeSystem/referral-direction"
NOTE_KIND = "https://tiercare.org/fhir/StructureDefinition/referral-note-kind"


def new_service_request(county: Any, **changes: Any) -> dict[str, Any]:
    """A referral as the township centre's HIS writes it: 李医生 refers 张三 up to the county
    hospital's cardiology for hypertension (I10) with type 2 diabetes (E11.9), a draft.
    李医生 is given the township doctor's account (a system writes for a clinician who has
    one)."""
    from tiercare.accounts.models import Role, User

    User.objects.filter(pk=county.user(Role.DOCTOR).pk).update(
        practitioner=county.doctor_practitioner)
    department = county.county_hospital.departments.order_by("pk").first()
    resource = {
        "resourceType": "ServiceRequest",
        "status": "draft",
        "intent": "order",
        "category": [{"coding": [{"system": REFERRAL_DIRECTION, "code": "up"}]}],
        "priority": "routine",
        "subject": {"reference": f"Patient/{county.patient.pk}"},
        "requester": {"reference": f"PractitionerRole/employment-{county.doctor_practitioner.pk}"},
        "performer": [{"reference": f"Organization/department-{department.pk}"}],
        "reasonCode": [{"coding": [{"system": ICD10_CN, "code": "I10"}]},
                       {"coding": [{"system": ICD10_CN, "code": "E11.9"}]}],
        "note": [{"text": "血压控制不佳，需调整用药", "extension": [
                      {"url": NOTE_KIND, "valueCode": "reason"}]},
                 {"text": "高血压病史10年", "extension": [
                      {"url": NOTE_KIND, "valueCode": "clinical-summary"}]}],
    }
    resource.update(changes)
    return resource
