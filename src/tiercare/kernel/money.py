"""Money: exact decimal yuan with 2 places, never float (rules.md §9, DESIGN.md conventions).

Amounts are :class:`decimal.Decimal` quantized to 0.01 with ROUND_HALF_UP (the rounding of
Chinese financial practice, 四舍五入). Floats are refused outright, even when they look exact,
because a float that reached this point has already lost cents somewhere upstream.
The largest accepted amount has 10 integer digits (below ¥10,000,000,000), which fits every
``DecimalField(max_digits=12, decimal_places=2)``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from tiercare.kernel.errors import N_, InvalidMoney

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
MAX_INTEGER_DIGITS = 10
_LIMIT = Decimal(10) ** MAX_INTEGER_DIGITS
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)")


def to_money(value: str | int | Decimal) -> Decimal:
    """``value`` as yuan with exactly 2 decimal places (ROUND_HALF_UP).

    Accepts ``Decimal``, ``int`` and plain decimal strings (``"12.5"``, ``" -3 "``); refuses
    floats, booleans, NaN and infinities, exponents, thousands separators, other text and
    amounts with more than 10 integer digits. Codes: ``money.float``, ``money.type``,
    ``money.not_a_number``, ``money.not_finite``, ``money.too_large``.
    """
    if isinstance(value, float):
        raise InvalidMoney(
            "money.float",
            N_("Amounts of money must be exact decimals, not floating-point numbers (%(value)s)."),
            {"value": repr(value)},
        )
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise InvalidMoney(
            "money.type",
            N_("%(value)s is not an amount of money."),
            {"value": repr(value)},
        )
    if isinstance(value, str):
        text = value.strip()
        if not _NUMBER.fullmatch(text):
            raise InvalidMoney(
                "money.not_a_number",
                N_("%(value)s is not an amount of money: write digits with an optional "
                   "decimal point, e.g. 1234.50."),
                {"value": value},
            )
        amount = Decimal(text)
    elif isinstance(value, int):
        amount = Decimal(value)
    else:
        amount = value
    if not amount.is_finite():
        raise InvalidMoney(
            "money.not_finite",
            N_("%(value)s is not a finite amount of money."),
            {"value": str(value)},
        )
    try:
        result = amount.quantize(CENT, rounding=ROUND_HALF_UP)
    except InvalidOperation:  # more digits than the context precision
        result = None
    if result is None or abs(result) >= _LIMIT:
        raise InvalidMoney(
            "money.too_large",
            N_("%(value)s is too large: amounts have at most %(digits)s digits before the "
               "decimal point."),
            {"value": str(value), "digits": MAX_INTEGER_DIGITS},
        )
    if result == 0:
        return ZERO  # no "-0.00"
    return result


def money_sum(values: Iterable[Decimal]) -> Decimal:
    """The exact sum of amounts, as money (each term is checked by :func:`to_money`)."""
    total = ZERO
    for value in values:
        total += to_money(value)
    return to_money(total)


def format_yuan(amount: Decimal) -> str:
    """``¥1,234.50``; negative amounts as ``-¥1,234.50``."""
    money = to_money(amount)
    sign = "-" if money < 0 else ""
    return f"{sign}¥{abs(money):,.2f}"
