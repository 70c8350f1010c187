"""JSON API of scheduling (``/api/scheduling``; issue 4 item 6): free slots with filters,
booking (a full slot 409, a pool one may not use 403), the life of an appointment and who may
move it, a resident's appointments (audited), free beds per ward; errors as problem+json."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from tests.api_calls import api_call, ok, problem
from tests.referrals.workflow_scene import Scene, draft_up, make_scene, make_slot
from tests.web.factories import make_patient
from tiercare.accounts.models import AuditEvent, Role
from tiercare.referrals import services as referrals
from tiercare.scheduling.models import Appointment, Bed, Pool, Slot, Ward

HAN = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture
def scene(db: Any) -> Scene:
    return make_scene()


def call(client: Client, user: Any, method: str, path: str, body: Any = None,
         lang: str = "en") -> Any:
    return api_call(client, user, method, f"/api/scheduling{path}", body, lang)


def book(client: Client, user: Any, slot: Slot, patient_id: int, lang: str = "en") -> Any:
    return call(client, user, "post", "/appointments",
                {"slot_id": slot.pk, "patient_id": patient_id}, lang=lang)


# --- free slots -----------------------------------------------------------------------------------


def test_free_slots_filter_by_institution_schedule_pool_and_days(client: Client,
                                                                  scene: Scene) -> None:
    public = make_slot(scene.schedule, pool=Pool.PUBLIC, days=2)
    reserved = make_slot(scene.schedule, pool=Pool.REFERRAL, days=2)
    later = make_slot(scene.schedule, pool=Pool.PUBLIC, days=9)
    full = make_slot(scene.schedule, pool=Pool.PUBLIC, days=3)
    Slot.objects.filter(pk=full.pk).update(booked=1)
    who = scene.township_doctor
    found = ok(call(client, who, "get", f"/slots?institution={scene.world.county_hospital.pk}"))
    assert [s["id"] for s in found] == [public.pk, reserved.pk, later.pk]  # earliest first
    assert found[0]["free"] == 1 and found[0]["schedule_name"] == scene.schedule.name
    pooled = ok(call(client, who, "get", "/slots?pool=referral"))
    assert [s["id"] for s in pooled] == [reserved.pk]
    today = timezone.localdate()
    window = ok(call(client, who, "get", f"/slots?schedule={scene.schedule.pk}&date_from="
                                         f"{today + dt.timedelta(days=5)}&date_to="
                                         f"{today + dt.timedelta(days=9)}"))
    assert [s["id"] for s in window] == [later.pk]
    assert ok(call(client, who, "get", f"/slots?date_to={today + dt.timedelta(days=2)}"
                                       "&limit=1"))[0]["id"] == public.pk
    department = scene.schedule.department_id
    assert len(ok(call(client, who, "get", f"/slots?department={department}"))) == 3
    assert ok(call(client, who, "get", f"/slots?institution={scene.world.township.pk}")) == []
    problem(call(client, who, "get", "/slots?institution=999999"), 404)
    for bad in ("?pool=vip", "?date_from=2025-13-01", "?limit=0", "?date_to=9999-12-31"):
        problem(call(client, who, "get", f"/slots{bad}"), 422)


# --- booking --------------------------------------------------------------------------------------


def test_booking_and_a_full_slot(client: Client, scene: Scene) -> None:
    slot = make_slot(scene.schedule, pool=Pool.PUBLIC, capacity=1)
    patient = scene.world.patient
    made = ok(book(client, scene.township_doctor, slot, patient.pk), 201)
    assert (made["status"], made["slot_id"], made["patient_id"], made["booked_by"]) == (
        "booked", slot.pk, patient.pk, scene.township_doctor.username)
    twice = problem(book(client, scene.township_doctor, slot, patient.pk), 409)
    assert twice["code"] == "appointment.duplicate"
    other = make_patient("王五", patient.address_code)
    full = problem(book(client, scene.township_doctor, slot, other.pk, lang="zh-hans"), 409)
    assert full["code"] == "slot.full" and HAN.search(full["detail"])
    assert HAN.search(full["title"])
    assert Slot.objects.get(pk=slot.pk).booked == 1
    assert Appointment.objects.count() == 1


def test_who_may_book_which_pool(client: Client, scene: Scene) -> None:
    patient = scene.world.patient
    reserved = make_slot(scene.schedule, pool=Pool.REFERRAL)
    internal = make_slot(scene.schedule, pool=Pool.INTERNAL, hour=10)
    # the slot's own institution may not take referral places without a referral
    own = problem(book(client, scene.county_doctor, reserved, patient.pk), 403)
    assert own["code"] == "slot.pool_refused"
    # another member may
    ok(book(client, scene.township_doctor, reserved, patient.pk), 201)
    problem(book(client, scene.township_doctor, internal, patient.pk), 403)
    ok(book(client, scene.county_doctor, internal, patient.pk), 201)
    # booking is clinical work; for residents one sees
    problem(book(client, scene.office, internal, patient.pk), 403)
    problem(book(client, scene.township_doctor, internal, scene.world.stranger.pk), 403)
    problem(book(client, scene.township_doctor, internal, 999999), 404)
    problem(call(client, scene.township_doctor, "post", "/appointments",
                 {"slot_id": 999999, "patient_id": patient.pk}), 404)  # read by the booking
    problem(call(client, scene.township_doctor, "post", "/appointments",
                 {"slot_id": internal.pk}), 422)


# --- the life of an appointment -----------------------------------------------------------------


def test_cancel_check_in_fulfil_and_no_show(client: Client, scene: Scene) -> None:
    slot = make_slot(scene.schedule, pool=Pool.PUBLIC, capacity=2)
    patient = scene.world.patient
    first = ok(book(client, scene.township_doctor, slot, patient.pk), 201)["id"]
    # the booking institution may cancel; the place is free again
    cancelled = ok(call(client, scene.township_doctor, "post",
                        f"/appointments/{first}/cancel", {"reason": "患者改期"}))
    assert cancelled["status"] == "cancelled" and Slot.objects.get(pk=slot.pk).booked == 0
    again = problem(call(client, scene.township_doctor, "post",
                         f"/appointments/{first}/cancel", {}, lang="zh-hans"), 409)
    assert again["code"] == "appointment.transition" and HAN.search(again["detail"])
    second = ok(book(client, scene.township_doctor, slot, patient.pk), 201)["id"]
    # check-in is the slot's institution's
    problem(call(client, scene.township_doctor, "post",
                 f"/appointments/{second}/check-in", {}), 403)
    problem(call(client, scene.office, "post", f"/appointments/{second}/cancel", {}), 403)
    # a no-show only once the slot has begun
    early = problem(call(client, scene.county_doctor, "post",
                         f"/appointments/{second}/no-show", {}), 409)
    assert early["code"] == "appointment.not_started"
    checked = ok(call(client, scene.county_doctor, "post",
                      f"/appointments/{second}/check-in", {}))
    assert checked["status"] == "checked_in"
    done = ok(call(client, scene.county_doctor, "post", f"/appointments/{second}/fulfil",
                   {"reason": "已就诊"}))
    assert done["status"] == "fulfilled"
    problem(call(client, scene.county_doctor, "post", f"/appointments/{second}/cancel", {}),
            409)
    problem(call(client, scene.county_doctor, "post", "/appointments/999999/fulfil", {}), 404)
    # a no-show after the slot began
    past = make_slot(scene.schedule, pool=Pool.PUBLIC, days=0, hour=0)
    Slot.objects.filter(pk=past.pk).update(end=timezone.now() + dt.timedelta(hours=1),
                                           start=timezone.now() - dt.timedelta(minutes=5))
    late = ok(book(client, scene.county_doctor, Slot.objects.get(pk=past.pk), patient.pk),
              201)["id"]
    missed = ok(call(client, scene.county_doctor, "post", f"/appointments/{late}/no-show", {}))
    assert missed["status"] == "no_show"


def test_a_referral_booking_moves_with_its_referral(client: Client, scene: Scene) -> None:
    slot = make_slot(scene.schedule)
    referral = referrals.submit(draft_up(scene), by=scene.village_doctor).referral
    accepted = referrals.accept(referral, by=scene.county_doctor, slot=slot)
    for step in ("cancel", "check-in", "fulfil"):
        refused = problem(call(client, scene.county_doctor, "post",
                               f"/appointments/{accepted.appointment_id}/{step}", {}), 409)
        assert refused["code"] == "appointment.referral"
    assert Appointment.objects.get(pk=accepted.appointment_id).status == "booked"


def test_a_residents_appointments_are_listed_and_audited(client: Client, scene: Scene) -> None:
    patient = scene.world.patient
    early = make_slot(scene.schedule, pool=Pool.PUBLIC, days=1)
    late = make_slot(scene.schedule, pool=Pool.PUBLIC, days=4)
    for slot in (early, late):
        ok(book(client, scene.township_doctor, slot, patient.pk), 201)
    listed = ok(call(client, scene.township_doctor, "get",
                     f"/patients/{patient.pk}/appointments"))
    assert [a["slot_id"] for a in listed] == [late.pk, early.pk]
    assert AuditEvent.objects.filter(action=AuditEvent.Action.VIEW, patient_id=patient.pk,
                                     summary="API: appointments").count() == 1
    assert ok(call(client, scene.township_doctor, "get",
                   f"/patients/{patient.pk}/appointments?status=cancelled")) == []
    assert len(ok(call(client, scene.township_doctor, "get",
                       f"/patients/{patient.pk}/appointments?limit=1"))) == 1
    problem(call(client, scene.township_doctor, "get",
                 f"/patients/{scene.world.stranger.pk}/appointments"), 403)
    problem(call(client, scene.township_doctor, "get", "/patients/999999/appointments"), 404)


def test_free_beds_per_ward(client: Client, scene: Scene) -> None:
    hospital = scene.world.county_hospital
    Bed.objects.create(ward=scene.ward, code="03", pool=Pool.PUBLIC)
    Bed.objects.create(ward=scene.ward, code="04", pool=Pool.PUBLIC, status=Bed.Status.CLOSED)
    empty = Ward.objects.create(institution=hospital, code="W-X", name="空病区")
    referral = referrals.submit(draft_up(scene), by=scene.village_doctor).referral
    referrals.accept(referral, by=scene.county_doctor, ward=scene.ward)
    wards = ok(call(client, scene.village_doctor, "get", f"/beds?institution={hospital.pk}"))
    by_code = {w["ward_code"]: w for w in wards}
    assert {k: by_code["W-ED"][k] for k in ("beds", "free", "free_public", "free_referral")} == {
        "beds": 3, "free": 2, "free_public": 1, "free_referral": 1}
    assert by_code["W-X"]["ward_id"] == empty.pk and by_code["W-X"]["beds"] == 0
    only = ok(call(client, scene.village_doctor, "get", f"/beds?ward={scene.ward.pk}"))
    assert [w["ward_id"] for w in only] == [scene.ward.pk]
    problem(call(client, scene.village_doctor, "get", "/beds?ward=x"), 422)


def test_login_and_csrf_are_required(scene: Scene) -> None:
    slot = make_slot(scene.schedule, pool=Pool.PUBLIC)
    problem(Client().get("/api/scheduling/slots"), 401)
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(scene.world.user(Role.DOCTOR))
    refused = problem(strict.post("/api/scheduling/appointments",
                                  data={"slot_id": slot.pk,
                                        "patient_id": scene.world.patient.pk},
                                  content_type="application/json"), 403)
    assert HAN.search(refused["detail"])
    assert not Appointment.objects.exists()
