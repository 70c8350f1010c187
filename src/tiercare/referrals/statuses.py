"""States of a referral, the allowed transitions and who may perform each one (DESIGN.md:
every status change goes through the transition table and writes an event row; rules.md §3:
the closed loop request → received → accepted (with a slot or bed) or rejected (with a
reason) → arrived → completed with an outcome; out-of-county needs the alliance's approval;
the green channel skips approval queues). ADR 0012 records the choices.

``Referral.Status`` — one-line meanings:

* draft: written by the sending side, not sent; only the sender sees it;
* awaiting_approval: an out-of-county referral waiting for the alliance office's approval
  (a green-channel one skips this state);
* submitted: sent; the receiving institution must answer by the deadline;
* received: the receiving department has opened it (the deadline still runs until it
  answers);
* accepted: a slot or a bed is booked for the resident (in the same transaction);
* rejected: refused by the receiving side, or not approved by the alliance office, with a
  reason (final);
* redirected: the receiving side sent it on to another member institution; the successor
  referral carries on (final for this row);
* arrived: the resident came (checked in at the slot, or took the bed);
* completed: treated, with an outcome; for an admission a down-referral draft is proposed
  (final);
* cancelled: withdrawn (by the sender, or by the receiver after accepting when the resident
  will not come); a held slot or bed is given back (final);
* expired: never answered within the alliance's expiry limit (final; the system does it).

Sides (``Side``) — who may act, decided from the user and the referral by
``referrals.services.sides_of``: the sending institution's staff (doctors, nurses), the
receiving institution's staff, the alliance office (alliance administrators of the sending
institution's alliance), and the system (background tasks).
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from tiercare.referrals.models import Referral

S = Referral.Status


class Side(models.TextChoices):
    """Who acts on a referral."""

    SENDER = "sender", _("Sending institution")
    RECEIVER = "receiver", _("Receiving institution")
    OFFICE = "office", _("Alliance office")
    SYSTEM = "system", _("System")


SENDER, RECEIVER, OFFICE, SYSTEM = Side.SENDER, Side.RECEIVER, Side.OFFICE, Side.SYSTEM

#: (from, to) → the sides that may make the move. Everything not listed is refused.
TRANSITIONS: dict[tuple[str, str], frozenset[str]] = {
    (S.DRAFT, S.SUBMITTED): frozenset({SENDER}),
    (S.DRAFT, S.AWAITING_APPROVAL): frozenset({SENDER}),
    (S.DRAFT, S.CANCELLED): frozenset({SENDER}),
    (S.AWAITING_APPROVAL, S.SUBMITTED): frozenset({OFFICE}),
    (S.AWAITING_APPROVAL, S.REJECTED): frozenset({OFFICE}),
    (S.AWAITING_APPROVAL, S.CANCELLED): frozenset({SENDER}),
    (S.SUBMITTED, S.RECEIVED): frozenset({RECEIVER}),
    (S.SUBMITTED, S.CANCELLED): frozenset({SENDER}),
    (S.SUBMITTED, S.EXPIRED): frozenset({SYSTEM}),
    (S.RECEIVED, S.ACCEPTED): frozenset({RECEIVER}),
    (S.RECEIVED, S.REJECTED): frozenset({RECEIVER}),
    (S.RECEIVED, S.REDIRECTED): frozenset({RECEIVER}),
    (S.RECEIVED, S.CANCELLED): frozenset({SENDER}),
    (S.RECEIVED, S.EXPIRED): frozenset({SYSTEM}),
    (S.ACCEPTED, S.ARRIVED): frozenset({RECEIVER}),
    (S.ACCEPTED, S.CANCELLED): frozenset({SENDER, RECEIVER}),
    (S.ARRIVED, S.COMPLETED): frozenset({RECEIVER}),
}

#: every state, in the order of the loop
STATES: tuple[str, ...] = tuple(S.values)
#: states with no way out
FINAL = frozenset(s for s in STATES if not any(src == s for src, _t in TRANSITIONS))
#: waiting for the receiving side's answer: the response deadline runs
AWAITING_ANSWER = frozenset({S.SUBMITTED, S.RECEIVED})
#: a slot or bed is held for the resident
HOLDING = frozenset({S.ACCEPTED, S.ARRIVED})
#: not final: the loop is still open
OPEN = frozenset(STATES) - FINAL


def can_move(source: str, target: str) -> bool:
    """Whether the table has the move at all (for anyone)."""
    return (source, target) in TRANSITIONS


def may_move(source: str, target: str, sides: frozenset[str] | set[str]) -> bool:
    """Whether an actor on ``sides`` may make the move."""
    return bool(TRANSITIONS.get((source, target), frozenset()) & set(sides))


def targets(source: str, sides: frozenset[str] | set[str] | None = None) -> list[str]:
    """The states reachable from ``source`` in one move (by ``sides``, or by anyone), in
    table order."""
    return [t for (s, t), who in TRANSITIONS.items()
            if s == source and (sides is None or who & set(sides))]


def sources_of(target: str) -> list[str]:
    """The states from which ``target`` may be reached (for conditional updates)."""
    return sorted(s for (s, t) in TRANSITIONS if t == target)
