"""Alliance overview (members as a tree by level with counts, grid coverage), the grid
coverage report, the institution list and the institution detail page (issue 2 §7;
rules.md §1: levels, grid, postings of lead-hospital physicians to townships)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time
from typing import Any

from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from tiercare.accounts.models import User
from tiercare.accounts.roles import Capability
from tiercare.encounters.models import Encounter
from tiercare.registry import services as registry_services
from tiercare.registry.models import Alliance, Institution, Level, Posting, Practitioner
from tiercare.web.access import can_see_institution, requires, sees_all_alliances, visible_alliances
from tiercare.web.places import place_name

PRACTITIONERS_SHOWN = 200
INSTITUTIONS_PAGE = 50


@dataclass
class TreeNode:
    """An institution of the overview tree with the institutions it supervises."""

    item: registry_services.TreeInstitution
    children: list[TreeNode] = field(default_factory=list)


@dataclass
class TreeSection:
    """One level of the overview (county, township, village) with its totals."""

    level: registry_services.TreeLevel
    nodes: list[TreeNode]


def build_tree(levels: list[registry_services.TreeLevel]) -> list[TreeSection]:
    """Nest village clinics under the township centre that runs them (``parent_id``); a
    village clinic without a known parent stays in its own level's section."""
    by_id: dict[int, TreeNode] = {}
    for level in levels:
        for inst in level.institutions:
            by_id[inst.id] = TreeNode(inst)
    sections: list[TreeSection] = []
    for level in levels:
        nodes: list[TreeNode] = []
        for inst in level.institutions:
            node = by_id[inst.id]
            parent = by_id.get(inst.parent_id) if inst.parent_id else None
            if parent is not None and parent.item.level != inst.level:
                parent.children.append(node)
            else:
                nodes.append(node)
        if nodes:
            sections.append(TreeSection(level, nodes))
    return sections


def _user(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


@requires(Capability.VIEW_OVERVIEW)
def alliance_overview(request: HttpRequest) -> HttpResponse:
    """Users held to one alliance go straight to it; others choose."""
    alliances = list(visible_alliances(_user(request)).select_related("lead").order_by("code"))
    if len(alliances) == 1:
        return HttpResponseRedirect(reverse("web:alliance_detail", args=[alliances[0].code]))
    return render(request, "web/alliance_list.html", {"alliances": alliances})


@requires(Capability.VIEW_OVERVIEW)
def alliance_detail(request: HttpRequest, code: str) -> HttpResponse:
    alliance = Alliance.objects.select_related("lead").filter(code=code).first()
    if alliance is None:
        raise Http404(_("No alliance with this code."))
    visible = visible_alliances(_user(request))
    if not visible.filter(pk=alliance.pk).exists():
        raise PermissionDenied(_("This alliance is outside your scope."))
    levels = registry_services.alliance_tree(alliance)
    coverage = registry_services.grid_coverage(alliance.county_code)
    context: dict[str, Any] = {
        "alliance": alliance,
        "sections": build_tree(levels),
        "levels": levels,
        "coverage": coverage,
        "county_name": place_name(alliance.county_code),
        "others": list(visible.exclude(pk=alliance.pk).order_by("code").values("code", "name"))
        if sees_all_alliances(_user(request)) else [],
        "year": timezone.localdate().year,
    }
    return render(request, "web/alliance_detail.html", context)


@requires(Capability.VIEW_GRID)
def grid_coverage(request: HttpRequest) -> HttpResponse:
    """Every township of the county in exactly one alliance (rules.md §1, seed 002)."""
    counties = sorted(set(visible_alliances(_user(request)).values_list("county_code", flat=True)))
    county = (request.GET.get("county") or (counties[0] if counties else "")).strip()
    context: dict[str, Any] = {"counties": [(c, place_name(c)) for c in counties],
                               "county": county, "report": None, "message": ""}
    if not county:
        context["message"] = _("No alliance in your scope has a county yet.")
        return render(request, "web/grid_coverage.html", context)
    if county not in counties:
        context["message"] = _("“%(code)s” is not the county of an alliance in your scope.") % {
            "code": county}
        return render(request, "web/grid_coverage.html", context, status=400)
    context["report"] = registry_services.grid_coverage(county)
    context["county_name"] = place_name(county)
    return render(request, "web/grid_coverage.html", context)


@requires(Capability.VIEW_GRID)
def institution_list(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    level = (request.GET.get("level") or "").strip()
    query = (request.GET.get("q") or "").strip()[:50]
    institutions = Institution.objects.select_related("alliance").order_by("level", "code")
    if not sees_all_alliances(user):
        institutions = institutions.filter(alliance__in=visible_alliances(user))
    message = ""
    status = 200
    if level and level not in Level.values:
        message = _("Unknown level “%(level)s”.") % {"level": level}
        status = 400
    elif level:
        institutions = institutions.filter(level=level)
    if query:
        institutions = institutions.filter(Q(name__contains=query) | Q(code__icontains=query))
    page_obj = Paginator(institutions, INSTITUTIONS_PAGE).get_page(request.GET.get("page"))
    return render(request, "web/institution_list.html",
                  {"page_obj": page_obj, "level": level, "query": query, "message": message,
                   "levels": Level.choices}, status=status)


@requires(Capability.VIEW_OVERVIEW)
def institution_detail(request: HttpRequest, code: str) -> HttpResponse:
    institution = (Institution.objects.select_related("alliance", "parent")
                   .filter(code=code).first())
    if institution is None:
        raise Http404(_("No institution with this code."))
    if not can_see_institution(_user(request), institution):
        raise PermissionDenied(_("This institution is outside your scope."))
    today = timezone.localdate()
    year_start = timezone.make_aware(datetime.combine(today.replace(month=1, day=1), time.min))
    active_postings = Q(end_date__isnull=True) | Q(end_date__gte=today)
    practitioners = (Practitioner.objects.filter(institution=institution, is_active=True)
                     .select_related("department").order_by("department__code", "title", "code"))
    departments = list(institution.departments.filter(is_active=True)
                       .annotate(staff=Count("practitioners")).order_by("code"))
    stationed = list(Posting.objects.filter(active_postings, institution=institution,
                                            start_date__lte=today)
                     .select_related("practitioner__institution", "department"))
    sent = list(Posting.objects.filter(active_postings, practitioner__institution=institution,
                                       start_date__lte=today)
                .select_related("practitioner", "institution"))
    services = [Institution.Service(s).label if s in Institution.Service.values else s
                for s in institution.services]
    context = {
        "institution": institution,
        "division_name": place_name(institution.division_code),
        "services": services,
        "departments": departments,
        "practitioners": list(practitioners[:PRACTITIONERS_SHOWN]),
        "practitioner_count": practitioners.count(),
        "shown_limit": PRACTITIONERS_SHOWN,
        "stationed": stationed,
        "sent": sent,
        "children": list(institution.children.filter(is_active=True).order_by("code")),
        "encounters_this_year": Encounter.objects.filter(
            institution=institution, start__gte=year_start).count(),
        "year": today.year,
    }
    return render(request, "web/institution_detail.html", context)
