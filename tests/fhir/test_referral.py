"""FHIR ServiceRequest (the referral slip) and Task (its workflow) over the referral app
(issue 4 item 6; ADR 0013): a referral is written by creating a ServiceRequest and moved by
updating its Task, through ``referrals.services`` with all their rules (the transition
table, who may take each step, reasons, slots and beds booked in the same transaction);
reads follow ``visible_referrals`` and are audited as residents' records."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from tests.fhir.conftest import ICD10_CN, NOTE_KIND, REFERRAL_DIRECTION, Fhir
from tests.referrals.workflow_scene import Scene, draft_up, make_scene, make_slot
from tiercare.accounts.models import AuditEvent, User
from tiercare.fhir import structure
from tiercare.referrals import services
from tiercare.referrals.models import Referral, ReferralEvent
from tiercare.scheduling.models import Appointment, Bed, Slot

pytestmark = pytest.mark.django_db

S = Referral.Status
BASE = "https://tiercare.org/fhir"
STATUS = f"{BASE}/CodeSystem/referral-status"
TASK = f"{BASE}/CodeSystem/referral-task"
OUTCOME = f"{BASE}/CodeSystem/referral-outcome"
SCOPE = "system/*.read system/ServiceRequest.write system/Task.write"
HAN = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture
def scene(db: Any) -> Scene:
    return make_scene()


@pytest.fixture
def village_his(client: Client, token: Any, scene: Scene) -> Fhir:
    """The village clinic's system (it writes for 赵村医, the village doctor)."""
    return Fhir(client, token(SCOPE, institution=scene.world.village.code))


@pytest.fixture
def county_his(token: Any, scene: Scene) -> Fhir:
    """The county hospital's system (it answers for 陈主任, the county doctor)."""
    return Fhir(Client(), token(SCOPE, institution=scene.world.county_hospital.code))


def person(user: User) -> Fhir:
    """A person's session speaking FHIR."""
    browser = Client()
    browser.force_login(user)
    return Fhir(browser, {})


def role_of(user: User) -> dict[str, str]:
    return {"reference": f"PractitionerRole/employment-{user.practitioner_id}"}


def slip(scene: Scene, **changes: Any) -> dict[str, Any]:
    """The village doctor's referral of 张三 up to the county hospital's cardiology for
    hypertension, as the village clinic's system writes it (a draft)."""
    hospital = scene.world.county_hospital
    resource = {
        "resourceType": "ServiceRequest", "status": "draft", "intent": "order",
        "category": [{"coding": [{"system": REFERRAL_DIRECTION, "code": "up"}]}],
        "priority": "routine",
        "subject": {"reference": f"Patient/{scene.world.patient.pk}"},
        "requester": role_of(scene.village_doctor),
        "performer": [{"reference": f"Organization/institution-{hospital.pk}"}],
        "reasonCode": [{"coding": [{"system": ICD10_CN, "code": "I10"}]}],
        "note": [{"text": "血压190/115 mmHg，头痛、视物模糊"},
                 {"text": "高血压病史10年，今晨血压骤升",
                  "extension": [{"url": NOTE_KIND, "valueCode": "clinical-summary"}]}],
    }
    resource.update(changes)
    return resource


def written(fhir: Fhir, scene: Scene, **changes: Any) -> dict[str, Any]:
    response = fhir.post("ServiceRequest", slip(scene, **changes))
    assert response.status_code == 201, response.content
    return response.json()


def step(fhir: Fhir, task_id: str | int, status: str | None = None, *,
         business: str | None = None, expect: int = 200, **elements: Any) -> dict[str, Any]:
    """Read the Task, change its status (or businessStatus) and elements, PUT it back."""
    body = fhir.get(f"Task/{task_id}").json()
    body.pop("meta", None)
    if status is not None:
        body["status"] = status
    if business is not None:
        body["businessStatus"] = {"coding": [{"system": STATUS, "code": business}]}
    body.update(elements)
    response = fhir.put(f"Task/{task_id}", body)
    assert response.status_code == expect, response.content
    return dict(response.json())


def parameter(kind: str, **value: Any) -> dict[str, Any]:
    return {"type": {"coding": [{"system": TASK, "code": kind}]}, **value}


def values(items: list[dict[str, Any]], kind: str) -> list[Any]:
    return [next(v for k, v in item.items() if k.startswith("value")) for item in items
            if item["type"]["coding"][0]["code"] == kind]


