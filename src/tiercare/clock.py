"""The clock: enqueues the periodic background tasks (DESIGN.md "Background work": deadlines,
slot release, notifications run as tasks in the database, driven by a worker command; no
broker and no cron needed on one machine). ``tiercare clock`` runs it; ``tiercare demo`` and
``serve`` start it beside the worker.

Each task is idempotent, so running late or twice is harmless; the clock does not enqueue a
task again while an earlier run of it is still waiting for the worker (a stopped worker does
not pile up a queue).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Periodic:
    task_path: str
    every_seconds: int
    why: str


#: The periodic tasks, with how often they run and why that often.
PERIODIC: tuple[Periodic, ...] = (
    Periodic("tiercare.referrals.tasks.escalate_referrals", 60,
             "the green-channel response deadline is 15 minutes (rules.md §3)"),
    Periodic("tiercare.notifications.tasks.warn_deadlines", 60,
             "a green-channel deadline-near notice is due 3¾ minutes before the deadline"),
    Periodic("tiercare.scheduling.tasks.release_referral_slots", 300,
             "release times are whole days ahead of a slot (rules.md §4)"),
    Periodic("tiercare.indicators.tasks.refresh_indicators", 600,
             "dashboards within minutes of the records (issue 5: every day, not every "
             "quarter); an incremental refresh copies only the changed rows"),
    Periodic("tiercare.chronic.tasks.expire_contracts", 3_600,
             "a contract ends on its end date (rules.md §7); hourly so the day it ends is "
             "the day it shows"),
    Periodic("tiercare.chronic.tasks.remind_family_doctors", 3_600,
             "one reminder a day per institution (issue 6: overdue follow-ups, expiring "
             "contracts); hourly runs add nothing once the day's notice is written"),
    Periodic("tiercare.indicators.tasks.refresh_indicators_fully", 86_400,
             "once a day, what an incremental refresh cannot see (deleted rows, merges)"),
)


def due(last: dict[str, float], now: float,
        periodic: tuple[Periodic, ...] = PERIODIC) -> list[Periodic]:
    """The tasks whose interval has passed since they were last enqueued (all at start)."""
    return [p for p in periodic
            if p.task_path not in last or now - last[p.task_path] >= p.every_seconds]


def _waiting(task_path: str) -> bool:
    from django_tasks_db.models import DBTaskResult

    return DBTaskResult.objects.filter(task_path=task_path).ready().exists()


def _enqueue(task_path: str) -> None:
    from django.utils.module_loading import import_string

    import_string(task_path).enqueue()


def tick(last: dict[str, float], now: float, *,
         waiting: Callable[[str], bool] = _waiting,
         enqueue: Callable[[str], None] = _enqueue) -> list[str]:
    """Enqueue every due task that has no run still waiting; returns what was enqueued."""
    enqueued: list[str] = []
    for periodic in due(last, now):
        last[periodic.task_path] = now
        if waiting(periodic.task_path):
            continue
        enqueue(periodic.task_path)
        enqueued.append(periodic.task_path)
    return enqueued


def run(*, interval: float = 5.0) -> None:  # pragma: no cover - an endless loop
    """Tick every ``interval`` seconds until interrupted."""
    from django.db import close_old_connections

    last: dict[str, float] = {}
    while True:
        close_old_connections()
        tick(last, time.monotonic())
        time.sleep(interval)
