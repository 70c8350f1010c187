"""Reminders of family-doctor work through the inbox (issue 6 item 6: "Reminders through the
inbox"): once a day each primary-care institution with registrations overdue or re-checks due
this week, and each with contracts expiring within its alliance's window (``ChronicPolicy``,
default 30 days), gets one notice
with the counts and a link to its work queue. Idempotent: at most one notice of each kind per
institution and day (China Standard Time), however often the task runs.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter

from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from tiercare.chronic import queues, services
from tiercare.chronic.models import ChronicPolicy, Contract, Registration
from tiercare.notifications.models import Notification


def _already(kind: str, day: dt.date) -> set[int]:
    start = timezone.make_aware(dt.datetime.combine(day, dt.time.min))
    return set(Notification.objects.filter(kind=kind, created_at__gte=start,
                                           institution__isnull=False)
               .values_list("institution_id", flat=True))


def remind(now: dt.datetime | None = None) -> int:
    """Write today's reminders; returns how many notices were written."""
    now = now or timezone.now()
    day = services.today(now)
    week_end = queues.week_end(day)
    active = Registration.objects.filter(status=Registration.Status.ACTIVE)
    overdue = Counter(active.filter(next_due__lt=day).values_list("institution_id", flat=True))
    due = Counter(active.filter(Q(next_due__gte=day, next_due__lte=week_end))
                  .values_list("institution_id", flat=True))
    windows = {policy.alliance_id: policy.expiring_within_days
               for policy in ChronicPolicy.objects.all()}
    longest = max([*windows.values(), services.policy_for(None).expiring_within_days])
    expiring: Counter[int] = Counter()
    days_of: dict[int, int] = {}
    for institution_id, alliance_id, end_date in Contract.objects.filter(
            status=Contract.Status.ACTIVE, end_date__gte=day,
            end_date__lte=day + dt.timedelta(days=longest)).values_list(
            "team__institution_id", "team__alliance_id", "end_date"):
        window = windows.get(alliance_id, services.policy_for(None).expiring_within_days)
        days_of[institution_id] = window
        if end_date <= day + dt.timedelta(days=window):
            expiring[institution_id] += 1
    link = reverse("chronic:queue")
    rows: list[Notification] = []
    done = _already(Notification.Kind.FOLLOW_UPS_DUE, day)
    for institution_id in sorted(set(overdue) | set(due)):
        if institution_id in done:
            continue
        counts = {"overdue": overdue.get(institution_id, 0), "due": due.get(institution_id, 0)}
        rows.append(Notification(kind=Notification.Kind.FOLLOW_UPS_DUE,
                                 institution_id=institution_id, counts=counts, link=link,
                                 created_at=now))
    done = _already(Notification.Kind.CONTRACTS_EXPIRING, day)
    for institution_id, count in sorted(expiring.items()):
        if institution_id in done:
            continue
        rows.append(Notification(kind=Notification.Kind.CONTRACTS_EXPIRING,
                                 institution_id=institution_id,
                                 counts={"n": count, "days": days_of[institution_id]},
                                 link=link,
                                 created_at=now))
    Notification.objects.bulk_create(rows)
    return len(rows)
