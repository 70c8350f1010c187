"""Who is told what when a referral moves (issue 4 item 4: an inbox per user and institution
with new referral, accepted, rejected, deadline near, patient arrived, down-referral received;
rules.md §3: every step is visible to both sides; a missed deadline is escalated to the
alliance office). Pure functions, no ORM.

An *audience* is a side of the referral: the sending institution, the receiving institution
or the alliance office of the sending institution's alliance. Every member of the audience's
inbox sees the notice; the clinician who wrote the referral has the sending side's notices
marked as addressed to them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum


class Audience(StrEnum):
    SENDING = "sending"
    RECEIVING = "receiving"
    OFFICE = "office"


class Kind(StrEnum):
    """What a notice is about (``Notification.Kind`` holds the labels)."""

    NEW_REFERRAL = "new_referral"
    DOWN_REFERRAL = "down_referral"
    APPROVAL_NEEDED = "approval_needed"
    APPROVED = "approved"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    REDIRECTED = "redirected"
    DEADLINE_NEAR = "deadline_near"
    DEADLINE_MISSED = "deadline_missed"
    ARRIVED = "arrived"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


@dataclass(frozen=True)
class Notice:
    kind: Kind
    audience: Audience


def _arrival_at_receiver(direction: str) -> Kind:
    return Kind.DOWN_REFERRAL if direction == "down" else Kind.NEW_REFERRAL


def notices_for(action: str, from_status: str, to_status: str, *, direction: str,
                side: str) -> list[Notice]:
    """The notices one step of the workflow leaves (``referrals.statuses`` names the states
    and ``referrals.services`` the actions). A step leaves no notice for the side that took
    it, except the alliance office's copy of a missed deadline."""
    if to_status == "submitted" and action in ("submit", "approve", "redirect") \
            and from_status != "submitted":
        # A fresh referral reaches the receiving side (the successor of a redirect too).
        notices = [Notice(_arrival_at_receiver(direction), Audience.RECEIVING)]
        if action == "approve":
            notices.append(Notice(Kind.APPROVED, Audience.SENDING))
        return notices
    if to_status == "awaiting_approval":
        return [Notice(Kind.APPROVAL_NEEDED, Audience.OFFICE)]
    simple = {
        "accepted": Kind.ACCEPTED,
        "rejected": Kind.REJECTED,
        "redirected": Kind.REDIRECTED,
        "arrived": Kind.ARRIVED,
        "completed": Kind.COMPLETED,
        "expired": Kind.EXPIRED,
    }
    if to_status in simple and from_status != to_status:
        notices = [Notice(simple[to_status], Audience.SENDING)]
        if to_status == "expired":
            notices.append(Notice(Kind.EXPIRED, Audience.RECEIVING))
        return notices
    if to_status == "cancelled":
        if from_status in ("draft",):
            return []
        if from_status == "awaiting_approval":
            return [Notice(Kind.CANCELLED, Audience.OFFICE)]
        other = Audience.RECEIVING if side == "sender" else Audience.SENDING
        return [Notice(Kind.CANCELLED, other)]
    if action == "escalate":
        return [Notice(Kind.DEADLINE_MISSED, Audience.OFFICE),
                Notice(Kind.DEADLINE_MISSED, Audience.RECEIVING)]
    return []


#: never warn earlier than this before a deadline
WARN_AT_MOST = dt.timedelta(hours=2)


def warning_time(sent: dt.datetime, deadline: dt.datetime) -> dt.datetime:
    """When the receiving side is told that a response deadline is near: when a quarter of
    the response window is left, but not earlier than 2 hours before it (a routine 24-hour
    referral is flagged 2 hours before its deadline, a 15-minute green-channel one with
    3 min 45 s left). Our choice: the issue asks for a "deadline near" notice and says no
    more."""
    window = max(deadline - sent, dt.timedelta(0))
    return deadline - min(window / 4, WARN_AT_MOST)
