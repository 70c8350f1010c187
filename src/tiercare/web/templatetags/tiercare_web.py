"""Template helpers for TierCare pages: level badges (村/乡/县), money in yuan, ICD-10 names
in the user's language, ages, and query strings for paging."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from django import template
from django.http import QueryDict
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import get_language, pgettext_lazy
from django.utils.translation import gettext as _

from tiercare.kernel import icd10
from tiercare.kernel.money import format_yuan

register = template.Library()

#: Short level labels for badges on the shared record (rules.md §1: village, township,
#: county; city and provincial hospitals appear for out-of-county care).
LEVEL_SHORT = {
    "village": pgettext_lazy("level badge", "Village"),
    "township": pgettext_lazy("level badge", "Township"),
    "county": pgettext_lazy("level badge", "County"),
    "city": pgettext_lazy("level badge", "City"),
    "provincial": pgettext_lazy("level badge", "Provincial"),
}


@register.simple_tag
def level_badge(level: str) -> SafeString:
    """A coloured badge for an institution level (CSS classes in web/tiercare.css)."""
    label = LEVEL_SHORT.get(level, level or "?")
    return format_html('<span class="badge tc-level tc-level-{}">{}</span>', level or "none",
                       label)


@register.filter
def yuan(value: Decimal | int | str | None) -> str:
    """Money as ``¥1,234.50`` (kernel.money.format_yuan); empty for no value."""
    if value is None or value == "":
        return ""
    return format_yuan(Decimal(value))


@register.filter
def icd_name(code: str) -> str:
    """The ICD-10 code's name in the active language (Chinese names from the curated file);
    empty for a code the kernel does not know (the page shows the code itself)."""
    if not code:
        return ""
    name = icd10.display_name(code, get_language() or "zh-hans")
    return "" if name == code else name  # an unknown code shows with its code only


@register.filter
def age(birth: date | None) -> int | str:
    """Age in completed years today (Asia/Shanghai)."""
    if birth is None:
        return ""
    today = timezone.localdate()
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


@register.simple_tag(takes_context=True)
def query_with(context: dict[str, Any], **changes: Any) -> str:
    """The current query string with some parameters replaced (for paging links)."""
    request = context.get("request")
    params = request.GET.copy() if request is not None else QueryDict(mutable=True)
    for key, value in changes.items():
        if value is None or value == "":
            params.pop(key, None)
        else:
            params[key] = str(value)
    encoded = params.urlencode()
    return f"?{encoded}" if encoded else "?"


@register.simple_tag
def countdown_texts() -> SafeString:
    """The translated templates the countdown script (web/countdown.js) fills in, as data
    attributes of its script tag (the same texts ``referrals.views.countdown`` renders)."""
    texts = {"left": _("%(t)s left"), "overdue": _("%(t)s overdue"),
             "hm": _("%(h)d h %(m)d min"), "ms": _("%(m)d min %(s)d s"),
             "days": _("%(d)d days")}
    return format_html_join(" ", 'data-{}="{}"', sorted(texts.items()))
