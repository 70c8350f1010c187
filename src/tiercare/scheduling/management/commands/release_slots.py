"""``tiercare release_slots``: return unused referral capacity whose release time has passed
to the public pool now (the same work as the background task ``release_referral_slots``;
rules.md §4). Idempotent."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from tiercare.scheduling import services


class Command(BaseCommand):
    help = "Return unused referral slots whose release time has passed to the public pool."

    def handle(self, *args: Any, **options: Any) -> None:
        result = services.release_due_referral_capacity()
        self.stdout.write(f"released {result.places} places in {result.slots} slots")
