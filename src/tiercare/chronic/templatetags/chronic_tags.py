"""Template filters of the family-doctor pages."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django import template

from tiercare.chronic.team_rates import Rate

register = template.Library()


@register.filter
def percent(rate: Rate | None) -> str:
    """A rate as ``61.5%``; ``—`` when its denominator is zero."""
    value = rate.value if rate is not None else None
    return "—" if value is None else f"{value}%"


@register.filter
def ratio(value: Decimal | None) -> str:
    """A service count that may be fractional (owed pro rata): ``4``, ``2.5``."""
    if value is None:
        return "—"
    text = f"{Decimal(value):.2f}".rstrip("0").rstrip(".")
    return text or "0"


@register.filter
def days_between(later: dt.date | None, earlier: dt.date | None) -> Any:
    if later is None or earlier is None:
        return ""
    return (later - earlier).days


@register.filter
def share(rate: Any) -> str:
    """A ``rules.Fulfilment``'s rate as a percentage."""
    value = rate.rate if rate is not None else None
    return "—" if value is None else f"{(value * 100).quantize(Decimal('0.1'))}%"
