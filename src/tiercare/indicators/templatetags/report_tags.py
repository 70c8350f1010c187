"""Template filters of the report pages: shares and changes in percent (``—`` for none)."""

from __future__ import annotations

from decimal import Decimal

from django import template

from tiercare.indicators.reports import format_value
from tiercare.indicators.rules import Unit

register = template.Library()


@register.filter
def pct(value: Decimal | None) -> str:
    """A share in percent: ``12.50%``; ``—`` when there is none (nothing to divide by)."""
    return format_value(value, Unit.PERCENT)


@register.filter
def signed_pct(value: Decimal | None) -> str:
    """A change in percent with its sign: ``+12.50%``, ``−3.00%``; ``—`` for none."""
    return format_value(value, Unit.PERCENT_CHANGE)
