"""Domain errors of the referral workflow: a refusal that changes nothing, with a stable
``code`` and a lazily translated message (DESIGN.md; issue 4 "Bad input": accepting a
cancelled referral or a village doctor approving an out-of-county referral gets a clear,
translated refusal and changes nothing).

Codes: ``referral.transition`` (the table has no such move from the present state),
``referral.not_allowed`` (the move exists but not for this actor), ``referral.changed``
(changed meanwhile), ``referral.reason_required``, ``referral.outcome_required``,
``referral.receiver_required``, ``referral.direction``, ``referral.diagnosis``,
``referral.same_institution``, ``referral.redirect_target``, ``referral.capacity_required``,
``referral.capacity_elsewhere``, ``referral.not_staff``, ``referral.department``,
``patient.inactive``, ``patient.out_of_scope``, ``attachment.type``,
``attachment.size``, ``attachment.empty``, ``follow_up.done``; scheduling's own codes
(``slot.full``, ``bed.none_free`` …) pass through unchanged when a booking fails.
"""

from __future__ import annotations

from tiercare.errors import DomainError


class ReferralConflict(DomainError):
    """The step contradicts the referral's present state (HTTP 409)."""

    status = 409


class ReferralRefused(DomainError):
    """The actor may not take this step (HTTP 403)."""

    status = 403


class ReferralInvalid(DomainError):
    """The request itself is incomplete or malformed (HTTP 400)."""

    status = 400
