"""Reporting periods: months, quarters, years."""

from __future__ import annotations

import itertools
from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tiercare.kernel import periods
from tiercare.kernel.errors import InvalidPeriod
from tiercare.kernel.periods import Period

kinds = st.sampled_from(periods.KINDS)
days = st.dates(min_value=date(1900, 1, 1), max_value=date(2200, 12, 31))
any_period = st.builds(periods.containing, days, kinds)


@pytest.mark.parametrize(
    ("text", "period"),
    [
        ("2025", Period("year", 2025, 1)),
        ("2025Q3", Period("quarter", 2025, 3)),
        ("2025q3", Period("quarter", 2025, 3)),
        (" 2025-07 ", Period("month", 2025, 7)),
    ],
)
def test_parse(text, period):
    assert periods.parse(text) == period


@pytest.mark.parametrize(
    "text", ["25", "2025Q5", "2025Q0", "2025-13", "2025-00", "2025-7", "2025/07", "", "0000", "x"]
)
def test_parse_refuses(text):
    with pytest.raises(InvalidPeriod) as exc:
        periods.parse(text)
    assert exc.value.code == "period.format"


def test_constructor_checks_its_fields():
    with pytest.raises(InvalidPeriod) as exc:
        Period("week", 2025, 1)
    assert exc.value.code == "period.kind"
    with pytest.raises(InvalidPeriod) as exc:
        Period("month", 2025, 13)
    assert exc.value.code == "period.range"


def test_bounds():
    q1 = periods.parse("2024Q1")
    assert (q1.start, q1.end) == (date(2024, 1, 1), date(2024, 3, 31))
    feb = periods.parse("2024-02")
    assert feb.end == date(2024, 2, 29)  # leap year
    assert periods.parse("2025-02").end == date(2025, 2, 28)
    assert periods.parse("2025").days == 365
    assert feb.contains(date(2024, 2, 29)) and not feb.contains(date(2024, 3, 1))


def test_navigation_and_helpers():
    assert periods.parse("2025-01").previous() == periods.parse("2024-12")
    assert periods.parse("2024Q4").next() == periods.parse("2025Q1")
    assert periods.parse("2025").next() == periods.parse("2026")
    assert periods.containing(date(2025, 8, 15), "quarter") == periods.parse("2025Q3")
    assert periods.year_to_date(date(2025, 8, 15)) == (date(2025, 1, 1), date(2025, 8, 15))
    assert [str(m) for m in periods.parse("2025Q2").months()] == ["2025-04", "2025-05", "2025-06"]
    with pytest.raises(InvalidPeriod):
        periods.containing(date(2025, 1, 1), "week")


@given(any_period)
def test_text_round_trip(period):
    assert periods.parse(str(period)) == period


@given(any_period)
def test_months_partition_the_period(period):
    months = period.months()
    assert months[0].start == period.start
    assert months[-1].end == period.end
    for before, after in itertools.pairwise(months):
        assert before.end + timedelta(days=1) == after.start
    assert sum(m.days for m in months) == period.days


@given(any_period)
def test_consecutive_periods_tile_time(period):
    following = period.next()
    assert period.end + timedelta(days=1) == following.start
    assert following.previous() == period
    assert period < following


@given(days, kinds)
def test_containing_contains(day, kind):
    period = periods.containing(day, kind)
    assert period.contains(day)
    assert not period.contains(period.start - timedelta(days=1))
    assert not period.contains(period.end + timedelta(days=1))
