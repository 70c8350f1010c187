"""Pure scheduling rules (scheduling/rules.py): slot generation, pool split, specialist
share, release time, transition check. Examples worked out by hand, then Hypothesis
properties (DESIGN.md "Testing")."""

from __future__ import annotations

import datetime as dt
import itertools
from fractions import Fraction
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tiercare.scheduling import rules
from tiercare.scheduling.rules import RuleError, SlotTime, TemplateSpec

SHANGHAI = ZoneInfo("Asia/Shanghai")
MONDAY = dt.date(2026, 11, 30)


def spec(weekday=0, start=(8, 0), end=(12, 0), minutes=30, capacity=2, internal=0,
         **extra) -> TemplateSpec:
    return TemplateSpec(weekday, dt.time(*start), dt.time(*end), minutes, capacity, internal,
                        **extra)


# --- slot generation ---------------------------------------------------------------------------


def test_a_morning_template_gives_eight_half_hour_slots_on_its_weekday_only():
    # given Monday 08:00–12:00 in 30-minute slots; when a week is generated
    times = rules.slot_times([spec()], MONDAY, MONDAY + dt.timedelta(days=6), SHANGHAI)
    # then 8 slots on Monday, local time, 08:00 … 11:30
    assert len(times) == 8
    assert times[0].start == dt.datetime(2026, 11, 30, 8, 0, tzinfo=SHANGHAI)
    assert times[-1].end == dt.datetime(2026, 11, 30, 12, 0, tzinfo=SHANGHAI)
    assert {t.start.date() for t in times} == {MONDAY}
    assert times[0].start.utcoffset() == dt.timedelta(hours=8)


def test_a_last_slot_that_would_run_past_the_end_is_not_made():
    times = rules.slot_times([spec(start=(8, 0), end=(9, 10), minutes=20)], MONDAY, MONDAY,
                             SHANGHAI)
    assert [t.start.strftime("%H:%M") for t in times] == ["08:00", "08:20", "08:40"]


def test_overlapping_templates_keep_the_earlier_slot():
    a = spec(start=(8, 0), end=(9, 0), minutes=30, key="a")
    b = spec(start=(8, 15), end=(9, 15), minutes=30, key="b")
    times = rules.slot_times([a, b], MONDAY, MONDAY, SHANGHAI)
    assert [(t.start.strftime("%H:%M"), t.key) for t in times] == [("08:00", "a"),
                                                                   ("08:30", "a")]


def test_validity_dates_limit_a_template():
    t = spec(valid_from=MONDAY + dt.timedelta(days=7))
    assert rules.slot_times([t], MONDAY, MONDAY + dt.timedelta(days=13), SHANGHAI)[0].start \
        .date() == MONDAY + dt.timedelta(days=7)
    t = spec(valid_to=MONDAY - dt.timedelta(days=1))
    assert rules.slot_times([t], MONDAY, MONDAY + dt.timedelta(days=13), SHANGHAI) == []


@pytest.mark.parametrize(("template", "code"), [
    (spec(weekday=7), "template.invalid"),
    (spec(start=(12, 0), end=(8, 0)), "template.invalid"),
    (spec(minutes=0), "template.invalid"),
    (spec(start=(8, 0), end=(8, 20), minutes=30), "template.invalid"),
    (spec(capacity=0), "template.invalid"),
    (spec(capacity=2, internal=3), "template.invalid"),
])
def test_impossible_templates_are_refused(template, code):
    with pytest.raises(RuleError) as caught:
        rules.slot_times([template], MONDAY, MONDAY, SHANGHAI)
    assert caught.value.code == code


def test_ranges_backwards_or_too_long_are_refused():
    for last in (MONDAY - dt.timedelta(days=1), MONDAY + dt.timedelta(days=rules.MAX_RANGE_DAYS)):
        with pytest.raises(RuleError) as caught:
            rules.slot_times([spec()], MONDAY, last, SHANGHAI)
        assert caught.value.code == "range.invalid"


# --- pools -----------------------------------------------------------------------------------


def test_thirty_percent_of_ten_single_slots_reserves_three_spread_over_the_day():
    # ceil(0.3 × cumulative): 1,1,1,2,2,2,3,3,3,3 → the 1st, 4th and 7th slot are reserved
    assert rules.split_reserve([1] * 10, "0.3") == [1, 0, 0, 1, 0, 0, 1, 0, 0, 0]


def test_the_reserve_is_rounded_up_so_it_is_never_below_the_share():
    # 30 % of 7 places is 2.1 → 3 (Beijing: "not less than 30 %")
    assert sum(rules.split_reserve([1] * 7, "0.30")) == 3
    assert rules.split_reserve([5, 5], "0.30") == [2, 1]
    assert rules.split_reserve([4], "0") == [0]
    assert rules.split_reserve([4], "1") == [4]


def test_a_share_outside_zero_to_one_is_refused():
    with pytest.raises(RuleError) as caught:
        rules.split_reserve([1], "1.5")
    assert caught.value.code == "policy.share_range"


