"""Unused referral capacity returns to the public pool at its release time (rules.md §4):
the service, the background task and ``tiercare release_slots``."""

from __future__ import annotations

import datetime as dt
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from tests.scheduling.conftest import Scene, make_slot
from tiercare.accounts.models import AuditEvent
from tiercare.scheduling import services, tasks
from tiercare.scheduling.models import Pool, Slot


def pair(scene: Scene, *, public: int = 2, referral: int = 3, due: bool = True,
         days: int = 3) -> tuple[Slot, Slot]:
    """A public and a referral slot of the same time; the referral one due or not."""
    release_at = timezone.now() + (dt.timedelta(minutes=-1) if due else dt.timedelta(days=1))
    return (make_slot(scene.schedule, capacity=public, days=days),
            make_slot(scene.schedule, capacity=referral, pool=Pool.REFERRAL, days=days,
                      release_at=release_at))


def test_due_unused_referral_places_move_to_the_public_slot(scene: Scene):
    public, referral = pair(scene)
    services.book(referral, scene.world.patient, source_referral_id=1, by_name="system")
    # when the release runs
    result = services.release_due_referral_capacity()
    # then the 2 unused places are public; the booked one stays with its referral
    assert (result.slots, result.places) == (1, 2)
    public.refresh_from_db()
    referral.refresh_from_db()
    assert (public.capacity, public.booked) == (4, 0)
    assert (referral.capacity, referral.booked, referral.released) == (1, 1, 2)
    assert AuditEvent.objects.get(username=services.RELEASE_ACTOR).changes["places"] == 2


def test_release_is_idempotent(scene: Scene):
    public, _referral = pair(scene)
    services.release_due_referral_capacity()
    assert services.release_due_referral_capacity() == services.ReleaseResult(0, 0)
    public.refresh_from_db()
    assert public.capacity == 5
    assert AuditEvent.objects.filter(username=services.RELEASE_ACTOR).count() == 1


def test_slots_not_yet_due_or_already_over_are_left_alone(scene: Scene):
    _public, referral = pair(scene, due=False)
    over = make_slot(scene.schedule, capacity=2, pool=Pool.REFERRAL, days=-1,
                     release_at=timezone.now() - dt.timedelta(days=3))
    assert services.release_due_referral_capacity() == services.ReleaseResult(0, 0)
    over.refresh_from_db()
    referral.refresh_from_db()
    assert over.capacity == 2 and referral.capacity == 3


def test_a_public_slot_is_made_when_the_time_had_none(scene: Scene):
    referral = make_slot(scene.schedule, capacity=2, pool=Pool.REFERRAL,
                         release_at=timezone.now() - dt.timedelta(hours=1))
    services.release_due_referral_capacity()
    public = Slot.objects.get(schedule=scene.schedule, start=referral.start, pool=Pool.PUBLIC)
    assert (public.capacity, public.end) == (2, referral.end)
    # and the public can book it
    services.book(public, scene.world.patient, by=scene.outsider)


def test_a_place_cancelled_after_release_moves_at_the_next_run(scene: Scene):
    public, referral = pair(scene, referral=1)
    appointment = services.book(referral, scene.world.patient, source_referral_id=1,
                                by_name="system")
    services.release_due_referral_capacity()
    services.cancel(appointment, by_name="system")
    assert services.release_due_referral_capacity().places == 1
    public.refresh_from_db()
    referral.refresh_from_db()
    assert (public.capacity, referral.capacity, referral.booked) == (3, 0, 0)


def test_the_background_task_and_the_command_do_the_same(scene: Scene):
    pair(scene)
    assert tasks.release_referral_slots.call() == {"slots": 1, "places": 3}
    pair(scene, days=4)
    out = StringIO()
    call_command("release_slots", stdout=out)
    assert out.getvalue().strip() == "released 3 places in 1 slots"


@pytest.mark.django_db(transaction=True)
def test_the_task_runs_through_the_worker(settings):
    """Enqueued in the database and run by ``tiercare worker --batch`` (ADR 0008)."""
    from tests.scheduling.conftest import make_scene

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    scene = make_scene()
    public, _referral = pair(scene)
    result = tasks.release_referral_slots.enqueue()
    call_command("db_worker", batch=True, interval=0, stdout=StringIO())
    result.refresh()
    assert result.return_value == {"slots": 1, "places": 3}
    public.refresh_from_db()
    assert public.capacity == 5
