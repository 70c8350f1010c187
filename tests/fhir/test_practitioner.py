"""FHIR Practitioner and PractitionerRole over the registry (issue 3): a health worker with
code, name, gender, title and general-practice qualification; where they work as two kinds
of role with kind-named ids (ADR 0006): the employment at their institution and the postings
of lead-hospital physicians to townships (rules.md §1, seed 003)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from tiercare.fhir import structure
from tiercare.registry.models import Posting, Practitioner

pytestmark = pytest.mark.django_db
BASE = "https://tiercare.org/fhir"
PRACTITIONER = f"{BASE}/identifier/practitioner"
TITLE = f"{BASE}/CodeSystem/professional-title"
ROLE = f"{BASE}/CodeSystem/practitioner-role"
DEPARTMENT_URL = f"{BASE}/StructureDefinition/department"


def ids(bundle) -> list[str]:
    return [e["resource"]["id"] for e in bundle["entry"] if e["search"]["mode"] == "match"]


def practitioner(code: str) -> Practitioner:
    return Practitioner.objects.get(code=code)


def codes(concepts) -> set[str]:
    return {coding["code"] for concept in concepts for coding in concept["coding"]}


def day(days_from_today: int) -> str:
    return (timezone.localdate() + dt.timedelta(days=days_from_today)).isoformat()


# -- Practitioner --------------------------------------------------------------------------

def test_a_practitioner_reads_with_code_name_gender_title_and_general_practice(world, fhir):
    li = practitioner("P-T001-1")
    response = fhir.get(f"Practitioner/{li.pk}")
    assert response.status_code == 200
    resource = response.json()
    structure.check(resource)  # valid FHIR R4
    assert resource["id"] == str(li.pk)
    assert resource["identifier"] == [{"use": "official", "system": PRACTITIONER,
                                       "value": "P-T001-1"}]
    assert resource["name"] == [{"use": "official", "text": "李医生", "family": "李",
                                 "given": ["医生"]}]
    assert resource["gender"] == "male" and resource["active"] is True
    qualifications = [q["code"]["coding"][0] for q in resource["qualification"]]
    assert [(q["system"], q["code"]) for q in qualifications] == [
        (TITLE, "attending"), (TITLE, "general-practitioner")]
    assert "telecom" not in resource  # no phone on record


def test_a_practitioner_who_is_not_a_general_practitioner_has_only_the_title(world, fhir):
    nurse = fhir.get(f"Practitioner/{practitioner('P-T001-2').pk}").json()
    assert codes(q["code"] for q in nurse["qualification"]) == {"nurse"}
    assert nurse["gender"] == "female"


def test_the_phone_is_masked_for_roles_that_do_not_see_identifiers(client, world, fhir):
    # given a practitioner with a phone on record
    li = practitioner("P-T001-1")
    li.phone = "13812345678"
    li.save()
    # then integrating systems and clinicians see it, a pharmacist's session sees it masked
    assert fhir.get(f"Practitioner/{li.pk}").json()["telecom"] == [
        {"system": "phone", "value": "13812345678"}]
    client.force_login(world.user("doctor"))
    assert client.get(f"/fhir/Practitioner/{li.pk}").json()["telecom"][0]["value"] == \
        "13812345678"
    client.force_login(world.user("pharmacist"))
    masked = client.get(f"/fhir/Practitioner/{li.pk}").json()["telecom"][0]["value"]
    assert masked == "138****5678"
    found = client.get("/fhir/Practitioner?identifier=P-T001-1").json()
    assert found["entry"][0]["resource"]["telecom"][0]["value"] == masked


@pytest.mark.parametrize("query, expected", [
    (f"identifier={PRACTITIONER}|P-T001-1", {"P-T001-1"}),
    ("identifier=P-H001-2", {"P-H001-2"}),
    ("identifier=P-T001-1,P-V001-1", {"P-T001-1", "P-V001-1"}),
    ("identifier=http://example.org|P-T001-1", set()),
    ("name=李", {"P-T001-1"}),
    ("name=王,赵", {"P-T001-2", "P-V001-1"}),
    ("name:exact=陈主任", {"P-H001-1"}),
    ("name:exact=陈", set()),
    ("name:contains=药", {"P-H001-2"}),
    ("gender=female", {"P-T001-2", "P-H001-2"}),
    ("gender=male", {"P-T001-1", "P-V001-1", "P-H001-1"}),
    ("gender=unknown", set()),
    ("active=true", {"P-T001-1", "P-T001-2", "P-V001-1", "P-H001-1", "P-H001-2"}),
    ("active=false", set()),
    ("gender=male&name=陈", {"P-H001-1"}),
    ("_id={li}", {"P-T001-1"}),
    ("_lastUpdated=lt2000", set()),
])
def test_each_practitioner_search_parameter_finds_what_it_says(world, fhir, query, expected):
    codes_by_id = {str(p.pk): p.code for p in Practitioner.objects.all()}
    path = "Practitioner?_count=200&" + query.format(li=practitioner("P-T001-1").pk)
    response = fhir.get(path, HTTP_PREFER="handling=strict")
    assert response.status_code == 200, response.content
    assert {codes_by_id[i] for i in ids(response.json())} == expected


@pytest.mark.parametrize("query", ["gender=robot", "active=yes", "name:fuzzy=李",
                                   "_sort=title", "_include=Practitioner:organization"])
def test_malformed_practitioner_searches_are_400(world, fhir, query):
    response = fhir.get(f"Practitioner?{query}")
    assert response.status_code == 400
    assert response.json()["resourceType"] == "OperationOutcome"


def test_practitioners_sort_by_name(world, fhir):
    bundle = fhir.get("Practitioner?_sort=name").json()
    names = [e["resource"]["name"][0]["text"] for e in bundle["entry"]]
    assert len(names) == 5 and names == sorted(names)


def test_practitioner_ids_are_plain_numbers(world, fhir):
    li = practitioner("P-T001-1")
    for path in (f"Practitioner/employment-{li.pk}", "Practitioner/abc",
                 f"Practitioner/{li.pk + 1000}"):
        response = fhir.get(path)
        assert response.status_code == 404, path
        assert response.json()["resourceType"] == "OperationOutcome"


def test_practitioners_cannot_be_written_here(world, fhir):
    response = fhir.post("Practitioner", {"resourceType": "Practitioner"})
    assert response.status_code in (403, 405)


# -- PractitionerRole ------------------------------------------------------------------------

def test_an_employment_names_the_practitioner_institution_department_and_title(world, fhir):
    # given the township GP's department has a specialty
    li = practitioner("P-T001-1")
    department = li.department
    department.specialty = "全科医学"
    department.save()
    # when the employment is read
    role = fhir.get(f"PractitionerRole/employment-{li.pk}").json()
    structure.check(role)
    # then it points at the practitioner, the township centre and its department
    assert role["practitioner"] == {"reference": f"Practitioner/{li.pk}", "display": "李医生"}
    assert role["organization"] == {"reference": f"Organization/institution-{world.township.pk}",
                                    "display": "城关镇卫生院"}
    assert role["extension"] == [{"url": DEPARTMENT_URL, "valueReference": {
        "reference": f"Organization/department-{department.pk}", "display": "全科"}}]
    assert role["specialty"] == [{"text": "全科医学"}]
    assert [c["coding"][0]["code"] for c in role["code"]] == ["employment", "attending"]
    assert role["code"][0]["coding"][0]["system"] == ROLE
    assert role["active"] is True and "period" not in role


def test_a_posting_carries_its_period_at_the_host_institution(world, fhir):
    posting = Posting.objects.get()
    role = fhir.get(f"PractitionerRole/posting-{posting.pk}").json()
    structure.check(role)
    assert role["practitioner"]["reference"] == f"Practitioner/{posting.practitioner_id}"
    assert role["organization"]["reference"] == f"Organization/institution-{world.township.pk}"
    assert role["period"] == {"start": day(-30)}
    assert codes(role["code"]) == {"posting", "chief"}
    assert role["active"] is True and "extension" not in role


def test_a_posting_is_active_only_inside_its_period(world, fhir):
    # given the posting ended yesterday and the nurse has left
    posting = Posting.objects.get()
    posting.end_date = timezone.localdate() - dt.timedelta(days=1)
    posting.save()
    nurse = practitioner("P-T001-2")
    nurse.is_active = False
    nurse.save()
    # then both roles are inactive, and active=false finds exactly them
    role = fhir.get(f"PractitionerRole/posting-{posting.pk}").json()
    assert role["active"] is False and role["period"]["end"] == day(-1)
    assert fhir.get(f"PractitionerRole/employment-{nurse.pk}").json()["active"] is False
    found = ids(fhir.get("PractitionerRole?active=false").json())
    assert sorted(found) == sorted([f"posting-{posting.pk}", f"employment-{nurse.pk}"])
    assert ids(fhir.get("Practitioner?active=false").json()) == [str(nurse.pk)]
    assert ids(fhir.get(f"PractitionerRole?role=posting&date={day(-1)}").json()) == \
        [f"posting-{posting.pk}"]
    assert ids(fhir.get(f"PractitionerRole?role=posting&date={day(0)}").json()) == []


ALL_EMPLOYMENTS = {"employment:P-T001-1", "employment:P-T001-2", "employment:P-V001-1",
                   "employment:P-H001-1", "employment:P-H001-2"}


@pytest.mark.parametrize("query, expected", [
    ("practitioner=Practitioner/{chen}", {"employment:P-H001-1", "posting:P-H001-1"}),
    ("practitioner={li}", {"employment:P-T001-1"}),
    ("practitioner=Patient/{li}", set()),
    ("organization=Organization/institution-{township}",
     {"employment:P-T001-1", "employment:P-T001-2", "posting:P-H001-1"}),
    ("organization=institution-{county}", {"employment:P-H001-1", "employment:P-H001-2"}),
    ("organization=Organization/alliance-{alliance}", set()),
    ("role=posting", {"posting:P-H001-1"}),
    (f"role={ROLE}|posting", {"posting:P-H001-1"}),
    ("role=employment", ALL_EMPLOYMENTS),
    ("role=chief", {"employment:P-H001-1", "posting:P-H001-1"}),
    (f"role={TITLE}|nurse", {"employment:P-T001-2"}),
    ("role=http://example.org|posting", set()),
    ("role=surgeon", set()),
    ("active=true", ALL_EMPLOYMENTS | {"posting:P-H001-1"}),
    ("active=false", set()),
    ("date={today}", ALL_EMPLOYMENTS | {"posting:P-H001-1"}),
    ("date={before}", ALL_EMPLOYMENTS),  # 40 days ago: the posting had not begun
    ("date=ne{today}", ALL_EMPLOYMENTS),
    ("date=lt{before}", ALL_EMPLOYMENTS),
    ("date=lt{today}", ALL_EMPLOYMENTS | {"posting:P-H001-1"}),
    ("date=gt{today}", ALL_EMPLOYMENTS | {"posting:P-H001-1"}),  # no end: goes on
    ("role=posting&organization=institution-{township}&date=ge{before}",
     {"posting:P-H001-1"}),
    ("_id=posting-{posting}", {"posting:P-H001-1"}),
    ("_id=employment-{li},posting-{missing}", {"employment:P-T001-1"}),
])
def test_each_role_search_parameter_finds_what_it_says(world, fhir, query, expected):
    names = {f"employment-{p.pk}": f"employment:{p.code}" for p in Practitioner.objects.all()}
    names.update({f"posting-{p.pk}": f"posting:{p.practitioner.code}"
                  for p in Posting.objects.all()})
    path = "PractitionerRole?_count=200&" + query.format(
        chen=practitioner("P-H001-1").pk, li=practitioner("P-T001-1").pk,
        township=world.township.pk, county=world.county_hospital.pk,
        alliance=world.alliance.pk, posting=Posting.objects.get().pk,
        missing=Posting.objects.get().pk + 1000,
        today=day(0), before=day(-40))
    response = fhir.get(path, HTTP_PREFER="handling=strict")
    assert response.status_code == 200, response.content
    assert {names[i] for i in ids(response.json())} == expected


def test_include_brings_the_practitioners_and_institutions_once(world, fhir):
    chen = practitioner("P-H001-1")
    bundle = fhir.get(f"PractitionerRole?practitioner={chen.pk}"
                      "&_include=PractitionerRole:practitioner"
                      "&_include=PractitionerRole:organization").json()
    matched = {e["resource"]["id"] for e in bundle["entry"] if e["search"]["mode"] == "match"}
    included = [(e["resource"]["resourceType"], e["resource"]["id"])
                for e in bundle["entry"] if e["search"]["mode"] == "include"]
    assert matched == {f"employment-{chen.pk}", f"posting-{Posting.objects.get().pk}"}
    assert sorted(included) == sorted([
        ("Practitioner", str(chen.pk)),
        ("Organization", f"institution-{world.county_hospital.pk}"),
        ("Organization", f"institution-{world.township.pk}")])
    assert all(e["fullUrl"].endswith(f"/fhir/{kind}/{id_}") for e in bundle["entry"]
               for kind, id_ in [(e["resource"]["resourceType"], e["resource"]["id"])])


def test_roles_page_across_employments_and_postings(world, fhir):
    seen: list[str] = []
    url = "PractitionerRole?_count=4"
    while url:
        bundle = fhir.get(url).json()
        seen += ids(bundle)
        url = next((link["url"].split("/fhir/", 1)[1] for link in bundle["link"]
                    if link["relation"] == "next"), "")
    assert len(seen) == len(set(seen)) == 6
    assert fhir.get("PractitionerRole?_total=accurate&_count=0").json()["total"] == 6


@pytest.mark.parametrize("path", ["PractitionerRole/{li}", "PractitionerRole/institution-{li}",
                                  "PractitionerRole/posting-{missing}",
                                  "PractitionerRole/employment-", "PractitionerRole/posting-x"])
def test_role_ids_of_the_wrong_kind_or_form_are_404(world, fhir, path):
    li = practitioner("P-T001-1").pk
    response = fhir.get(path.format(li=li, missing=Posting.objects.get().pk + 1000))
    assert response.status_code == 404, path
    assert response.json()["resourceType"] == "OperationOutcome"


@pytest.mark.parametrize("query", ["active=maybe", "date=yesterday", "date=2025-02-30",
                                   "_sort=name", "_include=PractitionerRole:location"])
def test_malformed_role_searches_are_400(world, fhir, query):
    response = fhir.get(f"PractitionerRole?{query}")
    assert response.status_code == 400, response.content
    assert response.json()["resourceType"] == "OperationOutcome"
