"""Real FHIR clients against the running server (issue 3 acceptance): SMART's fhirclient
(R4 4.0.1 models: an independent structural check of what the server answers) and fhirpy.
Create, read, search with paging, conditional create twice without duplicates."""

from __future__ import annotations

import pytest
from fhirclient import client as smart_client
from fhirclient.models.bundle import Bundle
from fhirclient.models.capabilitystatement import CapabilityStatement
from fhirclient.models.patient import Patient as SmartPatient
from fhirpy import SyncFHIRClient

from tests.fhir.conftest import HIS_SYSTEM, new_encounter, new_patient
from tests.web.factories import make_patient
from tiercare.encounters.models import Encounter
from tiercare.fhir import tokens
from tiercare.fhir.mapping import all_mappers
from tiercare.patients.models import Patient

pytestmark = pytest.mark.django_db(transaction=True)
ID_SYSTEM = "urn:oid:2.16.156.10011.1.3"


@pytest.fixture
def secret(world):
    return tokens.create_token(
        "HIS", scope="system/*.read system/Patient.write system/Encounter.write",
        whole_county=True)[1]


@pytest.fixture
def smart(live_server, secret):
    fhir = smart_client.FHIRClient(settings={"app_id": "tiercare-tests",
                                             "api_base": f"{live_server.url}/fhir"})
    fhir.server.session.headers["Authorization"] = f"Bearer {secret}"
    return fhir


@pytest.fixture
def fhirpy(live_server, secret):
    return SyncFHIRClient(f"{live_server.url}/fhir", authorization=f"Bearer {secret}")


def test_fhirclient_reads_the_capability_statement_and_a_patient(smart, world):
    statement = CapabilityStatement(smart.server.request_json("metadata"))
    assert statement.fhirVersion == "4.0.1"
    assert "Patient" in [r.type for r in statement.rest[0].resource]
    patient = SmartPatient.read(str(world.patient.pk), smart.server)
    assert patient.name[0].text == "张三" and patient.birthDate.isostring == "1958-06-01"


def test_fhirclient_search_bundles_parse_with_the_r4_models(smart, world):
    bundle = Bundle(smart.server.request_json("Patient?name=zs&_count=1"))
    assert bundle.type == "searchset" and len(bundle.entry) == 1
    assert [link.relation for link in bundle.link] == ["self", "next"]


def test_fhirpy_creates_reads_and_pages(fhirpy, world):
    for i in range(5):
        make_patient(f"张{'甲乙丙丁戊'[i]}", "371581001001")
    created = fhirpy.resource("Patient", **{k: v for k, v in new_patient().items()
                                            if k != "resourceType"})
    created.save()
    assert created.id and Patient.objects.filter(pk=int(created.id)).exists()
    again = fhirpy.reference("Patient", created.id).to_resource()
    assert again["name"][0]["text"] == "王秀英"
    everyone = fhirpy.resources("Patient").search(gender="male").limit(2).fetch_all()
    assert len(everyone) == Patient.objects.filter(sex="1").count() == 7


def test_fhirpy_conditional_create_twice_stores_one_resident(fhirpy, world):
    condition = {"identifier": f"{ID_SYSTEM}|11010519491231002X"}
    body = {k: v for k, v in new_patient().items() if k != "resourceType"}
    first = fhirpy.resource("Patient", **body)
    first.create(**condition)
    second = fhirpy.resource("Patient", **body)
    second.create(**condition)
    assert first.id == second.id
    assert Patient.objects.filter(id_number="11010519491231002X").count() == 1


def test_fhirclient_r4_models_parse_every_served_type(smart, world, fhirpy, settings,
                                                     tmp_path):
    """fhirclient's R4 4.0.1 models, strict: the second, independent structural check of
    what the server answers, for every resource type it serves."""
    from tiercare.indicators.engine import snapshot

    settings.DATA_DIR = tmp_path  # MeasureReport is computed from the indicator snapshot
    fhirpy.resource("Encounter", **{k: v for k, v in new_encounter(world).items()
                                    if k != "resourceType"}).save()
    from tests.fhir.conftest import free_slot
    from tiercare.scheduling import services as scheduling

    scheduling.book(free_slot(world), world.patient, by_name="test")
    from tiercare.referrals import services as referrals
    from tiercare.scheduling.models import Bed, Ward

    referrals.create_referral(patient=world.patient, direction="up", diagnosis="I10",
                              reason="血压控制不佳", by=world.user("doctor"),
                              receiving_institution=world.county_hospital)
    ward = Ward.objects.create(institution=world.county_hospital, code="W1", name="心内病区")
    Bed.objects.create(ward=ward, code="01")
    from tests.fhir.test_chronic_fhir import chronic_care_in

    chronic_care_in(world)  # CareTeam, CarePlan, EpisodeOfCare, Observation
    snapshot.refresh(full=True)
    for mapper in all_mappers():
        bundle = Bundle(smart.server.request_json(f"{mapper.resource_type}?_count=50"))
        assert bundle.entry, mapper.resource_type
        assert {e.resource.resource_type for e in bundle.entry} == {mapper.resource_type}


def test_fhirpy_pushes_an_encounter_with_a_transaction_twice_storing_it_once(fhirpy, world):
    encounter = new_encounter(world, "MZ-FHIRPY-1")
    transaction = {"resourceType": "Bundle", "type": "transaction", "entry": [{
        "resource": encounter,
        "request": {"method": "PUT", "url": f"Encounter?identifier={HIS_SYSTEM}|MZ-FHIRPY-1"},
    }]}
    first = fhirpy.execute("", method="post", data=transaction)
    again = fhirpy.execute("", method="post", data=transaction)
    assert first["entry"][0]["response"]["status"] == "201 Created"
    assert again["entry"][0]["response"]["status"] == "200 OK"
    assert Encounter.objects.filter(source_id="MZ-FHIRPY-1").count() == 1


def test_fhirpy_a_transaction_that_fails_half_way_leaves_nothing_behind(fhirpy, world):
    from fhirpy.base.exceptions import OperationOutcome

    good = new_patient()
    bad = new_encounter(world, "MZ-FHIRPY-2", period={"start": "2099-01-01"})
    bad["subject"] = {"reference": "urn:uuid:new-resident"}
    transaction = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": "urn:uuid:new-resident", "resource": good,
         "request": {"method": "POST", "url": "Patient"}},
        {"resource": bad, "request": {"method": "POST", "url": "Encounter"}},
    ]}
    with pytest.raises(OperationOutcome) as refused:
        fhirpy.execute("", method="post", data=transaction)
    assert "Encounter" in str(refused.value)
    assert not Patient.objects.filter(id_number="11010519491231002X").exists()
    assert not Encounter.objects.filter(source_id="MZ-FHIRPY-2").exists()