def test_internal_capacity_is_taken_before_the_split():
    start = dt.datetime(2026, 11, 30, 8, tzinfo=SHANGHAI)
    slots = [SlotTime(start, start + dt.timedelta(minutes=30), 4, 1)] * 2
    splits = rules.split_day(slots, "0.5")
    assert [(s.public, s.referral, s.internal) for s in splits] == [(1, 2, 1), (2, 1, 1)]


def test_specialist_schedules_reserve_more_when_they_are_few():
    # 30 % reserved, half specialist, specialists are 20 % of capacity:
    # specialist share 0.5·0.3/0.2 = 0.75, general 0.3·0.5/0.8 = 0.1875; total stays 0.3
    general, specialist = rules.reserve_shares("0.3", "0.5", "0.2")
    assert (general, specialist) == (Fraction(3, 16), Fraction(3, 4))
    assert specialist * Fraction("0.2") + general * Fraction("0.8") == Fraction("0.3")


def test_uniform_reserve_is_kept_when_it_already_has_enough_specialist_slots():
    assert rules.reserve_shares("0.3", "0.5", "0.6") == (Fraction(3, 10), Fraction(3, 10))
    assert rules.reserve_shares("0.3", "0.5", "0") == (Fraction(3, 10), Fraction(3, 10))


def test_too_few_specialist_slots_reserve_all_of_them_and_the_rest_from_general():
    # 30 % reserved, half specialist, specialists only 10 %: all 10 % reserved, 20/90 of the rest
    assert rules.reserve_shares("0.3", "0.5", "0.1") == (Fraction(2, 9), Fraction(1))


def test_release_time_is_the_lead_before_the_start():
    start = dt.datetime(2026, 12, 20, 9, tzinfo=SHANGHAI)
    assert rules.release_time(start, 14) == dt.datetime(2026, 12, 6, 9, tzinfo=SHANGHAI)
    assert rules.release_time(start, 0) == start
    with pytest.raises(RuleError):
        rules.release_time(start, -1)


def test_transition_check_refuses_moves_not_in_the_table():
    table = {"a": frozenset({"b"})}
    rules.check_transition(table, "a", "b")
    with pytest.raises(RuleError) as caught:
        rules.check_transition(table, "b", "a", "x.transition")
    assert caught.value.code == "x.transition"


# --- properties ------------------------------------------------------------------------------

shares = st.fractions(min_value=0, max_value=1, max_denominator=1000)


@given(st.lists(st.integers(min_value=0, max_value=50), max_size=60), shares)
def test_the_split_never_exceeds_a_slot_and_sums_to_the_rounded_up_share(capacities, share):
    parts = rules.split_reserve(capacities, share)
    assert all(0 <= p <= c for p, c in zip(parts, capacities, strict=True))
    total = sum(capacities)
    assert sum(parts) == -(-share.numerator * total // share.denominator)  # ceil
    assert sum(parts) >= share * total


@given(st.lists(st.tuples(st.integers(1, 20), st.integers(0, 20)), min_size=1, max_size=30),
       shares)
def test_pools_of_a_slot_add_up_to_its_capacity(capacity_internal, share):
    start = dt.datetime(2026, 11, 30, 8, tzinfo=SHANGHAI)
    slots = [SlotTime(start, start, c, min(i, c)) for c, i in capacity_internal]
    for slot, split in zip(slots, rules.split_day(slots, share), strict=True):
        assert split.total == slot.capacity
        assert min(split.public, split.referral, split.internal) >= 0


times = st.times(dt.time(0, 0), dt.time(21, 0)).map(lambda t: t.replace(second=0,
                                                                          microsecond=0))


@st.composite
def templates(draw: st.DrawFn) -> TemplateSpec:
    start = draw(times)
    minutes = draw(st.integers(5, 120))
    start_minute = start.hour * 60 + start.minute
    end_minute = draw(st.integers(start_minute + minutes, 24 * 60 - 1))
    return TemplateSpec(draw(st.integers(0, 6)), start,
                        dt.time(end_minute // 60, end_minute % 60), minutes,
                        draw(st.integers(1, 5)))


@settings(max_examples=60)
@given(st.lists(templates(), min_size=1, max_size=6), st.integers(0, 13))
def test_generated_slots_never_overlap_within_a_schedule(specs, extra_days):
    result = rules.slot_times(specs, MONDAY, MONDAY + dt.timedelta(days=extra_days), SHANGHAI)
    for before, after in itertools.pairwise(result):
        assert before.end <= after.start
    for slot in result:
        assert slot.end > slot.start and slot.start.tzinfo is not None


@given(shares, shares, st.fractions(min_value=0, max_value=1, max_denominator=100))
def test_specialist_shift_keeps_the_total_reserve_and_stays_within_zero_to_one(r, s, f):
    general, specialist = rules.reserve_shares(r, s, f)
    assert 0 <= general <= 1 and 0 <= specialist <= 1
    if 0 < f < 1:
        assert specialist * f + general * (1 - f) == r
        if s * r <= f:  # feasible: enough specialist capacity for the specialist share
            assert specialist * f >= s * r