def ids(bundle: dict[str, Any]) -> list[str]:
    return [e["resource"]["id"] for e in bundle["entry"] if e["search"]["mode"] == "match"]


def assert_finds(fhir: Fhir, kind: str, queries: dict[str, list[str]]) -> None:
    """Each search (strict: every parameter known) finds exactly the ids given."""
    for params, expected in queries.items():
        response = fhir.get(f"{kind}?{params}", HTTP_PREFER="handling=strict")
        assert response.status_code == 200, (params, response.content)
        assert sorted(ids(response.json())) == sorted(expected), params


def english(fhir: Fhir) -> None:
    fhir.client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"


# -- the slip ---------------------------------------------------------------------------------

def test_a_system_writes_a_referral_for_its_clinician_as_a_draft(scene, village_his):
    # given the village clinic's system writing for 赵村医
    # when it creates the ServiceRequest
    created = written(village_his, scene)
    # then a draft referral exists with the slip's elements, written by the village doctor
    referral = Referral.objects.get(pk=int(created["id"]))
    assert (referral.status, referral.direction, referral.green_channel) == (S.DRAFT, "up", False)
    assert referral.sending_user == scene.village_doctor
    assert referral.sending_institution == scene.world.village
    assert referral.receiving_institution == scene.world.county_hospital
    assert (referral.diagnosis, referral.reason) == ("I10", "血压190/115 mmHg，头痛、视物模糊")
    assert referral.clinical_summary == "高血压病史10年，今晨血压骤升"
    # and reading it back gives a valid R4 ServiceRequest of the same slip
    resource = village_his.get(f"ServiceRequest/{referral.pk}").json()
    structure.check(resource)
    assert resource["status"] == "draft" and resource["intent"] == "order"
    assert resource["identifier"] == [{"system": f"{BASE}/identifier/referral",
                                       "value": str(referral.pk)}]
    assert resource["category"][0]["coding"][0]["code"] == "3457005"
    assert resource["category"][1]["coding"][0]["code"] == "up"
    assert resource["priority"] == "routine"
    assert resource["subject"] == {"reference": f"Patient/{scene.world.patient.pk}"}
    assert resource["requester"]["reference"] == role_of(scene.village_doctor)["reference"]
    assert resource["performer"] == [{
        "reference": f"Organization/institution-{scene.world.county_hospital.pk}",
        "display": scene.world.county_hospital.name}]
    assert resource["reasonCode"][0]["coding"][0] == {"system": ICD10_CN, "code": "I10",
                                                      "display": "原发性高血压"}
    kinds = {n["extension"][0]["valueCode"]: n["text"] for n in resource["note"]}
    assert kinds == {"reason": referral.reason, "clinical-summary": referral.clinical_summary}
    # and its Task is a draft for the county hospital
    task = village_his.get(f"Task/{referral.pk}").json()
    structure.check(task)
    assert (task["status"], task["businessStatus"]["coding"][0]["code"]) == ("draft", "draft")
    assert task["focus"] == {"reference": f"ServiceRequest/{referral.pk}"}
    assert task["for"] == {"reference": f"Patient/{scene.world.patient.pk}"}
    # and the write is audited for the clinician and for the system that sent it
    assert AuditEvent.objects.filter(object_type="referrals.Referral",
                                     object_id=str(referral.pk), user=scene.village_doctor,
                                     action=AuditEvent.Action.CREATE).exists()
    assert AuditEvent.objects.filter(object_type="referrals.Referral",
                                     object_id=str(referral.pk),
                                     username__startswith="token:").exists()


def test_reads_and_searches_are_audited_as_a_residents_record(scene, village_his):
    rid = written(village_his, scene)["id"]
    village_his.get(f"ServiceRequest/{rid}")
    village_his.get(f"Task/{rid}")
    village_his.get(f"Task?patient=Patient/{scene.world.patient.pk}")
    views = AuditEvent.objects.filter(action=AuditEvent.Action.VIEW, object_id=rid,
                                      object_type="referrals.Referral",
                                      patient_id=scene.world.patient.pk)
    assert sorted(views.values_list("summary", flat=True)) == [
        f"FHIR ServiceRequest {rid}", f"FHIR Task {rid}"]
    assert AuditEvent.objects.filter(action=AuditEvent.Action.SEARCH,
                                     object_type="referrals.Referral",
                                     summary__startswith="FHIR Task?").exists()


