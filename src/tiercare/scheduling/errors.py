"""Domain errors of scheduling: a refusal that changes nothing, with a stable ``code`` and a
lazily translated message (DESIGN.md: bad input gets a clear, specific error in the user's
language; issue 4 "Bad input": booking a full slot is refused, clearly).

Codes: ``slot.full``, ``slot.closed``, ``slot.past``, ``slot.pool_refused``,
``appointment.duplicate``, ``appointment.transition``, ``appointment.changed``,
``patient.inactive``, ``bed.unavailable``, ``bed.transition``, ``bed.pool_refused``,
``bed.none_free``, ``policy.preset_unknown``, ``template.invalid``, ``range.invalid``.
"""

from __future__ import annotations

from tiercare.errors import DomainError


class SchedulingConflict(DomainError):
    """The request contradicts the present state of slots, appointments or beds (HTTP 409)."""

    status = 409


class SchedulingRefused(DomainError):
    """The caller may not use this capacity (a pool reserved for others; HTTP 403)."""

    status = 403


class SchedulingInvalid(DomainError):
    """The request itself is malformed (a template or date range that cannot be; HTTP 400)."""

    status = 400
