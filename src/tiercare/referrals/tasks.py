"""Background tasks of the referral workflow (django-tasks in the database, ADR 0008).

``escalate_referrals`` tells the alliance office about referrals whose response deadline
passed unanswered and expires those unanswered beyond the alliance's limit (rules.md §3;
``referrals.services.escalate_overdue``). It is idempotent, so it may run as often as
wanted; the clock (``tiercare.clock``) enqueues it every minute (the green-channel deadline
is 15 minutes); ``tiercare escalate_referrals`` runs it once by hand.
"""

from __future__ import annotations

from django_tasks import task

from tiercare.referrals import services


@task()
def escalate_referrals() -> dict[str, int]:
    """Escalate missed deadlines and expire long-unanswered referrals; report the counts."""
    result = services.escalate_overdue()
    return {"escalated": result.escalated, "expired": result.expired}
