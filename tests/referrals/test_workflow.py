"""The referral workflow's services (referrals/services.py; rules.md §3; issue 4 item 3):
the whole loop, refusals that change nothing, booking in the same transaction, deadlines
and escalation, out-of-county approval, redirect, attachments."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.core.management import call_command
from django.utils import timezone, translation

from tests.referrals.workflow_scene import Scene, draft_up, make_scene, make_slot
from tests.web.factories import make_patient
from tiercare.accounts.models import AuditEvent
from tiercare.errors import DomainError
from tiercare.referrals import services
from tiercare.referrals.errors import ReferralConflict, ReferralInvalid, ReferralRefused
from tiercare.referrals.models import (
    Direction,
    FollowUpTask,
    Outcome,
    Referral,
    ReferralEvent,
    ReferralPolicy,
)
from tiercare.referrals.tasks import escalate_referrals
from tiercare.scheduling import services as scheduling
from tiercare.scheduling.errors import SchedulingConflict
from tiercare.scheduling.models import Appointment, Bed, Slot

S = Referral.Status


@pytest.fixture
def scene(db: Any) -> Scene:
    return make_scene()


def snapshot(referral: Referral) -> tuple[Any, ...]:
    """Everything a refused step must leave as it was."""
    row = Referral.objects.get(pk=referral.pk)
    return (row.status, row.updated_at, row.deadline, row.appointment_id, row.bed_id,
            ReferralEvent.objects.filter(referral=referral).count(),
            Appointment.objects.count(), Bed.objects.exclude(status="free").count(),
            Slot.objects.filter(booked__gt=0).count(), Referral.objects.count())


def actions(referral: Referral) -> list[tuple[str, str, str, str]]:
    return [(e.action, e.side, e.from_status, e.to_status)
            for e in ReferralEvent.objects.filter(referral=referral)]


# --- the whole loop -------------------------------------------------------------------------------


def test_green_channel_loop_up_bed_discharge_down_referral(scene: Scene) -> None:
    """A village doctor refers 张三 (BP 190/115) through the green channel; the county
    emergency department accepts within 15 minutes booking a bed; the resident arrives; at
    discharge a down-referral with a care plan goes to the township centre, which sees it;
    the village clinic's follow-up task is due in 14 days."""
    world = scene.world
    draft = draft_up(scene, green_channel=True, department=scene.emergency)
    now = timezone.now()
    assert draft.status == S.DRAFT
    assert draft.sending_practitioner is not None
    assert draft.sending_practitioner.name == "赵村医"

    sent = services.submit(draft, by=scene.village_doctor, now=now)
    referral = sent.referral
    assert referral.status == S.SUBMITTED
    assert referral.deadline == now + dt.timedelta(minutes=15)
    # The catalogue lists essential hypertension (I10) at village level: a warning, no refusal.
    assert sent.warning is not None and sent.warning.code == "catalogue.treat_here"
    assert Referral.objects.get(pk=referral.pk).catalogue_warning
    task = sent.follow_up
    assert task is not None and task.institution == world.village
    assert task.due_date == timezone.localdate(now) + dt.timedelta(days=14)
    assert task.status == FollowUpTask.Status.OPEN

    # Both sides see it; the county's queue has it first.
    assert referral in services.visible_referrals(scene.village_doctor)
    assert list(services.incoming(scene.county_doctor)) == [referral]
    assert referral not in services.visible_referrals(scene.township_doctor)

    accepted = services.accept(referral, by=scene.county_doctor, ward=scene.ward,
                               now=now + dt.timedelta(minutes=9))
    assert accepted.status == S.ACCEPTED
    bed = Bed.objects.get(pk=accepted.bed_id)
    assert (bed.status, bed.patient_id, bed.source_referral_id) == (
        "reserved", world.patient.pk, referral.pk)
    assert accepted.receiving_department == scene.emergency
    assert accepted.receiving_practitioner is not None

    services.arrive(referral, by=scene.county_doctor, now=now + dt.timedelta(minutes=40))
    assert Bed.objects.get(pk=bed.pk).status == "occupied"

    plan = "氨氯地平5mg每日一次；每周测血压两次；2周后乡镇卫生院随访"
    done = services.complete(referral, by=scene.county_doctor, outcome=Outcome.IMPROVED,
                             outcome_note="血压控制于140/90 mmHg，出院", care_plan=plan,
                             now=now + dt.timedelta(days=3))
    assert done.referral.status == S.COMPLETED
    assert Bed.objects.get(pk=bed.pk).status == "free"  # discharged
    assert done.suggestion is not None and done.suggestion.code == "catalogue.refer_down"
    down = done.down_referral
    assert down is not None
    assert (down.status, down.direction, down.care_plan) == (S.DRAFT, Direction.DOWN, plan)
    assert down.sending_institution == world.county_hospital
    assert down.receiving_institution == world.township  # the resident's township centre
    assert down.source_referral == referral
    assert list(services.incoming(scene.township_doctor)) == []  # a draft is not sent yet

    down_sent = services.submit(down, by=scene.county_doctor, now=now + dt.timedelta(days=3))
    assert down_sent.follow_up is None  # no follow-up task after a down-referral
    assert down_sent.warning is None
    assert list(services.incoming(scene.township_doctor)) == [down]
    assert down in services.visible_referrals(scene.township_doctor)
    assert FollowUpTask.objects.get().referral == referral

    assert actions(referral) == [
        ("create", "sender", "", "draft"), ("submit", "sender", "draft", "submitted"),
        ("receive", "receiver", "submitted", "received"),
        ("accept", "receiver", "received", "accepted"),
        ("arrive", "receiver", "accepted", "arrived"),
        ("complete", "receiver", "arrived", "completed")]
    trail = AuditEvent.objects.filter(object_type="referrals.Referral",
                                      object_id=str(referral.pk))
    assert trail.count() == 6 and all(e.patient_id == world.patient.pk for e in trail)
    # The office sees every step too; the other alliance does not.
    assert referral in services.visible_referrals(scene.office)
    assert referral not in services.visible_referrals(scene.other_office)

    services.complete_follow_up(task, by=scene.village_doctor, note="电话随访，血压稳定")
    assert FollowUpTask.objects.get().status == FollowUpTask.Status.DONE


