"""Signal receivers of chronic care (DESIGN.md: apps talk through services and signals).

A down-referral with hypertension or type-2 diabetes that reaches a primary-care institution
(received, accepted or arrived there) enrols the resident on the registry with the hospital's
care plan (issue 6 item 4; ``services.enrol_down_referral``).
"""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from tiercare.referrals.signals import referral_event

#: The steps after which a down-referred resident is the primary-care team's to follow.
ENROLLING_ACTIONS = frozenset({"receive", "accept", "arrive"})


@receiver(referral_event, dispatch_uid="chronic.enrol_down_referral")
def on_referral_event(sender: Any, referral: Any, event: Any, **kwargs: Any) -> None:
    from tiercare.chronic import services
    from tiercare.referrals.models import Direction

    if referral.direction != Direction.DOWN or event.action not in ENROLLING_ACTIONS:
        return
    from django.utils import timezone

    services.enrol_down_referral(referral, by=event.by, on=timezone.localdate(event.at))
