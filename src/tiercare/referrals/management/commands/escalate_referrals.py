"""``tiercare escalate_referrals``: escalate referrals whose response deadline has passed to
the alliance office and expire those unanswered beyond the alliance's limit, now (the same
work as the background task ``escalate_referrals``; rules.md §3). Idempotent."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from tiercare.referrals import services


class Command(BaseCommand):
    help = ("Escalate referrals past their response deadline to the alliance office and "
            "expire referrals left unanswered too long.")

    def handle(self, *args: Any, **options: Any) -> None:
        result = services.escalate_overdue()
        self.stdout.write(f"escalated {result.escalated}, expired {result.expired}")