def test_accept_with_a_slot_then_cancel_gives_the_place_back(scene: Scene) -> None:
    slot = make_slot(scene.schedule, capacity=1)
    referral = services.submit(draft_up(scene), by=scene.village_doctor).referral
    assert referral.deadline is not None
    services.receive(referral, by=scene.county_doctor)
    accepted = services.accept(referral, by=scene.county_doctor, slot=slot)
    appointment = Appointment.objects.get(pk=accepted.appointment_id)
    assert appointment.source_referral_id == referral.pk
    assert Slot.objects.get(pk=slot.pk).booked == 1
    services.cancel(referral, by=scene.village_doctor, reason="家属要求去市里")
    assert Referral.objects.get(pk=referral.pk).status == S.CANCELLED
    assert Appointment.objects.get(pk=appointment.pk).status == "cancelled"
    assert Slot.objects.get(pk=slot.pk).booked == 0


# --- refusals change nothing ----------------------------------------------------------------------


def test_accepting_a_cancelled_referral_is_refused_and_changes_nothing(scene: Scene) -> None:
    referral = services.submit(draft_up(scene), by=scene.village_doctor).referral
    services.cancel(referral, by=scene.village_doctor, reason="患者拒绝转诊")
    before = snapshot(referral)
    with pytest.raises(ReferralConflict) as err:
        services.accept(referral, by=scene.county_doctor, ward=scene.ward)
    assert err.value.code == "referral.transition"
    with translation.override("en"):
        assert str(err.value) == "A referral that is “Cancelled” cannot become “Accepted”."
    assert snapshot(referral) == before


@pytest.mark.parametrize("step", ["receive", "accept", "reject", "arrive", "complete"])
def test_the_sender_cannot_answer_its_own_referral(scene: Scene, step: str) -> None:
    referral = services.submit(draft_up(scene), by=scene.village_doctor).referral
    before = snapshot(referral)
    call = {"receive": lambda: services.receive(referral, by=scene.village_doctor),
            "accept": lambda: services.accept(referral, by=scene.village_doctor,
                                              ward=scene.ward),
            "reject": lambda: services.reject(referral, by=scene.village_doctor, reason="x"),
            "arrive": lambda: services.arrive(referral, by=scene.village_doctor),
            "complete": lambda: services.complete(referral, by=scene.village_doctor,
                                                  outcome=Outcome.IMPROVED)}[step]
    with pytest.raises(DomainError) as err:
        call()
    expected = "referral.transition" if step in ("arrive", "complete") else "referral.not_allowed"
    assert err.value.code == expected
    assert snapshot(referral) == before


