"""Property (DESIGN.md "Testing": a slot is never over-booked): whatever sequence of
bookings, cancellations, check-ins and no-shows hits a slot, ``booked`` equals the number of
its appointments that hold a place and never exceeds the capacity; refused steps change
nothing."""

from __future__ import annotations

import datetime as dt

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.scheduling.conftest import Scene, make_slot
from tests.web.factories import make_patient
from tiercare.errors import DomainError
from tiercare.scheduling import services
from tiercare.scheduling.models import Appointment, Slot
from tiercare.scheduling.statuses import ACTIVE

PEOPLE = 6
steps = st.lists(st.tuples(st.sampled_from(["book", "cancel", "check_in", "no_show"]),
                           st.integers(0, PEOPLE - 1)), max_size=25)


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(capacity=st.integers(1, 4), sequence=steps)
def test_a_slot_is_never_overbooked(scene: Scene, capacity: int, sequence: list) -> None:
    people = list(scene.world.patient.__class__.objects.filter(is_active=True)[:PEOPLE])
    while len(people) < PEOPLE:
        people.append(make_patient(f"居民{len(people)}", scene.world.patient.address_code))
    slot = make_slot(scene.schedule, capacity=capacity, days=1 + Slot.objects.count())
    held: dict[int, Appointment] = {}
    for action, who in sequence:
        try:
            if action == "book":
                held[who] = services.book(slot, people[who], by_name="t")
            elif who in held:
                move = {"cancel": services.cancel, "check_in": services.check_in}.get(action)
                if move is not None:
                    move(held[who], by_name="t")
                else:
                    services.mark_no_show(held[who], by_name="t",
                                          now=slot.start + dt.timedelta(minutes=1))
        except DomainError:
            pass
        slot.refresh_from_db()
        active = Appointment.objects.filter(slot=slot, status__in=ACTIVE).count()
        no_shows = Appointment.objects.filter(slot=slot, status="no_show").count()
        assert slot.booked == active + no_shows <= capacity
