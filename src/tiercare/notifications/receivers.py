"""Receivers: every referral step leaves its notices (``referrals.signals.referral_event``)."""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from tiercare.notifications import services
from tiercare.referrals.signals import referral_event


@receiver(referral_event, dispatch_uid="notifications.notify_step")
def on_referral_event(sender: Any, referral: Any, event: Any, **kwargs: Any) -> None:
    services.notify_step(referral, event)