def test_a_third_institution_cannot_receive(scene: Scene) -> None:
    referral = services.submit(draft_up(scene), by=scene.village_doctor).referral
    before = snapshot(referral)
    with pytest.raises(ReferralRefused):
        services.receive(referral, by=scene.township_doctor)
    assert snapshot(referral) == before


def test_booking_a_full_slot_fails_the_acceptance_and_changes_nothing(scene: Scene) -> None:
    slot = make_slot(scene.schedule, capacity=1)
    other = make_patient("王五", scene.world.patient.address_code)
    scheduling.book(slot, other, by=scene.village_doctor)  # the last place goes elsewhere
    referral = services.submit(draft_up(scene), by=scene.village_doctor).referral
    before = snapshot(referral)
    with pytest.raises(SchedulingConflict) as err:
        services.accept(referral, by=scene.county_doctor, slot=slot)
    assert err.value.code == "slot.full"
    assert snapshot(referral) == before  # not even the implicit "received"
    assert Referral.objects.get(pk=referral.pk).status == S.SUBMITTED


def test_no_free_bed_fails_the_acceptance(scene: Scene) -> None:
    Bed.objects.filter(ward=scene.ward).update(status="closed")
    referral = services.submit(draft_up(scene), by=scene.village_doctor).referral
    before = snapshot(referral)
    with pytest.raises(SchedulingConflict) as err:
        services.accept(referral, by=scene.county_doctor, ward=scene.ward)
    assert err.value.code == "bed.none_free"
    assert snapshot(referral) == before


def test_capacity_of_another_institution_is_refused(scene: Scene) -> None:
    from tiercare.scheduling.models import Schedule

    township_schedule = Schedule.objects.create(
        institution=scene.world.township, department=scene.world.township.departments.get(),
        name="全科门诊")
    slot = make_slot(township_schedule, capacity=3)
    referral = services.submit(draft_up(scene), by=scene.village_doctor).referral
    with pytest.raises(ReferralInvalid) as err:
        services.accept(referral, by=scene.county_doctor, slot=slot)
    assert err.value.code == "referral.capacity_elsewhere"
    with pytest.raises(ReferralInvalid) as both:
        services.accept(referral, by=scene.county_doctor, slot=slot, ward=scene.ward)
    assert both.value.code == "referral.capacity_required"
    assert Referral.objects.get(pk=referral.pk).status == S.SUBMITTED


def test_reject_needs_a_reason(scene: Scene) -> None:
    referral = services.submit(draft_up(scene), by=scene.village_doctor).referral
    before = snapshot(referral)
    with pytest.raises(ReferralInvalid) as err:
        services.reject(referral, by=scene.county_doctor, reason="  ")
    assert err.value.code == "referral.reason_required"
    assert snapshot(referral) == before
    rejected = services.reject(referral, by=scene.county_doctor, reason="本院无床，建议市级医院")
    assert (rejected.status, rejected.response_note) == (S.REJECTED, "本院无床，建议市级医院")
    assert [a[0] for a in actions(referral)][-2:] == ["receive", "reject"]


def test_direction_and_receiver_are_checked_at_submit(scene: Scene) -> None:
    draft = draft_up(scene, direction=Direction.DOWN)  # village → county is not down
    with pytest.raises(ReferralInvalid) as err:
        services.submit(draft, by=scene.village_doctor)
    assert err.value.code == "referral.direction"
    no_target = services.create_referral(patient=scene.world.patient, direction=Direction.UP,
                                         diagnosis="I10", reason="复诊", by=scene.village_doctor)
    with pytest.raises(ReferralInvalid) as missing:
        services.submit(no_target, by=scene.village_doctor)
    assert missing.value.code == "referral.receiver_required"
    with pytest.raises(ReferralInvalid) as bad_code:
        services.create_referral(patient=scene.world.patient, direction=Direction.UP,
                                 diagnosis="U99.9", reason="x", by=scene.village_doctor)
    assert bad_code.value.code.startswith("icd10.") or bad_code.value.code == "referral.diagnosis"
    assert Referral.objects.get(pk=draft.pk).status == S.DRAFT


