"""The slot calendar of a department (issue 4 item 5): one week of a member institution's
schedules, each slot with its pool and how many of its places are booked. Staff see the
institutions of their alliance (they refer there), the alliance office its members, system
administrators and regulators every institution. No resident appears on it."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from tiercare.accounts.roles import Capability
from tiercare.registry.models import Department, Institution
from tiercare.scheduling.models import Schedule, Slot
from tiercare.web.access import home_alliance_id, requires, sees_all_alliances

DAYS = 7


def _institutions(user: Any) -> QuerySet[Institution]:
    queryset = Institution.objects.filter(is_active=True)
    if sees_all_alliances(user):
        return queryset.order_by("level", "code")
    alliance_id = home_alliance_id(user)
    if alliance_id is None:
        return queryset.filter(pk=user.institution_id).order_by("code")
    return queryset.filter(alliance_id=alliance_id).order_by("level", "code")


def _week_start(text: str, today: dt.date) -> dt.date:
    try:
        day = dt.date.fromisoformat(text) if text else today
    except ValueError:
        day = today
    return day - dt.timedelta(days=day.weekday())


@requires(Capability.VIEW_SCHEDULES)
def calendar(request: HttpRequest) -> HttpResponse:
    """One week (Monday to Sunday) of an institution's schedules, optionally one
    department's; each slot with its pool and booked/capacity."""
    user: Any = request.user
    institutions = _institutions(user)
    with_schedules = institutions.filter(schedules__is_active=True).distinct()
    code = request.GET.get("institution", "")
    institution = with_schedules.filter(code=code).first() if code else None
    if institution is None:
        own = with_schedules.filter(pk=user.institution_id).first() if user.institution_id \
            else None
        institution = own or with_schedules.filter(level="county").first() \
            or with_schedules.first()
    today = timezone.localdate()
    start = _week_start(request.GET.get("week", ""), today)
    departments: list[Department] = []
    department = None
    rows: list[dict[str, Any]] = []
    if institution is not None:
        departments = list(Department.objects.filter(
            institution=institution, schedules__is_active=True).distinct().order_by("code"))
        raw = request.GET.get("department", "")
        department = next((d for d in departments if str(d.pk) == raw), None)
        schedules = Schedule.objects.filter(institution=institution, is_active=True)
        if department is not None:
            schedules = schedules.filter(department=department)
        since = timezone.make_aware(dt.datetime.combine(start, dt.time.min))
        until = since + dt.timedelta(days=DAYS)
        slots = (Slot.objects.filter(schedule__in=schedules, start__gte=since, start__lt=until)
                 .order_by("start", "pool", "pk"))
        cells: dict[int, dict[dt.date, list[Slot]]] = defaultdict(lambda: defaultdict(list))
        for slot in slots:
            cells[slot.schedule_id][timezone.localtime(slot.start).date()].append(slot)
        for schedule in schedules.select_related("department", "practitioner",
                                                 "equipment").order_by("kind", "name"):
            days = cells.get(schedule.pk, {})
            rows.append({"schedule": schedule,
                         "days": [days.get(start + dt.timedelta(days=i), [])
                                  for i in range(DAYS)]})
    return render(request, "scheduling/calendar.html", {
        "institutions": with_schedules, "institution": institution,
        "departments": departments, "department": department, "rows": rows,
        "days": [start + dt.timedelta(days=i) for i in range(DAYS)], "today": today,
        "previous": start - dt.timedelta(days=DAYS), "next": start + dt.timedelta(days=DAYS),
        "now": timezone.now()})