def test_a_person_writes_in_their_own_name(scene):
    doctor = person(scene.village_doctor)
    body = slip(scene)
    del body["requester"]
    created = doctor.post("ServiceRequest", body)
    assert created.status_code == 201, created.content
    assert Referral.objects.get(pk=int(created.json()["id"])).sending_user == scene.village_doctor
    # naming someone else as the requester is refused
    other = doctor.post("ServiceRequest", slip(scene, requester=role_of(scene.county_doctor)))
    assert other.status_code == 422
    assert other.json()["issue"][0]["expression"] == ["ServiceRequest.requester"]
    # a pharmacist may not write referrals at all
    pharmacist = person(scene.world.user("pharmacist"))
    assert pharmacist.post("ServiceRequest", slip(scene)).status_code == 403


def test_active_on_create_sends_it_at_once(scene, village_his):
    created = written(village_his, scene, status="active")
    referral = Referral.objects.get(pk=int(created["id"]))
    assert referral.status == S.SUBMITTED and referral.deadline is not None
    # the catalogue's warning (I10 is treated at village level) is on the slip
    warning = [n for n in created["note"]
               if n["extension"][0]["valueCode"] == "catalogue-warning"]
    assert warning and warning[0]["text"] == referral.catalogue_warning
    assert created["status"] == "active" and created["authoredOn"]


@pytest.mark.parametrize(("changes", "where"), [
    ({"priority": "urgent"}, "ServiceRequest.priority"),
    ({"priority": "asap"}, "ServiceRequest.priority"),
    ({"category": []}, "ServiceRequest.category"),
    ({"reasonCode": []}, "ServiceRequest.reasonCode"),
    ({"status": "completed"}, "ServiceRequest.status"),
    ({"intent": "proposal"}, "ServiceRequest.intent"),
    ({"subject": {"reference": "Patient/999999"}}, "ServiceRequest.subject"),
    ({"performer": [{"reference": "Organization/alliance-1"}]}, "ServiceRequest.performer[0]"),
    ({"requester": {"reference": "Organization/institution-1"}}, "ServiceRequest.requester"),
])
def test_malformed_slips_are_422_and_write_nothing(scene, village_his, changes, where):
    response = village_his.post("ServiceRequest", slip(scene, **changes))
    assert response.status_code == 422, response.content
    assert response.json()["issue"][0]["expression"] == [where]
    assert HAN.search(response.json()["issue"][0]["diagnostics"])  # in Chinese by default
    assert not Referral.objects.exists()


def test_the_services_refusals_come_back_translated(scene, village_his):
    # a code that is not ICD-10 and a missing reason: the referral services' own checks
    bad = village_his.post("ServiceRequest", slip(scene, reasonCode=[
        {"coding": [{"system": ICD10_CN, "code": "XYZ"}]}]))
    assert bad.status_code == 422 and HAN.search(bad.json()["issue"][0]["diagnostics"])
    english(village_his)
    blank = village_his.post("ServiceRequest", slip(scene, note=[]))
    assert blank.status_code == 422
    assert blank.json()["issue"][0]["diagnostics"] == "A reason is required."
    # a resident outside the village doctor's care
    stranger = village_his.post("ServiceRequest", slip(scene, subject={
        "reference": f"Patient/{scene.world.stranger.pk}"}))
    assert stranger.status_code == 422
    assert not Referral.objects.exists()


def test_a_system_names_a_clinician_it_acts_for(scene, village_his):
    body = slip(scene)
    del body["requester"]
    unnamed = village_his.post("ServiceRequest", body)
    assert unnamed.status_code == 422
    assert unnamed.json()["issue"][0]["expression"] == ["ServiceRequest.requester"]
    # the village clinic's system cannot write for the county hospital's doctor
    foreign = village_his.post("ServiceRequest", slip(scene,
                                                      requester=role_of(scene.county_doctor)))
    assert foreign.status_code == 403
    assert not Referral.objects.exists()


