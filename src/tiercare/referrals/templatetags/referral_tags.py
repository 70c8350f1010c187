"""Badges of the referral pages: the state (with the green channel) and the deadline
countdown. Tags rather than included templates: a queue page shows fifty of each, and an
include per row costs more than the rest of the row."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

register = template.Library()


@register.simple_tag
def referral_status(referral: Any) -> SafeString:
    """The state badge, and the green-channel badge when it applies."""
    html = format_html('<span class="badge tc-status tc-status-{}" data-status="{}">{}</span>',
                       referral.status, referral.status, referral.get_status_display())
    if referral.green_channel:
        html += format_html(' <span class="badge text-bg-danger" data-testid="green-channel">'
                            '{}</span>', _("Green channel"))
    return html


@register.simple_tag
def countdown(value: dict[str, Any] | None) -> SafeString:
    """The time left before a response deadline (``referrals.views.countdown``), kept ticking
    by web/countdown.js."""
    if not value:
        return mark_safe("")
    style = (" text-danger fw-semibold" if value["overdue"]
             else " text-warning-emphasis fw-semibold" if value["urgent"] else "")
    return format_html('<span class="tc-countdown{}" data-seconds="{}" data-testid="countdown">'
                       '{}</span>', style, value["seconds"], value["label"])
