"""FHIR Schedule, Slot and Appointment over the scheduling app (issue 4 item 6): schedules and
slots are read and searched by anyone who may read; an Appointment is booked by create and
its status changed by update, through ``scheduling.services`` with all their rules (capacity,
pools, transitions); appointments are residents' records, scoped and audited."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from collections.abc import Callable

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone
from fhirclient.models.appointment import Appointment as SmartAppointment
from fhirclient.models.bundle import Bundle as SmartBundle
from fhirclient.models.schedule import Schedule as SmartSchedule
from fhirclient.models.slot import Slot as SmartSlot

from tests.concurrency import run_together
from tests.fhir.conftest import FHIR_JSON, Fhir, free_slot, new_appointment
from tests.web.factories import make_patient, make_world
from tiercare.accounts.models import AuditEvent
from tiercare.fhir import structure
from tiercare.fhir.mapping import mapper_for
from tiercare.registry.models import Practitioner
from tiercare.scheduling import services
from tiercare.scheduling.models import Appointment, Equipment, Pool, Schedule, Slot

pytestmark = pytest.mark.django_db

POOL = "https://tiercare.org/fhir/CodeSystem/slot-pool"
CAPACITY = "https://tiercare.org/fhir/StructureDefinition/slot-capacity"
INSTITUTION = "https://tiercare.org/fhir/StructureDefinition/institution"


def ids(bundle) -> list[str]:
    return [e["resource"]["id"] for e in bundle["entry"] if e["search"]["mode"] == "match"]


def booked(fhir, world, slot=None, **changes):
    response = fhir.post("Appointment", new_appointment(world, slot, **changes))
    assert response.status_code == 201, response.content
    return response.json()


def english(fhir) -> None:
    """Answers in English from now on (the language cookie, as the site's switch sets it)."""
    fhir.client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"


def with_status(resource, status, **changes):
    body = {**resource, "status": status, **changes}
    body.pop("meta", None)
    return body


# -- Schedule ---------------------------------------------------------------------------------

@pytest.fixture
def schedules(world):
    """The cardiology clinic (a department) with two slots, a practitioner's specialist
    clinic (inactive) and the CT scanner's schedule."""
    slot = free_slot(world, days=2)
    later = free_slot(world, days=5, hour=10)
    clinic = slot.schedule
    practitioner = world.doctor_practitioner
    specialist = Schedule.objects.create(
        institution=world.county_hospital, practitioner=practitioner, name="王主任专家门诊",
        is_specialist=True, is_active=False)
    scanner = Equipment.objects.create(institution=world.county_hospital, code="CT-01",
                                       name="64排CT", modality=Equipment.Modality.CT)
    ct = Schedule.objects.create(institution=world.county_hospital, kind=Schedule.Kind.EQUIPMENT,
                                 equipment=scanner, name="CT检查")
    return {"clinic": clinic, "specialist": specialist, "ct": ct, "slot": slot, "later": later}


def test_a_department_schedule_names_its_department_institution_and_horizon(fhir, world,
                                                                           schedules):
    clinic = schedules["clinic"]
    resource = fhir.get(f"Schedule/{clinic.pk}").json()
    assert resource["actor"] == [{"reference": f"Organization/department-{clinic.department_id}",
                                  "display": clinic.department.name}]
    assert resource["extension"] == [{"url": INSTITUTION, "valueReference": {
        "reference": f"Organization/institution-{world.county_hospital.pk}",
        "display": world.county_hospital.name}}]
    assert resource["active"] is True and resource["comment"] == "心内科普通门诊"
    assert resource["serviceCategory"][0]["coding"][0]["code"] == "clinic"
    horizon = resource["planningHorizon"]
    assert horizon["start"] == timezone.localtime(schedules["slot"].start).isoformat()
    assert horizon["end"] == timezone.localtime(schedules["later"].end).isoformat()


def test_practitioner_and_equipment_schedules(fhir, world, schedules):
    specialist = fhir.get(f"Schedule/{schedules['specialist'].pk}").json()
    assert specialist["actor"][0]["reference"] == f"Practitioner/{world.doctor_practitioner.pk}"
    assert specialist["serviceType"][0]["coding"][0]["code"] == "specialist"
    assert specialist["active"] is False and "planningHorizon" not in specialist
    ct = fhir.get(f"Schedule/{schedules['ct'].pk}").json()
    assert ct["actor"] == [{"type": "Device", "display": "64排CT", "identifier": {
        "system": f"https://tiercare.org/fhir/identifier/equipment/{world.county_hospital.code}",
        "value": "CT-01"}}]
    assert ct["serviceType"][0]["coding"][0]["code"] == "ct"
    assert ct["serviceCategory"][0]["coding"][0]["code"] == "equipment"


@pytest.mark.parametrize("query, expected", [
    ("actor=Organization/department-{department}", ["clinic"]),
    ("actor=Organization/institution-{hospital}", ["clinic", "specialist", "ct"]),
    ("actor=Practitioner/{practitioner}", ["specialist"]),
    ("actor={practitioner}", ["specialist"]),
    ("actor=Organization/alliance-1", []),
    ("active=false", ["specialist"]),
    ("active=true", ["clinic", "ct"]),
    ("_id={clinic}", ["clinic"]),
])
def test_schedule_search(fhir, world, schedules, query, expected):
    values = {"department": schedules["clinic"].department_id,
              "hospital": world.county_hospital.pk,
              "practitioner": world.doctor_practitioner.pk, "clinic": schedules["clinic"].pk}
    bundle = fhir.get(f"Schedule?{query.format(**values)}").json()
    assert ids(bundle) == [str(schedules[name].pk) for name in expected]


def test_a_bad_active_value_is_400(fhir, schedules):
    assert fhir.get("Schedule?active=maybe").status_code == 400


# -- Slot -------------------------------------------------------------------------------------

def test_a_slot_shows_schedule_pool_capacity_and_status(fhir, world, schedules):
    slot = schedules["slot"]
    resource = fhir.get(f"Slot/{slot.pk}").json()
    assert resource["schedule"] == {"reference": f"Schedule/{slot.schedule_id}"}
    assert resource["status"] == "free" and resource["overbooked"] is False
    assert resource["serviceCategory"][0]["coding"][0]["system"] == POOL
    assert resource["serviceCategory"][0]["coding"][0]["code"] == "public"
    assert resource["start"] == timezone.localtime(slot.start).isoformat()
    assert resource["start"].endswith("+08:00")
    assert resource["extension"] == [{"url": CAPACITY, "extension": [
        {"url": "capacity", "valueInteger": 2}, {"url": "booked", "valueInteger": 0}]}]


def test_slot_status_follows_capacity_and_closing(fhir, world, schedules):
    slot = schedules["slot"]
    Slot.objects.filter(pk=slot.pk).update(booked=2)
    assert fhir.get(f"Slot/{slot.pk}").json()["status"] == "busy"
    Slot.objects.filter(pk=slot.pk).update(booked=0, status=Slot.Status.CLOSED)
    assert fhir.get(f"Slot/{slot.pk}").json()["status"] == "busy-unavailable"


@pytest.fixture
def slots(world, schedules):
    """Public, full, closed and referral slots on the clinic's days."""
    referral = free_slot(world, days=2, pool=Pool.REFERRAL, capacity=1)
    full = free_slot(world, days=3, capacity=1)
    Slot.objects.filter(pk=full.pk).update(booked=1)
    closed = free_slot(world, days=4)
    Slot.objects.filter(pk=closed.pk).update(status=Slot.Status.CLOSED)
    return {"slot": schedules["slot"], "referral": referral, "full": full, "closed": closed,
            "later": schedules["later"], "clinic": schedules["clinic"]}


@pytest.mark.parametrize("query, expected", [
    ("schedule=Schedule/{clinic}", ["slot", "referral", "full", "closed", "later"]),
    ("schedule={clinic}&status=free", ["slot", "referral", "later"]),
    ("status=busy", ["full"]),
    ("status=busy-unavailable", ["closed"]),
    ("status=free,busy", ["slot", "referral", "full", "later"]),
    ("status=tentative", []),
    ("service-category=referral", ["referral"]),
    (f"service-category={POOL}|referral", ["referral"]),
    ("service-category=http://other|referral", []),
    ("start={day2}", ["slot", "referral"]),
    ("start=ge{day4}", ["closed", "later"]),
    ("start=lt{day3}", ["slot", "referral"]),
    ("start=gt{day3}&start=le{day5}", ["closed", "later"]),
    ("service-category=public&status=free&_sort=-start", ["later", "slot"]),
])
def test_slot_search(fhir, world, slots, query, expected):
    today = timezone.localdate()
    values = {"clinic": slots["clinic"].pk,
              **{f"day{n}": (today + dt.timedelta(days=n)).isoformat() for n in range(2, 6)}}
    bundle = fhir.get(f"Slot?{query.format(**values)}&_sort=start"
                      if "_sort" not in query else f"Slot?{query.format(**values)}").json()
    assert ids(bundle) == [str(slots[name].pk) for name in expected], bundle


def test_slot_reads_are_not_audited(fhir, slots):
    fhir.get(f"Slot/{slots['slot'].pk}")
    fhir.get("Slot?status=free")
    assert not AuditEvent.objects.filter(action__in=[AuditEvent.Action.VIEW,
                                                     AuditEvent.Action.SEARCH]).exists()


# -- Appointment: booking ---------------------------------------------------------------------

def test_booking_by_create_takes_a_place_and_names_the_system(fhir, world):
    slot = free_slot(world)
    resource = booked(fhir, world, slot)
    stored = Appointment.objects.get(pk=resource["id"])
    assert stored.status == "booked" and stored.patient_id == world.patient.pk
    assert stored.booked_by is None and stored.booked_by_name.startswith("token:system-")
    assert Slot.objects.get(pk=slot.pk).booked == 1
    assert resource["status"] == "booked"
    assert resource["slot"] == [{"reference": f"Slot/{slot.pk}"}]
    assert resource["start"] == timezone.localtime(slot.start).isoformat()
    assert resource["participant"][0]["actor"] == {"reference": f"Patient/{world.patient.pk}"}
    assert resource["participant"][-1]["actor"] == {"display": stored.booked_by_name}
    assert resource["serviceCategory"][0]["coding"][0]["code"] == "public"
    event = AuditEvent.objects.get(action=AuditEvent.Action.CREATE,
                                   object_type="scheduling.Appointment")
    assert event.username == stored.booked_by_name


def test_booking_until_the_slot_is_full_then_409_and_a_cancel_frees_the_place(fhir, world):
    slot = free_slot(world, capacity=2)
    first = booked(fhir, world, slot)
    from tests.web.factories import make_patient

    other = make_patient("李四", "371581001001")
    booked(fhir, world, slot, participant=[{"actor": {"reference": f"Patient/{other.pk}"},
                                            "status": "accepted"}])
    assert fhir.get(f"Slot/{slot.pk}").json()["status"] == "busy"
    third = make_patient("王五", "371581001001")
    body = new_appointment(world, slot, participant=[
        {"actor": {"reference": f"Patient/{third.pk}"}, "status": "accepted"}])
    english(fhir)
    full = fhir.post("Appointment", body)
    assert full.status_code == 409
    assert full.json()["issue"][0]["code"] == "conflict"
    assert "fully booked" in full.json()["issue"][0]["diagnostics"]
    assert Slot.objects.get(pk=slot.pk).booked == 2
    # cancel the first by PUT with status cancelled: the place is free again
    response = fhir.put(f"Appointment/{first['id']}", with_status(first, "cancelled"))
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "cancelled"
    assert Slot.objects.get(pk=slot.pk).booked == 1
    assert fhir.get(f"Slot/{slot.pk}").json()["status"] == "free"
    assert fhir.post("Appointment", body).status_code == 201


def test_the_full_slot_message_is_chinese_by_default(fhir, world):
    slot = free_slot(world, capacity=1)
    booked(fhir, world, slot)
    response = fhir.post("Appointment", new_appointment(world, slot, participant=[
        {"actor": {"reference": f"Patient/{world.stranger.pk}"}, "status": "accepted"}]))
    assert response.status_code == 409
    assert "已约满" in response.json()["issue"][0]["diagnostics"]


@pytest.mark.parametrize("changes, status, where", [
    ({"status": "proposed"}, 422, "Appointment.status"),
    ({"slot": []}, 422, "Appointment.slot"),
    ({"slot": [{"reference": "Slot/999999"}]}, 422, "Appointment.slot"),
    ({"participant": [{"actor": {"reference": "Practitioner/1"}, "status": "accepted"}]},
     422, "Appointment.participant"),
    ({"participant": [{"actor": {"reference": "Patient/999999"}, "status": "accepted"}]},
     422, "Appointment.participant"),
    ({"basedOn": [{"reference": "ServiceRequest/5"}]}, 422, "Appointment.basedOn"),
    ({"start": "2020-01-01T08:00:00+08:00"}, 422, "Appointment.start"),
])
def test_bad_bookings_say_where(fhir, world, changes, status, where):
    body = {**new_appointment(world), **changes}
    response = fhir.post("Appointment", body)
    assert response.status_code == status, response.content
    assert response.json()["issue"][0]["expression"] == [where]
    assert not Appointment.objects.exists()


def test_booking_twice_closed_and_past_slots_are_409(fhir, world):
    slot = free_slot(world)
    booked(fhir, world, slot)
    assert fhir.post("Appointment", new_appointment(world, slot)).status_code == 409
    closed = free_slot(world, days=4)
    Slot.objects.filter(pk=closed.pk).update(status=Slot.Status.CLOSED)
    assert fhir.post("Appointment", new_appointment(world, closed)).status_code == 409
    past = free_slot(world, days=-2)
    assert fhir.post("Appointment", new_appointment(world, past)).status_code == 409


def test_a_system_cannot_book_referral_or_internal_places_403(fhir, world):
    for pool in (Pool.REFERRAL, Pool.INTERNAL):
        slot = free_slot(world, pool=pool, hour=10 if pool == Pool.REFERRAL else 11)
        response = fhir.post("Appointment", new_appointment(world, slot))
        assert response.status_code == 403, response.content
        assert response.json()["issue"][0]["code"] == "forbidden"
        assert Slot.objects.get(pk=slot.pk).booked == 0


def test_a_token_without_appointment_write_is_403(client, token, world):
    reader = Fhir(client, token("system/*.read"))
    response = reader.post("Appointment", new_appointment(world))
    assert response.status_code == 403
    assert not Appointment.objects.exists()


def test_a_township_doctor_books_a_referral_place_under_the_session(client, world):
    client.force_login(world.user("doctor"))
    slot = free_slot(world, pool=Pool.REFERRAL)
    response = client.post("/fhir/Appointment", data=new_appointment(world, slot),
                           content_type="application/fhir+json")
    assert response.status_code == 201, response.content
    stored = Appointment.objects.get()
    assert stored.booked_by == world.user("doctor") and stored.pool == Pool.REFERRAL
    client.force_login(world.user("pharmacist"))  # no clinical role: reads only
    other = free_slot(world, days=4)
    assert client.post("/fhir/Appointment", data=new_appointment(world, other),
                       content_type="application/fhir+json").status_code == 403


# -- Appointment: status changes --------------------------------------------------------------

def test_the_slot_institution_checks_in_and_fulfils(client, token, world):
    county = Fhir(client, token(institution=world.county_hospital.code))
    resource = booked(county, world)
    arrived = county.put(f"Appointment/{resource['id']}", with_status(resource, "arrived"))
    assert arrived.status_code == 200 and arrived.json()["status"] == "checked-in"
    done = county.put(f"Appointment/{resource['id']}",
                      with_status(arrived.json(), "fulfilled"))
    assert done.status_code == 200 and done.json()["status"] == "fulfilled"
    events = Appointment.objects.get(pk=resource["id"]).events.order_by("id")
    assert [e.to_status for e in events] == ["booked", "checked_in", "fulfilled"]
    assert {e.by_name for e in events} == {Appointment.objects.get().booked_by_name}


def test_another_institution_may_cancel_but_not_check_in(client, token, world):
    township = Fhir(client, token(institution=world.township.code))
    resource = booked(township, world)
    refused = township.put(f"Appointment/{resource['id']}", with_status(resource, "checked-in"))
    assert refused.status_code == 403
    assert township.put(f"Appointment/{resource['id']}",
                        with_status(resource, "cancelled")).status_code == 200


def test_illegal_transitions_are_409_with_the_domain_message(fhir, world):
    resource = booked(fhir, world)
    cancelled = fhir.put(f"Appointment/{resource['id']}", with_status(resource, "cancelled"))
    english(fhir)
    for status in ("checked-in", "booked", "noshow"):
        response = fhir.put(f"Appointment/{resource['id']}",
                            with_status(cancelled.json(), status))
        assert response.status_code == 409, (status, response.content)
        assert "cannot be marked" in response.json()["issue"][0]["diagnostics"]


def test_a_no_show_only_once_the_slot_has_begun(fhir, world):
    resource = booked(fhir, world)
    early = fhir.put(f"Appointment/{resource['id']}", with_status(resource, "noshow"))
    assert early.status_code == 409
    Slot.objects.update(start=timezone.now() - dt.timedelta(minutes=5),
                        end=timezone.now() + dt.timedelta(minutes=25))
    current = fhir.get(f"Appointment/{resource['id']}").json()
    late = fhir.put(f"Appointment/{resource['id']}", with_status(current, "noshow"))
    assert late.status_code == 200 and late.json()["status"] == "noshow"
    assert Slot.objects.get().booked == 1  # the place is not given back


@pytest.mark.parametrize("change", [
    {"slot": [{"reference": "Slot/999999"}]},
    {"participant": [{"actor": {"reference": "Patient/999999"}, "status": "accepted"}]},
    {"start": "2030-01-01T08:00:00+08:00"},
    {"basedOn": [{"reference": "ServiceRequest/1"}]},
])
def test_only_the_status_can_change(fhir, world, change):
    resource = booked(fhir, world)
    response = fhir.put(f"Appointment/{resource['id']}",
                        with_status(resource, "cancelled", **change))
    assert response.status_code == 422, response.content
    assert Appointment.objects.get().status == "booked"


def test_an_unchanged_put_changes_nothing_and_unknown_statuses_are_422(fhir, world):
    resource = booked(fhir, world)
    same = fhir.put(f"Appointment/{resource['id']}", with_status(resource, "booked"))
    assert same.status_code == 200
    assert Appointment.objects.get().events.count() == 1
    assert fhir.put(f"Appointment/{resource['id']}",
                    with_status(resource, "waitlist")).status_code == 422


# -- Appointment: reads, scope, audit ---------------------------------------------------------

@pytest.fixture
def appointments(fhir, world):
    """张三 in two slots (one cancelled) and the other county's resident in a third."""
    first = booked(fhir, world, free_slot(world, days=2, hour=14))
    second = booked(fhir, world, free_slot(world, days=5, hour=14))
    fhir.put(f"Appointment/{second['id']}", with_status(second, "cancelled"))
    stranger = booked(fhir, world, free_slot(world, days=3, hour=14), participant=[
        {"actor": {"reference": f"Patient/{world.stranger.pk}"}, "status": "accepted"}])
    return {"first": first, "second": second, "stranger": stranger}


@pytest.mark.parametrize("query, expected", [
    ("patient=Patient/{patient}", ["first", "second"]),
    ("patient={stranger}", ["stranger"]),
    ("status=booked", ["first", "stranger"]),
    ("status=cancelled", ["second"]),
    ("status=checked-in", []),
    ("date={day3}", ["stranger"]),
    ("date=ge{day3}", ["stranger", "second"]),
    ("actor=Patient/{patient}&_sort=-date", ["second", "first"]),
    ("slot=Slot/{first_slot}", ["first"]),
])
def test_appointment_search(fhir, world, appointments, query, expected):
    today = timezone.localdate()
    values = {"patient": world.patient.pk, "stranger": world.stranger.pk,
              "day3": (today + dt.timedelta(days=3)).isoformat(),
              "first_slot": appointments["first"]["slot"][0]["reference"].split("/")[1]}
    bundle = fhir.get(f"Appointment?{query.format(**values)}&_sort=date"
                      if "_sort" not in query else
                      f"Appointment?{query.format(**values)}").json()
    assert ids(bundle) == [appointments[name]["id"] for name in expected]


def test_a_township_system_sees_only_its_residents_appointments(client, token, world,
                                                               appointments):
    township = Fhir(client, token("system/*.read", institution=world.township.code))
    assert ids(township.get("Appointment?_sort=date").json()) == [
        appointments["first"]["id"], appointments["second"]["id"]]
    assert ids(township.get("Appointment?status=cancelled").json()) == [
        appointments["second"]["id"]]
    assert township.get(f"Appointment/{appointments['stranger']['id']}").status_code == 404
    # slots and schedules are not residents' records: everyone sees them all
    assert len(ids(township.get("Slot").json())) == 3


def test_reads_are_view_events_and_searches_search_events(fhir, world, appointments):
    before = AuditEvent.objects.filter(action=AuditEvent.Action.VIEW).count()
    fhir.get(f"Appointment/{appointments['first']['id']}")
    fhir.get("Appointment?status=booked")
    views = AuditEvent.objects.filter(action=AuditEvent.Action.VIEW).order_by("-id")
    assert views.count() - before == 1
    assert views[0].object_type == "scheduling.Appointment"
    assert views[0].patient_id == world.patient.pk
    assert views[0].username.startswith("token:system-")
    assert AuditEvent.objects.filter(action=AuditEvent.Action.SEARCH,
                                     summary__startswith="FHIR Appointment?").count() == 1


def test_includes_bring_the_patient_and_the_slot(fhir, world, appointments):
    bundle = fhir.get(f"Appointment?patient={world.patient.pk}&status=booked"
                      "&_include=Appointment:patient&_include=Appointment:slot").json()
    kinds = sorted(e["resource"]["resourceType"] for e in bundle["entry"])
    assert kinds == ["Appointment", "Patient", "Slot"]


def test_the_schedule_practitioner_and_the_booking_practitioner_are_participants(
        client, world):
    practitioner = world.doctor_practitioner
    schedule = Schedule.objects.create(institution=world.county_hospital,
                                       practitioner=practitioner, name="专家门诊")
    slot = free_slot(world)
    Slot.objects.filter(pk=slot.pk).update(schedule=schedule)
    doctor = world.user("doctor")
    doctor.practitioner = Practitioner.objects.get(pk=practitioner.pk)
    doctor.save()
    client.force_login(doctor)
    response = client.post("/fhir/Appointment", data=new_appointment(world, slot),
                           content_type="application/fhir+json")
    assert response.status_code == 201, response.content
    roles = {p["type"][0]["coding"][0]["code"]: p["actor"]
             for p in response.json()["participant"] if "type" in p}
    assert roles["PPRF"]["reference"] == f"Practitioner/{practitioner.pk}"
    assert roles["booked-by"]["reference"] == f"Practitioner/{practitioner.pk}"


def test_a_referral_booking_shows_its_referral_in_based_on(fhir, world):
    slot = free_slot(world, pool=Pool.REFERRAL)
    stored = services.book(slot, world.patient, by_name="token:referrals",
                           source_referral_id=41)
    resource = fhir.get(f"Appointment/{stored.pk}").json()
    assert resource["basedOn"] == [{"type": "ServiceRequest", "identifier": {
        "system": "https://tiercare.org/fhir/identifier/referral", "value": "41"}}]
    # an unchanged PUT keeps it (the referral is not a change)
    assert fhir.put(f"Appointment/{stored.pk}", with_status(resource, "booked")).status_code \
        == 200


# -- real clients -----------------------------------------------------------------------------

def test_fhirclient_r4_models_parse_the_answers(fhir, world, schedules, appointments):
    for kind, model in (("Schedule", SmartSchedule), ("Slot", SmartSlot),
                        ("Appointment", SmartAppointment)):
        bundle = SmartBundle(fhir.get(f"{kind}?_count=50").json())
        assert bundle.entry, kind
        for entry in bundle.entry:
            assert isinstance(entry.resource, model), kind
        for entry in fhir.get(f"{kind}?_count=50").json()["entry"]:
            structure.check(entry["resource"])  # and the R4B models the server checks with
    slot = SmartSlot(fhir.get(f"Slot/{schedules['slot'].pk}").json())
    assert slot.status == "free" and slot.serviceCategory[0].coding[0].code == "public"
    appointment = SmartAppointment(fhir.get(f"Appointment/{appointments['first']['id']}").json())
    assert appointment.participant[0].actor.reference == f"Patient/{world.patient.pk}"


@pytest.mark.parametrize("kind", ["Schedule", "Slot", "Appointment"])
@pytest.mark.parametrize("value", ["", "x", "|", "a|b|c", "Organization/", "Slot/1/2",
                                   "999999999999999999999", "ge", "http://x/Patient/1",
                                   "Practitioner/abc", "true,false", "eq2025-13"])
def test_odd_values_are_answers_not_500(fhir, world, kind, value):
    for name in mapper_for(kind).all_params():
        response = fhir.get(f"{kind}", data={name: value})
        assert response.status_code in (200, 400), (kind, name, value, response.content)


@pytest.mark.django_db(transaction=True)
def test_parallel_fhir_bookings_fill_the_slot_and_refuse_the_rest(token):
    """Many systems booking one slot at once through FHIR (issue 4 "Performance": no
    over-booking): exactly ``capacity`` creates answer 201, the rest 409 (never a 5xx), the
    slot's count is its bookings and every booking has its audit event."""
    world = make_world()
    slot = free_slot(world, capacity=3)
    people = [make_patient(f"居民{i}", world.patient.address_code) for i in range(16)]
    headers = token()

    def booking(patient_id: int) -> Callable[[], str]:
        def job() -> str:
            body = new_appointment(world, slot, participant=[
                {"actor": {"reference": f"Patient/{patient_id}"}, "status": "accepted"}])
            response = Client().post("/fhir/Appointment", data=json.dumps(body),
                                     content_type=FHIR_JSON, HTTP_PREFER="return=minimal",
                                     **headers)
            return str(response.status_code)
        return job

    outcomes = run_together([booking(p.pk) for p in people])
    assert outcomes == Counter({"201": 3, "409": 13})
    assert Slot.objects.get(pk=slot.pk).booked == 3
    assert Appointment.objects.filter(slot=slot).count() == 3
    assert AuditEvent.objects.filter(action=AuditEvent.Action.CREATE,
                                     object_type="scheduling.Appointment").count() == 3