def test_a_draft_is_edited_by_put_until_it_is_sent(scene, village_his):
    created = written(village_his, scene)
    rid = created["id"]
    department = scene.world.county_hospital.departments.get(code="D1")
    body = {**created, "performer": [{"reference": f"Organization/department-{department.pk}"}],
            "reasonCode": [{"coding": [{"system": ICD10_CN, "code": "I63.9"}]}]}
    edited = village_his.put(f"ServiceRequest/{rid}", body)
    assert edited.status_code == 200, edited.content
    referral = Referral.objects.get(pk=int(rid))
    assert (referral.receiving_department, referral.diagnosis) == (department, "I63.9")
    assert ReferralEvent.objects.filter(referral=referral, action="edit").count() == 1
    # the same slip again changes nothing
    again = village_his.put(f"ServiceRequest/{rid}", edited.json())
    assert again.status_code == 200
    assert ReferralEvent.objects.filter(referral=referral, action="edit").count() == 1
    # its status is the workflow's
    moved = village_his.put(f"ServiceRequest/{rid}", {**edited.json(), "status": "active"})
    assert moved.status_code == 422
    # once sent, the slip is fixed
    services.submit(referral, by=scene.village_doctor)
    late = village_his.get(f"ServiceRequest/{rid}").json()
    late["note"] = [{"text": "补充"}]
    assert village_his.put(f"ServiceRequest/{rid}", late).status_code == 409


# -- search -----------------------------------------------------------------------------------

def test_service_request_search(scene, village_his):
    routine = written(village_his, scene)["id"]
    green = written(village_his, scene, priority="stat", status="active")["id"]
    world = scene.world
    queries = {
        f"patient=Patient/{world.patient.pk}": [routine, green],
        f"subject={world.patient.pk}": [routine, green],
        "status=draft": [routine],
        "status=active": [green],
        "status=revoked": [],
        "priority=stat": [green],
        "priority=routine": [routine],
        "priority=urgent": [],
        f"requester=Organization/institution-{world.village.pk}": [routine, green],
        f"requester=Practitioner/{scene.village_doctor.practitioner_id}": [routine, green],
        f"requester=Organization/institution-{world.township.pk}": [],
        f"performer=Organization/institution-{world.county_hospital.pk}": [routine, green],
        f"category={REFERRAL_DIRECTION}|up": [routine, green],
        "category=down": [],
        f"identifier={BASE}/identifier/referral|{green}": [green],
        f"authored=ge{timezone.localdate().isoformat()}": [routine, green],
        "authored=lt2020": [],
        "_sort=-authored": [green, routine],
        f"_id={routine}": [routine],
    }
    assert_finds(village_his, "ServiceRequest", queries)
    assert ids(village_his.get("ServiceRequest?_sort=-authored").json()) == [green, routine]
    assert ids(village_his.get("ServiceRequest?_sort=authored").json()) == [routine, green]
    included = village_his.get(f"ServiceRequest?_id={green}&_include=ServiceRequest:patient")
    assert {e["resource"]["resourceType"] for e in included.json()["entry"]} == {
        "ServiceRequest", "Patient"}


# -- the workflow -----------------------------------------------------------------------------

