"""JSON API of the referral workflow (``/api/referrals``; issue 4 item 6): the whole loop
through the API, every step's refusals as problem+json (RFC 9457) with the right status in
the user's language, lists with paging and filters, attachments, follow-ups, the catalogue
look-up."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from tests.api_calls import api_call, ok, problem
from tests.referrals.workflow_scene import Scene, draft_up, make_scene, make_slot
from tests.web.factories import make_patient
from tiercare.accounts.models import AuditEvent, Role
from tiercare.referrals import services
from tiercare.referrals.models import Direction, FollowUpTask, Referral, ReferralAttachment
from tiercare.scheduling.models import Bed, Slot

HAN = re.compile(r"[\u4e00-\u9fff]")
S = Referral.Status


@pytest.fixture
def scene(db: Any) -> Scene:
    return make_scene()


def call(client: Client, user: Any, method: str, path: str, body: Any = None,
         lang: str = "en") -> Any:
    return api_call(client, user, method, f"/api/referrals{path}", body, lang)


def slip(scene: Scene, **extra: Any) -> dict[str, Any]:
    return {"patient_id": scene.world.patient.pk, "direction": "up", "diagnosis": "I10",
            "reason": "血压190/115 mmHg，头痛、视物模糊",
            "receiving_institution_id": scene.world.county_hospital.pk, **extra}


def submitted(scene: Scene, **extra: Any) -> Referral:
    return services.submit(draft_up(scene, **extra), by=scene.village_doctor).referral


# --- the whole loop -------------------------------------------------------------------------------


def test_the_whole_loop_through_the_api(client: Client, scene: Scene) -> None:
    """A village doctor writes and submits a green-channel referral; the county emergency
    doctor accepts with a bed of the ward; the resident arrives; discharge completes it with
    a down-referral to the township centre, which sees it once sent; the village clinic's
    follow-up task is listed and closed."""
    world = scene.world
    # given a village doctor writing a green-channel slip
    draft = ok(call(client, scene.village_doctor, "post", "",
                    slip(scene, green_channel=True, receiving_department_id=scene.emergency.pk,
                         clinical_summary="高血压病史10年")), 201)
    assert (draft["status"], draft["green_channel"], draft["direction"]) == (
        "draft", True, "up")
    rid = draft["id"]
    # when it is submitted
    sent = ok(call(client, scene.village_doctor, "post", f"/{rid}/submit"))
    # then the deadline runs, the catalogue warns (I10 is treated at village level) and the
    # follow-up task is open
    assert sent["referral"]["status"] == "submitted" and sent["referral"]["deadline"]
    assert sent["warning"]["code"] == "catalogue.treat_here"
    assert sent["follow_up"]["institution_id"] == world.village.pk
    # the county's incoming queue has it
    queue = ok(call(client, scene.county_doctor, "get", "/incoming"))
    assert [r["id"] for r in queue["items"]] == [rid] and queue["count"] == 1
    # the county doctor accepts with any free referral bed of the ward
    accepted = ok(call(client, scene.county_doctor, "post", f"/{rid}/accept",
                       {"ward_id": scene.ward.pk}))["referral"]
    assert accepted["status"] == "accepted" and accepted["bed_id"] is not None
    assert Bed.objects.get(pk=accepted["bed_id"]).status == "reserved"
    ok(call(client, scene.county_doctor, "post", f"/{rid}/arrive"))
    assert Bed.objects.get(pk=accepted["bed_id"]).status == "occupied"
    plan = "氨氯地平5mg每日一次；2周后乡镇卫生院随访"
    done = ok(call(client, scene.county_doctor, "post", f"/{rid}/complete",
                   {"outcome": "improved", "outcome_note": "血压控制，出院", "care_plan": plan}))
    assert done["referral"]["status"] == "completed"
    assert done["suggestion"]["code"] == "catalogue.refer_down"
    down = done["down_referral"]
    assert (down["status"], down["direction"], down["care_plan"]) == ("draft", "down", plan)
    assert down["receiving_institution_id"] == world.township.pk
    assert down["source_referral_id"] == rid
    # the township centre does not see the draft, then sees the sent down-referral
    problem(call(client, scene.township_doctor, "get", f"/{down['id']}"), 403)
    ok(call(client, scene.county_doctor, "post", f"/{down['id']}/submit"))
    inbox = ok(call(client, scene.township_doctor, "get", "/incoming"))
    assert [r["id"] for r in inbox["items"]] == [down["id"]]
    seen = ok(call(client, scene.township_doctor, "get", f"/{down['id']}"))
    assert seen["care_plan"] == plan
    # the timeline of the first referral holds every step, both sides see it
    detail = ok(call(client, scene.village_doctor, "get", f"/{rid}"))
    assert [e["action"] for e in detail["events"]] == [
        "create", "submit", "receive", "accept", "arrive", "complete"]
    assert detail["follow_up"]["status"] == "open"
    assert AuditEvent.objects.filter(action=AuditEvent.Action.VIEW,
                                     object_type="referrals.Referral", object_id=str(rid),
                                     patient_id=world.patient.pk).exists()
    # the follow-up task is listed and closed by the village clinic
    tasks = ok(call(client, scene.village_doctor, "get", "/follow-ups"))
    assert [t["referral_id"] for t in tasks["items"]] == [rid]
    task_id = tasks["items"][0]["id"]
    closed = ok(call(client, scene.village_doctor, "post", f"/follow-ups/{task_id}/complete",
                     {"note": "电话随访，血压稳定"}))
    assert closed["status"] == "done"
    again = problem(call(client, scene.village_doctor, "post",
                         f"/follow-ups/{task_id}/complete", {}), 409)
    assert again["code"] == "follow_up.done"
    problem(call(client, scene.township_doctor, "post", f"/follow-ups/{task_id}/complete",
                 {}), 403)


def test_accept_with_a_slot_then_cancel_by_the_sender(client: Client, scene: Scene) -> None:
    slot = make_slot(scene.schedule, capacity=1)
    referral = submitted(scene)
    ok(call(client, scene.county_doctor, "post", f"/{referral.pk}/receive"))
    body = ok(call(client, scene.county_doctor, "post", f"/{referral.pk}/accept",
                   {"slot_id": slot.pk, "note": "周四上午"}))
    assert body["referral"]["appointment_id"] is not None
    assert Slot.objects.get(pk=slot.pk).booked == 1
    cancelled = ok(call(client, scene.village_doctor, "post", f"/{referral.pk}/cancel",
                        {"reason": "患者改期"}))
    assert cancelled["referral"]["status"] == "cancelled"
    assert Slot.objects.get(pk=slot.pk).booked == 0


def test_draft_is_edited_by_its_sender_only(client: Client, scene: Scene) -> None:
    draft = ok(call(client, scene.village_doctor, "post", "",
                    slip(scene, receiving_institution_id=None)), 201)
    assert draft["receiving_institution_id"] is None
    missing = problem(call(client, scene.village_doctor, "post", f"/{draft['id']}/submit"),
                      400)
    assert missing["code"] == "referral.receiver_required"
    edited = ok(call(client, scene.village_doctor, "patch", f"/{draft['id']}",
                     {"receiving_institution_id": scene.world.county_hospital.pk,
                      "diagnosis": "i63.9", "clinical_summary": "右侧肢体无力2小时"}))
    assert edited["receiving_institution_id"] == scene.world.county_hospital.pk
    assert (edited["diagnosis"], edited["reason"]) == ("I63.9", draft["reason"])
    # the receiving side does not see a draft; a township doctor neither
    problem(call(client, scene.county_doctor, "patch", f"/{draft['id']}", {"reason": "x"}), 403)
    bad = problem(call(client, scene.village_doctor, "patch", f"/{draft['id']}",
                       {"diagnosis": "XYZ"}), 400)
    assert bad["code"] == "referral.diagnosis"
    ok(call(client, scene.village_doctor, "post", f"/{draft['id']}/submit"))
    late = problem(call(client, scene.village_doctor, "patch", f"/{draft['id']}",
                        {"reason": "补充"}), 409)
    assert late["code"] == "referral.transition"


# --- refusals -------------------------------------------------------------------------------------


def test_accepting_a_cancelled_referral_is_409_in_the_users_language(
        client: Client, scene: Scene) -> None:
    referral = submitted(scene)
    ok(call(client, scene.village_doctor, "post", f"/{referral.pk}/cancel", {}))
    before = Referral.objects.get(pk=referral.pk).updated_at
    zh = problem(call(client, scene.county_doctor, "post", f"/{referral.pk}/accept",
                      {"ward_id": scene.ward.pk}, lang="zh-hans"), 409)
    assert zh["code"] == "referral.transition" and HAN.search(zh["detail"])
    assert HAN.search(zh["title"])
    en = problem(call(client, scene.county_doctor, "post", f"/{referral.pk}/accept",
                      {"ward_id": scene.ward.pk}), 409)
    assert en["detail"] == "A referral that is “Cancelled” cannot become “Accepted”."
    assert zh["type"] == en["type"] == "https://tiercare.org/problems/referral.transition"
    assert Referral.objects.get(pk=referral.pk).updated_at == before
    assert not Bed.objects.exclude(status="free").exists()


@pytest.mark.parametrize(("step", "body"), [
    ("receive", None), ("accept", {"ward_id": 0}), ("reject", {"reason": "无床位"}),
    ("redirect", {"institution_id": 0, "reason": "转乡镇"}), ("arrive", None),
    ("complete", {"outcome": "improved"}),
])
def test_the_sender_may_not_take_the_receivers_steps(client: Client, scene: Scene, step: str,
                                                     body: dict[str, Any] | None) -> None:
    referral = submitted(scene)
    if body and "ward_id" in body:
        body = {"ward_id": scene.ward.pk}
    if body and "institution_id" in body:
        body = {**body, "institution_id": scene.world.township.pk}
    answer = call(client, scene.village_doctor, "post", f"/{referral.pk}/{step}", body or {})
    if step in ("arrive", "complete"):  # not a move of the table from "submitted"
        assert problem(answer, 409)["code"] == "referral.transition"
    else:
        assert problem(answer, 403)["code"] == "referral.not_allowed"
    assert Referral.objects.get(pk=referral.pk).status == S.SUBMITTED


def test_another_institution_and_unknown_referrals(client: Client, scene: Scene) -> None:
    referral = submitted(scene)
    for step in ("submit", "receive", "cancel"):
        problem(call(client, scene.township_doctor, "post", f"/{referral.pk}/{step}", {}), 403)
    problem(call(client, scene.township_doctor, "get", f"/{referral.pk}"), 403)
    problem(call(client, scene.other_office, "get", f"/{referral.pk}"), 403)
    problem(call(client, scene.county_doctor, "get", "/999999"), 404)
    problem(call(client, scene.county_doctor, "post", "/999999/receive"), 404)
    problem(call(client, scene.county_doctor, "get", "/abc"), 422)


def test_reasons_outcomes_and_capacity_are_required(client: Client, scene: Scene) -> None:
    referral = submitted(scene)
    path = f"/{referral.pk}"
    for body in ({}, {"reason": ""}, {"reason": "   "}):
        bad = problem(call(client, scene.county_doctor, "post", f"{path}/reject", body), 422)
        assert bad["errors"][0]["field"] == "reason"
    problem(call(client, scene.county_doctor, "post", f"{path}/redirect", {"reason": "x"}), 422)
    problem(call(client, scene.county_doctor, "post", f"{path}/accept", {"bed_id": "x"}), 422)
    none = problem(call(client, scene.county_doctor, "post", f"{path}/accept", {}), 400)
    assert none["code"] == "referral.capacity_required"
    problem(call(client, scene.county_doctor, "post", f"{path}/accept",
                 {"slot_id": 999999}), 404)
    problem(call(client, scene.village_doctor, "post", "", {**slip(scene), "reason": ""}), 422)
    problem(call(client, scene.village_doctor, "post", "",
                 {**slip(scene), "direction": "sideways"}), 422)
    assert Referral.objects.get(pk=referral.pk).status == S.SUBMITTED
    rejected = ok(call(client, scene.county_doctor, "post", f"{path}/reject",
                       {"reason": "本院无相应专科"}))["referral"]
    assert (rejected["status"], rejected["response_note"]) == ("rejected", "本院无相应专科")


def test_only_staff_write_referrals(client: Client, scene: Scene) -> None:
    office = problem(call(client, scene.office, "post", "", slip(scene)), 403)
    assert office["code"] == "referral.not_staff"
    admin = scene.world.user(Role.SYSTEM_ADMIN)
    problem(call(client, admin, "post", "", slip(scene)), 403)


def test_accepting_with_a_full_slot_is_409_and_changes_nothing(client: Client,
                                                                scene: Scene) -> None:
    slot = make_slot(scene.schedule, capacity=1)
    other = make_patient("王五", scene.world.patient.address_code)
    first = services.submit(services.create_referral(
        patient=other, direction=Direction.UP, diagnosis="I10", reason="血压高",
        by=scene.village_doctor, receiving_institution=scene.world.county_hospital),
        by=scene.village_doctor).referral
    second = submitted(scene)
    ok(call(client, scene.county_doctor, "post", f"/{first.pk}/accept", {"slot_id": slot.pk}))
    full = problem(call(client, scene.county_doctor, "post", f"/{second.pk}/accept",
                        {"slot_id": slot.pk}, lang="zh-hans"), 409)
    assert full["code"] == "slot.full" and HAN.search(full["detail"])
    assert Referral.objects.get(pk=second.pk).status == S.SUBMITTED  # not even received


def test_out_of_county_is_approved_by_the_alliance_office(client: Client, scene: Scene) -> None:
    draft = ok(call(client, scene.county_doctor, "post", "", {
        "patient_id": scene.world.patient.pk, "direction": "out_of_county",
        "diagnosis": "C34.9", "reason": "疑似肺癌，需胸外科手术",
        "receiving_institution_id": scene.world.city_hospital.pk}), 201)
    sent = ok(call(client, scene.county_doctor, "post", f"/{draft['id']}/submit"))
    assert sent["referral"]["status"] == "awaiting_approval"
    for who in (scene.village_doctor, scene.county_doctor):
        problem(call(client, who, "post", f"/{draft['id']}/approve", {}), 403)
    problem(call(client, scene.other_office, "post", f"/{draft['id']}/approve", {}), 403)
    problem(call(client, scene.office, "post", f"/{draft['id']}/refuse", {}), 422)
    approved = ok(call(client, scene.office, "post", f"/{draft['id']}/approve",
                       {"reason": "同意"}))
    assert approved["referral"]["status"] == "submitted"
    assert approved["follow_up"]["institution_id"] == scene.world.county_hospital.pk
    again = problem(call(client, scene.office, "post", f"/{draft['id']}/refuse",
                         {"reason": "晚了"}), 409)
    assert again["code"] == "referral.transition"


def test_redirect_answers_with_the_successor(client: Client, scene: Scene) -> None:
    referral = submitted(scene)
    elsewhere = problem(call(client, scene.county_doctor, "post", f"/{referral.pk}/redirect",
                             {"institution_id": scene.world.city_hospital.pk,
                              "reason": "x"}), 400)
    assert elsewhere["code"] == "referral.redirect_target"
    body = ok(call(client, scene.county_doctor, "post", f"/{referral.pk}/redirect",
                   {"institution_id": scene.world.township.pk, "reason": "乡镇卫生院可处理"}))
    assert body["referral"]["status"] == "redirected"
    assert body["successor"]["status"] == "submitted"
    assert body["referral"]["redirected_to_id"] == body["successor"]["id"]


# --- lists ----------------------------------------------------------------------------------------


def test_lists_page_and_filter(client: Client, scene: Scene) -> None:
    sent = [submitted(scene) for _ in range(3)]
    green = submitted(scene, green_channel=True)
    draft = draft_up(scene)
    down = services.create_referral(
        patient=scene.world.patient, direction=Direction.DOWN, diagnosis="I10", reason="稳定",
        by=scene.county_doctor, receiving_institution=scene.world.township)
    village = scene.village_doctor
    everything = ok(call(client, village, "get", ""))
    assert everything["count"] == 5  # the county's down-referral draft is not the village's
    assert [r["id"] for r in everything["items"]] == [
        draft.pk, green.pk, *[r.pk for r in reversed(sent)]]
    page = ok(call(client, village, "get", "?limit=2&offset=2"))
    assert (page["count"], page["limit"], page["offset"]) == (5, 2, 2)
    assert [r["id"] for r in page["items"]] == [sent[2].pk, sent[1].pk]
    assert ok(call(client, village, "get", "?status=draft"))["count"] == 1
    assert ok(call(client, village, "get", "?green_channel=true"))["count"] == 1
    assert ok(call(client, village, "get", "?side=incoming"))["count"] == 0
    assert ok(call(client, village, "get", "?side=outgoing"))["count"] == 5
    county = scene.county_doctor
    assert ok(call(client, county, "get", "?side=incoming"))["count"] == 4  # no drafts
    outgoing = ok(call(client, county, "get", "?side=outgoing&direction=down"))
    assert [r["id"] for r in outgoing["items"]] == [down.pk]
    # the incoming queue: green channel first, then by deadline
    queue = ok(call(client, county, "get", "/incoming?limit=2"))
    assert queue["count"] == 4
    assert [r["id"] for r in queue["items"]] == [green.pk, sent[0].pk]
    # the alliance office sees both sides of its members
    assert ok(call(client, scene.office, "get", ""))["count"] == 6
    assert ok(call(client, scene.other_office, "get", ""))["count"] == 0
    for bad in ("?limit=0", "?limit=201", "?offset=-1", "?status=lost", "?side=up",
                "?direction=north"):
        problem(call(client, village, "get", bad), 422)
    listed = AuditEvent.objects.filter(action=AuditEvent.Action.VIEW,
                                       object_type="referrals.Referral")
    assert listed.exists()


def test_overdue_list_is_for_the_alliance_office(client: Client, scene: Scene) -> None:
    late = submitted(scene)
    submitted(scene)
    assert late.deadline is not None
    services.escalate_overdue(now=late.deadline + dt.timedelta(minutes=1))
    assert Referral.objects.filter(escalated_at__isnull=False).count() == 2
    body = ok(call(client, scene.office, "get", "/overdue"))
    assert body["count"] == 2
    assert ok(call(client, scene.other_office, "get", "/overdue"))["count"] == 0
    problem(call(client, scene.office, "get", f"/overdue?alliance={scene.world.other_alliance.pk}"),
            403)
    problem(call(client, scene.village_doctor, "get", "/overdue"), 403)
    admin = scene.world.user(Role.SYSTEM_ADMIN)
    problem(call(client, admin, "get", "/overdue"), 422)
    assert ok(call(client, admin, "get",
                   f"/overdue?alliance={scene.world.alliance.pk}"))["count"] == 2


# --- attachments, catalogue ----------------------------------------------------------------------


def test_attachments_upload_download_and_refusals(client: Client, scene: Scene) -> None:
    referral = draft_up(scene)
    client.force_login(scene.village_doctor)
    path = f"/api/referrals/{referral.pk}/attachments"
    png = b"\x89PNG\r\n\x1a\n" + b"0" * 50
    created = client.post(path, {"file": SimpleUploadedFile("心电图.png", png),
                                 "name": "心电图"}, HTTP_ACCEPT_LANGUAGE="en")
    body = ok(created, 201)
    try:
        assert (body["name"], body["content_type"], body["size"]) == (
            "心电图", "image/png", len(png))
        bad = problem(client.post(path, {"file": SimpleUploadedFile("a.pdf", b"MZ\x90\x00")}),
                      400)
        assert bad["code"] == "attachment.type"
        empty = problem(client.post(path, {"file": SimpleUploadedFile("a.png", b"")}), 400)
        assert empty["code"] == "attachment.empty"
        problem(client.post(path, {"name": "x"}), 422)  # no file
        detail = ok(call(client, scene.village_doctor, "get", f"/{referral.pk}"))
        assert [a["id"] for a in detail["attachments"]] == [body["id"]]
        download = client.get(f"{path}/{body['id']}")
        assert download.status_code == 200 and download["Content-Type"] == "image/png"
        assert b"".join(download.streaming_content) == png
        assert AuditEvent.objects.filter(object_type="referrals.ReferralAttachment",
                                         object_id=str(body["id"])).exists()
        problem(client.get(f"{path}/999999"), 404)
        # the receiving side does not see a draft
        client.force_login(scene.county_doctor)
        problem(client.get(f"{path}/{body['id']}"), 403)
        problem(client.post(path, {"file": SimpleUploadedFile("b.png", png)}), 403)
    finally:
        for row in ReferralAttachment.objects.all():
            row.file.delete(save=False)


def test_catalogue_lookup(client: Client, scene: Scene) -> None:
    body = ok(call(client, scene.village_doctor, "get",
                   "/catalogue/lookup?code=I10&level=village"))
    assert body["code"] == "I10" and body["entry"]["level"] == "village"
    assert body["entry"]["up_criteria"]
    assert body["warning"]["code"] == "catalogue.treat_here"
    county = ok(call(client, scene.village_doctor, "get", "/catalogue/lookup?code=C34.9"))
    assert county["warning"] is None and county["entry"]["level"] != "village"
    problem(call(client, scene.village_doctor, "get", "/catalogue/lookup?code=I10&level=moon"),
            422)
    invalid = problem(call(client, scene.village_doctor, "get", "/catalogue/lookup?code=XYZ"),
                      422)
    assert invalid["errors"][0]["code"]
    problem(call(client, scene.village_doctor, "get", "/catalogue/lookup?code=Q99.9"), 404)
    problem(call(client, scene.village_doctor, "get", "/catalogue/lookup"), 422)


# --- session and CSRF -----------------------------------------------------------------------------


def test_login_and_csrf_are_required(scene: Scene) -> None:
    referral = submitted(scene)
    anonymous = Client()
    problem(anonymous.get("/api/referrals"), 401)
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(scene.county_doctor)
    refused = problem(strict.post(f"/api/referrals/{referral.pk}/receive",
                                  HTTP_ACCEPT_LANGUAGE="zh-hans"), 403)
    assert HAN.search(refused["detail"])
    assert Referral.objects.get(pk=referral.pk).status == S.SUBMITTED
    assert FollowUpTask.objects.count() == 1
