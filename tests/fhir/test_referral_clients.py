"""Real FHIR clients against the running server (issue 4 acceptance: "FHIR tests with a real
client create a referral as ServiceRequest + Task and move it through its states; Slot search
and Appointment booking work"). fhirpy speaks for the two hospitals' systems; SMART's
fhirclient R4 (4.0.1) models check what the server answers, independently of the server's
own validation."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from fhirclient import client as smart_client
from fhirclient.models.appointment import Appointment as SmartAppointment
from fhirclient.models.servicerequest import ServiceRequest as SmartServiceRequest
from fhirclient.models.task import Task as SmartTask
from fhirpy import SyncFHIRClient
from fhirpy.base.exceptions import OperationOutcome

from tests.fhir.conftest import ICD10_CN, NOTE_KIND, REFERRAL_DIRECTION
from tests.referrals.workflow_scene import make_scene, make_slot
from tiercare.fhir import tokens
from tiercare.referrals.models import Referral, ReferralEvent
from tiercare.scheduling.models import Appointment, Pool, Slot

pytestmark = pytest.mark.django_db(transaction=True)

SCOPE = ("system/*.read system/ServiceRequest.write system/Task.write "
         "system/Appointment.write")
TASK = "https://tiercare.org/fhir/CodeSystem/referral-task"
OUTCOME = "https://tiercare.org/fhir/CodeSystem/referral-outcome"


def system_of(live_server, name: str, institution_code: str) -> tuple[SyncFHIRClient, str]:
    """fhirpy speaking for an institution's system (a token held to it), and its
    Authorization header."""
    secret = tokens.create_token(name, scope=SCOPE, institution=institution_code)[1]
    header = f"Bearer {secret}"
    return SyncFHIRClient(f"{live_server.url}/fhir", authorization=header), header


def parameter(kind: str, **value):
    return {"type": {"coding": [{"system": TASK, "code": kind}]}, **value}


def test_a_referral_written_and_moved_through_its_states_by_real_clients(live_server):
    scene = make_scene()
    world = scene.world
    make_slot(scene.schedule, capacity=1, pool=Pool.REFERRAL, days=2, hour=9)
    public = make_slot(scene.schedule, capacity=3, pool=Pool.PUBLIC, days=16, hour=10)
    village, village_header = system_of(live_server, "王家村卫生室 HIS", world.village.code)
    county, county_header = system_of(live_server, "临清市人民医院 HIS",
                                      world.county_hospital.code)
    smart = smart_client.FHIRClient(settings={"app_id": "tiercare-tests",
                                              "api_base": f"{live_server.url}/fhir"})
    smart.server.session.headers["Authorization"] = county_header
    village_doctor = {"reference": f"PractitionerRole/employment-"
                                   f"{scene.village_doctor.practitioner_id}"}
    county_doctor = {"reference": f"PractitionerRole/employment-"
                                  f"{scene.county_doctor.practitioner_id}"}

    # the village clinic's system writes the referral for its doctor: a ServiceRequest
    request = village.resource(
        "ServiceRequest", status="draft", intent="order", priority="routine",
        category=[{"coding": [{"system": REFERRAL_DIRECTION, "code": "up"}]}],
        subject={"reference": f"Patient/{world.patient.pk}"}, requester=village_doctor,
        performer=[{"reference": f"Organization/institution-{world.county_hospital.pk}"}],
        reasonCode=[{"coding": [{"system": ICD10_CN, "code": "I10"}]}],
        note=[{"text": "血压190/115 mmHg，头痛", "extension": [
            {"url": NOTE_KIND, "valueCode": "reason"}]}])
    request.save()
    rid = request.id
    assert Referral.objects.get(pk=int(rid)).status == Referral.Status.DRAFT
    # its Task is found by focus, and sending it is one status change
    task = village.resources("Task").search(focus=f"ServiceRequest/{rid}").first()
    assert task is not None and task["status"] == "draft"
    task["status"] = "requested"
    task.save()
    assert task["businessStatus"]["coding"][0]["code"] == "submitted"

    # the county hospital's system finds it in its queue and receives it for its doctor
    queue = county.resources("Task").search(status="requested").sort("-priority", "deadline")
    mine = queue.fetch()
    assert [t.id for t in mine] == [rid]
    received = mine[0]
    received["status"] = "received"
    received["owner"] = county_doctor
    received.save()
    assert received["businessStatus"]["coding"][0]["code"] == "received"

    # a free referral slot of the cardiology clinic, found by Slot search
    slots = county.resources("Slot").search(
        schedule=f"Schedule/{scene.schedule.pk}", status="free",
        **{"service-category": "referral"}).search(
        start__ge=timezone.localdate().isoformat()).fetch_all()
    assert len(slots) == 1
    # an acceptance without capacity is refused and changes nothing
    received["status"] = "accepted"
    received["owner"] = county_doctor
    with pytest.raises(OperationOutcome):
        received.save()
    assert Referral.objects.get(pk=int(rid)).status == Referral.Status.RECEIVED
    # accepted with that slot: the appointment is booked in the same step
    received["input"] = [parameter("slot", valueReference={"reference": f"Slot/{slots[0].id}"})]
    received.save()
    assert received["businessStatus"]["coding"][0]["code"] == "accepted"
    booked = [o["valueReference"]["reference"] for o in received["output"]
              if o["type"]["coding"][0]["code"] == "appointment"]
    appointment = SmartAppointment.read(booked[0].split("/")[1], smart.server)
    assert appointment.status == "booked" and appointment.slot[0].reference == \
        f"Slot/{slots[0].id}"
    assert appointment.basedOn[0].identifier.value == rid
    assert Slot.objects.get(pk=int(slots[0].id)).booked == 1

    # the resident arrives, is treated, and the referral is completed with its outcome
    received["status"] = "in-progress"
    received.save()
    received["status"] = "completed"
    received["output"] = [parameter("outcome", valueCodeableConcept={
        "coding": [{"system": OUTCOME, "code": "improved"}]})]
    received.save()
    assert received["businessStatus"]["coding"][0]["code"] == "completed"

    # fhirclient's R4 models read both resources as the sending side sees them
    smart.server.session.headers["Authorization"] = village_header
    final = SmartTask.read(rid, smart.server)
    assert (final.status, final.businessStatus.coding[0].code) == ("completed", "completed")
    assert final.focus.reference == f"ServiceRequest/{rid}"
    slip = SmartServiceRequest.read(rid, smart.server)
    assert (slip.status, slip.intent, slip.priority) == ("completed", "order", "routine")
    assert slip.occurrencePeriod.start.isostring
    assert [e.action for e in ReferralEvent.objects.filter(referral_id=int(rid))] == [
        "create", "submit", "receive", "accept", "arrive", "complete"]

    # the village system books the two-week check on a public slot it finds by search
    found = village.resources("Slot").search(
        **{"service-category": "public"}, status="free").search(
        start__ge=(timezone.localdate() + dt.timedelta(days=14)).isoformat()).first()
    assert found is not None and found.id == str(public.pk)
    check = village.resource("Appointment", status="booked",
                             slot=[{"reference": f"Slot/{found.id}"}],
                             participant=[{"actor": {"reference": f"Patient/{world.patient.pk}"},
                                           "status": "accepted"}])
    check.save()
    assert Appointment.objects.get(pk=int(check.id)).slot_id == public.pk
    assert Slot.objects.get(pk=public.pk).booked == 1