def test_the_loop_through_task_with_a_slot(scene, village_his, county_his):
    """submitted → received → accepted (a referral slot) → arrived → completed, each side by
    its own system for its own clinician."""
    slot = make_slot(scene.schedule, capacity=1)
    rid = written(village_his, scene)["id"]
    chen = role_of(scene.county_doctor)
    # when the village clinic sends it
    sent = step(village_his, rid, "requested")
    # then it is submitted, with the response deadline as the Task's restriction
    referral = Referral.objects.get(pk=int(rid))
    assert referral.status == S.SUBMITTED
    assert sent["status"] == "requested"
    assert sent["businessStatus"]["coding"][0]["code"] == "submitted"
    assert sent["restriction"]["period"]["end"] == timezone.localtime(
        referral.deadline).isoformat()
    # the county hospital sees it in its queue, and receives it for 陈主任
    queue = county_his.get("Task?status=requested&_sort=-priority,deadline").json()
    assert ids(queue) == [rid]
    received = step(county_his, rid, "received", owner=chen)
    assert received["businessStatus"]["coding"][0]["code"] == "received"
    assert received["executionPeriod"]["start"]
    # when it accepts with the referral slot
    accepted = step(county_his, rid, "accepted", owner=chen,
                    input=[parameter("slot", valueReference={"reference": f"Slot/{slot.pk}"})])
    # then the slot is booked for the referral in the same step
    appointment = Appointment.objects.get(source_referral_id=int(rid))
    assert Slot.objects.get(pk=slot.pk).booked == 1 and appointment.slot_id == slot.pk
    assert values(accepted["output"], "appointment") == [
        {"reference": f"Appointment/{appointment.pk}"}]
    assert values(accepted["input"], "slot") == [{"reference": f"Slot/{slot.pk}"}]
    assert accepted["owner"]["reference"] == chen["reference"]
    request = county_his.get(f"ServiceRequest/{rid}").json()
    assert request["occurrencePeriod"]["start"] == timezone.localtime(slot.start).isoformat()
    assert county_his.get(f"Appointment/{appointment.pk}").json()["status"] == "booked"
    # the resident arrives (in-progress), is treated and the referral completed
    arrived = step(county_his, rid, "in-progress")
    assert arrived["businessStatus"]["coding"][0]["code"] == "arrived"
    assert Appointment.objects.get(pk=appointment.pk).status == Appointment.Status.CHECKED_IN
    done = step(county_his, rid, "completed", output=[
        parameter("outcome", valueCodeableConcept={"coding": [{"system": OUTCOME,
                                                               "code": "improved"}]}),
        parameter("outcome-note", valueString="血压控制")])
    structure.check(done)
    assert done["status"] == "completed" and done["executionPeriod"]["end"]
    assert values(done["output"], "outcome")[0]["coding"][0]["code"] == "improved"
    assert values(done["output"], "outcome-note") == ["血压控制"]
    assert county_his.get(f"ServiceRequest/{rid}").json()["status"] == "completed"
    # every step is on the timeline, by the clinicians the systems named
    events = ReferralEvent.objects.filter(referral_id=int(rid)).order_by("at", "id")
    assert [(e.action, e.by) for e in events] == [
        ("create", scene.village_doctor), ("submit", scene.village_doctor),
        ("receive", scene.county_doctor), ("accept", scene.county_doctor),
        ("arrive", scene.county_doctor), ("complete", scene.county_doctor)]
    # and the sending side sees the end of the loop
    assert village_his.get(f"Task/{rid}").json()["status"] == "completed"


def test_accept_with_a_bed_shows_the_bed_as_a_location(scene, village_his, county_his):
    rid = written(village_his, scene, status="active")["id"]
    bed = Bed.objects.filter(ward=scene.ward).order_by("code").first()
    held = {"reference": f"Location/bed-{bed.pk}"}
    accepted = step(county_his, rid, "accepted", owner=role_of(scene.county_doctor),
                    input=[parameter("bed", valueReference=held)])
    assert values(accepted["output"], "bed") == [{"reference": f"Location/bed-{bed.pk}"}]
    location = county_his.get(f"Location/bed-{bed.pk}").json()
    structure.check(location)
    assert location["operationalStatus"]["code"] == "reserved"
    assert location["physicalType"]["coding"][0]["code"] == "bd"
    assert location["name"] == "急诊病区 01"
    assert location["partOf"]["reference"] == f"Location/site-{scene.world.county_hospital.pk}"
    assert location["type"][0]["coding"][0]["code"] == "referral"
    free = county_his.get(f"Location?operational-status=free&type=referral&organization="
                          f"Organization/institution-{scene.world.county_hospital.pk}").json()
    assert ids(free) == [f"bed-{b.pk}" for b in Bed.objects.filter(status="free")]
    step(county_his, rid, "in-progress")
    assert county_his.get(f"Location/bed-{bed.pk}").json()["operationalStatus"]["code"] == \
        "occupied"
    assert county_his.get(f"ServiceRequest/{rid}").json()["occurrencePeriod"]["start"]


def test_the_green_channel_is_stat_with_its_short_deadline(scene, village_his, county_his):
    # given a green-channel referral (BP 190/115) sent as priority stat
    created = written(village_his, scene, priority="stat", status="active")
    routine = written(village_his, scene, status="active")["id"]
    referral = Referral.objects.get(pk=int(created["id"]))
    # then it is the green channel with the 15-minute deadline
    assert referral.green_channel and created["priority"] == "stat"
    assert referral.deadline - referral.submitted_at == dt.timedelta(minutes=15)
    task = county_his.get(f"Task/{referral.pk}").json()
    assert task["priority"] == "stat"
    # and it heads the receiving queue
    queue = county_his.get("Task?owner=Organization/institution-"
                           f"{scene.world.county_hospital.pk}&_sort=-priority,deadline")
    assert ids(queue.json()) == [created["id"], routine]
    assert ids(county_his.get("Task?priority=stat").json()) == [created["id"]]