def test_only_staff_write_referrals(scene: Scene) -> None:
    with pytest.raises(ReferralRefused) as err:
        services.create_referral(patient=scene.world.patient, direction=Direction.UP,
                                 diagnosis="I10", reason="x", by=scene.office)
    assert err.value.code == "referral.not_staff"
    with pytest.raises(ReferralRefused) as scope:
        services.create_referral(patient=scene.world.stranger, direction=Direction.UP,
                                 diagnosis="I10", reason="x", by=scene.village_doctor)
    assert scope.value.code == "patient.out_of_scope"
    assert not Referral.objects.exists()


# --- out-of-county approval ------------------------------------------------------------------


def out_of_county(scene: Scene, *, green_channel: bool = False) -> Referral:
    draft = services.create_referral(
        patient=scene.world.patient, direction=Direction.OUT_OF_COUNTY, diagnosis="C34.9",
        reason="疑似肺癌，需PET-CT及胸外科手术", by=scene.county_doctor,
        receiving_institution=scene.world.city_hospital, green_channel=green_channel)
    return services.submit(draft, by=scene.county_doctor).referral


def test_out_of_county_waits_for_the_alliance_office(scene: Scene) -> None:
    referral = out_of_county(scene)
    assert referral.status == S.AWAITING_APPROVAL
    assert referral.deadline is None and not FollowUpTask.objects.exists()
    before = snapshot(referral)
    for who in (scene.village_doctor, scene.county_doctor, scene.other_office):
        with pytest.raises(ReferralRefused) as err:
            services.approve(referral, by=who)
        assert err.value.code == "referral.not_allowed"
        with translation.override("en"):
            assert "Alliance office" in str(err.value)
    assert snapshot(referral) == before
    now = timezone.now()
    approved = services.approve(referral, by=scene.office, now=now).referral
    assert approved.status == S.SUBMITTED and approved.approved_by == scene.office
    assert approved.deadline == now + dt.timedelta(hours=24)
    assert FollowUpTask.objects.get().institution == scene.world.county_hospital
    assert actions(referral)[-1] == ("approve", "office", "awaiting_approval", "submitted")


def test_office_refusal_needs_a_reason(scene: Scene) -> None:
    referral = out_of_county(scene)
    with pytest.raises(ReferralInvalid):
        services.refuse(referral, by=scene.office, reason="")
    with pytest.raises(ReferralRefused):
        services.refuse(referral, by=scene.village_doctor, reason="不同意")
    refused = services.refuse(referral, by=scene.office, reason="县医院可开展该手术")
    assert refused.status == S.REJECTED


def test_green_channel_out_of_county_skips_approval(scene: Scene) -> None:
    referral = out_of_county(scene, green_channel=True)
    assert referral.status == S.SUBMITTED
    assert referral.deadline is not None


# --- redirect ----------------------------------------------------------------------------------


def test_redirect_to_another_member(scene: Scene) -> None:
    referral = services.submit(draft_up(scene), by=scene.village_doctor).referral
    with pytest.raises(ReferralInvalid) as err:
        services.redirect(referral, by=scene.county_doctor, to=scene.world.city_hospital,
                          reason="x")
    assert err.value.code == "referral.redirect_target"
    successor = services.redirect(referral, by=scene.county_doctor, to=scene.world.township,
                                  reason="病情稳定，乡镇卫生院可处理")
    original = Referral.objects.get(pk=referral.pk)
    assert original.status == S.REDIRECTED and original.redirected_to == successor
    assert successor.status == S.SUBMITTED and successor.deadline is not None
    assert successor.receiving_institution == scene.world.township
    assert list(services.incoming(scene.township_doctor)) == [successor]
    assert FollowUpTask.objects.count() == 1  # still the first referral's task


# --- deadlines and escalation -------------------------------------------------------------------


