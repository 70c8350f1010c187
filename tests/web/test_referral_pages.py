"""The referral pages, as the people of the loop use them (issue 4 item 5): a village doctor
writes a green-channel referral, the county hospital's queue shows it first with its
countdown, accepts it with a bed, records the arrival and discharges with a care plan; the
down-referral reaches the township centre; refusals are translated and change nothing."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from tests.referrals.workflow_scene import draft_up, make_scene, make_slot
from tiercare.accounts.models import AuditEvent, Role
from tiercare.notifications import services as inbox
from tiercare.referrals import services
from tiercare.referrals.models import FollowUpTask, Referral
from tiercare.scheduling.models import Bed


@pytest.fixture
def scene(db):
    return make_scene()


def client_of(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def messages_of(body: str) -> str:
    return " ".join(re.findall(r'role="alert">\s*([^<]+)<', body))


def test_a_village_doctor_sends_a_green_channel_referral_from_the_form(scene):
    doctor = client_of(scene.village_doctor)
    page = doctor.get(reverse("referrals:new") + f"?patient={scene.world.patient.pk}")
    assert page.status_code == 200 and "张三" in page.content.decode()

    response = doctor.post(reverse("referrals:new"), {
        "patient": scene.world.patient.pk, "direction": "up", "green_channel": "on",
        "diagnosis": "i10", "secondary_diagnoses": "E11.9, I25.1",
        "receiving_institution": scene.world.county_hospital.pk,
        "receiving_department": scene.emergency.pk,
        "reason": "血压190/115 mmHg，头痛", "clinical_summary": "高血压病史10年", "action": "send"})

    referral = Referral.objects.get()
    assert response.status_code == 302 and response.url == f"/referrals/{referral.pk}/"
    assert referral.status == "submitted" and referral.green_channel
    assert referral.diagnosis == "I10" and referral.secondary_diagnoses == ["E11.9", "I25.1"]
    assert referral.deadline is not None
    assert referral.deadline - referral.submitted_at == dt.timedelta(minutes=15)
    assert FollowUpTask.objects.filter(referral=referral).exists()


def test_the_form_explains_what_is_missing_and_keeps_what_was_typed(scene):
    doctor = client_of(scene.village_doctor)
    response = doctor.post(reverse("referrals:new"), {
        "direction": "up", "diagnosis": "XYZ", "reason": "胸痛2小时",
        "receiving_institution": scene.world.county_hospital.pk, "action": "send"})
    body = response.content.decode()
    assert response.status_code == 200
    assert "请选择要转诊的居民" in body
    assert "胸痛2小时" in body
    assert Referral.objects.count() == 0


def test_the_incoming_queue_puts_the_green_channel_first_with_its_countdown(scene):
    routine = draft_up(scene)
    services.submit(routine, by=scene.village_doctor)
    urgent = draft_up(scene, green_channel=True)
    services.submit(urgent, by=scene.village_doctor)

    body = client_of(scene.county_doctor).get(reverse("referrals:incoming")).content.decode()

    order = re.findall(r'data-referral="(\d+)"', body)
    assert order == [str(urgent.pk), str(routine.pk)]
    assert "绿色通道" in body and 'data-testid="countdown"' in body
    assert re.search(r"\d+ 分 \d+ 秒", body)  # the green channel's minutes left
    reads = AuditEvent.objects.filter(action="view", object_type="referrals.Referral")
    assert reads.count() == 2


def test_the_queue_costs_the_same_queries_for_three_or_thirty_referrals(scene):
    def queries() -> int:
        client = client_of(scene.county_doctor)
        with CaptureQueriesContext(connection) as captured:
            assert client.get(reverse("referrals:incoming")).status_code == 200
        return len(captured)

    for _ in range(3):
        services.submit(draft_up(scene), by=scene.village_doctor)
    few = queries()
    for _ in range(27):
        services.submit(draft_up(scene), by=scene.village_doctor)
    assert queries() == few


def test_the_whole_loop_through_the_slip_page(scene):
    referral = draft_up(scene, green_channel=True, department=scene.emergency)
    services.submit(referral, by=scene.village_doctor)
    hospital = client_of(scene.county_doctor)
    url = reverse("referrals:detail", args=[referral.pk])
    page = hospital.get(url).content.decode()
    assert 'data-testid="accept-form"' in page and "急诊病区" in page

    hospital.post(reverse("referrals:step", args=[referral.pk, "accept"]),
                  {"capacity": f"ward-{scene.ward.pk}", "note": "请直接到急诊"})
    referral.refresh_from_db()
    assert referral.status == "accepted" and referral.bed is not None
    assert Bed.objects.get(pk=referral.bed_id).status == "reserved"

    hospital.post(reverse("referrals:step", args=[referral.pk, "arrive"]))
    response = hospital.post(reverse("referrals:step", args=[referral.pk, "complete"]), {
        "outcome": "improved", "outcome_note": "血压控制稳定",
        "care_plan": "氨氯地平5mg qd；每周测血压两次；两周后乡镇卫生院复诊"})
    down = Referral.objects.get(source_referral=referral)
    assert response.url == f"/referrals/{down.pk}/"
    assert down.status == "draft" and down.receiving_institution == scene.world.township
    assert Bed.objects.get(pk=referral.bed_id).status == "free"

    hospital.post(reverse("referrals:step", args=[down.pk, "submit"]), {
        "receiving_institution": down.receiving_institution_id, "reason": down.reason,
        "care_plan": down.care_plan})
    down.refresh_from_db()
    assert down.status == "submitted"
    assert [n.kind for n in inbox.inbox(scene.township_doctor)] == ["down_referral"]
    assert inbox.unread_count(scene.township_doctor) == 1
    township = client_of(scene.township_doctor)
    slip = township.get(reverse("referrals:detail", args=[down.pk])).content.decode()
    assert "氨氯地平5mg qd" in slip
    assert inbox.unread_count(scene.township_doctor) == 0  # read with the slip
    timeline = client_of(scene.village_doctor).get(url).content.decode()
    for label in ("已发出", "已接收", "已到达", "已完成"):
        assert label in timeline


def test_rejecting_without_a_reason_is_refused_and_changes_nothing(scene):
    referral = draft_up(scene)
    services.submit(referral, by=scene.village_doctor)
    hospital = client_of(scene.county_doctor)
    response = hospital.post(reverse("referrals:step", args=[referral.pk, "reject"]),
                             {"reason": "  "}, follow=True)
    referral.refresh_from_db()
    assert referral.status == "submitted"
    assert "请填写理由" in messages_of(response.content.decode())


def test_accepting_a_cancelled_referral_gets_a_translated_refusal(scene):
    referral = draft_up(scene)
    services.submit(referral, by=scene.village_doctor)
    services.cancel(referral, by=scene.village_doctor, reason="患者拒绝转诊")
    slot = make_slot(scene.schedule)
    response = client_of(scene.county_doctor).post(
        reverse("referrals:step", args=[referral.pk, "accept"]),
        {"capacity": f"slot-{slot.pk}"}, follow=True)
    referral.refresh_from_db()
    slot.refresh_from_db()
    assert referral.status == "cancelled" and slot.booked == 0
    assert response.status_code == 200
    assert "已取消" in messages_of(response.content.decode())


def test_a_full_slot_is_refused(scene):
    referral = draft_up(scene)
    services.submit(referral, by=scene.village_doctor)
    slot = make_slot(scene.schedule, capacity=1)
    other = draft_up(scene)
    services.submit(other, by=scene.village_doctor)
    services.accept(other, by=scene.county_doctor, slot=slot)
    client_of(scene.county_doctor).post(
        reverse("referrals:step", args=[referral.pk, "accept"]), {"capacity": f"slot-{slot.pk}"})
    referral.refresh_from_db()
    assert referral.status == "submitted"  # nothing changed, not even the receipt
    slot.refresh_from_db()
    assert slot.booked == 1


def test_a_village_doctor_cannot_approve_an_out_of_county_referral(scene):
    referral = services.create_referral(
        patient=scene.world.patient, direction="out_of_county", diagnosis="C34.9",
        reason="肺部占位，需上级医院确诊", by=scene.village_doctor,
        receiving_institution=scene.world.city_hospital)
    services.submit(referral, by=scene.village_doctor)
    response = client_of(scene.village_doctor).post(
        reverse("referrals:step", args=[referral.pk, "approve"]), {}, follow=True)
    referral.refresh_from_db()
    assert referral.status == "awaiting_approval"
    assert response.status_code == 200 and messages_of(response.content.decode())


def test_another_alliance_cannot_open_the_slip(scene):
    referral = draft_up(scene)
    services.submit(referral, by=scene.village_doctor)
    response = client_of(scene.other_office).get(reverse("referrals:detail", args=[referral.pk]))
    assert response.status_code == 403


def test_the_office_view_shows_flows_and_missed_deadlines(scene):
    late = draft_up(scene, green_channel=True)
    services.submit(late, by=scene.village_doctor, now=timezone.now() - dt.timedelta(hours=1))
    services.escalate_overdue()
    services.submit(draft_up(scene), by=scene.village_doctor)

    body = client_of(scene.office).get(reverse("referrals:office")).content.decode()

    assert 'data-testid="office-total">2<' in body
    overdue = body[body.index('data-testid="overdue-list"'):][:1500]
    assert f"#{late.pk}" in overdue
    flow = re.search(r'<script id="flow-data" type="application/json">(.*?)</script>', body)
    assert flow is not None and '"value": 2' in flow.group(1)
    filtered = client_of(scene.office).get(reverse("referrals:office") + "?green=1").content
    assert b'data-testid="office-total">1<' in filtered


def test_the_follow_up_list_and_closing_a_task(scene):
    referral = draft_up(scene)
    services.submit(referral, by=scene.village_doctor)
    doctor = client_of(scene.village_doctor)
    body = doctor.get(reverse("referrals:follow_ups")).content.decode()
    task = FollowUpTask.objects.get(referral=referral)
    assert f'data-follow-up="{task.pk}"' in body
    doctor.post(reverse("referrals:follow_up_done", args=[task.pk]), {"note": "电话随访，血压平稳"})
    task.refresh_from_db()
    assert task.status == "done"


def test_the_slot_calendar_shows_a_week_of_a_department(scene):
    slot = make_slot(scene.schedule, capacity=3, days=1)
    day = timezone.localtime(slot.start).date()
    body = client_of(scene.village_doctor).get(
        reverse("scheduling:calendar") + f"?institution={scene.world.county_hospital.code}"
        f"&week={day.isoformat()}").content.decode()
    assert "心内科普通门诊" in body and "09:00 0/3" in body


def test_the_inbox_page_and_its_badge(scene):
    referral = draft_up(scene)
    services.submit(referral, by=scene.village_doctor)
    hospital = client_of(scene.county_doctor)
    assert b'data-testid="unread-count">1<' in hospital.get(reverse("notifications:unread")).content
    body = hospital.get(reverse("notifications:inbox")).content.decode()
    assert "新转诊" in body and 'data-read="0"' in body
    notice = inbox.inbox(scene.county_doctor).get()
    response = hospital.post(reverse("notifications:open", args=[notice.pk]))
    assert response.url == f"/referrals/{referral.pk}/"
    assert inbox.unread_count(scene.county_doctor) == 0


@pytest.mark.parametrize("url_name", ["referrals:incoming", "referrals:outgoing",
                                      "referrals:follow_ups", "referrals:new"])
def test_pages_of_clinical_work_are_not_for_the_pharmacist(scene, url_name):
    from tiercare.accounts.services import create_user

    pharmacist = create_user("p1", "Pass-word-2026", Role.PHARMACIST,
                             institution=scene.world.county_hospital)
    assert client_of(pharmacist).get(reverse(url_name)).status_code == 403


@pytest.mark.parametrize("query", ["?page=abc", "?status=nonsense", "?page=99999"])
def test_odd_query_strings_get_a_page_not_an_error(scene, query):
    assert client_of(scene.county_doctor).get(
        reverse("referrals:incoming") + query).status_code == 200
    assert client_of(scene.office).get(
        reverse("referrals:office") + query + "&from=2026-13-45&to=x").status_code == 200


def test_referrals_waiting_for_an_answer_come_before_those_already_accepted(scene):
    accepted = draft_up(scene, green_channel=True)
    services.submit(accepted, by=scene.village_doctor)
    services.accept(accepted, by=scene.county_doctor, ward=scene.ward)
    waiting = draft_up(scene)
    services.submit(waiting, by=scene.village_doctor)

    body = client_of(scene.county_doctor).get(reverse("referrals:incoming")).content.decode()

    assert re.findall(r'data-referral="(\d+)"', body) == [str(waiting.pk), str(accepted.pk)]


def test_when_referral_beds_are_taken_public_beds_are_offered_by_name(scene):
    from tiercare.scheduling.models import Pool, Ward

    Bed.objects.filter(ward=scene.ward).update(status="closed")
    for code in ("P1", "P2"):
        Bed.objects.create(ward=scene.ward, code=code, pool=Pool.PUBLIC)
    other = Ward.objects.create(institution=scene.world.county_hospital, code="W-2",
                                name="二病区")
    Bed.objects.create(ward=other, code="P9", pool=Pool.PUBLIC)
    referral = draft_up(scene)
    services.submit(referral, by=scene.village_doctor)

    body = client_of(scene.county_doctor).get(
        reverse("referrals:detail", args=[referral.pk])).content.decode()

    assert body.count('data-testid="choose-bed"') == 3
    assert 'data-testid="choose-ward"' not in body


def test_the_timeline_says_an_escalation_in_the_users_language(scene):
    referral = draft_up(scene, green_channel=True)
    services.submit(referral, by=scene.village_doctor,
                    now=timezone.now() - dt.timedelta(hours=1))
    services.escalate_overdue()

    body = client_of(scene.office).get(reverse("referrals:detail", args=[referral.pk])).content
    timeline = body.decode().split('data-testid="referral-timeline"')[1]
    assert "应答超时：已上报医共体管理办公室" in timeline and "missed" not in timeline
