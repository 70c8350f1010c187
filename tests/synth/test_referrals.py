"""The synthetic county's referrals and bookings (issue 4 item 7, ``synth.referrals``): a year
of referrals consistent with the encounters, the slots and beds they hold, follow-up tasks,
and a live state relative to the moment of generation.

One county of 5,000 residents (year 2023) is generated per module inside a transaction that
is rolled back at the end; ``now`` is fixed so the live part is known.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from django.db import transaction
from django.db.models import Count, F, Q
from django.utils import timezone

from tiercare.encounters.models import Encounter
from tiercare.kernel import icd10
from tiercare.referrals import statuses
from tiercare.referrals.models import FollowUpTask, Referral, ReferralEvent
from tiercare.registry.models import Institution
from tiercare.scheduling.models import Appointment, AppointmentEvent, Bed, BedEvent, Slot
from tiercare.synth import generate
from tiercare.synth.generator import SynthSummary

St = Referral.Status
NOW = timezone.now().replace(microsecond=0)
TODAY = timezone.localdate(NOW)
YEAR = 2023


@pytest.fixture(scope="module")
def county(django_db_setup, django_db_blocker) -> Iterator[SynthSummary]:
    with django_db_blocker.unblock(), transaction.atomic():
        summary = generate(5_000, 7, YEAR, now=NOW)
        yield summary
        transaction.set_rollback(True)


def timeline(referral: Referral) -> list[ReferralEvent]:
    return list(referral.events.order_by("at", "id"))


@pytest.mark.django_db
def test_every_referral_moves_through_the_transition_table_in_time_order(county):
    referrals = list(Referral.objects.all())
    assert len(referrals) > 50
    for referral in referrals:
        events = timeline(referral)
        # the first step writes the slip (or, for a redirected one, submits its successor)
        assert events[0].from_status == ""
        assert (events[0].action, events[0].to_status) in (("create", St.DRAFT),
                                                           ("redirect", St.SUBMITTED))
        assert referral.created_at == events[0].at
        status, last = events[0].to_status, events[0].at
        for event in events[1:]:
            assert event.at >= last and event.at <= NOW
            last = event.at
            if event.action == "escalate":  # no status change, by the system, once
                assert event.from_status == event.to_status == status
                assert status in statuses.AWAITING_ANSWER and event.side == "system"
                assert referral.escalated_at == event.at
                assert referral.deadline is not None and event.at >= referral.deadline
                continue
            assert event.from_status == status
            sides = statuses.TRANSITIONS.get((status, event.to_status))
            assert sides is not None, (referral.pk, status, event.to_status)
            assert event.side in sides
            status = event.to_status
        assert status == referral.status
        if referral.escalated_at is None:
            assert not [e for e in events if e.action == "escalate"]


@pytest.mark.django_db
def test_time_stamps_of_the_slip_follow_its_events(county):
    for referral in Referral.objects.exclude(status=St.AWAITING_APPROVAL):
        events = {e.action: e.at for e in reversed(timeline(referral))}
        assert referral.submitted_at == events.get("submit", events.get("redirect"))
        assert referral.received_at == events.get("receive")
        assert referral.arrived_at == events.get("arrive")
        assert (referral.closed_at is not None) == (referral.status in statuses.FINAL)
        if referral.deadline is not None:
            hours = 0.25 if referral.green_channel else 24
            assert referral.deadline == referral.submitted_at + dt.timedelta(hours=hours)
        if referral.status == St.REJECTED:
            assert referral.response_note
        if referral.status == St.COMPLETED:
            assert referral.outcome


@pytest.mark.django_db
def test_every_up_referral_has_a_follow_up_task_due_two_weeks_after_submission(county):
    ups = Referral.objects.filter(direction="up", submitted_at__isnull=False,
                                  redirected_from__isnull=True)
    assert ups.count() > 30
    for referral in ups:
        task = FollowUpTask.objects.get(referral=referral)
        assert task.institution_id == referral.sending_institution_id
        assert task.patient_id == referral.patient_id
        assert task.due_date == timezone.localdate(referral.submitted_at) + dt.timedelta(days=14)
        if task.status == FollowUpTask.Status.DONE:
            assert referral.submitted_at < task.done_at <= NOW and task.note
    # a redirected referral's successor and down-referrals have none (rules.md §3)
    assert not FollowUpTask.objects.filter(referral__redirected_from__isnull=False).exists()
    assert not FollowUpTask.objects.filter(referral__direction="down").exists()
    tasks = FollowUpTask.objects
    assert tasks.filter(status="done").count() > tasks.filter(status="open").count() > 0
    assert tasks.filter(status="open", due_date__gte=TODAY).exists()  # live, not yet due
    assert tasks.filter(status="open", due_date__lt=TODAY).exists()  # overdue


@pytest.mark.django_db
def test_a_slots_booked_count_equals_its_appointments_that_are_not_cancelled(county):
    slots = Slot.objects.annotate(active=Count("appointments", filter=~Q(
        appointments__status=Appointment.Status.CANCELLED)))
    assert slots.filter(booked__gt=0).count() > 50
    assert not slots.exclude(booked=F("active")).exists()
    assert not Slot.objects.filter(booked__gt=F("capacity")).exists()
    # the four weeks from today: public bookings too, and still free places
    future = Slot.objects.filter(start__gt=NOW)
    assert future.filter(booked__gt=0).exists()
    assert future.filter(booked__lt=F("capacity")).count() > future.count() // 3


@pytest.mark.django_db
def test_appointments_follow_their_referrals(county):
    expected = {St.ACCEPTED: "booked", St.ARRIVED: "checked_in", St.COMPLETED: "fulfilled"}
    with_slot = Referral.objects.filter(appointment__isnull=False).select_related(
        "appointment__slot__schedule")
    assert with_slot.count() > 15
    for referral in with_slot:
        appointment = referral.appointment
        assert appointment.source_referral_id == referral.pk
        assert appointment.patient_id == referral.patient_id
        assert appointment.slot.schedule.institution_id == referral.receiving_institution_id
        assert appointment.booked_at == referral.responded_at < appointment.slot.end
        if referral.status in expected:
            assert appointment.status == expected[referral.status]
        steps = list(AppointmentEvent.objects.filter(appointment=appointment)
                     .order_by("at", "id").values_list("to_status", flat=True))
        assert steps[0] == "booked" and steps[-1] == appointment.status
    cancelled = Referral.objects.filter(status=St.CANCELLED, appointment__isnull=False)
    assert not cancelled.exclude(appointment__status="cancelled").exists()


@pytest.mark.django_db
def test_beds_are_held_without_overlap_and_show_who_is_in_them_now(county):
    assert Referral.objects.filter(bed__isnull=False).count() > 10
    for referral in Referral.objects.filter(bed__isnull=False).select_related("bed__ward"):
        assert referral.bed.ward.institution_id == referral.receiving_institution_id
        if referral.status in (St.ACCEPTED, St.ARRIVED):
            assert referral.bed.status == ("reserved" if referral.status == St.ACCEPTED
                                           else "occupied")
            assert referral.bed.patient_id == referral.patient_id
            assert referral.bed.source_referral_id == referral.pk
    assert Bed.objects.filter(status="occupied").exists()
    for bed in Bed.objects.filter(events__isnull=False).distinct():
        state = "free"
        for event in BedEvent.objects.filter(bed=bed).order_by("at", "id"):
            assert event.from_status == state  # one resident at a time
            state = event.to_status
        assert state == bed.status


@pytest.mark.django_db
def test_history_referrals_are_the_encounters_of_the_residents(county):
    year_end = dt.datetime(YEAR + 1, 3, 1, tzinfo=dt.UTC)
    arrived = Referral.objects.filter(direction="up", arrived_at__lt=year_end)
    assert arrived.count() > 25
    for referral in arrived:
        # the admission or visit at the receiving institution is the arrival
        assert Encounter.objects.filter(
            patient_id=referral.patient_id, institution_id=referral.receiving_institution_id,
            start=referral.arrived_at, primary_diagnosis=referral.diagnosis).exists()
    for down in Referral.objects.filter(direction="down").select_related(
            "source_referral", "patient", "receiving_institution"):
        assert down.receiving_institution.level == "township"
        assert down.receiving_institution.division_code == down.patient.address_code[:9]
        assert down.care_plan and down.reason
        if down.source_referral is not None:
            assert down.source_referral.status == St.COMPLETED
            assert down.created_at >= down.source_referral.closed_at
            assert down.sending_institution_id == down.source_referral.receiving_institution_id


@pytest.mark.django_db
def test_a_mix_of_outcomes_with_reasons_in_chinese(county):
    counts = dict(Referral.objects.values_list("status").annotate(n=Count("id")))
    assert counts[St.COMPLETED] > 0.6 * sum(counts.values())
    for status in (St.REJECTED, St.EXPIRED, St.CANCELLED, St.REDIRECTED, St.SUBMITTED,
                   St.ACCEPTED, St.ARRIVED, St.AWAITING_APPROVAL):
        assert counts.get(status), status
    assert Referral.objects.filter(direction="down").count() > 5
    assert Referral.objects.filter(green_channel=True, direction="up").count() > 2
    assert Referral.objects.exclude(catalogue_warning="").exists()
    for redirected in Referral.objects.filter(status=St.REDIRECTED):
        successor = redirected.redirected_to
        assert successor is not None and successor.patient_id == redirected.patient_id
        assert successor.receiving_institution.alliance_id == \
            redirected.receiving_institution.alliance_id
    for referral in Referral.objects.select_related("sending_practitioner",
                                                    "receiving_practitioner"):
        assert icd10.exists(referral.diagnosis)
        assert any("\u4e00" <= ch <= "\u9fff" for ch in referral.reason)
        assert referral.sending_practitioner.institution_id == \
            referral.sending_institution_id
        if referral.receiving_practitioner is not None:
            assert referral.receiving_practitioner.institution_id == \
                referral.receiving_institution_id
    # catalogue warnings go with conditions the sending level should treat (rules.md §2)
    warned = Referral.objects.exclude(catalogue_warning="").values_list("diagnosis", flat=True)
    assert {code[:3] for code in warned} & {"J06", "I10", "E11", "K29", "M54", "J20"}


@pytest.mark.django_db
def test_the_live_state_fills_queues_and_lists(county):
    awaiting = Referral.objects.filter(status__in=[St.SUBMITTED, St.RECEIVED])
    # open with the deadline still running, some of them in the green channel
    assert awaiting.filter(deadline__gt=NOW).exists()
    assert awaiting.filter(green_channel=True, deadline__gt=NOW).exists()
    # missed deadlines the alliance office sees: escalated and unanswered
    assert awaiting.filter(deadline__lt=NOW, escalated_at__isnull=False).count() >= 3
    assert not awaiting.filter(deadline__lt=NOW - dt.timedelta(minutes=2),
                               escalated_at__isnull=True).exists()
    # accepted with a slot or a bed still to come, residents in their beds now
    assert Referral.objects.filter(status=St.ACCEPTED, appointment__slot__start__gt=NOW) \
        .exists()
    assert Referral.objects.filter(status=St.ACCEPTED, bed__status="reserved").exists()
    assert Referral.objects.filter(status=St.ARRIVED, bed__status="occupied").exists()
    # the office's approval queue
    waiting = Referral.objects.filter(status=St.AWAITING_APPROVAL)
    assert waiting.exists() and not waiting.exclude(direction="out_of_county").exists()
    assert not waiting.filter(receiving_institution__level="county").exists()
    # the demo doctor's township centre (the alliance's first) has outgoing live referrals
    first = Institution.objects.filter(level="township").order_by("code").first()
    assert Referral.objects.filter(sending_institution=first, submitted_at__gt=NOW
                                   - dt.timedelta(days=28)).exists()
