"""Background tasks of family-doctor work (django-tasks in the database, ADR 0008), both
idempotent and enqueued hourly by the clock (``tiercare.clock``; a day's work is done by the
first run of the day):

* ``expire_contracts`` ends the contracts whose period is over (rules.md §7);
* ``remind_family_doctors`` puts the day's reminders in the inboxes (``chronic.reminders``).
"""

from __future__ import annotations

from django_tasks import task

from tiercare.chronic import reminders, services


@task()
def expire_contracts() -> dict[str, int]:
    return {"expired": services.expire_contracts()}


@task()
def remind_family_doctors() -> dict[str, int]:
    return {"notices": reminders.remind()}
