"""FHIR Patient over the shared resident record (issue 3): read, search with the declared
parameters and paging, create, conditional create and update, errors as OperationOutcome,
scopes of tokens and sessions, and the audit trail of every read."""

from __future__ import annotations

import pytest

from tests.fhir.conftest import Fhir, new_patient
from tests.web.factories import make_patient
from tiercare.accounts.models import AuditEvent
from tiercare.patients.models import Patient

pytestmark = pytest.mark.django_db
ID_SYSTEM = "urn:oid:2.16.156.10011.1.3"


def ids(bundle) -> list[str]:
    return [e["resource"]["id"] for e in bundle["entry"] if e["search"]["mode"] == "match"]


# -- read --------------------------------------------------------------------------------------

def test_read_answers_fhir_json_with_the_national_identifier_and_is_audited(world, fhir):
    response = fhir.get(f"Patient/{world.patient.pk}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/fhir+json")
    resource = response.json()
    assert resource["name"][0]["text"] == "张三"
    assert {"system": ID_SYSTEM, "value": world.patient.id_number, "use": "official"} in \
        resource["identifier"]
    assert resource["gender"] == "male" and resource["birthDate"] == "1958-06-01"
    assert resource["address"][0]["extension"][0]["valueCode"] == world.patient.address_code
    event = AuditEvent.objects.get(action=AuditEvent.Action.VIEW, patient_id=world.patient.pk)
    assert event.username.startswith("token:")


def test_an_unknown_or_malformed_id_is_404_with_an_operation_outcome(fhir):
    for path in ("Patient/999999", "Patient/abc", "Patient/99999999999999999999999"):
        response = fhir.get(path)
        assert response.status_code == 404
        assert response.json()["resourceType"] == "OperationOutcome"
        assert response.json()["issue"][0]["code"] == "not-found"


def test_an_unknown_resource_type_is_404(fhir):
    response = fhir.get("Spaceship")
    assert response.status_code == 404 and response.json()["issue"][0]["code"] == "not-supported"


# -- search ------------------------------------------------------------------------------------

@pytest.mark.parametrize("query, expected", [
    ("identifier={id_system}|{id_number}", {"patient"}),
    ("identifier={id_number}", {"patient"}),
    ("identifier={id_system}|{id15}", {"patient"}),  # the 15-digit form (GB 11643)
    ("identifier=https://tiercare.org/fhir/identifier/health-record|{record}", {"patient"}),
    ("name=张", {"patient"}),
    ("name=zs", {"patient", "stranger"}),  # 张三 and 赵四 (zhao si)
    ("name=zsa", set()),
    ("name=张,赵", {"patient", "stranger"}),
    ("name:exact=张三", {"patient"}),
    ("name:exact=张", set()),
    ("birthdate=1958", {"patient", "stranger"}),
    ("birthdate=1958-06-01", {"patient", "stranger"}),
    ("birthdate=gt1958", set()),
    ("birthdate=le1958-06", {"patient", "stranger"}),
    ("birthdate=lt1958-06-01", set()),
    ("gender=male", {"patient", "stranger"}),
    ("gender=female", set()),
    ("phone=13900001111", {"stranger"}),
    ("address-district=371581", {"patient"}),
    ("address-district=371581001", {"patient"}),
    ("address-district=临清市", {"patient"}),
    ("address-district=²", set()),  # a digit to str.isdigit, not a division code
    ("_id={patient_id}", {"patient"}),
    ("_lastUpdated=ge2000-01-01", {"patient", "stranger"}),
    ("_lastUpdated=lt2000", set()),
])
def test_each_declared_search_parameter_finds_what_it_says(world, fhir, query, expected):
    number = world.patient.id_number
    query = query.format(id_system=ID_SYSTEM, id_number=number, id15=number[:6] + number[8:17],
                         record=world.patient.health_record_no, patient_id=world.patient.pk)
    response = fhir.get(f"Patient?{query}")
    assert response.status_code == 200, response.content
    names = {"patient": str(world.patient.pk), "stranger": str(world.stranger.pk)}
    assert set(ids(response.json())) == {names[n] for n in expected}


