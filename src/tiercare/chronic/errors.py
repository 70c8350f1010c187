"""Domain errors of family-doctor and chronic-care work: a refusal that changes nothing, with a
stable ``code`` and a lazily translated message (issue 6 "Bad input": impossible readings, a
follow-up dated in the future, a second active contract, a follow-up for a resident not in the
registry get a clear, translated refusal).

Codes: ``reading.<field>`` (a value outside what a body can show), ``reading.missing``,
``reading.pressure_order`` (diastolic not below systolic), ``follow_up.future``,
``follow_up.before_enrolment``, ``follow_up.not_registered``, ``registration.duplicate``,
``registration.closed``, ``contract.duplicate``, ``contract.period``, ``contract.consent``,
``contract.not_active``, ``contract.package``, ``contract.team``, ``team.member``,
``patient.inactive``, ``patient.out_of_scope``, ``not_staff``, ``check.items``.
"""

from __future__ import annotations

from tiercare.errors import DomainError


class ChronicInvalid(DomainError):
    """The request itself is impossible or incomplete (HTTP 400)."""

    status = 400


class ChronicConflict(DomainError):
    """The request contradicts the present state (HTTP 409): a second active contract, a
    second registration, a step on an ended contract."""

    status = 409


class ChronicRefused(DomainError):
    """The actor may not do this (HTTP 403)."""

    status = 403
