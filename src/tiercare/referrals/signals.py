"""Signals of the referral workflow (DESIGN.md: apps talk to each other through services and
signals, not through each other's tables).

``referral_event`` is sent for every :class:`~tiercare.referrals.models.ReferralEvent`
written by ``referrals.services`` (each step of the workflow, an escalation, an attachment),
inside the step's transaction: a receiver's writes commit or roll back with the step.
Arguments: ``referral`` (the referral after the step) and ``event`` (the new row).
"""

from __future__ import annotations

from django.dispatch import Signal

referral_event = Signal()
