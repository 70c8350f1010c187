"""Money as exact decimal yuan (rules.md §9)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tiercare.kernel import money
from tiercare.kernel.errors import InvalidMoney

amounts = st.decimals(
    min_value=Decimal("-9999999999.99"), max_value=Decimal("9999999999.99"), places=2,
    allow_nan=False, allow_infinity=False,
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("12.5", Decimal("12.50")),
        (" -3 ", Decimal("-3.00")),
        ("0.005", Decimal("0.01")),  # ROUND_HALF_UP, not banker's rounding
        ("0.015", Decimal("0.02")),
        ("-0.005", Decimal("-0.01")),
        (".5", Decimal("0.50")),
        (7, Decimal("7.00")),
        (Decimal("1.234"), Decimal("1.23")),
        ("9999999999.99", Decimal("9999999999.99")),
    ],
)
def test_to_money_quantizes_half_up(value, expected):
    result = money.to_money(value)
    assert result == expected
    assert result.as_tuple().exponent == -2


@pytest.mark.parametrize(
    ("value", "code"),
    [
        (1.5, "money.float"),
        (0.0, "money.float"),
        (True, "money.type"),
        (None, "money.type"),
        ("abc", "money.not_a_number"),
        ("1,234.50", "money.not_a_number"),
        ("1e3", "money.not_a_number"),
        ("", "money.not_a_number"),
        ("NaN", "money.not_a_number"),
        (Decimal("NaN"), "money.not_finite"),
        (Decimal("Infinity"), "money.not_finite"),
        ("10000000000", "money.too_large"),
        ("9999999999.995", "money.too_large"),
        (Decimal("1E+40"), "money.too_large"),
    ],
)
def test_to_money_refuses_bad_input(value, code):
    with pytest.raises(InvalidMoney) as exc:
        money.to_money(value)
    assert exc.value.code == code


def test_negative_zero_is_zero():
    assert str(money.to_money("-0.001")) == "0.00"


def test_format_yuan():
    assert money.format_yuan(Decimal("1234.5")) == "¥1,234.50"
    assert money.format_yuan(Decimal("-1234567.891")) == "-¥1,234,567.89"
    assert money.format_yuan(money.ZERO) == "¥0.00"


@given(st.lists(amounts, max_size=30))
def test_money_sum_is_exact_or_refuses_to_overflow(values):
    exact = sum(values, Decimal(0))
    if abs(exact) >= Decimal("10000000000"):
        with pytest.raises(InvalidMoney) as exc:
            money.money_sum(values)
        assert exc.value.code == "money.too_large"
    else:
        total = money.money_sum(values)
        assert total == exact
        assert total.as_tuple().exponent == -2


@given(amounts)
def test_round_trip_through_text(value):
    assert money.to_money(str(value)) == value
    assert money.to_money(value) == value
