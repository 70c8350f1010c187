"""FHIR Location over the registry (issue 3): the institutions' sites and the grid's divisions
(county, townships, villages; rules.md §1, §10) as one type with kind-named ids (ADR 0006),
the partOf tree village → township → county, and the declared search parameters."""

from __future__ import annotations

import pytest

from tests.fhir.conftest import assert_pages_in_name_order
from tiercare.fhir import structure
from tiercare.registry.models import Division, Institution

pytestmark = pytest.mark.django_db
BASE = "https://tiercare.org/fhir"
INSTITUTION = f"{BASE}/identifier/institution"
DIVISION = f"{BASE}/identifier/division-code"
DIVISION_CODE_URL = f"{BASE}/StructureDefinition/division-code"
PHYSICAL_TYPE = "http://terminology.hl7.org/CodeSystem/location-physical-type"


def ids(bundle) -> list[str]:
    return [e["resource"]["id"] for e in bundle["entry"] if e["search"]["mode"] == "match"]


def division(code: str) -> Division:
    return Division.objects.get(code=code)


def test_a_site_is_an_instance_building_managed_by_its_institution(world, fhir):
    response = fhir.get(f"Location/site-{world.village.pk}")
    assert response.status_code == 200
    site = response.json()
    structure.check(site)  # valid FHIR R4
    assert site["identifier"] == [{"use": "official", "system": INSTITUTION, "value": "V001"}]
    assert site["name"] == "王家村卫生室" and site["status"] == "active"
    assert site["mode"] == "instance"
    assert site["physicalType"]["coding"][0] == {"system": PHYSICAL_TYPE, "code": "bu",
                                                 "display": "Building"}
    assert site["managingOrganization"] == {
        "reference": f"Organization/institution-{world.village.pk}", "display": "王家村卫生室"}
    assert site["address"] == {"district": "371581", "country": "CN", "extension": [
        {"url": DIVISION_CODE_URL, "valueCode": "371581001001"}]}
    assert site["partOf"] == {"reference": f"Location/division-{division('371581001001').pk}",
                              "display": "王家村"}


def test_a_division_is_an_area_kind_identified_by_its_code(world, fhir):
    area = fhir.get(f"Location/division-{division('371581001').pk}").json()
    structure.check(area)
    assert area["identifier"] == [{"use": "official", "system": DIVISION,
                                   "value": "371581001"}]
    assert area["name"] == "城关镇" and area["mode"] == "kind"
    assert area["physicalType"]["coding"][0]["code"] == "area"
    assert "managingOrganization" not in area


def test_part_of_leads_from_a_village_clinic_up_to_its_county(world, fhir):
    chain: list[str] = []
    path = f"Location/site-{world.village.pk}"
    while path:
        resource = fhir.get(path).json()
        chain.append(resource["name"])
        path = resource.get("partOf", {}).get("reference", "")
    assert chain == ["王家村卫生室", "王家村", "城关镇", "临清市"]


def test_a_site_whose_division_is_not_stored_has_no_part_of(world, fhir):
    # given the city hospital sits in a township the registry does not hold
    Institution.objects.filter(pk=world.city_hospital.pk).update(division_code="371502999")
    site = fhir.get(f"Location/site-{world.city_hospital.pk}").json()
    assert "partOf" not in site
    assert site["address"]["extension"][0]["valueCode"] == "371502999"
    # but it still lies in its county
    found = ids(fhir.get(f"Location?partof=division-{division('371502').pk}").json())
    assert f"site-{world.city_hospital.pk}" in found


def test_an_inactive_institution_has_an_inactive_site(world, fhir):
    Institution.objects.filter(pk=world.other_township.pk).update(is_active=False)
    assert fhir.get(f"Location/site-{world.other_township.pk}").json()["status"] == "inactive"


@pytest.mark.parametrize("path", ["Location/{township}", "Location/institution-{township}",
                                  "Location/division-999999", "Location/site-",
                                  "Location/site-{missing}"])
def test_ids_of_the_wrong_kind_or_form_are_404(world, fhir, path):
    response = fhir.get(path.format(township=world.township.pk,
                                    missing=world.township.pk + 1000))
    assert response.status_code == 404, path
    assert response.json()["resourceType"] == "OperationOutcome"


@pytest.mark.parametrize("query, expected", [
    ("name=王家村", {"site:V001", "division:371581001001"}),
    ("name:exact=王家村", {"division:371581001001"}),
    ("name:contains=卫生院", {"site:T001", "site:T101"}),
    ("name=临清", {"site:H001", "division:371581"}),
    (f"identifier={INSTITUTION}|T001", {"site:T001"}),
    ("identifier=T001", {"site:T001"}),
    (f"identifier={DIVISION}|371581001", {"division:371581001"}),
    ("identifier=371581,371502", {"division:371581", "division:371502"}),
    (f"identifier={DIVISION}|T001", set()),
    ("identifier=http://example.org|T001", set()),
    ("partof=Location/division-{town1}", {"division:371581001001", "site:T001", "site:V001"}),
    ("partof=division-{county}",
     {"division:371581001", "division:371581002", "site:H001", "site:T001", "site:V001"}),
    ("partof=division-{other_county}",
     {"division:371502001", "site:C001", "site:T101"}),
    ("partof=Location/site-{township}", set()),
    ("partof=Organization/institution-{township}", set()),
    ("organization=Organization/institution-{township}", {"site:T001"}),
    ("organization=institution-{county_hospital}&name=临清", {"site:H001"}),
    ("organization=Organization/alliance-{alliance}", set()),
    ("_id=site-{township},division-{town1}", {"site:T001", "division:371581001"}),
])
def test_each_search_parameter_finds_what_it_says(world, fhir, query, expected):
    names = {f"site-{i.pk}": f"site:{i.code}" for i in Institution.objects.all()}
    names.update({f"division-{d.pk}": f"division:{d.code}" for d in Division.objects.all()})
    path = "Location?_count=200&" + query.format(
        town1=division("371581001").pk, county=division("371581").pk,
        other_county=division("371502").pk, township=world.township.pk,
        county_hospital=world.county_hospital.pk, alliance=world.alliance.pk)
    response = fhir.get(path, HTTP_PREFER="handling=strict")
    assert response.status_code == 200, response.content
    assert {names[i] for i in ids(response.json())} == expected


def test_pages_across_sites_and_divisions_in_name_order(world, fhir):
    assert_pages_in_name_order(fhir, "Location", size=5, expected=12)


@pytest.mark.parametrize("query", ["name:fuzzy=王", "_sort=code", "_include=Location:partof",
                                   "_lastUpdated=yesterday"])
def test_malformed_searches_are_400(world, fhir, query):
    response = fhir.get(f"Location?{query}")
    assert response.status_code == 400, response.content
    assert response.json()["resourceType"] == "OperationOutcome"


def test_locations_cannot_be_written_here(world, fhir):
    response = fhir.post("Location", {"resourceType": "Location", "name": "新院区"})
    assert response.status_code in (403, 405)