def test_reject_needs_a_reason(scene, village_his, county_his):
    rid = written(village_his, scene, status="active")["id"]
    chen = role_of(scene.county_doctor)
    english(county_his)
    # when the county hospital rejects without a reason
    refused = step(county_his, rid, "rejected", owner=chen, expect=422)
    # then it is refused with the referral's message and nothing changes
    assert refused["issue"][0]["diagnostics"] == "A reason is required."
    assert Referral.objects.get(pk=int(rid)).status == S.SUBMITTED
    # with a reason it is rejected; the reason is the Task's statusReason
    rejected = step(county_his, rid, "rejected", owner=chen,
                    statusReason={"text": "本院无床位，建议转市医院"})
    assert rejected["businessStatus"]["coding"][0]["code"] == "rejected"
    assert rejected["statusReason"] == {"text": "本院无床位，建议转市医院"}
    assert village_his.get(f"ServiceRequest/{rid}").json()["status"] == "revoked"
    assert [e.action for e in ReferralEvent.objects.filter(referral_id=int(rid))] == [
        "create", "submit", "receive", "reject"]


def test_accepting_a_cancelled_referral_is_409_and_changes_nothing(scene, village_his,
                                                                   county_his):
    slot = make_slot(scene.schedule, capacity=1)
    rid = written(village_his, scene, status="active")["id"]
    cancelled = step(village_his, rid, "cancelled", statusReason={"text": "患者改期"})
    assert cancelled["statusReason"] == {"text": "患者改期"}
    before = Referral.objects.get(pk=int(rid)).updated_at
    # when the county hospital accepts it with a slot
    refused = step(county_his, rid, "accepted", owner=role_of(scene.county_doctor), expect=409,
                   input=[parameter("slot", valueReference={"reference": f"Slot/{slot.pk}"})])
    # then 409 with the translated referral message, and nothing changed
    assert refused["resourceType"] == "OperationOutcome"
    assert refused["issue"][0]["code"] == "conflict"
    assert HAN.search(refused["issue"][0]["diagnostics"])
    referral = Referral.objects.get(pk=int(rid))
    assert (referral.status, referral.updated_at) == (S.CANCELLED, before)
    assert Slot.objects.get(pk=slot.pk).booked == 0
    assert not Appointment.objects.exists()


@pytest.mark.parametrize(("status", "business", "expect"), [
    ("in-progress", None, 409),  # arrive before acceptance: not in the table
    ("completed", None, 409),
    ("failed", None, 403),  # expiry is the system's
    ("draft", None, 409),  # no way back
    ("ready", None, 422),  # a Task status that means nothing here
    ("on-hold", None, 422),
    ("completed", "arrived", 422),  # status and businessStatus disagree
    (None, "nonsense", 422),
])
def test_steps_the_state_does_not_have(scene, village_his, county_his, status, business,
                                       expect):
    rid = written(village_his, scene, status="active")["id"]
    answer = step(county_his, rid, status, business=business,
                  owner=role_of(scene.county_doctor), expect=expect)
    assert answer["resourceType"] == "OperationOutcome"
    assert Referral.objects.get(pk=int(rid)).status == S.SUBMITTED


def test_the_sender_cannot_take_the_receivers_steps(scene, village_his):
    rid = written(village_his, scene, status="active")["id"]
    answer = step(village_his, rid, "received", expect=403)
    assert answer["issue"][0]["code"] == "forbidden"
    # nor name the receiving clinician: the village system does not act for him
    step(village_his, rid, "received", owner=role_of(scene.county_doctor), expect=403)
    assert Referral.objects.get(pk=int(rid)).status == S.SUBMITTED


def test_a_task_keeps_its_focus_resident_and_priority(scene, village_his):
    rid = written(village_his, scene)["id"]
    other = written(village_his, scene)["id"]
    for element, value in (("focus", {"reference": f"ServiceRequest/{other}"}),
                           ("for", {"reference": f"Patient/{scene.world.stranger.pk}"}),
                           ("priority", "stat"), ("intent", "plan")):
        answer = step(village_his, rid, expect=422, **{element: value})
        assert answer["issue"][0]["expression"] == [f"Task.{element}"]
    # the Task as read, put back, changes nothing
    before = Referral.objects.get(pk=int(rid)).updated_at
    step(village_his, rid)
    assert Referral.objects.get(pk=int(rid)).updated_at == before


