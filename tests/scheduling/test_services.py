"""Scheduling use cases (scheduling/services.py): slot generation with pools, booking and its
refusals, the appointment's life, beds. Given/when/then."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import transaction
from django.utils import timezone, translation

from tests.scheduling.conftest import Scene, make_slot
from tests.web.factories import make_patient
from tiercare.accounts import audit
from tiercare.accounts.models import AuditEvent
from tiercare.patients.models import Patient
from tiercare.registry.models import Practitioner
from tiercare.scheduling import services
from tiercare.scheduling.errors import SchedulingConflict, SchedulingInvalid, SchedulingRefused
from tiercare.scheduling.models import (
    Appointment,
    AppointmentEvent,
    Bed,
    BedEvent,
    Pool,
    Schedule,
    SchedulingPolicy,
    Slot,
    SlotTemplate,
    Ward,
)

A = Appointment.Status
TZ = timezone.get_default_timezone()


def next_weekday(weekday: int, after_days: int = 1) -> dt.date:
    day = timezone.localdate() + dt.timedelta(days=after_days)
    while day.weekday() != weekday:
        day += dt.timedelta(days=1)
    return day


def morning(schedule: Schedule, weekday: int, capacity: int = 1, internal: int = 0,
            end: int = 12) -> SlotTemplate:
    return SlotTemplate.objects.create(schedule=schedule, weekday=weekday,
                                       start_time=dt.time(8), end_time=dt.time(end),
                                       slot_minutes=30, capacity=capacity,
                                       internal_capacity=internal)


# --- policy and generation --------------------------------------------------------------------


def test_without_a_policy_nothing_is_reserved(scene: Scene):
    assert services.policy_for(scene.world.alliance) == services.Policy()
    morning(scene.schedule, 0, capacity=3)
    day = next_weekday(0)
    # when a week is generated
    made = services.generate_slots(scene.schedule, day, day + dt.timedelta(days=6))
    # then 8 public slots of 3 places, no referral slots
    assert made == 8
    slots = Slot.objects.filter(schedule=scene.schedule)
    assert {s.pool for s in slots} == {Pool.PUBLIC}
    assert sum(s.capacity for s in slots) == 24


def test_generation_is_idempotent_and_audited(scene: Scene):
    morning(scene.schedule, 0)
    day = next_weekday(0)
    assert services.generate_slots(scene.schedule, day, day) == 8
    assert services.generate_slots(scene.schedule, day, day) == 0
    assert Slot.objects.filter(schedule=scene.schedule).count() == 8
    assert AuditEvent.objects.filter(object_type="scheduling.Schedule",
                                     object_id=str(scene.schedule.pk)).count() == 1


def test_beijing_preset_reserves_thirty_percent_released_fourteen_days_ahead(scene: Scene):
    # given the Beijing preset and a Monday morning of 8 single slots 3 weeks ahead
    policy = services.apply_preset(scene.world.alliance, "beijing",
                                   by=scene.alliance_admin)
    policy.refresh_from_db()
    assert (str(policy.reserve_share), policy.release_lead_days) == ("0.300", 14)
    morning(scene.schedule, 0)
    day = next_weekday(0, after_days=21)
    services.generate_slots(scene.schedule, day, day)
    # then ceil(0.3 × 8) = 3 places are reserved, each released 14 days before its start
    referral = list(Slot.objects.filter(schedule=scene.schedule, pool=Pool.REFERRAL))
    public = Slot.objects.filter(schedule=scene.schedule, pool=Pool.PUBLIC)
    assert sum(s.capacity for s in referral) == 3
    assert sum(s.capacity for s in public) == 5
    assert all(s.release_at == s.start - dt.timedelta(days=14) for s in referral)


def test_reserve_whose_release_time_has_passed_is_made_public_at_once(scene: Scene):
    services.apply_preset(scene.world.alliance, "beijing")
    morning(scene.schedule, 0)
    day = next_weekday(0, after_days=1)  # within 14 days
    services.generate_slots(scene.schedule, day, day)
    assert not Slot.objects.filter(schedule=scene.schedule, pool=Pool.REFERRAL).exists()
    assert sum(Slot.objects.filter(schedule=scene.schedule).values_list("capacity",
                                                                        flat=True)) == 8


def test_specialist_clinics_carry_at_least_half_of_the_reserve(scene: Scene):
    # given a general clinic of 16 places a week and a chief physician's clinic of 4
    services.apply_preset(scene.world.alliance, "beijing")
    chief = Practitioner.objects.get(code="P-H001-1")
    expert = Schedule.objects.create(institution=scene.world.county_hospital,
                                     practitioner=chief, name="陈主任专家门诊",
                                     is_specialist=True)
    morning(scene.schedule, 0, capacity=2)
    morning(expert, 0, capacity=1, end=10)
    day = next_weekday(0, after_days=21)
    services.generate_slots(scene.schedule, day, day)
    services.generate_slots(expert, day, day)

    def reserved(schedule: Schedule) -> int:
        return sum(Slot.objects.filter(schedule=schedule, pool=Pool.REFERRAL)
                   .values_list("capacity", flat=True))

    # f = 4/20; specialist share 0.5·0.3/0.2 = 0.75 → 3 of 4; general 0.1875 × 16 → 3
    assert reserved(expert) == 3
    assert reserved(scene.schedule) == 3
    assert reserved(expert) >= (reserved(expert) + reserved(scene.schedule)) / 2


def test_internal_capacity_becomes_internal_slots(scene: Scene):
    morning(scene.schedule, 0, capacity=3, internal=1)
    day = next_weekday(0)
    services.generate_slots(scene.schedule, day, day)
    internal = Slot.objects.filter(schedule=scene.schedule, pool=Pool.INTERNAL)
    assert internal.count() == 8 and {s.capacity for s in internal} == {1}


def test_unknown_preset_and_bad_range_are_refused(scene: Scene):
    with pytest.raises(SchedulingInvalid) as caught:
        services.apply_preset(scene.world.alliance, "shanghai")
    assert caught.value.code == "policy.preset_unknown"
    assert not SchedulingPolicy.objects.exists()
    with pytest.raises(SchedulingInvalid) as caught:
        services.generate_slots(scene.schedule, dt.date(2026, 12, 2), dt.date(2026, 12, 1))
    assert caught.value.code == "range.invalid"


# --- booking ----------------------------------------------------------------------------------


def test_booking_takes_a_place_and_records_who_when_why(scene: Scene):
    slot = make_slot(scene.schedule, capacity=2)
    # when a township doctor books a public place for the resident
    appointment = services.book(slot, scene.world.patient, by=scene.township_doctor,
                                note="复诊")
    # then the place is counted, the event and the audit entry are written
    slot.refresh_from_db()
    assert slot.booked == 1
    assert (appointment.status, appointment.pool) == (A.BOOKED, Pool.PUBLIC)
    event = AppointmentEvent.objects.get(appointment=appointment)
    assert (event.from_status, event.to_status, event.by, event.reason) == (
        "", A.BOOKED, scene.township_doctor, "复诊")
    entry = AuditEvent.objects.get(object_type="scheduling.Appointment")
    assert (entry.action, entry.patient_id, entry.user) == (
        AuditEvent.Action.CREATE, scene.world.patient.pk, scene.township_doctor)


def test_a_full_slot_refuses_clearly_and_changes_nothing(scene: Scene):
    slot = make_slot(scene.schedule, capacity=1)
    services.book(slot, scene.world.patient, by=scene.township_doctor)
    other = make_patient("李四", scene.world.patient.address_code)
    with translation.override("en"), pytest.raises(SchedulingConflict) as caught:
        services.book(slot, other, by=scene.township_doctor)
    assert caught.value.code == "slot.full"
    assert caught.value.status == 409
    with translation.override("en"):
        assert str(caught.value) == (
            f"The slot at {timezone.localtime(slot.start):%Y-%m-%d %H:%M} is fully booked.")
    slot.refresh_from_db()
    assert slot.booked == 1
    assert Appointment.objects.count() == 1


def test_a_system_may_book_public_places_under_its_name(scene: Scene):
    slot = make_slot(scene.schedule)
    appointment = services.book(slot, scene.world.patient, by_name="token:his-h001")
    assert appointment.booked_by is None and appointment.booked_by_name == "token:his-h001"
    assert AuditEvent.objects.get(object_type="scheduling.Appointment").username == \
        "token:his-h001"


@pytest.mark.parametrize(("who", "referral", "allowed"), [
    ("township_doctor", None, True),  # another member books up for its resident
    ("alliance_admin", None, True),
    ("hospital_doctor", None, False),  # the hospital's own staff without a referral
    ("hospital_doctor", 17, True),  # … booking for an accepted referral
    ("outsider", None, False),  # staff of another alliance
    (None, None, False),  # a system without a referral
    (None, 17, True),
])
def test_the_referral_pool_is_for_referrals_from_members(scene: Scene, who, referral, allowed):
    slot = make_slot(scene.schedule, pool=Pool.REFERRAL)
    user = getattr(scene, who) if who else None
    if allowed:
        appointment = services.book(slot, scene.world.patient, by=user, by_name="system",
                                    source_referral_id=referral)
        assert appointment.pool == Pool.REFERRAL
        assert appointment.source_referral_id == referral
    else:
        with pytest.raises(SchedulingRefused) as caught:
            services.book(slot, scene.world.patient, by=user, by_name="system",
                          source_referral_id=referral)
        assert caught.value.code == "slot.pool_refused"
        slot.refresh_from_db()
        assert slot.booked == 0


def test_the_internal_pool_is_for_the_institutions_own_staff(scene: Scene):
    slot = make_slot(scene.schedule, pool=Pool.INTERNAL)
    with pytest.raises(SchedulingRefused):
        services.book(slot, scene.world.patient, by=scene.township_doctor)
    services.book(slot, scene.world.patient, by=scene.hospital_doctor)


def test_a_resident_cannot_hold_two_places_in_one_slot(scene: Scene):
    slot = make_slot(scene.schedule, capacity=3)
    services.book(slot, scene.world.patient, by=scene.township_doctor)
    with pytest.raises(SchedulingConflict) as caught:
        services.book(slot, scene.world.patient, by=scene.township_doctor)
    assert caught.value.code == "appointment.duplicate"
    slot.refresh_from_db()
    assert slot.booked == 1


def test_a_full_slot_says_duplicate_to_the_resident_already_booked_in_it(scene: Scene):
    """"Duplicate" is said before "full" on both databases (the booking's statement reads
    the resident's active booking in the same snapshot as it takes the place)."""
    slot = make_slot(scene.schedule, capacity=1)
    services.book(slot, scene.world.patient, by=scene.township_doctor)
    with pytest.raises(SchedulingConflict) as caught:
        services.book(slot, scene.world.patient, by=scene.township_doctor)
    assert caught.value.code == "appointment.duplicate"
    other = make_patient("李四", scene.world.patient.address_code)
    with pytest.raises(SchedulingConflict) as full:
        services.book(slot, other, by=scene.township_doctor)
    assert full.value.code == "slot.full"
    assert Appointment.objects.filter(slot=slot).count() == 1
    assert AppointmentEvent.objects.filter(appointment__slot=slot).count() == 1


def test_a_booking_writes_its_appointment_event_and_audit_and_answers_what_it_stored(
        scene: Scene):
    slot = make_slot(scene.schedule, capacity=2)
    made = services.book(slot.pk, scene.world.patient.pk, by=scene.township_doctor,
                         note="复诊")
    stored = Appointment.objects.get(pk=made.pk)
    for field in ("slot_id", "patient_id", "pool", "status", "booked_by_id",
                  "booked_by_name", "source_referral_id", "note", "booked_at", "updated_at"):
        assert getattr(made, field) == getattr(stored, field), field
    assert made.slot.booked == 1 == Slot.objects.get(pk=slot.pk).booked
    event = AppointmentEvent.objects.get(appointment=stored)
    assert (event.from_status, event.to_status, event.by_id, event.reason) == (
        "", Appointment.Status.BOOKED, scene.township_doctor.pk, "复诊")
    audit_event = AuditEvent.objects.get(object_type="scheduling.Appointment",
                                         object_id=str(stored.pk))
    assert audit_event.action == AuditEvent.Action.CREATE
    assert audit_event.user_id == scene.township_doctor.pk
    assert audit_event.patient_id == scene.world.patient.pk
    assert audit_event.changes == {"slot": slot.pk, "pool": Pool.PUBLIC, "referral": None}
    made.note = "改约说明"  # the instance answered is a stored one: saving updates it
    made.save(update_fields=["note"])
    assert Appointment.objects.count() == 1


def test_a_booking_inside_an_audit_buffer_leaves_its_audit_event_to_the_buffer(scene: Scene):
    slot = make_slot(scene.schedule)
    with transaction.atomic(), audit.buffered():
        made = services.book(slot, scene.world.patient, by_name="token:his")
        assert not AuditEvent.objects.filter(object_type="scheduling.Appointment").exists()
    (event,) = AuditEvent.objects.filter(object_type="scheduling.Appointment",
                                        object_id=str(made.pk))
    assert event.username == "token:his"


def test_an_unknown_slot_or_resident_is_not_found(scene: Scene):
    slot = make_slot(scene.schedule)
    with pytest.raises(Slot.DoesNotExist):
        services.book(10**9, scene.world.patient, by=scene.township_doctor)
    with pytest.raises(Patient.DoesNotExist):
        services.book(slot, 10**9, by=scene.township_doctor)
    assert Appointment.objects.count() == 0


def test_closed_past_slots_and_merged_records_are_refused(scene: Scene):
    closed = make_slot(scene.schedule)
    services.set_slot_status(closed, Slot.Status.CLOSED, by=scene.hospital_doctor)
    past = make_slot(scene.schedule, days=-1)
    merged = make_patient("王五", scene.world.patient.address_code)
    merged.is_active = False
    merged.save()
    open_slot = make_slot(scene.schedule, hour=10)
    for slot, patient, code in ((closed, scene.world.patient, "slot.closed"),
                                (past, scene.world.patient, "slot.past"),
                                (open_slot, merged, "patient.inactive")):
        with pytest.raises(SchedulingConflict) as caught:
            services.book(slot, patient, by=scene.township_doctor)
        assert caught.value.code == code
    assert Appointment.objects.count() == 0


# --- the appointment's life -------------------------------------------------------------------


def test_cancel_gives_the_place_back_once(scene: Scene):
    slot = make_slot(scene.schedule, capacity=1)
    appointment = services.book(slot, scene.world.patient, by=scene.township_doctor)
    services.cancel(appointment, by=scene.township_doctor, reason="患者改期")
    slot.refresh_from_db()
    assert slot.booked == 0
    with pytest.raises(SchedulingConflict) as caught:
        services.cancel(appointment, by=scene.township_doctor)
    assert caught.value.code == "appointment.transition"
    slot.refresh_from_db()
    assert slot.booked == 0
    # the place is bookable again
    services.book(slot, make_patient("李四", scene.world.patient.address_code),
                  by=scene.township_doctor)


def test_check_in_then_fulfil_keeps_the_place_and_writes_events(scene: Scene):
    slot = make_slot(scene.schedule)
    appointment = services.book(slot, scene.world.patient, by=scene.township_doctor)
    services.check_in(appointment, by=scene.hospital_doctor)
    services.fulfil(appointment, by=scene.hospital_doctor)
    appointment.refresh_from_db()
    slot.refresh_from_db()
    assert appointment.status == A.FULFILLED and slot.booked == 1
    assert list(appointment.events.values_list("from_status", "to_status")) == [
        ("", A.BOOKED), (A.BOOKED, A.CHECKED_IN), (A.CHECKED_IN, A.FULFILLED)]
    assert AuditEvent.objects.filter(object_type="scheduling.Appointment").count() == 3


def test_illegal_moves_are_refused_in_words(scene: Scene):
    slot = make_slot(scene.schedule)
    appointment = services.book(slot, scene.world.patient, by=scene.township_doctor)
    with translation.override("en"), pytest.raises(SchedulingConflict) as caught:
        services.fulfil(appointment, by=scene.hospital_doctor)
    with translation.override("en"):
        assert str(caught.value) == ("An appointment that is “Booked” cannot be marked "
                                     "“Fulfilled”.")
    services.check_in(appointment, by=scene.hospital_doctor)
    with pytest.raises(SchedulingConflict):
        services.cancel(appointment, by=scene.hospital_doctor)
    appointment.refresh_from_db()
    assert appointment.status == A.CHECKED_IN


def test_no_show_only_after_the_slot_began_and_keeps_the_place(scene: Scene):
    slot = make_slot(scene.schedule)
    appointment = services.book(slot, scene.world.patient, by=scene.township_doctor)
    with pytest.raises(SchedulingConflict) as caught:
        services.mark_no_show(appointment, by=scene.hospital_doctor)
    assert caught.value.code == "appointment.not_started"
    services.mark_no_show(appointment, by=scene.hospital_doctor,
                          now=slot.start + dt.timedelta(minutes=5))
    appointment.refresh_from_db()
    slot.refresh_from_db()
    assert appointment.status == A.NO_SHOW and slot.booked == 1


# --- beds -------------------------------------------------------------------------------------


@pytest.fixture
def ward(scene: Scene) -> Ward:
    ward = Ward.objects.create(institution=scene.world.county_hospital, code="W1",
                               name="心内科一病区",
                               department=scene.world.county_hospital.departments.get())
    Bed.objects.create(ward=ward, code="01", pool=Pool.PUBLIC)
    Bed.objects.create(ward=ward, code="02", pool=Pool.REFERRAL)
    Bed.objects.create(ward=ward, code="03", pool=Pool.REFERRAL)
    return ward


def test_a_referral_bed_is_reserved_then_occupied_then_freed(scene: Scene, ward: Ward):
    patient = scene.world.patient
    bed = services.reserve_free_bed(ward, patient, by=scene.hospital_doctor,
                                    source_referral_id=5, reason="绿色通道")
    assert (bed.code, bed.status, bed.patient_id) == ("02", Bed.Status.RESERVED, patient.pk)
    services.occupy_bed(bed, patient, by=scene.hospital_doctor)
    services.free_bed(bed, by=scene.hospital_doctor, reason="出院")
    bed.refresh_from_db()
    assert (bed.status, bed.patient_id, bed.source_referral_id) == (Bed.Status.FREE, None, None)
    assert list(BedEvent.objects.filter(bed=bed).values_list("from_status", "to_status")) == [
        ("free", "reserved"), ("reserved", "occupied"), ("occupied", "free")]
    assert AuditEvent.objects.filter(object_type="scheduling.Bed", patient_id=patient.pk
                                     ).count() == 3


def test_a_taken_bed_refuses_and_a_full_ward_says_so(scene: Scene, ward: Ward):
    first = services.reserve_free_bed(ward, scene.world.patient, source_referral_id=1,
                                      by_name="system")
    with pytest.raises(SchedulingConflict) as caught:
        services.reserve_bed(first, scene.world.stranger, source_referral_id=2,
                             by_name="system")
    assert caught.value.code == "bed.unavailable"
    services.reserve_free_bed(ward, make_patient("李四", scene.world.patient.address_code),
                              source_referral_id=3, by_name="system")
    with pytest.raises(SchedulingConflict) as caught:
        services.reserve_free_bed(ward, make_patient("王五", scene.world.patient.address_code),
                                  source_referral_id=4, by_name="system")
    assert caught.value.code == "bed.none_free"


def test_referral_beds_are_refused_to_the_hospital_without_a_referral(scene: Scene, ward: Ward):
    with pytest.raises(SchedulingRefused):
        services.reserve_free_bed(ward, scene.world.patient, by=scene.hospital_doctor)
    bed = services.reserve_free_bed(ward, scene.world.patient, pool=Pool.PUBLIC,
                                    by=scene.hospital_doctor)
    assert bed.code == "01"


def test_bed_reserved_for_one_resident_is_not_occupied_by_another(scene: Scene, ward: Ward):
    bed = services.reserve_free_bed(ward, scene.world.patient, source_referral_id=1,
                                    by_name="system")
    with pytest.raises(SchedulingConflict) as caught:
        services.occupy_bed(bed, scene.world.stranger, by=scene.hospital_doctor)
    assert caught.value.code == "bed.reserved_for_other"
    with pytest.raises(SchedulingConflict) as caught:
        services.close_bed(bed, by=scene.hospital_doctor)
    assert caught.value.code == "bed.transition"
    public = Bed.objects.get(ward=ward, code="01")
    services.close_bed(public, by=scene.hospital_doctor, reason="维修")
    with pytest.raises(SchedulingConflict):
        services.occupy_bed(public, scene.world.patient, by=scene.hospital_doctor)
    services.free_bed(public, by=scene.hospital_doctor)
    assert Bed.objects.get(pk=public.pk).status == Bed.Status.FREE


# --- merged records ----------------------------------------------------------------------------


def test_bookings_and_beds_follow_a_merge_and_come_back_on_undo(scene: Scene):
    from tiercare.patients import services as patients

    survivor = scene.world.patient
    duplicate = make_patient("张三", survivor.address_code)
    slot, shared = make_slot(scene.schedule), make_slot(scene.schedule, hour=10)
    theirs = services.book(slot, duplicate, by=scene.township_doctor)
    clash = services.book(shared, duplicate, by=scene.township_doctor)
    services.book(shared, survivor, by=scene.township_doctor)
    ward = Ward.objects.create(institution=scene.world.county_hospital, code="W1", name="病区")
    bed = services.occupy_bed(Bed.objects.create(ward=ward, code="01"), duplicate,
                              by=scene.hospital_doctor)
    # when the duplicate is merged into the survivor
    merge = patients.merge_patients(survivor, duplicate)
    # then its booking and bed move, except the booking that would clash with the survivor's
    assert merge.moved["scheduling.Appointment"] == [theirs.pk]
    assert merge.moved["scheduling.Bed"] == [bed.pk]
    assert Appointment.objects.get(pk=theirs.pk).patient_id == survivor.pk
    assert Appointment.objects.get(pk=clash.pk).patient_id == duplicate.pk
    assert Bed.objects.get(pk=bed.pk).patient_id == survivor.pk
    # and the undo moves them back
    patients.undo_merge(merge)
    assert Appointment.objects.get(pk=theirs.pk).patient_id == duplicate.pk
    assert Bed.objects.get(pk=bed.pk).patient_id == duplicate.pk


def test_generation_skips_times_taken_by_existing_slots(scene: Scene):
    # given a slot made by hand at 09:10–09:40 on a Monday
    day = next_weekday(0)
    start = dt.datetime.combine(day, dt.time(9, 10), tzinfo=TZ)
    Slot.objects.create(schedule=scene.schedule, start=start,
                        end=start + dt.timedelta(minutes=30), capacity=1)
    morning(scene.schedule, 0)
    # when the morning is generated, the 09:00 and 09:30 slots overlapping it are skipped
    assert services.generate_slots(scene.schedule, day, day) == 6
    starts = sorted(timezone.localtime(s).strftime("%H:%M") for s in Slot.objects.filter(
        schedule=scene.schedule).values_list("start", flat=True))
    assert starts == ["08:00", "08:30", "09:10", "10:00", "10:30", "11:00", "11:30"]


def test_primary_care_books_reserved_ct_time_at_the_county_hospital(scene: Scene):
    # given a CT schedule with the Beijing reserve, 3 weeks ahead
    from tiercare.scheduling.models import Equipment

    services.apply_preset(scene.world.alliance, "beijing")
    ct = Equipment.objects.create(institution=scene.world.county_hospital, code="CT1",
                                  name="64排CT", modality=Equipment.Modality.CT)
    schedule = Schedule.objects.create(institution=scene.world.county_hospital,
                                       kind=Schedule.Kind.EQUIPMENT, equipment=ct, name="CT")
    morning(schedule, 0, capacity=2)
    day = next_weekday(0, after_days=21)
    services.generate_slots(schedule, day, day)
    reserved = Slot.objects.filter(schedule=schedule, pool=Pool.REFERRAL).first()
    assert reserved is not None
    # when the township doctor books it for the resident, it is taken from the reserve
    appointment = services.book(reserved, scene.world.patient, by=scene.township_doctor)
    assert appointment.pool == Pool.REFERRAL
    # and the hospital's own staff cannot take reserved CT time without a referral
    with pytest.raises(SchedulingRefused):
        services.book(reserved, scene.world.stranger, by=scene.hospital_doctor)


def test_free_slots_lists_open_places_earliest_first(scene: Scene):
    late = make_slot(scene.schedule, pool=Pool.REFERRAL, days=5)
    early = make_slot(scene.schedule, pool=Pool.REFERRAL, days=2)
    full = make_slot(scene.schedule, pool=Pool.REFERRAL, days=1, capacity=1)
    services.book(full, scene.world.patient, source_referral_id=1, by_name="t")
    closed = make_slot(scene.schedule, pool=Pool.REFERRAL, days=3)
    services.set_slot_status(closed, Slot.Status.CLOSED)
    make_slot(scene.schedule, pool=Pool.PUBLIC, days=2, hour=11)
    make_slot(scene.schedule, pool=Pool.REFERRAL, days=-1)
    found = services.free_slots(department_id=scene.schedule.department_id,
                                pool=Pool.REFERRAL)
    assert found == [early, late]
    assert services.free_slots(institution=scene.world.township) == []
    assert services.free_slots(schedule=scene.schedule, pool=Pool.REFERRAL, limit=1) == [early]


def test_a_booking_and_its_cancellation_move_the_slots_last_change(scene: Scene):
    from tiercare.scheduling.models import Slot

    slot = make_slot(scene.schedule)
    Slot.objects.filter(pk=slot.pk).update(updated_at=timezone.now() - dt.timedelta(days=1))
    before = Slot.objects.get(pk=slot.pk).updated_at
    appointment = services.book(slot, scene.world.patient, by=scene.township_doctor)
    booked = Slot.objects.get(pk=slot.pk).updated_at
    assert booked > before
    Slot.objects.filter(pk=slot.pk).update(updated_at=before)
    services.cancel(appointment, by=scene.township_doctor, reason="test")
    assert Slot.objects.get(pk=slot.pk).updated_at > before
