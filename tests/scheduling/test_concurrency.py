"""Capacity under concurrency (rules.md §4: "a slot is never booked beyond its capacity,
whatever the concurrency"; issue 4: many parallel bookers on SQLite and PostgreSQL).

Each booker is a thread with its own database connection (closed when it ends). All start
together at a barrier and try to book the same slot; exactly ``capacity`` succeed, the rest
get the ``slot.full`` refusal, and the slot's count equals its capacity. The same holds for
beds (one bed, many reservers) and for the release running beside bookers. On SQLite the
IMMEDIATE transactions queue the writers; on PostgreSQL the conditional UPDATE waits on the
row lock and re-checks ``booked < capacity``."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import pytest
from django.utils import timezone

from tests.concurrency import run_together
from tests.scheduling.conftest import Scene, make_scene, make_slot
from tests.web.factories import make_patient
from tiercare.patients.models import Patient
from tiercare.scheduling import services
from tiercare.scheduling.models import Appointment, Bed, Pool, Slot, Ward

BOOKERS = 24
CAPACITY = 5


def residents(scene: Scene, n: int) -> list[Patient]:
    return [make_patient(f"居民{i}", scene.world.patient.address_code) for i in range(n)]


@pytest.fixture
def committed_scene(transactional_db: None, settings) -> Scene:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    return make_scene()


@pytest.mark.django_db(transaction=True)
def test_many_parallel_bookers_never_overbook(committed_scene: Scene):
    scene = committed_scene
    slot = make_slot(scene.schedule, capacity=CAPACITY)
    people = residents(scene, BOOKERS)

    def booking(patient: Patient) -> Callable[[], str]:
        def job() -> str:
            services.book(slot, patient, by_name="token:storm")
            return "booked"
        return job

    outcomes = run_together([booking(p) for p in people])
    assert outcomes == Counter({"booked": CAPACITY, "slot.full": BOOKERS - CAPACITY})
    slot.refresh_from_db()
    assert slot.booked == CAPACITY
    assert Appointment.objects.filter(slot=slot).count() == CAPACITY


@pytest.mark.django_db(transaction=True)
def test_one_resident_trying_one_slot_many_times_at_once_holds_one_place(
        committed_scene: Scene):
    """A client retrying in a hurry: the partial unique index refuses every second active
    booking of the resident in the slot (``appointment.duplicate``), and the places those
    tries did not take stay free."""
    scene = committed_scene
    slot = make_slot(scene.schedule, capacity=CAPACITY)

    def booking() -> str:
        services.book(slot, scene.world.patient, by_name="token:retry")
        return "booked"

    outcomes = run_together([booking] * 12)
    assert outcomes == Counter({"booked": 1, "appointment.duplicate": 11})
    slot.refresh_from_db()
    assert slot.booked == 1
    assert Appointment.objects.filter(slot=slot).count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_small_storm_over_several_slots_never_overbooks(committed_scene: Scene):
    """The benchmark's storm in small (bench/bench_booking.py): every resident tries every
    slot at once, and tries the first slot twice; each slot ends with exactly its capacity
    booked, its count equal to its active bookings, and no refusal that is not "full" or
    "already booked"."""
    scene = committed_scene
    slots = [make_slot(scene.schedule, capacity=2, hour=hour) for hour in (8, 9, 10, 11)]
    people = residents(scene, 8)

    def booking(slot: Slot, patient: Patient) -> Callable[[], str]:
        def job() -> str:
            services.book(slot.pk, patient.pk, by_name="token:storm")  # by id, as FHIR does
            return "booked"
        return job

    jobs = [booking(s, p) for s in slots for p in people] + [booking(slots[0], p)
                                                              for p in people]
    outcomes = run_together(jobs)
    assert outcomes["booked"] == 2 * len(slots)
    assert set(outcomes) <= {"booked", "slot.full", "appointment.duplicate"}, outcomes
    for slot in slots:
        slot.refresh_from_db()
        active = Appointment.objects.filter(slot=slot, status="booked").count()
        assert slot.booked == active == 2


@pytest.mark.django_db(transaction=True)
def test_parallel_cancels_and_bookings_keep_the_count_true(committed_scene: Scene):
    scene = committed_scene
    slot = make_slot(scene.schedule, capacity=CAPACITY)
    first = residents(scene, CAPACITY)
    appointments = [services.book(slot, p, by_name="t") for p in first]
    newcomers = residents(scene, 10)

    def cancelling(a: Appointment) -> Callable[[], str]:
        def job() -> str:
            services.cancel(a, by_name="t")
            return "cancelled"
        return job

    def booking(p: Patient) -> Callable[[], str]:
        def job() -> str:
            services.book(slot, p, by_name="t")
            return "booked"
        return job

    # every appointment cancelled twice at once, and newcomers booking meanwhile
    jobs = [cancelling(a) for a in appointments * 2] + [booking(p) for p in newcomers]
    outcomes = run_together(jobs)
    assert outcomes["cancelled"] == CAPACITY
    assert outcomes["appointment.transition"] + outcomes["appointment.changed"] == CAPACITY
    assert not [o for o in outcomes if o.startswith("error")]
    slot.refresh_from_db()
    active = Appointment.objects.filter(slot=slot, status="booked").count()
    assert slot.booked == active <= CAPACITY
    assert outcomes["booked"] == active


@pytest.mark.django_db(transaction=True)
def test_one_bed_many_reservers(committed_scene: Scene):
    scene = committed_scene
    ward = Ward.objects.create(institution=scene.world.county_hospital, code="W1", name="病区")
    bed = Bed.objects.create(ward=ward, code="01", pool=Pool.REFERRAL)
    people = residents(scene, 12)

    def reserving(p: Patient, n: int) -> Callable[[], str]:
        def job() -> str:
            services.reserve_bed(bed, p, source_referral_id=n, by_name="t")
            return "reserved"
        return job

    outcomes = run_together([reserving(p, n) for n, p in enumerate(people)])
    assert outcomes == Counter({"reserved": 1, "bed.unavailable": 11})
    assert Bed.objects.get(pk=bed.pk).status == Bed.Status.RESERVED


@pytest.mark.django_db(transaction=True)
def test_release_beside_referral_bookers_loses_no_place(committed_scene: Scene):
    scene = committed_scene
    public = make_slot(scene.schedule, capacity=2)
    referral = make_slot(scene.schedule, capacity=CAPACITY, pool=Pool.REFERRAL,
                         release_at=timezone.now())
    people = residents(scene, 10)

    def booking(p: Patient, n: int) -> Callable[[], str]:
        def job() -> str:
            services.book(referral, p, source_referral_id=n, by_name="t")
            return "booked"
        return job

    def releasing() -> str:
        services.release_due_referral_capacity()
        return "released"

    outcomes = run_together([booking(p, n) for n, p in enumerate(people)] + [releasing] * 2)
    assert not [o for o in outcomes if o.startswith("error")]
    public.refresh_from_db()
    referral.refresh_from_db()
    # every place is either booked in the referral slot or moved to the public one
    assert referral.booked == outcomes["booked"] <= CAPACITY
    assert referral.capacity + public.capacity == CAPACITY + 2
    assert public.capacity - 2 == referral.released
    assert Slot.objects.filter(schedule=scene.schedule).count() == 2