def test_redirect_sends_it_on_to_another_member(scene, village_his, county_his):
    rid = written(village_his, scene, status="active")["id"]
    township = scene.world.township
    redirected = step(county_his, rid, "rejected", owner=role_of(scene.county_doctor),
                      statusReason={"text": "病情稳定，转乡镇卫生院"},
                      input=[parameter("redirect-to", valueReference={
                          "reference": f"Organization/institution-{township.pk}"})])
    successor = Referral.objects.get(redirected_from__pk=int(rid))
    assert redirected["status"] == "rejected"
    assert redirected["businessStatus"]["coding"][0]["code"] == "redirected"
    assert values(redirected["output"], "successor") == [
        {"reference": f"ServiceRequest/{successor.pk}"}]
    assert successor.receiving_institution == township and successor.status == S.SUBMITTED
    follow_on = village_his.get(f"ServiceRequest/{successor.pk}").json()
    assert follow_on["replaces"] == [{"reference": f"ServiceRequest/{rid}"}]


def test_out_of_county_waits_for_the_alliance_office(scene, village_his):
    city = scene.world.city_hospital
    rid = written(village_his, scene, category=[{"coding": [
        {"system": REFERRAL_DIRECTION, "code": "out_of_county"}]}], performer=[
        {"reference": f"Organization/institution-{city.pk}"}])["id"]
    # when the village clinic sends it, it waits for approval: not yet ready for the city
    waiting = step(village_his, rid, "requested")
    assert waiting["status"] == "draft"
    assert waiting["businessStatus"]["coding"][0]["code"] == "awaiting_approval"
    # the village system cannot approve it (its clinician is not the office)
    step(village_his, rid, "requested", expect=403)
    # the alliance office approves in its session
    office = person(scene.office)
    approved = step(office, rid, "requested")
    assert approved["businessStatus"]["coding"][0]["code"] == "submitted"
    assert Referral.objects.get(pk=int(rid)).approved_by == scene.office


def test_another_alliance_does_not_see_the_referral(scene, village_his, token):
    rid = written(village_his, scene, status="active")["id"]
    world = scene.world
    outsiders = [person(scene.other_office),
                 Fhir(Client(), token(SCOPE, alliance=world.other_alliance.code)),
                 Fhir(Client(), token(SCOPE, institution=world.other_township.code))]
    for outsider in outsiders:
        for path in (f"ServiceRequest/{rid}", f"Task/{rid}"):
            assert outsider.get(path).status_code == 404, path
        assert ids(outsider.get("ServiceRequest").json()) == []
        assert ids(outsider.get(f"Task?focus=ServiceRequest/{rid}").json()) == []
        answer = outsider.put(f"Task/{rid}", {"resourceType": "Task", "id": rid,
                                              "status": "cancelled", "intent": "order"})
        assert answer.status_code in (403, 404)
    assert Referral.objects.get(pk=int(rid)).status == S.SUBMITTED
    # the alliance's own office and a whole-county system see it
    assert person(scene.office).get(f"Task/{rid}").status_code == 200
    assert Fhir(Client(), token(SCOPE)).get(f"ServiceRequest/{rid}").status_code == 200


def test_the_receiver_does_not_see_drafts(scene, village_his, county_his):
    rid = written(village_his, scene)["id"]
    assert county_his.get(f"Task/{rid}").status_code == 404
    assert person(scene.county_doctor).get(f"ServiceRequest/{rid}").status_code == 404


def test_task_search(scene, village_his, county_his):
    draft = written(village_his, scene)["id"]
    sent = written(village_his, scene, status="active")["id"]
    chen = role_of(scene.county_doctor)
    slot = make_slot(scene.schedule)
    step(county_his, sent, "accepted", owner=chen,
         input=[parameter("slot", valueReference={"reference": f"Slot/{slot.pk}"})])
    world = scene.world
    queries = {
        f"focus=ServiceRequest/{sent}": [sent],
        f"patient=Patient/{world.patient.pk}": [draft, sent],
        "status=draft": [draft],
        "status=accepted": [sent],
        "status=received": [],
        f"business-status={STATUS}|accepted": [sent],
        "business-status=draft": [draft],
        f"owner=Organization/institution-{world.county_hospital.pk}": [draft, sent],
        f"owner={chen['reference']}": [sent],
        f"requester=Organization/institution-{world.village.pk}": [draft, sent],
        f"authored-on=ge{timezone.localdate().isoformat()}": [draft, sent],
        f"modified=ge{timezone.localdate().isoformat()}": [draft, sent],
        "priority=routine": [draft, sent],
        f"_id={sent}&_include=Task:focus": [sent],
    }
    assert_finds(village_his, "Task", queries)
    included = village_his.get(f"Task?_id={sent}&_include=Task:focus").json()
    assert [e["resource"]["resourceType"] for e in included["entry"]] == [
        "Task", "ServiceRequest"]


