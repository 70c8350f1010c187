"""FHIR Organization over the registry (issue 3): alliances, institutions and departments as
one type with kind-named ids, the partOf tree, and the declared search parameters."""

from __future__ import annotations

import pytest

from tests.fhir.conftest import assert_pages_in_name_order

pytestmark = pytest.mark.django_db
INSTITUTION = "https://tiercare.org/fhir/identifier/institution"
DEPARTMENT = "https://tiercare.org/fhir/identifier/department/"


def ids(bundle) -> list[str]:
    return [e["resource"]["id"] for e in bundle["entry"] if e["search"]["mode"] == "match"]


def test_an_institution_reads_with_its_code_level_kind_site_and_place_in_the_tree(world, fhir):
    village = fhir.get(f"Organization/institution-{world.village.pk}").json()
    assert village["identifier"][0] == {"use": "official", "system": INSTITUTION,
                                        "value": "V001"}
    codes = {c["coding"][0]["code"] for c in village["type"]}
    assert codes == {"prov", "village_clinic", "village"}
    assert village["partOf"]["reference"] == f"Organization/institution-{world.township.pk}"
    assert village["address"][0]["extension"][0]["valueCode"] == world.village.division_code
    township = fhir.get(f"Organization/institution-{world.township.pk}").json()
    assert township["partOf"]["reference"] == f"Organization/alliance-{world.alliance.pk}"


def test_an_alliance_carries_its_lead_hospital_and_grid(world, fhir):
    alliance = fhir.get(f"Organization/alliance-{world.alliance.pk}").json()
    assert alliance["name"] == "临清市人民医院医共体" and "partOf" not in alliance
    extensions = {(e["url"].rsplit("/", 1)[1], e.get("valueCode") or
                   e.get("valueReference", {}).get("reference")) for e in alliance["extension"]}
    assert ("alliance-lead", f"Organization/institution-{world.county_hospital.pk}") in \
        extensions
    assert {code for kind, code in extensions if kind == "alliance-grid"} == {
        "371581001", "371581002"}


def test_a_department_is_part_of_its_institution_with_a_per_institution_code_system(world,
                                                                                   fhir):
    department = world.county_hospital.departments.get()
    resource = fhir.get(f"Organization/department-{department.pk}").json()
    assert resource["identifier"][0]["system"] == DEPARTMENT + "H001"
    assert resource["partOf"]["reference"] == \
        f"Organization/institution-{world.county_hospital.pk}"


def test_ids_of_the_wrong_kind_or_form_are_404(world, fhir):
    for path in (f"Organization/{world.township.pk}", "Organization/ward-1",
                 f"Organization/alliance-{world.township.pk + 1000}", "Organization/institution-"):
        response = fhir.get(path)
        assert response.status_code == 404, path
        assert response.json()["resourceType"] == "OperationOutcome"


@pytest.mark.parametrize("query, expected", [
    (f"identifier={INSTITUTION}|T001", {"institution:T001"}),
    ("identifier=T001", {"institution:T001"}),
    (f"identifier={DEPARTMENT}H001|D1", {"department:H001"}),
    ("identifier=https://tiercare.org/fhir/identifier/alliance|LQ-YGT", {"alliance:LQ-YGT"}),
    ("identifier=http://example.org|T001", set()),
    ("name=临清", {"alliance:LQ-YGT", "institution:H001"}),
    ("name:exact=城关镇卫生院", {"institution:T001"}),
    ("name:contains=卫生", {"institution:T001", "institution:V001", "institution:T101"}),
    ("partof=Organization/alliance-{alliance}", {"institution:H001", "institution:T001"}),
    ("partof=institution-{township}", {"institution:V001", "department:T001"}),
    ("partof=Patient/1", set()),
    ("type=township_centre", {"institution:T001", "institution:T101"}),
    ("type=https://tiercare.org/fhir/CodeSystem/level|city", {"institution:C001"}),
    ("type=http://terminology.hl7.org/CodeSystem/organization-type|other",
     {"alliance:LQ-YGT", "alliance:DC-YGT"}),
    ("type=dept&partof=institution-{county}", {"department:H001"}),
    ("type=county_community,general_hospital",
     {"alliance:LQ-YGT", "alliance:DC-YGT", "institution:H001", "institution:C001"}),
])
def test_each_search_parameter_finds_what_it_says(world, fhir, query, expected):
    names = {}
    for kind, model_rows in (("alliance", [world.alliance, world.other_alliance]),
                             ("institution", [world.county_hospital, world.township,
                                              world.village, world.city_hospital,
                                              world.other_township])):
        for obj in model_rows:
            names[f"{kind}-{obj.pk}"] = f"{kind}:{obj.code}"
            if kind == "institution":
                for department in obj.departments.all():
                    names[f"department-{department.pk}"] = f"department:{obj.code}"
    path = "Organization?_count=200&" + query.format(
        alliance=world.alliance.pk, township=world.township.pk, county=world.county_hospital.pk)
    response = fhir.get(path, HTTP_PREFER="handling=strict")
    assert response.status_code == 200, response.content
    assert {names[i] for i in ids(response.json())} == expected


def test_pages_across_alliances_institutions_and_departments_in_name_order(world, fhir):
    assert_pages_in_name_order(fhir, "Organization", size=3, expected=11)


def test_organizations_cannot_be_written_here(world, fhir):
    response = fhir.post("Organization", {"resourceType": "Organization", "name": "新卫生院"})
    assert response.status_code in (403, 405)
    assert response.json()["resourceType"] == "OperationOutcome"
