"""Background tasks of scheduling (django-tasks in the database, ADR 0008).

``release_referral_slots`` returns unused referral capacity whose release time has passed to
the public pool (rules.md §4). It is idempotent, so it may run as often as wanted; the
clock (``tiercare.clock``) enqueues it every 5 minutes; ``tiercare release_slots`` runs it once
by hand.
"""

from __future__ import annotations

from django_tasks import task

from tiercare.scheduling import services


@task()
def release_referral_slots() -> dict[str, int]:
    """Move due unused referral capacity to the public pool; report what moved."""
    result = services.release_due_referral_capacity()
    return {"slots": result.slots, "places": result.places}
