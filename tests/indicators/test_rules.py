"""Pure rules of targets: how a value is judged (met / near / missed / none, near = missed by
at most 5 % of the reference) and which targets are refused. Given/when/then in the names."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tiercare.indicators.errors import IndicatorInvalid
from tiercare.indicators.rules import (
    Comparison,
    Direction,
    Status,
    Target,
    Unit,
    check_target,
    plain_number,
    status,
)

D = Decimal
H, L, T, N = Direction.HIGHER, Direction.LOWER, Direction.TARGET, Direction.NONE


def target(comparison: str, value: str | None = None, tolerance: str | None = None) -> Target:
    return Target(indicator="x", comparison=Comparison(comparison),
                  value=None if value is None else D(value),
                  tolerance=None if tolerance is None else D(tolerance))


@pytest.mark.parametrize(("value", "expected"), [
    ("95", Status.MET), ("90", Status.MET),          # at the target: met
    ("89.99", Status.NEAR), ("85.5", Status.NEAR),   # 90 − 5 % × 90 = 85.5: still near
    ("85.49", Status.MISSED), ("0", Status.MISSED),
])
def test_at_least_90_percent(value, expected):
    """In-county visit rate ≥ 90 % (seed 001, seed 004)."""
    assert status(D(value), target(">=", "90"), H) == expected


@pytest.mark.parametrize(("value", "expected"), [
    ("10", Status.MET), ("12", Status.MET),
    ("12.01", Status.NEAR), ("12.6", Status.NEAR),   # 12 + 5 % × 12 = 12.6
    ("12.61", Status.MISSED),
])
def test_at_most_12(value, expected):
    assert status(D(value), target("<=", "12"), L) == expected


@pytest.mark.parametrize(("value", "expected"), [
    ("85", Status.MET), ("99", Status.MET),          # more is no failure for a rate to raise
    ("83", Status.MET),                              # 85 − tolerance 2
    ("82.99", Status.NEAR), ("78.75", Status.NEAR),  # 83 − 5 % × 85 = 78.75
    ("78.74", Status.MISSED),
])
def test_about_85_percent_for_a_rate_to_raise(value, expected):
    """Guangdong 2025: in-county inpatient rate 85%左右 (seed 003), tolerance 2 points."""
    assert status(D(value), target("approx", "85", "2"), H) == expected


@pytest.mark.parametrize(("value", "expected"), [
    ("100", Status.MET), ("95", Status.MET), ("105", Status.MET),
    ("94.99", Status.NEAR), ("110", Status.NEAR), ("90", Status.NEAR),  # 5 + 5 % × 100
    ("89.99", Status.MISSED), ("110.01", Status.MISSED),
])
def test_about_100_percent_of_plan_on_both_sides(value, expected):
    """Budget execution ≈ 100 % (seed 001 §10), tolerance 5 points."""
    assert status(D(value), target("approx", "100", "5"), T) == expected


@pytest.mark.parametrize(("value", "expected"), [
    ("20", Status.MET), ("22", Status.MET), ("22.01", Status.NEAR),
    ("23", Status.NEAR),                             # 20 + 2 + 5 % × 20
    ("23.01", Status.MISSED),
])
def test_about_a_value_for_a_rate_to_lower(value, expected):
    assert status(D(value), target("approx", "20", "2"), L) == expected


@pytest.mark.parametrize(("value", "previous", "expected"), [
    ("99", "100", Status.MET),
    ("100", "100", Status.NEAR),      # unchanged is not falling
    ("105", "100", Status.NEAR),      # rose by 5 %: near
    ("105.01", "100", Status.MISSED),
    ("0", "0", Status.NEAR),
])
def test_falling_against_last_year(value, previous, expected):
    """Yingkou 2020: 外转率下降 (seed 004), on out-of-county admissions."""
    assert status(D(value), target("falling"), L, previous=D(previous)) == expected


@pytest.mark.parametrize(("value", "previous", "expected"), [
    ("101", "100", Status.MET), ("100", "100", Status.NEAR), ("95", "100", Status.NEAR),
    ("94.99", "100", Status.MISSED),
])
def test_rising_against_last_year(value, previous, expected):
    assert status(D(value), target("rising"), H, previous=D(previous)) == expected


@pytest.mark.parametrize(("value", "previous", "expected"), [
    ("110", "100", Status.MET),        # +10 %
    ("109.99", "100", Status.NEAR),
    ("104.5", "100", Status.NEAR),     # 110 − 5 % × 110
    ("104.49", "100", Status.MISSED),
])
def test_growth_of_at_least_10_percent(value, previous, expected):
    """Down-referrals +10 % a year (2015 tiered-care pilot standard [nat])."""
    assert status(D(value), target("growth>=", "10"), H, previous=D(previous)) == expected


@pytest.mark.parametrize(("value", "previous", "expected"), [
    ("61", "60", Status.MET), ("60.99", "60", Status.NEAR), ("57.95", "60", Status.NEAR),
    ("57.94", "60", Status.MISSED),
])
def test_a_gain_of_at_least_one_point(value, previous, expected):
    """Contract coverage +1–3 points a year [nat 2022]: 61 × 5 % = 3.05 points of slack."""
    assert status(D(value), target("gain>=", "1"), H, previous=D(previous)) == expected


def test_no_value_no_target_or_an_unjudged_indicator_give_no_verdict():
    assert status(None, target(">=", "90"), H) == Status.NONE
    assert status(D(95), None, H) == Status.NONE
    assert status(D(95), target(">=", "90"), N) == Status.NONE


def test_a_comparison_with_last_year_needs_last_year():
    assert status(D(5), target("falling"), L) == Status.NONE
    assert status(D(5), target("growth>=", "10"), H, previous=D(0)) == Status.NONE


def test_a_target_of_zero_has_no_near_band():
    assert status(D(0), target("<=", "0"), L) == Status.MET
    assert status(D("0.01"), target("<=", "0"), L) == Status.MISSED


@given(st.decimals(min_value=0, max_value=100, places=2),
       st.decimals(min_value=0, max_value=100, places=2),
       st.decimals(min_value=0, max_value=100, places=2))
def test_a_higher_value_never_judges_worse_when_higher_is_better(a, b, goal):
    rank = {Status.MISSED: 0, Status.NEAR: 1, Status.MET: 2}
    low, high = sorted((a, b))
    for comparison in (target(">=", str(goal)), target("approx", str(goal), "2")):
        assert rank[status(low, comparison, H)] <= rank[status(high, comparison, H)]


# --- which targets are refused


@pytest.mark.parametrize(("direction", "unit", "comparison", "value", "tolerance", "code"), [
    (N, Unit.COUNT, ">=", "1", None, "indicators.not_judged"),
    (H, Unit.PERCENT, "<=", "50", None, "indicators.comparison"),
    (L, Unit.PERCENT, ">=", "50", None, "indicators.comparison"),
    (T, Unit.PERCENT_OF_PLAN, ">=", "100", None, "indicators.comparison"),
    (H, Unit.PERCENT, "equals", "50", None, "indicators.comparison"),
    (H, Unit.PERCENT, ">=", None, None, "indicators.value_required"),
    (L, Unit.COUNT, "falling", "3", None, "indicators.value_forbidden"),
    (H, Unit.PERCENT, ">=", "100.01", None, "indicators.value_range"),
    (H, Unit.PERCENT, ">=", "-0.01", None, "indicators.value_range"),
    (H, Unit.PER_10K, ">=", "-1", None, "indicators.value_range"),
    (H, Unit.PERCENT, ">=", "NaN", None, "indicators.value_range"),
    (H, Unit.YUAN, ">=", "1e12", None, "indicators.value_range"),
    (H, Unit.PERCENT_CHANGE, "growth>=", "-101", None, "indicators.value_range"),
    (H, Unit.COUNT, ">=", "4.5", None, "indicators.value_whole"),
    (H, Unit.PERCENT, "approx", "85", None, "indicators.tolerance_required"),
    (H, Unit.PERCENT, "approx", "85", "-1", "indicators.value_range"),
    (H, Unit.PERCENT, ">=", "85", "2", "indicators.tolerance_forbidden"),
])
def test_a_target_that_cannot_be_judged_is_refused(direction, unit, comparison, value,
                                                   tolerance, code):
    with pytest.raises(IndicatorInvalid) as caught:
        check_target(direction, unit, comparison, None if value is None else D(value),
                     None if tolerance is None else D(tolerance))
    assert caught.value.code == code
    assert caught.value.english()


@pytest.mark.parametrize(("direction", "unit", "comparison", "value", "tolerance"), [
    (H, Unit.PERCENT, ">=", "0", None), (H, Unit.PERCENT, ">=", "100", None),
    (H, Unit.PERCENT, "approx", "85", "0"), (T, Unit.PERCENT_OF_PLAN, "approx", "120", "5"),
    (L, Unit.COUNT, "falling", None, None), (H, Unit.PERCENT, "gain>=", "1.5", None),
    (H, Unit.COUNT, "growth>=", "10.5", None), (L, Unit.PERCENT_CHANGE, "<=", "-3", None),
    (H, Unit.YUAN, ">=", "-500", None),
])
def test_a_sensible_target_passes(direction, unit, comparison, value, tolerance):
    check_target(direction, unit, comparison, None if value is None else D(value),
                 None if tolerance is None else D(tolerance))


def test_the_refusal_is_in_the_users_language():
    from django.utils import translation

    with pytest.raises(IndicatorInvalid) as caught:
        check_target(H, Unit.PERCENT, ">=", D(120), None)
    assert caught.value.english() == "120 is out of range: it must lie between 0 and 100."
    with translation.override("zh-hans"):
        assert "120" in str(caught.value) and "0" in str(caught.value)
        assert str(caught.value) != caught.value.english()


@pytest.mark.parametrize(("value", "text"), [
    ("85.0000", "85"), ("100", "100"), ("2.50", "2.5"), ("-0.00", "0"), ("1E+2", "100"),
])
def test_numbers_are_shown_as_people_write_them(value, text):
    assert plain_number(D(value)) == text
