"""Template context shared by every page: the navigation for the user's role, and the
user's role and scope for the top bar (rules.md §11: each role sees what its job needs)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest
from django.urls import reverse
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from tiercare.accounts.roles import Capability, has_capability
from tiercare.notifications.services import has_inbox


@dataclass(frozen=True)
class NavItem:
    """One entry of the top navigation."""

    key: str
    label: str | Promise
    url: str
    active: bool = False


#: (key, label, url name, capability needed)
_NAV: list[tuple[str, Promise, str, Capability]] = [
    ("search", _("Resident search"), "web:resident_search", Capability.SEARCH_RESIDENTS),
    ("referrals", _("Referrals"), "referrals:home", Capability.VIEW_REFERRALS),
    ("calendar", _("Slot calendar"), "scheduling:calendar", Capability.VIEW_SCHEDULES),
    ("family_doctors", _("Family doctors"), "chronic:home", Capability.VIEW_FAMILY_DOCTORS),
    ("overview", _("Alliance overview"), "web:alliance_overview", Capability.VIEW_OVERVIEW),
    ("institutions", _("Institutions"), "web:institution_list", Capability.VIEW_GRID),
    ("grid", _("Grid coverage"), "web:grid_coverage", Capability.VIEW_GRID),
    ("indicators", pgettext_lazy("navigation", "Indicators"), "dashboards:overview",
     Capability.VIEW_INDICATORS),
    ("tightness", _("Tightness evaluation"), "indicators:tightness_list",
     Capability.VIEW_TIGHTNESS),
    ("audit", _("Audit log"), "web:audit_log", Capability.VIEW_AUDIT),
    ("systems", _("Integrating systems"), "web:system_list", Capability.MANAGE_SYSTEMS),
    ("admin", _("Back-office"), "admin:index", Capability.BACK_OFFICE),
]

_ACTIVE_PREFIX = {
    "search": ("/residents/",),
    "referrals": ("/referrals/",),
    "calendar": ("/schedules/",),
    "family_doctors": ("/family-doctors/",),
    "overview": ("/alliances/",),
    "institutions": ("/institutions/",),
    "grid": ("/grid/",),
    "indicators": ("/indicators/",),
    "tightness": ("/indicators/tightness/",),
    "audit": ("/audit/",),
    "systems": ("/systems/",),
    "admin": ("/admin/",),
}


def nav_items_for(user: Any, path: str = "") -> list[NavItem]:
    """The navigation entries the user's role may use, in a fixed order; the entry whose
    pages contain ``path`` is marked active (the longest prefix wins: the tightness
    evaluation's pages lie within the indicators')."""
    matches = {key: max((len(p) for p in prefixes if path.startswith(p)), default=0)
               for key, prefixes in _ACTIVE_PREFIX.items()}
    best = max(matches.values(), default=0)
    items: list[NavItem] = []
    for key, label, url_name, capability in _NAV:
        if not has_capability(user, capability):
            continue
        active = best > 0 and matches[key] == best
        items.append(NavItem(key, label, reverse(url_name), active))
    return items


def navigation(request: HttpRequest) -> dict[str, Any]:
    """Context processor: ``nav_items`` for the role, ``user_role`` and ``user_scope``, and
    ``has_inbox`` (the top bar shows the inbox with its live unread count)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_items": [], "user_role": "", "user_scope": "", "has_inbox": False}
    try:
        scope_obj = user.institution or user.alliance
        scope = str(scope_obj) if scope_obj is not None else ""
        return {
            "nav_items": nav_items_for(user, request.path),
            "user_role": user.get_role_display(),
            "user_scope": scope,
            "has_inbox": has_inbox(user),
        }
    except Exception:  # an error page must still render when the database is unwell
        return {"nav_items": [], "user_role": "", "user_scope": "", "has_inbox": False}
