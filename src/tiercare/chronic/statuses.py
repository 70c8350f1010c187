"""States of a family-doctor contract and the allowed moves (DESIGN.md: every status change
goes through the transition table and writes an event row; rules.md §7: one contract per
resident at a time, a period of at least a year, then renew or switch).

``Contract.Status`` — one-line meanings:

* active: in force; the team owes the packages' services until ``end_date``;
* ended: over, for one ``Contract.EndReason``: its period ran out (expired, the system at the
  end date), it was renewed (a new contract with the same team follows), the resident switched
  team (a new contract with another team follows) or it was terminated early (the resident
  withdrew, moved away or died; a reason is required).

A registration (``Registration.Status``): active (under management) → closed (moved, died,
diagnosis revised, declined; a reason is required); a closed registration is not reopened —
enrolling again starts a new one.
"""

from __future__ import annotations

from tiercare.chronic.models import Contract, Registration

A, E = Contract.Status.ACTIVE, Contract.Status.ENDED
R = Contract.EndReason

#: (from, to) → the end reasons allowed for the move. Everything not listed is refused.
TRANSITIONS: dict[tuple[str, str], frozenset[str]] = {
    (A, E): frozenset({R.EXPIRED, R.RENEWED, R.SWITCHED, R.TERMINATED}),
}


def allowed(source: str, target: str, reason: str) -> bool:
    """True when the table lets a contract move from ``source`` to ``target`` for
    ``reason``."""
    return reason in TRANSITIONS.get((source, target), frozenset())


RA, RC = Registration.Status.ACTIVE, Registration.Status.CLOSED

#: (from, to) → the reasons allowed for a registration's move; a closed registration is not
#: reopened (enrolling again starts a new one).
REGISTRATION_TRANSITIONS: dict[tuple[str, str], frozenset[str]] = {
    (RA, RC): frozenset(Registration.CloseReason.values),
}


def registration_allowed(source: str, target: str, reason: str) -> bool:
    """True when a registration may move from ``source`` to ``target`` for ``reason``."""
    return reason in REGISTRATION_TRANSITIONS.get((source, target), frozenset())
