"""Background tasks of the indicators (django-tasks in the database, ADR 0008; issue 5 item 8:
"refresh also runs as a scheduled background task").

``refresh_indicators`` brings the analytics snapshot up to date with the rows changed since
the last refresh (a full refresh when none exists yet); the clock enqueues it every 10
minutes, so dashboards lag the operational database by minutes, not by a quarter.
``refresh_indicators_fully`` rebuilds the snapshot whole once a day, catching what an
incremental refresh cannot see (rows deleted at the source, merges moving rows without
touching ``updated_at``; ``engine/snapshot.py``).
"""

from __future__ import annotations

from django_tasks import task

from tiercare.indicators.engine import snapshot


def _report(full: bool) -> dict[str, object]:
    report = snapshot.refresh(full=full)
    return {"full": report.full, "rows": sum(report.rows.values()),
            "seconds": round(report.seconds, 1)}


@task()
def refresh_indicators() -> dict[str, object]:
    """Copy the rows changed since the last refresh and rebuild the facts."""
    return _report(full=False)


@task()
def refresh_indicators_fully() -> dict[str, object]:
    """Rebuild the snapshot from every row."""
    return _report(full=True)