def test_paging_follows_next_links_without_overlap_or_gap(world, fhir):
    for i in range(7):
        make_patient(f"张{'一二三四五六七'[i]}", "371581001001")
    seen: list[str] = []
    url = "Patient?name=zs&_count=3"
    pages = 0
    while url:
        bundle = fhir.get(url).json()
        seen.extend(ids(bundle))
        nexts = [link["url"] for link in bundle["link"] if link["relation"] == "next"]
        url = nexts[0].split("/fhir/", 1)[1] if nexts else ""
        pages += 1
    expected = {str(p.pk) for p in Patient.objects.filter(name_initials__startswith="zs")}
    assert len(seen) == len(set(seen)) == len(expected) and set(seen) == expected
    assert pages == -(-len(expected) // 3) >= 2  # full pages, no empty last page


def test_sort_and_total(world, fhir):
    bundle = fhir.get("Patient?_sort=-birthdate,name&_total=accurate").json()
    assert bundle["total"] == 2
    response = fhir.get("Patient?_sort=shoe-size")
    assert response.status_code == 400 and "shoe-size" in response.json()["issue"][0][
        "diagnostics"]


def test_unknown_parameters_warn_unless_the_client_asks_for_strict_handling(fhir):
    bundle = fhir.get("Patient?colour=blue").json()
    outcome = [e for e in bundle["entry"] if e["search"]["mode"] == "outcome"]
    assert outcome and outcome[0]["resource"]["issue"][0]["severity"] == "warning"
    strict = fhir.get("Patient?colour=blue", HTTP_PREFER="handling=strict")
    assert strict.status_code == 400


@pytest.mark.parametrize("query", ["birthdate=1958-13-01", "birthdate=yesterday",
                                   "gender=robot", "_count=lots", "name:fuzzy=张",
                                   "phone=abc", "_include=Patient:link"])
def test_malformed_search_values_are_400_in_chinese(fhir, query):
    response = fhir.get(f"Patient?{query}")
    assert response.status_code == 400
    text = response.json()["issue"][0]["diagnostics"]
    assert any("\u4e00" <= ch <= "\u9fff" for ch in text), text


def test_searches_are_audited(world, fhir):
    fhir.get("Patient?name=zs")
    event = AuditEvent.objects.get(action=AuditEvent.Action.SEARCH)
    assert "name=zs" in event.summary and event.changes["results"] == 2


# -- create, conditional create, update ------------------------------------------------------

def test_create_registers_the_resident_and_answers_201_with_location(fhir):
    response = fhir.post("Patient", new_patient())
    assert response.status_code == 201, response.content
    created = Patient.objects.get(id_number="11010519491231002X")
    assert response["Location"].endswith(f"/fhir/Patient/{created.pk}")
    assert created.name == "王秀英" and created.health_record_no.startswith("371581001001")


def test_conditional_create_twice_makes_one_resident(fhir):
    condition = f"identifier={ID_SYSTEM}|11010519491231002X"
    first = fhir.post("Patient", new_patient(), HTTP_IF_NONE_EXIST=condition)
    again = fhir.post("Patient", new_patient(), HTTP_IF_NONE_EXIST=condition)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    assert Patient.objects.filter(id_number="11010519491231002X").count() == 1


def test_a_plain_create_of_a_known_id_number_is_a_409_duplicate(fhir):
    fhir.post("Patient", new_patient())
    response = fhir.post("Patient", new_patient())
    assert response.status_code == 409 and response.json()["issue"][0]["code"] == "duplicate"


def test_conditional_update_creates_then_updates(fhir):
    query = f"Patient?identifier={ID_SYSTEM}|11010519491231002X"
    created = fhir.put(query, new_patient())
    assert created.status_code == 201
    changed = fhir.put(query, new_patient(telecom=[{"system": "phone",
                                                    "value": "13700009999"}]))
    assert changed.status_code == 200
    assert Patient.objects.get(id_number="11010519491231002X").phone == "13700009999"


def test_update_by_id_changes_the_record_and_checks_the_id(world, fhir):
    resource = fhir.get(f"Patient/{world.patient.pk}").json()
    resource["telecom"] = [{"system": "phone", "value": "13655556666"}]
    assert fhir.put(f"Patient/{world.patient.pk}", resource).status_code == 200
    world.patient.refresh_from_db()
    assert world.patient.phone == "13655556666"
    resource["id"] = "999999"
    assert fhir.put(f"Patient/{world.patient.pk}", resource).status_code == 400


@pytest.mark.parametrize("changes, status, where", [
    ({"identifier": [{"system": ID_SYSTEM, "value": "110105194912310021"}]}, 422,
     "Patient.identifier"),  # wrong check digit
    ({"birthDate": "1950-01-01"}, 422, "Patient.identifier"),  # contradicts the ID number
    ({"birthDate": "1949-13-01"}, 400, "Patient.birthDate"),  # not a date
    ({"birthDate": "1949"}, 422, "Patient.birthDate"),  # valid FHIR, but the record needs a day
    ({"deceasedDateTime": 1.5}, 422, "Patient.deceasedDateTime"),  # a number the model takes
    ({"gender": "robot"}, 400, "Patient.gender"),
    ({"colour": "blue"}, 400, "Patient.colour"),
    ({"address": [{"text": "somewhere"}]}, 422, "Patient.address[0].extension"),
])
def test_bad_resources_are_refused_with_the_place_and_a_translated_reason(fhir, changes,
                                                                          status, where):
    response = fhir.post("Patient", new_patient(**changes))
    assert response.status_code == status, response.content
    issues = response.json()["issue"]
    assert any(where in issue.get("expression", [""])[0] for issue in issues), issues
    assert not Patient.objects.filter(id_number="11010519491231002X").exists()


def test_bodies_that_are_not_a_patient_resource_are_400(fhir, client):
    assert fhir.post("Patient", {"resourceType": "Encounter", "status": "finished",
                                 "class": {"code": "AMB"}}).status_code == 400
    assert fhir.post("Patient", [1, 2]).status_code == 400
    broken = client.post("/fhir/Patient", data="{not json", content_type="application/fhir+json",
                         **fhir.headers)
    assert broken.status_code == 400
    xml = client.post("/fhir/Patient", data="<Patient/>", content_type="application/fhir+xml",
                      **fhir.headers)
    assert xml.status_code == 415


# -- who may do what ---------------------------------------------------------------------------

def test_no_credentials_or_a_revoked_token_is_401(client, world, token):
    assert client.get(f"/fhir/Patient/{world.patient.pk}").status_code == 401
    from tiercare.fhir import tokens

    headers = token()
    tokens.revoke_token("system-1")
    response = client.get(f"/fhir/Patient/{world.patient.pk}", **headers)
    assert response.status_code == 401 and response["WWW-Authenticate"].startswith("Bearer")


def test_a_read_only_token_cannot_create(client, token):
    reader = Fhir(client, token("system/Patient.rs"))
    response = reader.post("Patient", new_patient())
    assert response.status_code == 403 and response.json()["issue"][0]["code"] == "forbidden"


def test_a_township_system_sees_its_alliance_residents_not_another_alliance(client, world,
                                                                            token):
    township = Fhir(client, token(institution="T001"))
    assert township.get(f"Patient/{world.patient.pk}").status_code == 200
    assert township.get(f"Patient/{world.stranger.pk}").status_code == 404
    found = ids(township.get("Patient?birthdate=1958").json())
    assert found == [str(world.patient.pk)]
    alliance = Fhir(client, token(alliance="DC-YGT"))
    assert ids(alliance.get("Patient?birthdate=1958").json()) == [str(world.stranger.pk)]


def test_people_use_their_session_under_their_role(client, world):
    client.force_login(world.user("pharmacist"))
    resource = client.get(f"/fhir/Patient/{world.patient.pk}").json()
    assert "*" in resource["identifier"][0]["value"]  # masked for this role (rules.md §11)
    assert client.get(f"/fhir/Patient/{world.stranger.pk}").status_code == 404
    event = AuditEvent.objects.get(action=AuditEvent.Action.VIEW)
    assert event.user == world.user("pharmacist")


def test_session_writes_need_the_csrf_token(world):
    from django.test import Client

    browser = Client(enforce_csrf_checks=True)
    browser.force_login(world.user("doctor"))
    response = browser.post("/fhir/Patient", data=new_patient(), content_type="application/json")
    assert response.status_code == 403 and response.json()["issue"][0]["code"] == "security"


def test_xml_only_clients_are_told_406(fhir):
    assert fhir.get("Patient", HTTP_ACCEPT="application/fhir+xml").status_code == 406


@pytest.mark.parametrize("query", ["_lastUpdated=lt0001-01-01", "birthdate=9999",
                                   "birthdate=gt9999-12-31T23:00-12:00",
                                   "birthdate=9999-12-31T15:00Z"])
def test_dates_at_the_ends_of_the_calendar_are_400_not_500(fhir, query):
    assert fhir.get(f"Patient?{query}").status_code == 400


def test_a_conditional_create_that_loses_a_race_answers_with_the_winner(fhir, monkeypatch):
    # given the same resident pushed by another system between our look-up and our insert
    from tiercare.fhir import query

    condition = f"identifier={ID_SYSTEM}|11010519491231002X"
    winner = fhir.post("Patient", new_patient()).json()
    real = query.matches
    calls: list[str] = []

    def stale_then_real(mapper, client, query):
        calls.append(query)
        return [] if len(calls) == 1 else real(mapper, client, query)

    monkeypatch.setattr(query, "matches", stale_then_real)
    # when our conditional create runs, then it answers 200 with the stored record
    response = fhir.post("Patient", new_patient(), HTTP_IF_NONE_EXIST=condition)
    assert response.status_code == 200 and response.json()["id"] == winner["id"]
    assert len(calls) == 2
    assert Patient.objects.filter(id_number="11010519491231002X").count() == 1


def test_a_body_over_the_size_limit_is_413(fhir, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = fhir.post("Patient", new_patient(address=[{"text": "x" * 2000}]))
    assert response.status_code == 413 and response.json()["issue"][0]["code"] == "too-costly"
