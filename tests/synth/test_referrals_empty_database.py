"""Specifications of the synthetic referrals that need an empty database each: the same
seed and moment give the same rows; a "living" county (the demo's) keeps its live part
apart from the history (issue 4 item 7, ``synth.referrals``)."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from django.db import transaction
from django.utils import timezone

from tiercare.encounters.models import Encounter
from tiercare.referrals.models import FollowUpTask, Referral, ReferralEvent
from tiercare.scheduling.models import Appointment, AppointmentEvent, Bed, BedEvent, Slot
from tiercare.synth import generate

St = Referral.Status
NOW = timezone.now().replace(microsecond=0)
YEAR = 2023


@pytest.mark.django_db
def test_same_seed_and_moment_give_the_same_referrals():
    # given an empty database, when a county is generated twice with one seed and moment
    first, second = _digest(), _digest()
    # then the referrals, their events, follow-ups, appointments and slots are identical
    assert first == second


def _digest() -> str:
    """The rows, with scheduling rows named by natural keys (their ids come from database
    sequences, which a rolled-back savepoint does not rewind on PostgreSQL)."""
    sid = transaction.savepoint()
    try:
        generate(600, 3, YEAR, now=NOW)
        assert Referral.objects.exists()
        digest = hashlib.sha256()
        for rows in (
                Referral.objects.order_by("id").values_list(
                    *(f.attname for f in Referral._meta.concrete_fields
                      if f.name not in ("appointment", "bed")),
                    "appointment__slot__start", "bed__code"),
                ReferralEvent.objects.order_by("id").values_list(),
                FollowUpTask.objects.order_by("id").values_list(),
                Appointment.objects.order_by("id").values_list(
                    "id", "slot__schedule__name", "slot__start", "pool", "patient_id",
                    "status", "booked_by_name", "source_referral_id", "booked_at"),
                AppointmentEvent.objects.order_by("id").values_list(
                    "id", "appointment_id", "at", "from_status", "to_status", "reason"),
                BedEvent.objects.order_by("id").values_list(
                    "id", "bed__ward__institution__code", "bed__code", "at", "to_status",
                    "patient_id"),
                Slot.objects.order_by("schedule__institution__code", "schedule__name",
                                      "start", "pool").values_list(
                    "schedule__name", "start", "pool", "capacity", "booked"),
                Bed.objects.order_by("ward__institution__code", "code").values_list(
                    "code", "status", "patient_id", "source_referral_id")):
            for row in rows:
                digest.update(repr(row).encode())
        return digest.hexdigest()
    finally:
        transaction.savepoint_rollback(sid)


@pytest.mark.django_db
def test_a_living_county_has_no_live_admission_that_the_history_already_holds():
    # given the demo's "living" county: care up to yesterday, generated this morning
    until = dt.date(2024, 6, 30)
    now = dt.datetime(2024, 7, 1, 9, 30, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    with transaction.atomic():
        generate(2_000, 11, 2024, until=until, now=now)
        end = dt.datetime(2024, 7, 1, tzinfo=dt.timezone(dt.timedelta(hours=8)))
        # then every up-referral that arrived before the history's end is an encounter
        arrived = Referral.objects.filter(direction="up", arrived_at__lt=end)
        assert arrived.exists()
        for referral in arrived:
            assert Encounter.objects.filter(
                patient_id=referral.patient_id, start=referral.arrived_at,
                institution_id=referral.receiving_institution_id).exists()
        # and admissions still running are referrals still "arrived" in their beds
        assert Referral.objects.filter(status=St.ARRIVED, bed__status="occupied").exists()
        assert not Referral.objects.filter(events__at__gt=now).exists()
        transaction.set_rollback(True)
