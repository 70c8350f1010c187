"""Real FHIR clients against the running server for family-doctor and chronic care (issue 6
item 8): SMART's fhirclient R4 (4.0.1) models read a CarePlan, the team and the contract and
parse every chronic type the server answers (a structural check independent of the
server's own); fhirpy, speaking for the township health centre's HIS, searches a resident's
Observations by patient and code and posts a blood-pressure panel."""

from __future__ import annotations

import datetime as dt

import pytest
from fhirclient import client as smart_client
from fhirclient.models.bundle import Bundle
from fhirclient.models.careplan import CarePlan as SmartCarePlan
from fhirclient.models.careteam import CareTeam as SmartCareTeam
from fhirclient.models.episodeofcare import EpisodeOfCare as SmartEpisodeOfCare
from fhirclient.models.observation import Observation as SmartObservation
from fhirpy import SyncFHIRClient
from fhirpy.base.exceptions import OperationOutcome

from tests.fhir.test_chronic_fhir import chronic_care_in, new_observation
from tests.web.factories import World, make_world
from tiercare.chronic import services
from tiercare.chronic.models import Registration, ScreeningReading
from tiercare.fhir import tokens

pytestmark = pytest.mark.django_db(transaction=True)

LOINC = "http://loinc.org"
SCOPE = "system/*.read system/Observation.write"
CHRONIC_TYPES = ("CareTeam", "CarePlan", "EpisodeOfCare", "Observation")


def township_system(live_server, world: World) -> tuple[SyncFHIRClient, smart_client.FHIRClient]:
    """fhirpy and fhirclient speaking for the township health centre's HIS (a token held to
    it, reading everything and writing Observations)."""
    secret = tokens.create_token("城关镇卫生院 HIS", scope=SCOPE,
                                 institution=world.township.code)[1]
    header = f"Bearer {secret}"
    smart = smart_client.FHIRClient(settings={"app_id": "tiercare-tests",
                                              "api_base": f"{live_server.url}/fhir"})
    smart.server.session.headers["Authorization"] = header
    return SyncFHIRClient(f"{live_server.url}/fhir", authorization=header), smart


def test_real_clients_read_plans_search_readings_and_post_a_blood_pressure(live_server):
    world = make_world()
    care = chronic_care_in(world)
    fhirpy, smart = township_system(live_server, world)
    registration, follow_up = care["registration"], care["follow_up"]

    # fhirclient's R4 models read the care plan, its team and the contract
    plan = SmartCarePlan.read(str(registration.pk), smart.server)
    assert (plan.status, plan.intent) == ("active", "plan")
    assert plan.subject.reference == f"Patient/{world.patient.pk}"
    assert plan.category[0].coding[0].code == "38341003"
    assert plan.careTeam[0].reference == f"CareTeam/{care['team'].pk}"
    next_due = Registration.objects.get(pk=registration.pk).next_due
    assert plan.activity[0].detail.scheduledPeriod.start.date.date() == next_due
    team = SmartCareTeam.read(str(care["team"].pk), smart.server)
    assert team.status == "active" and team.participant[0].member.reference == \
        f"PractitionerRole/employment-{world.doctor_practitioner.pk}"
    episode = SmartEpisodeOfCare.read(str(care["contract"].pk), smart.server)
    assert episode.status == "active" and episode.team[0].reference == team.relativePath()
    assert episode.patient.reference == f"Patient/{world.patient.pk}"

    # fhirpy searches the resident's blood pressures by patient and LOINC code
    found = fhirpy.resources("Observation").search(
        patient=f"Patient/{world.patient.pk}", code=f"{LOINC}|85354-9").fetch_all()
    assert [o.id for o in found] == [f"followup-bp-{follow_up.pk}"]
    systolic = {c["code"]["coding"][0]["code"]: c["valueQuantity"]["value"]
                for c in found[0]["component"]}
    assert systolic == {"8480-6": 148, "8462-4": 92}
    heart = fhirpy.resources("Observation").search(patient=world.patient.pk,
                                                   code="8867-4").fetch_all()
    assert [o["valueQuantity"]["value"] for o in heart] == [76]

    # fhirpy posts today's blood pressure, measured by 李医生: a screening reading
    reading = fhirpy.resource("Observation", **{
        k: v for k, v in new_observation(world).items() if k != "resourceType"})
    reading.save()
    stored = ScreeningReading.objects.get(patient=world.patient)
    assert reading.id == f"screening-bp-{stored.pk}"
    assert (stored.sbp, stored.dbp, stored.recorded_by) == (132, 84, care["doctor"])
    again = SmartObservation.read(reading.id, smart.server)
    assert again.code.coding[0].code == "85354-9"
    assert [c.valueQuantity.value for c in again.component] == [132, 84]
    assert again.component[0].valueQuantity.code == "mm[Hg]"

    # an impossible one is refused with an OperationOutcome and nothing is stored
    bad = new_observation(world)
    bad["component"][0]["valueQuantity"]["value"] = 400
    with pytest.raises(OperationOutcome):
        fhirpy.resource("Observation", **{k: v for k, v in bad.items()
                                          if k != "resourceType"}).save()
    assert ScreeningReading.objects.filter(patient=world.patient).count() == 1


def test_fhirclient_r4_models_parse_every_chronic_type(live_server):
    world = make_world()
    care = chronic_care_in(world)
    services.record_elderly_check(world.patient, by=care["doctor"],
                                  date=services.today() - dt.timedelta(days=3),
                                  items=["assessment", "examination"],
                                  values={"sbp": 136, "dbp": 82, "fasting_glucose": "6.2",
                                          "weight_kg": "70", "height_cm": "170"})
    services.record_follow_up(care["registration"], by=care["doctor"],
                              date=services.today(),
                              values={"sbp": 130, "dbp": 80, "temperature": "36.6",
                                      "weight_kg": "70", "height_cm": "170"})
    _fhirpy, smart = township_system(live_server, world)
    for kind in CHRONIC_TYPES:
        bundle = Bundle(smart.server.request_json(f"{kind}?_count=50"))
        assert bundle.entry, kind
        assert {e.resource.resource_type for e in bundle.entry} == {kind}
    readings = Bundle(smart.server.request_json("Observation?_count=50")).entry
    codes = {e.resource.code.coding[0].code for e in readings}
    assert codes == {"85354-9", "14771-0", "8867-4", "8310-5", "29463-7", "8302-2",
                     "39156-5"}
