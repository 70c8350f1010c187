"""The inbox: every referral step leaves its notices for the other side, read state is per
user, "deadline near" is said once, and the JSON API serves the badge."""

from __future__ import annotations

import datetime as dt

from django.test import Client
from django.utils import timezone

from tests.referrals.workflow_scene import draft_up, make_slot
from tests.web.factories import PASSWORD
from tiercare.accounts.models import Role
from tiercare.accounts.services import create_user
from tiercare.notifications import services
from tiercare.notifications.models import Notification
from tiercare.referrals import services as referrals
from tiercare.referrals.models import Direction


def kinds(user) -> list[str]:
    return [n.kind for n in services.inbox(user)]


def test_a_sent_referral_reaches_the_receiving_institutions_inbox(scene):
    referral = draft_up(scene, green_channel=True)
    referrals.submit(referral, by=scene.village_doctor)

    assert kinds(scene.county_doctor) == ["new_referral"]
    notice = services.inbox(scene.county_doctor).get()
    assert notice.green_channel and notice.referral_id == referral.pk
    assert services.unread_count(scene.county_doctor) == 1
    # the sender is not told about their own step; another alliance's office sees nothing
    assert kinds(scene.village_doctor) == []
    assert kinds(scene.other_office) == []


def test_the_answer_reaches_the_sender_addressed_to_the_writer(scene):
    referral = draft_up(scene)
    referrals.submit(referral, by=scene.village_doctor)
    referrals.accept(referral, by=scene.county_doctor, slot=make_slot(scene.schedule))

    notice = services.inbox(scene.village_doctor).get()
    assert notice.kind == "accepted" and notice.user_id == scene.village_doctor.pk
    assert services.inbox(scene.village_doctor, mine_only=True).count() == 1


def test_rejection_carries_its_reason(scene):
    referral = draft_up(scene)
    referrals.submit(referral, by=scene.village_doctor)
    referrals.reject(referral, by=scene.county_doctor, reason="本院无空床，请转市医院")

    notice = services.inbox(scene.village_doctor).get()
    assert notice.kind == "rejected" and notice.text == "本院无空床，请转市医院"


def test_a_down_referral_reaches_the_township_centre(scene):
    referral = draft_up(scene, green_channel=True)
    referrals.submit(referral, by=scene.village_doctor)
    referrals.accept(referral, by=scene.county_doctor, ward=scene.ward)
    referrals.arrive(referral, by=scene.county_doctor)
    result = referrals.complete(referral, by=scene.county_doctor, outcome="improved",
                                care_plan="氨氯地平5mg qd，每周测血压两次")
    down = result.down_referral
    assert down is not None and down.receiving_institution == scene.world.township
    referrals.submit(down, by=scene.county_doctor)

    assert kinds(scene.township_doctor) == ["down_referral"]
    assert kinds(scene.village_doctor) == ["completed", "arrived", "accepted"]


def test_out_of_county_waits_in_the_alliance_offices_inbox(scene):
    referral = draft_up(scene, direction=Direction.OUT_OF_COUNTY, diagnosis="C34.9",
                        to=scene.world.city_hospital)
    referrals.submit(referral, by=scene.village_doctor)
    assert kinds(scene.office) == ["approval_needed"]
    referrals.approve(referral, by=scene.office)
    assert kinds(scene.village_doctor) == ["approved"]


def test_read_state_is_per_user(scene):
    colleague = create_user("c_nurse", PASSWORD, Role.NURSE,
                            institution=scene.world.county_hospital)
    referral = draft_up(scene)
    referrals.submit(referral, by=scene.village_doctor)
    notice = services.inbox(scene.county_doctor).get()

    services.mark_read(scene.county_doctor, [notice.pk])

    assert services.unread_count(scene.county_doctor) == 0
    assert services.unread_count(colleague) == 1
    assert services.inbox(scene.county_doctor).get().is_read
    # a notice of another inbox cannot be marked through mine
    assert services.mark_read(scene.village_doctor, [notice.pk]) == 0


def test_mark_all_read_leaves_later_notices_unread(scene):
    first = draft_up(scene)
    referrals.submit(first, by=scene.village_doctor)
    services.mark_all_read(scene.county_doctor)
    second = draft_up(scene)
    referrals.submit(second, by=scene.village_doctor, now=timezone.now() + dt.timedelta(seconds=1))

    assert services.unread_count(scene.county_doctor) == 1
    unread = services.inbox(scene.county_doctor, unread_only=True).get()
    assert unread.referral_id == second.pk


def test_deadline_near_is_said_once_when_a_quarter_of_the_window_is_left(scene):
    referral = draft_up(scene, green_channel=True)
    sent = timezone.now()
    referrals.submit(referral, by=scene.village_doctor, now=sent)

    assert services.warn_deadlines(sent + dt.timedelta(minutes=10)) == 0
    assert services.warn_deadlines(sent + dt.timedelta(minutes=12)) == 1
    assert services.warn_deadlines(sent + dt.timedelta(minutes=13)) == 0
    assert kinds(scene.county_doctor) == ["deadline_near", "new_referral"]


def test_an_escalation_reaches_the_office_and_the_receiver(scene):
    referral = draft_up(scene, green_channel=True)
    sent = timezone.now() - dt.timedelta(minutes=20)
    referrals.submit(referral, by=scene.village_doctor, now=sent)
    referrals.escalate_overdue()

    assert kinds(scene.office) == ["deadline_missed"]
    assert "deadline_missed" in kinds(scene.county_doctor)


def test_the_api_serves_the_badge_and_marks_read(scene):
    referral = draft_up(scene)
    referrals.submit(referral, by=scene.village_doctor)
    client = Client()
    client.force_login(scene.county_doctor)

    assert client.get("/api/notifications/unread").json() == {"unread": 1, "capped": False}
    page = client.get("/api/notifications").json()
    assert page["count"] == 1 and page["results"][0]["kind"] == "new_referral"
    marked = client.post("/api/notifications/read", {"ids": [page["results"][0]["id"]]},
                         content_type="application/json").json()
    assert marked == {"marked": 1, "unread": 0}
    bad = client.post("/api/notifications/read", {"ids": ["x"]},
                      content_type="application/json")
    assert bad.status_code == 422


def test_replaying_history_fills_the_inbox(scene):
    referral = draft_up(scene)
    referrals.submit(referral, by=scene.village_doctor)
    Notification.objects.all().delete()

    assert services.replay_events(timezone.now() - dt.timedelta(days=1)) == 1
    assert kinds(scene.county_doctor) == ["new_referral"]


def test_the_badge_polls_without_a_session():
    response = Client().get("/inbox/unread/")
    assert response.status_code == 200 and response.content.strip() == b""


def test_the_systems_english_notes_do_not_reach_the_inbox(scene):
    referral = draft_up(scene, green_channel=True)
    referrals.submit(referral, by=scene.village_doctor,
                     now=timezone.now() - dt.timedelta(minutes=20))
    referrals.escalate_overdue()

    missed = services.inbox(scene.office).get()
    assert missed.kind == "deadline_missed" and missed.text == ""
