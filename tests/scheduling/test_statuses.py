"""The transition tables of appointments and beds (scheduling/statuses.py): every state pair."""

from __future__ import annotations

import itertools

import pytest

from tiercare.scheduling.models import Appointment, Bed
from tiercare.scheduling.statuses import (
    ACTIVE,
    bed_can_move,
    bed_sources_of,
    can_move,
    sources_of,
)

A = Appointment.Status
B = Bed.Status

APPOINTMENT_ALLOWED = {(A.BOOKED, A.CHECKED_IN), (A.BOOKED, A.CANCELLED),
                       (A.BOOKED, A.NO_SHOW), (A.CHECKED_IN, A.FULFILLED)}
BED_ALLOWED = {(B.FREE, B.RESERVED), (B.FREE, B.OCCUPIED), (B.FREE, B.CLOSED),
               (B.RESERVED, B.OCCUPIED), (B.RESERVED, B.FREE), (B.OCCUPIED, B.FREE),
               (B.CLOSED, B.FREE)}


@pytest.mark.parametrize(("source", "target"), list(itertools.product(A.values, A.values)))
def test_appointment_state_pairs(source, target):
    assert can_move(source, target) is ((source, target) in APPOINTMENT_ALLOWED)


@pytest.mark.parametrize(("source", "target"), list(itertools.product(B.values, B.values)))
def test_bed_state_pairs(source, target):
    assert bed_can_move(source, target) is ((source, target) in BED_ALLOWED)


def test_final_states_and_sources():
    assert set(ACTIVE) == {A.BOOKED, A.CHECKED_IN}
    assert sources_of(A.FULFILLED) == [A.CHECKED_IN]
    assert sources_of(A.CANCELLED) == [A.BOOKED]
    assert bed_sources_of(B.FREE) == sorted([B.CLOSED, B.OCCUPIED, B.RESERVED])
    for final in (A.FULFILLED, A.CANCELLED, A.NO_SHOW):
        assert not any(can_move(final, t) for t in A.values)
