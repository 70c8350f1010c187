"""The referral transition table (referrals/statuses.py) and the pure workflow rules
(referrals/rules.py): every state pair, every side, deadlines, escalation, direction, and a
Hypothesis property that random sequences of moves never leave the table."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from django.utils import translation
from hypothesis import given
from hypothesis import strategies as st

from tiercare.referrals import rules, statuses
from tiercare.referrals.errors import ReferralConflict, ReferralRefused
from tiercare.referrals.models import Direction, Referral
from tiercare.referrals.rules import Catalogue, DeadlinePolicy, Entry
from tiercare.referrals.statuses import Side

S = Referral.Status
SE, RE, OF, SY = Side.SENDER, Side.RECEIVER, Side.OFFICE, Side.SYSTEM

# The table written out again by hand (issue 4 item 3, rules.md §3): (from, to) → sides.
EXPECTED = {
    (S.DRAFT, S.SUBMITTED): {SE},
    (S.DRAFT, S.AWAITING_APPROVAL): {SE},
    (S.DRAFT, S.CANCELLED): {SE},
    (S.AWAITING_APPROVAL, S.SUBMITTED): {OF},
    (S.AWAITING_APPROVAL, S.REJECTED): {OF},
    (S.AWAITING_APPROVAL, S.CANCELLED): {SE},
    (S.SUBMITTED, S.RECEIVED): {RE},
    (S.SUBMITTED, S.CANCELLED): {SE},
    (S.SUBMITTED, S.EXPIRED): {SY},
    (S.RECEIVED, S.ACCEPTED): {RE},
    (S.RECEIVED, S.REJECTED): {RE},
    (S.RECEIVED, S.REDIRECTED): {RE},
    (S.RECEIVED, S.CANCELLED): {SE},
    (S.RECEIVED, S.EXPIRED): {SY},
    (S.ACCEPTED, S.ARRIVED): {RE},
    (S.ACCEPTED, S.CANCELLED): {SE, RE},
    (S.ARRIVED, S.COMPLETED): {RE},
}
PAIRS = list(itertools.product(S.values, S.values))


@pytest.mark.parametrize(("source", "target"), PAIRS)
def test_every_state_pair(source, target):
    assert statuses.can_move(source, target) is ((source, target) in EXPECTED)


@pytest.mark.parametrize(("source", "target"), PAIRS)
@pytest.mark.parametrize("side", Side.values)
def test_every_state_pair_for_every_side(source, target, side):
    allowed = side in EXPECTED.get((source, target), set())
    assert statuses.may_move(source, target, {side}) is allowed
    if allowed:
        rules.check_move(source, target, {side})
    elif (source, target) in EXPECTED:
        with pytest.raises(ReferralRefused) as err:
            rules.check_move(source, target, {side})
        assert err.value.code == "referral.not_allowed"
    else:
        with pytest.raises(ReferralConflict) as err:
            rules.check_move(source, target, {side})
        assert err.value.code == "referral.transition"


def test_table_matches_and_final_states():
    assert {k: set(v) for k, v in statuses.TRANSITIONS.items()} == EXPECTED
    assert {S.COMPLETED, S.REJECTED, S.REDIRECTED, S.CANCELLED, S.EXPIRED} == statuses.FINAL
    assert {S.SUBMITTED, S.RECEIVED} == statuses.AWAITING_ANSWER
    assert statuses.sources_of(S.EXPIRED) == sorted([S.RECEIVED, S.SUBMITTED])
    assert statuses.targets(S.ACCEPTED, {SE}) == [S.CANCELLED]
    assert statuses.targets(S.DRAFT) == [S.SUBMITTED, S.AWAITING_APPROVAL, S.CANCELLED]
    for final in statuses.FINAL:
        assert statuses.targets(final) == []


def test_refusals_are_translated():
    with pytest.raises(ReferralConflict) as err:
        rules.check_move(S.CANCELLED, S.ACCEPTED, {RE})
    with translation.override("en"):
        assert str(err.value) == "A referral that is “Cancelled” cannot become “Accepted”."
    with translation.override("zh-hans"):  # the state's name follows the language at display
        assert "“已取消”" in str(err.value)
    with pytest.raises(ReferralRefused) as refused:
        rules.check_move(S.AWAITING_APPROVAL, S.SUBMITTED, {SE})
    assert refused.value.code == "referral.not_allowed"


moves = st.lists(st.tuples(st.sampled_from(S.values),
                           st.sets(st.sampled_from(Side.values), max_size=2)), max_size=40)


@given(moves)
def test_random_moves_never_leave_the_table(sequence):
    """Whatever is attempted by whoever, the states visited are joined by moves of the table
    made by a side the table names, and a final state is never left."""
    state = S.DRAFT
    for target, sides in sequence:
        try:
            rules.check_move(state, target, sides)
        except (ReferralConflict, ReferralRefused):
            continue
        assert (state, target) in EXPECTED and EXPECTED[(state, target)] & sides
        assert state not in statuses.FINAL
        state = target
        assert state in S.values


# --- deadlines, escalation, expiry, follow-up ---------------------------------------------------

T0 = dt.datetime(2026, 11, 26, 8, 0, tzinfo=dt.UTC)


def test_response_deadlines_default_and_alliance():
    default = DeadlinePolicy()
    assert rules.response_deadline(T0, False, default) == T0 + dt.timedelta(hours=24)
    assert rules.response_deadline(T0, True, default) == T0 + dt.timedelta(minutes=15)
    own = DeadlinePolicy(routine_hours=48, green_channel_minutes=10)
    assert rules.response_deadline(T0, False, own) == T0 + dt.timedelta(hours=48)
    assert rules.response_deadline(T0, True, own) == T0 + dt.timedelta(minutes=10)


@pytest.mark.parametrize("status", S.values)
def test_overdue_only_while_awaiting_an_answer(status):
    deadline = T0 + dt.timedelta(minutes=15)
    late = deadline + dt.timedelta(seconds=1)
    waiting = status in (S.SUBMITTED, S.RECEIVED)
    assert rules.is_overdue(status, deadline, None, late) is waiting
    assert rules.is_overdue(status, deadline, None, deadline - dt.timedelta(seconds=1)) is False
    assert rules.is_overdue(status, deadline, late, late) is False  # escalated once
    assert rules.is_overdue(status, None, None, late) is False
    policy = DeadlinePolicy()
    assert rules.is_expired(status, T0, T0 + dt.timedelta(days=7), policy) is waiting
    assert rules.is_expired(status, T0, T0 + dt.timedelta(days=6, hours=23), policy) is False


def test_follow_up_due_in_two_weeks_and_approval():
    assert rules.follow_up_due(dt.date(2026, 11, 26), DeadlinePolicy()) == dt.date(2026, 12, 10)
    assert rules.needs_approval(Direction.OUT_OF_COUNTY, False) is True
    assert rules.needs_approval(Direction.OUT_OF_COUNTY, True) is False  # green channel
    assert rules.needs_approval(Direction.UP, False) is False
    assert rules.needs_follow_up(Direction.UP) and rules.needs_follow_up(Direction.OUT_OF_COUNTY)
    assert not rules.needs_follow_up(Direction.DOWN)
    assert not rules.needs_follow_up(Direction.LATERAL)


@pytest.mark.parametrize(("direction", "sending", "receiving", "out", "expected"), [
    (Direction.UP, "village", "county", False, None),
    (Direction.UP, "county", "county", False, "referral.direction"),
    (Direction.DOWN, "county", "township", False, None),
    (Direction.DOWN, "village", "county", False, "referral.direction"),
    (Direction.LATERAL, "county", "county", False, None),
    (Direction.LATERAL, "county", "township", False, "referral.direction"),
    (Direction.OUT_OF_COUNTY, "county", "city", True, None),
    (Direction.OUT_OF_COUNTY, "county", "county", False, "referral.direction"),
    (Direction.UP, "county", "city", True, "referral.direction"),
])
def test_direction(direction, sending, receiving, out, expected):
    assert rules.direction_problem(direction, sending, receiving, out_of_county=out,
                                   same_institution=False) == expected
    assert rules.direction_problem(direction, sending, receiving, out_of_county=out,
                                   same_institution=True) == "referral.same_institution"


def test_catalogue_warning_only_going_up():
    catalogue = Catalogue([Entry("I10", "", "village", "原发性高血压"),
                           Entry("I63", "", "county", "脑梗死")])
    warning = rules.catalogue_warning(catalogue, Direction.UP, "I10", "village", "county")
    assert warning is not None and warning.code == "catalogue.treat_here"
    assert rules.catalogue_warning(catalogue, Direction.UP, "I63", "village", "county") is None
    assert rules.catalogue_warning(catalogue, Direction.DOWN, "I10", "county", "township") is None
    assert rules.catalogue_warning(None, Direction.UP, "I10", "village", "county") is None
    assert rules.catalogue_warning(catalogue, Direction.OUT_OF_COUNTY, "I10", "county",
                                   "city") is not None