def test_missed_deadline_is_escalated_once_then_expires(scene: Scene) -> None:
    now = timezone.now()
    referral = services.submit(draft_up(scene, green_channel=True), by=scene.village_doctor,
                               now=now).referral
    assert services.escalate_overdue(now + dt.timedelta(minutes=14)).escalated == 0
    result = services.escalate_overdue(now + dt.timedelta(minutes=16))
    assert (result.escalated, result.expired) == (1, 0)
    row = Referral.objects.get(pk=referral.pk)
    assert row.status == S.SUBMITTED and row.escalated_at is not None
    assert actions(referral)[-1] == ("escalate", "system", "submitted", "submitted")
    assert list(services.overdue(scene.world.alliance)) == [row]
    assert list(services.overdue(scene.world.other_alliance)) == []
    assert services.escalate_overdue(now + dt.timedelta(minutes=30)).escalated == 0  # once
    expired = services.escalate_overdue(now + dt.timedelta(days=7, minutes=1))
    assert (expired.escalated, expired.expired) == (0, 1)
    assert Referral.objects.get(pk=referral.pk).status == S.EXPIRED
    assert actions(referral)[-1] == ("expire", "system", "submitted", "expired")


def test_alliance_policy_and_answered_referrals(scene: Scene) -> None:
    ReferralPolicy.objects.create(alliance=scene.world.alliance, routine_hours=4)
    now = timezone.now()
    routine = services.submit(draft_up(scene), by=scene.village_doctor, now=now).referral
    assert routine.deadline == now + dt.timedelta(hours=4)
    answered = services.submit(draft_up(scene, diagnosis="I63.9"), by=scene.village_doctor,
                               now=now).referral
    services.accept(answered, by=scene.county_doctor, ward=scene.ward, now=now)
    result = services.escalate_overdue(now + dt.timedelta(hours=5))
    assert result.escalated == 1  # the routine one; the answered one is not overdue
    assert Referral.objects.get(pk=answered.pk).escalated_at is None


def test_task_and_command(scene: Scene) -> None:
    past = timezone.now() - dt.timedelta(hours=1)
    referral = services.submit(draft_up(scene, green_channel=True), by=scene.village_doctor,
                               now=past).referral
    assert escalate_referrals.call() == {"escalated": 1, "expired": 0}
    call_command("escalate_referrals")  # idempotent: nothing more
    assert ReferralEvent.objects.filter(referral=referral, action="escalate").count() == 1


# --- attachments ------------------------------------------------------------------------------


def test_attachments_type_size_and_storage(scene: Scene, settings: Any) -> None:
    referral = draft_up(scene)
    pdf = ContentFile(b"%PDF-1.7\n" + b"0" * 100, name="心电图.pdf")
    row = services.attach(referral, pdf, by=scene.village_doctor)
    try:
        assert (row.name, row.content_type, row.size) == ("心电图.pdf", "application/pdf", 109)
        path = row.file.path
        assert path.startswith(str(settings.DATA_DIR / "attachments" / "referrals"))
        assert path.endswith(".pdf") and "心电图" not in path
        assert actions(referral)[-1] == ("attach", "sender", "draft", "draft")
        with pytest.raises(ReferralInvalid) as bad:
            services.attach(referral, ContentFile(b"MZ\x90\x00", name="scan.pdf"),
                            by=scene.village_doctor)
        assert bad.value.code == "attachment.type"
        with pytest.raises(ReferralInvalid) as empty:
            services.attach(referral, ContentFile(b"", name="a.png"), by=scene.village_doctor)
        assert empty.value.code == "attachment.empty"
        big = ContentFile(b"\x89PNG\r\n\x1a\n" + b"0" * services.ATTACHMENT_MAX_BYTES,
                          name="big.png")
        with pytest.raises(ReferralInvalid) as large:
            services.attach(referral, big, by=scene.village_doctor)
        assert large.value.code == "attachment.size"
        with pytest.raises(ReferralRefused):
            services.attach(referral, pdf, by=scene.township_doctor)
        assert referral.attachments.count() == 1
    finally:
        row.file.delete(save=False)


# --- editing a draft ------------------------------------------------------------------------------


