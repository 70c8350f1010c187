"""Background task of the inbox (django-tasks in the database, ADR 0008): ``warn_deadlines``
tells receiving institutions about response deadlines that are near (rules.py). Idempotent;
the clock (``tiercare.clock``) enqueues it every minute."""

from __future__ import annotations

from django_tasks import task

from tiercare.notifications import services


@task()
def warn_deadlines() -> dict[str, int]:
    return {"warned": services.warn_deadlines()}
