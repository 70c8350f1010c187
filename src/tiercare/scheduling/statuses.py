"""Status transitions of appointments and beds (DESIGN.md: every status change goes through a
transition table and writes an event row; rules.md §4: booked → arrived / checked-in →
fulfilled; cancelled; no-show).

``Appointment.Status`` — one-line meanings:

* booked: a place in the slot is held for the resident (the slot's ``booked`` counts it);
* checked_in: the resident arrived and is waiting or being seen;
* fulfilled: the visit or examination took place (final);
* cancelled: the booking was withdrawn before the visit; its place is free again (final);
* no_show: the resident did not come; the place is not given back (final).

``Bed.Status``: free (can be reserved or occupied) → reserved (held for an incoming
resident, e.g. an accepted referral) → occupied (the resident is in it) → free again at
discharge; closed (out of service) only from free and back to free.
"""

from __future__ import annotations

from tiercare.scheduling.models import Appointment, Bed

A = Appointment.Status
B = Bed.Status

APPOINTMENT_TRANSITIONS: dict[str, frozenset[str]] = {
    A.BOOKED: frozenset({A.CHECKED_IN, A.CANCELLED, A.NO_SHOW}),
    A.CHECKED_IN: frozenset({A.FULFILLED}),
    A.FULFILLED: frozenset(),
    A.CANCELLED: frozenset(),
    A.NO_SHOW: frozenset(),
}

#: appointment states that hold a place in the slot
ACTIVE = frozenset({A.BOOKED, A.CHECKED_IN})

BED_TRANSITIONS: dict[str, frozenset[str]] = {
    B.FREE: frozenset({B.RESERVED, B.OCCUPIED, B.CLOSED}),
    B.RESERVED: frozenset({B.OCCUPIED, B.FREE}),
    B.OCCUPIED: frozenset({B.FREE}),
    B.CLOSED: frozenset({B.FREE}),
}


def can_move(source: str, target: str) -> bool:
    """Whether an appointment may go from ``source`` to ``target``."""
    return target in APPOINTMENT_TRANSITIONS.get(source, frozenset())


def sources_of(target: str) -> list[str]:
    """The appointment states from which ``target`` may be reached (for conditional updates)."""
    return sorted(s for s, targets in APPOINTMENT_TRANSITIONS.items() if target in targets)


def bed_can_move(source: str, target: str) -> bool:
    """Whether a bed may go from ``source`` to ``target``."""
    return target in BED_TRANSITIONS.get(source, frozenset())


def bed_sources_of(target: str) -> list[str]:
    """The bed states from which ``target`` may be reached."""
    return sorted(s for s, targets in BED_TRANSITIONS.items() if target in targets)