def test_a_draft_is_completed_by_its_sender_before_it_is_sent(scene: Scene) -> None:
    draft = services.create_referral(patient=scene.world.patient, direction=Direction.UP,
                                     diagnosis="I10", reason="血压控制不佳",
                                     by=scene.village_doctor)
    with pytest.raises(ReferralRefused):
        services.update_draft(draft, {"reason": "x"}, by=scene.township_doctor)
    with pytest.raises(ReferralInvalid) as field:
        services.update_draft(draft, {"status": "accepted"}, by=scene.village_doctor)
    assert field.value.code == "referral.field"
    with pytest.raises(ReferralInvalid) as department:
        services.update_draft(draft, {"receiving_institution": scene.world.township,
                                      "receiving_department": scene.emergency},
                              by=scene.village_doctor)
    assert department.value.code == "referral.department"
    assert Referral.objects.get(pk=draft.pk).receiving_institution is None
    edited = services.update_draft(
        draft, {"receiving_institution": scene.world.county_hospital,
                "receiving_department": scene.emergency, "diagnosis": "i10",
                "green_channel": True}, by=scene.village_doctor)
    assert (edited.receiving_department, edited.diagnosis, edited.green_channel) == (
        scene.emergency, "I10", True)
    assert actions(draft)[-1] == ("edit", "sender", "draft", "draft")
    assert services.submit(draft, by=scene.village_doctor).referral.status == S.SUBMITTED
    with pytest.raises(ReferralConflict) as sent:
        services.update_draft(draft, {"reason": "改"}, by=scene.village_doctor)
    assert sent.value.code == "referral.transition"


def test_the_proposed_down_referral_is_reviewed_then_sent(scene: Scene) -> None:
    referral = services.submit(draft_up(scene, diagnosis="E11.9"),
                               by=scene.village_doctor).referral
    services.accept(referral, by=scene.county_doctor, ward=scene.ward)
    services.arrive(referral, by=scene.county_doctor)
    result = services.complete(referral, by=scene.county_doctor, outcome=Outcome.IMPROVED)
    down = result.down_referral
    assert down is not None  # type-2 diabetes: the catalogue's suggestion, no plan given
    assert result.suggestion is not None and down.reason == str(result.suggestion)
    assert down.care_plan  # the catalogue's down-referral criteria as a starting point
    plan = "二甲双胍0.5g tid；每月测空腹血糖；3个月复查糖化血红蛋白"
    services.update_draft(down, {"care_plan": plan}, by=scene.county_doctor)
    services.submit(down, by=scene.county_doctor)
    assert services.incoming(scene.township_doctor).get().care_plan.startswith("二甲双胍")


def test_no_down_referral_for_a_condition_that_belongs_at_county_level(scene: Scene) -> None:
    referral = services.submit(draft_up(scene, diagnosis="I63.9"),
                               by=scene.village_doctor).referral
    services.accept(referral, by=scene.county_doctor, ward=scene.ward)
    services.arrive(referral, by=scene.county_doctor)
    before = snapshot(referral)
    with pytest.raises(ReferralInvalid) as err:
        services.complete(referral, by=scene.county_doctor, outcome="")
    assert err.value.code == "referral.outcome_required"
    assert snapshot(referral) == before
    result = services.complete(referral, by=scene.county_doctor, outcome=Outcome.IMPROVED)
    assert (result.down_referral, result.suggestion) == (None, None)


def test_a_township_admission_refers_down_to_the_village_clinic(scene: Scene) -> None:
    from tiercare.scheduling.models import Ward

    ward = Ward.objects.create(institution=scene.world.township, code="W1", name="住院部")
    Bed.objects.create(ward=ward, code="01", pool="referral")
    referral = services.submit(draft_up(scene, to=scene.world.township),
                               by=scene.village_doctor).referral
    services.accept(referral, by=scene.township_doctor, ward=ward)
    services.arrive(referral, by=scene.township_doctor)
    result = services.complete(referral, by=scene.township_doctor, outcome=Outcome.IMPROVED,
                               care_plan="继续口服降压药，村医每周测血压")
    down = result.down_referral
    assert down is not None and down.receiving_institution == scene.world.village
    services.submit(down, by=scene.township_doctor)
    assert list(services.incoming(scene.village_doctor)) == [down]
