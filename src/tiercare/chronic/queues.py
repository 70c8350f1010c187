"""Work queues of family-doctor teams and doctors (issue 6 item 6; rules.md §8: "every patient
whose next follow-up date has passed is on the team's work queue").

A queue has six lists, each a bounded page of rows plus its full count (a team of 3,000
contracted residents may owe hundreds of visits; the page shows the most pressing first):

* due this week — registrations whose next follow-up falls from today to Sunday;
* overdue — next follow-up date passed, with the days overdue, longest first;
* rechecks — the last follow-up was not controlled (recheck, refer up or urgent) and the
  re-check is due within 2 weeks;
* contracts expiring — active contracts ending within the alliance's window (default 30 days);
* down-referrals received — down-referrals addressed to the team's institutions, still open;
* follow-ups owed after an up-referral — the referral follow-up tasks of the team's
  institutions still open (rules.md §3: within 2 weeks).

Queries are counted per list, never per row (``select_related`` for what the rows show).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Q, QuerySet

from tiercare.chronic import services
from tiercare.chronic.models import Contract, FamilyDoctorTeam, Registration

#: rows shown per list (a card of the queue page); the count says how many there are in all
#: and the registry page lists the rest (``?due=overdue|week|recheck``)
PAGE = 30


@dataclass
class QueueList:
    key: str
    rows: list[Any]
    total: int


@dataclass
class WorkQueue:
    today: dt.date
    lists: dict[str, QueueList] = field(default_factory=dict)


def _page(queryset: QuerySet[Any], key: str, limit: int) -> QueueList:
    rows = list(queryset[:limit])
    total = len(rows) if len(rows) < limit else queryset.count()
    return QueueList(key, rows, total)


def _registrations(team: FamilyDoctorTeam | None, doctor_id: int | None,
                   institution_ids: set[int]) -> QuerySet[Registration]:
    queryset = Registration.objects.filter(status=Registration.Status.ACTIVE)
    if doctor_id is not None:
        queryset = queryset.filter(doctor_id=doctor_id)
    elif team is not None:
        queryset = queryset.filter(team=team)
    else:
        queryset = queryset.filter(institution_id__in=institution_ids)
    return queryset.select_related("patient", "doctor", "team")


def week_end(day: dt.date) -> dt.date:
    """The Sunday of ``day``'s week (weeks run Monday to Sunday)."""
    return day + dt.timedelta(days=6 - day.weekday())


def work_queue(*, team: FamilyDoctorTeam | None = None, doctor_id: int | None = None,
               institution_ids: set[int] | None = None, today: dt.date | None = None,
               limit: int = PAGE) -> WorkQueue:
    """The queue of a team, of one doctor (the registrations and contracts they answer for) or
    of institutions (all their teams)."""
    from tiercare.referrals.models import Direction, FollowUpTask, Referral

    day = today or services.today()
    places = set(institution_ids or ())
    if team is not None:
        places |= services.team_institution_ids(team)
    queue = WorkQueue(day)
    registrations = _registrations(team, doctor_id, places)
    queue.lists["due_this_week"] = _page(
        registrations.filter(next_due__gte=day, next_due__lte=week_end(day))
        .order_by("next_due", "id"), "due_this_week", limit)
    queue.lists["overdue"] = _page(
        registrations.filter(next_due__lt=day).order_by("next_due", "id"), "overdue", limit)
    queue.lists["rechecks"] = _page(
        registrations.filter(last_controlled=False, next_due__gte=day,
                             next_due__lte=day + dt.timedelta(days=14))
        .order_by("next_due", "id"), "rechecks", limit)
    alliance_id = team.alliance_id if team is not None else None
    window = services.policy_for(alliance_id).expiring_within_days
    contracts = Contract.objects.filter(status=Contract.Status.ACTIVE, end_date__gte=day,
                                        end_date__lte=day + dt.timedelta(days=window))
    if doctor_id is not None:
        contracts = contracts.filter(doctor_id=doctor_id)
    elif team is not None:
        contracts = contracts.filter(team=team)
    else:
        contracts = contracts.filter(team__institution_id__in=places)
    queue.lists["contracts_expiring"] = _page(
        contracts.select_related("patient", "team", "doctor").order_by("end_date", "id"),
        "contracts_expiring", limit)
    open_states = (Referral.Status.SUBMITTED, Referral.Status.RECEIVED,
                   Referral.Status.ACCEPTED, Referral.Status.ARRIVED)
    downs = Referral.objects.filter(direction=Direction.DOWN, status__in=open_states,
                                    receiving_institution_id__in=places)
    if doctor_id is not None:
        mine = Registration.objects.filter(doctor_id=doctor_id,
                                           status=Registration.Status.ACTIVE)
        downs = downs.filter(Q(patient_id__in=mine.values("patient_id"))
                             | Q(receiving_practitioner_id=doctor_id))
    queue.lists["down_referrals"] = _page(
        downs.select_related("patient", "sending_institution").order_by("-submitted_at", "-id"),
        "down_referrals", limit)
    tasks = FollowUpTask.objects.filter(status=FollowUpTask.Status.OPEN,
                                        institution_id__in=places)
    if doctor_id is not None:
        tasks = tasks.filter(referral__sending_practitioner_id=doctor_id)
    queue.lists["referral_follow_ups"] = _page(
        tasks.select_related("patient", "referral").order_by("due_date", "id"),
        "referral_follow_ups", limit)
    return queue
