"""The clock enqueues each periodic task at its interval, never while a run still waits."""

from __future__ import annotations

import pytest
from django.utils.module_loading import import_string

from tiercare.clock import PERIODIC, due, tick


def test_everything_is_due_at_start_then_by_interval():
    last: dict[str, float] = {}
    assert due(last, 0.0) == list(PERIODIC)
    for p in PERIODIC:
        last[p.task_path] = 0.0
    assert due(last, 59.0) == []
    assert [p.task_path for p in due(last, 60.0)] == [
        "tiercare.referrals.tasks.escalate_referrals",
        "tiercare.notifications.tasks.warn_deadlines"]


def test_a_task_still_waiting_is_not_enqueued_again():
    enqueued: list[str] = []
    last: dict[str, float] = {}
    tick(last, 0.0, waiting=lambda path: "escalate" in path, enqueue=enqueued.append)
    assert "tiercare.referrals.tasks.escalate_referrals" not in enqueued
    assert len(enqueued) == len(PERIODIC) - 1


@pytest.mark.django_db
def test_the_periodic_tasks_exist_and_enqueue_into_the_database():
    from django_tasks_db.models import DBTaskResult

    last: dict[str, float] = {}
    assert len(tick(last, 0.0)) == len(PERIODIC)
    assert DBTaskResult.objects.count() == len(PERIODIC)
    assert tick({}, 100.0) == []  # all still waiting for a worker
    for periodic in PERIODIC:
        assert callable(import_string(periodic.task_path).func)