def test_completing_an_admission_proposes_the_down_referral(scene, village_his, county_his):
    rid = written(village_his, scene, status="active")["id"]
    chen = role_of(scene.county_doctor)
    step(county_his, rid, "accepted", owner=chen, input=[parameter("bed", valueReference={
        "reference": f"Location/bed-{Bed.objects.filter(ward=scene.ward).first().pk}"})])
    step(county_his, rid, "in-progress")
    missing = step(county_his, rid, "completed", expect=422)
    assert missing["issue"][0]["code"] == "business-rule"
    plan = "氨氯地平5mg每日一次；2周后乡镇卫生院随访"
    done = step(county_his, rid, "completed", output=[
        parameter("outcome", valueCodeableConcept={"coding": [{"system": OUTCOME,
                                                               "code": "improved"}]}),
        parameter("care-plan", valueString=plan)])
    down = Referral.objects.get(source_referral_id=int(rid))
    assert values(done["output"], "down-referral") == [
        {"reference": f"ServiceRequest/{down.pk}"}]
    proposed = county_his.get(f"ServiceRequest/{down.pk}").json()
    assert proposed["basedOn"] == [{"reference": f"ServiceRequest/{rid}"}]
    assert proposed["category"][1]["coding"][0]["code"] == "down"
    assert {n["extension"][0]["valueCode"]: n["text"] for n in proposed["note"]}[
        "care-plan"] == plan


def test_a_referral_that_is_not_a_draft_is_not_written_twice(scene, village_his):
    """A write whose step fails (submit without a receiver) leaves no referral behind."""
    body = slip(scene, status="active")
    del body["performer"]
    answer = village_his.post("ServiceRequest", body)
    assert answer.status_code == 422
    assert not Referral.objects.exists()


def test_unknown_and_malformed_ids(scene, village_his):
    for path in ("Task/999999", "ServiceRequest/abc", "Task/bed-1", "ServiceRequest/1.5"):
        response = village_his.get(path)
        assert response.status_code == 404 and response.json()["resourceType"] == \
            "OperationOutcome"
    slip_ = draft_up(scene)
    assert village_his.get(f"Task/{slip_.pk}").status_code == 200


# -- no input makes the two answer 5xx (DESIGN.md "never a 500") -------------------------------

FUZZ = hypothesis_settings(max_examples=60, deadline=None,
                           suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                  HealthCheck.too_slow])
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20) | st.sampled_from(
        ["Slot/1", "Location/bed-1", "Organization/institution-1", "PractitionerRole/"
         "employment-1", "Practitioner/1", "ServiceRequest/1", "Patient/1", "stat", "urgent",
         "requested", "accepted", "rejected", "in-progress", "completed", "cancelled"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(
        ["reference", "coding", "system", "code", "text", "type", "valueReference",
         "valueString", "valueCodeableConcept", "url", "valueCode", "extension"]), inner,
        max_size=3),
    max_leaves=10)


@FUZZ
@given(changes=st.dictionaries(st.sampled_from(
    ["status", "intent", "category", "priority", "subject", "requester", "performer",
     "reasonCode", "note", "basedOn", "extension", "occurrencePeriod"]), json_values,
    max_size=3))
def test_any_service_request_is_answered_without_a_server_error(scene, village_his, changes):
    answer = village_his.post("ServiceRequest", slip(scene, **changes))
    assert answer.status_code < 500, answer.content[:500]
    assert answer.json()["resourceType"] in ("ServiceRequest", "OperationOutcome")


@FUZZ
@given(changes=st.dictionaries(st.sampled_from(
    ["status", "businessStatus", "statusReason", "input", "output", "owner", "requester",
     "focus", "for", "priority", "intent"]), json_values, max_size=3))
def test_any_task_update_is_answered_without_a_server_error(scene, county_his, changes):
    referral = services.submit(draft_up(scene), by=scene.village_doctor).referral
    body = county_his.get(f"Task/{referral.pk}").json()
    answer = county_his.put(f"Task/{referral.pk}", {**body, **changes})
    assert answer.status_code < 500, answer.content[:500]
    assert answer.json()["resourceType"] in ("Task", "OperationOutcome")
