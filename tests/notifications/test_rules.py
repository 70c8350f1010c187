"""Who is told what when a referral moves (notifications.rules), and when a deadline is
"near"."""

from __future__ import annotations

import datetime as dt

import pytest

from tiercare.notifications.rules import (
    Audience,
    Kind,
    Notice,
    notices_for,
    warning_time,
)


@pytest.mark.parametrize(("action", "source", "target", "direction", "side", "expected"), [
    ("submit", "draft", "submitted", "up", "sender",
     [Notice(Kind.NEW_REFERRAL, Audience.RECEIVING)]),
    ("submit", "draft", "submitted", "down", "sender",
     [Notice(Kind.DOWN_REFERRAL, Audience.RECEIVING)]),
    ("submit", "draft", "awaiting_approval", "out_of_county", "sender",
     [Notice(Kind.APPROVAL_NEEDED, Audience.OFFICE)]),
    ("approve", "awaiting_approval", "submitted", "out_of_county", "office",
     [Notice(Kind.NEW_REFERRAL, Audience.RECEIVING), Notice(Kind.APPROVED, Audience.SENDING)]),
    ("refuse", "awaiting_approval", "rejected", "out_of_county", "office",
     [Notice(Kind.REJECTED, Audience.SENDING)]),
    ("redirect", "", "submitted", "up", "receiver",
     [Notice(Kind.NEW_REFERRAL, Audience.RECEIVING)]),
    ("redirect", "received", "redirected", "up", "receiver",
     [Notice(Kind.REDIRECTED, Audience.SENDING)]),
    ("receive", "submitted", "received", "up", "receiver", []),
    ("accept", "received", "accepted", "up", "receiver",
     [Notice(Kind.ACCEPTED, Audience.SENDING)]),
    ("reject", "received", "rejected", "up", "receiver",
     [Notice(Kind.REJECTED, Audience.SENDING)]),
    ("arrive", "accepted", "arrived", "up", "receiver",
     [Notice(Kind.ARRIVED, Audience.SENDING)]),
    ("complete", "arrived", "completed", "up", "receiver",
     [Notice(Kind.COMPLETED, Audience.SENDING)]),
    ("expire", "submitted", "expired", "up", "system",
     [Notice(Kind.EXPIRED, Audience.SENDING), Notice(Kind.EXPIRED, Audience.RECEIVING)]),
    ("cancel", "submitted", "cancelled", "up", "sender",
     [Notice(Kind.CANCELLED, Audience.RECEIVING)]),
    ("cancel", "accepted", "cancelled", "up", "receiver",
     [Notice(Kind.CANCELLED, Audience.SENDING)]),
    ("cancel", "draft", "cancelled", "up", "sender", []),
    ("cancel", "awaiting_approval", "cancelled", "out_of_county", "sender",
     [Notice(Kind.CANCELLED, Audience.OFFICE)]),
    ("escalate", "submitted", "submitted", "up", "system",
     [Notice(Kind.DEADLINE_MISSED, Audience.OFFICE),
      Notice(Kind.DEADLINE_MISSED, Audience.RECEIVING)]),
    ("create", "", "draft", "up", "sender", []),
    ("edit", "draft", "draft", "up", "sender", []),
    ("attach", "received", "received", "up", "sender", []),
])
def test_each_step_tells_the_other_side(action, source, target, direction, side, expected):
    assert notices_for(action, source, target, direction=direction, side=side) == expected


def test_a_routine_deadline_is_near_two_hours_before_it():
    sent = dt.datetime(2026, 11, 26, 8, 0, tzinfo=dt.UTC)
    deadline = sent + dt.timedelta(hours=24)
    assert warning_time(sent, deadline) == deadline - dt.timedelta(hours=2)


def test_a_green_channel_deadline_is_near_with_a_quarter_of_the_window_left():
    sent = dt.datetime(2026, 11, 26, 8, 0, tzinfo=dt.UTC)
    deadline = sent + dt.timedelta(minutes=15)
    assert warning_time(sent, deadline) == deadline - dt.timedelta(minutes=3, seconds=45)
