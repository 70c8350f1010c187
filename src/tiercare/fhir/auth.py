"""Who is calling the FHIR interface, and what they may do (issue 3 "Security").

* An integrating system sends ``Authorization: Bearer tc_…``: its token's SMART scopes say
  which interactions it may use per resource type, and its reach (an institution, an
  alliance or the whole county) says which residents it sees, exactly as for a practitioner
  of that institution or an administrator of that alliance (``patients.access``).
* A person reaches FHIR with their session: their role's scope (rules.md §11); clinical
  roles and system administrators may register and change residents, as in the JSON API.

Every read of a resident is audited by the mapper with ``audit_user`` / ``audit_username``.
"""

from __future__ import annotations

import functools
import operator
from dataclasses import dataclass
from typing import Any

from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from tiercare.accounts.models import Role, User
from tiercare.fhir import scopes, tokens
from tiercare.fhir.errors import FhirError
from tiercare.fhir.models import ApiToken
from tiercare.patients import access
from tiercare.patients.models import Patient

#: Roles that may write each resource type, beyond read and search (the JSON API's rules).
WRITE_ROLES = {
    "Patient": access.REGISTER_ROLES,
    # encounters come from the members' systems; people record care in those systems
    "Encounter": frozenset({Role.SYSTEM_ADMIN}),
    "ExplanationOfBenefit": frozenset({Role.SYSTEM_ADMIN}),
    # booking for a resident is clinical work, as registering one (scheduling.services.book
    # then applies who may book which pool)
    "Appointment": access.REGISTER_ROLES,
    # referrals are written by doctors and nurses; the alliance office approves through Task
    # (referrals.services.sides_of then decides which step is whose)
    "ServiceRequest": frozenset({Role.DOCTOR, Role.NURSE}),
    "Task": frozenset({Role.DOCTOR, Role.NURSE, Role.ALLIANCE_ADMIN}),
    # a reading taken at a visit is clinical work (chronic.services.record_screening then
    # requires a doctor or nurse of a member institution)
    "Observation": frozenset({Role.DOCTOR, Role.NURSE}),
}


@dataclass
class Client:
    """The caller: a token or a logged-in user (never both)."""

    token: ApiToken | None = None
    user: User | None = None

    @property
    def audit_user(self) -> User | None:
        return self.user

    @property
    def audit_username(self) -> str:
        return f"token:{self.token.name}" if self.token is not None else ""

    def allows(self, resource_type: str, interaction: str) -> bool:
        if self.token is not None:
            return scopes.parse(self.token.scopes).allows(resource_type, interaction)
        if self.user is None:
            return False
        if interaction in ("read", "search"):
            return True
        return getattr(self.user, "role", "") in WRITE_ROLES.get(resource_type, frozenset())

    def require(self, resource_type: str, interaction: str) -> None:
        if not self.allows(resource_type, interaction):
            raise FhirError(403, "forbidden",
                            _("Your access does not include %(interaction)s on %(type)s."),
                            interaction=interaction, type=resource_type)

    def resident_parts(self) -> list[Q] | None:
        """The residents this client sees, as parts whose union is the scope (``None``:
        all): see ``patients.access.scope_parts``."""
        if self.token is not None:
            return access.reach_parts(institution=self.token.institution,
                                      alliance_id=self.token.alliance_id,
                                      whole_county=self.token.whole_county)
        return access.scope_parts(self.user)

    def resident_q(self) -> Q | None:
        parts = self.resident_parts()
        return None if parts is None else functools.reduce(operator.or_, parts)

    def residents_only(self, rows: QuerySet[Any], patient_field: str = "patient_id",
                       ) -> QuerySet[Any]:
        """``rows`` (records of residents: encounters, settlements, bookings …) kept to the
        residents this client sees, the resident's id being at ``patient_field``."""
        condition = self.resident_q()
        if condition is None:
            return rows
        return rows.filter(**{f"{patient_field}__in": Patient.objects.filter(condition)
                              .values("pk")})

    def records_at(self, institution_id: int, alliance_id: int | None) -> bool:
        """Whether this client may record care given at an institution: a system held to an
        institution, that institution's; to an alliance, its members'; whole-county systems
        and system administrators, any."""
        if self.token is not None:
            if self.token.whole_county:
                return True
            if self.token.institution_id is not None:
                return self.token.institution_id == institution_id
            return alliance_id is not None and self.token.alliance_id == alliance_id
        return getattr(self.user, "role", "") == Role.SYSTEM_ADMIN

    @property
    def sees_identifiers(self) -> bool:
        """Tokens see ID numbers and phones (systems match residents by them); people as
        their role allows (rules.md §11)."""
        return self.token is not None or access.can_see_identifiers(self.user)


def client_for(request: HttpRequest) -> Client:
    """The caller of ``request``: 401 with an OperationOutcome when neither a valid token nor
    a session comes with it."""
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if header:
        kind, _sep, secret = header.partition(" ")
        if kind.lower() != "bearer" or not secret.strip():
            raise FhirError(401, "login", _("Send the token as “Authorization: Bearer …”."))
        token = tokens.authenticate(secret.strip())
        if token is None:
            raise FhirError(401, "login", _("The token is unknown or has been revoked."))
        request.fhir_token_id = token.pk  # type: ignore[attr-defined]  # counted (traffic)
        return Client(token=token)
    user: Any = getattr(request, "user", None)
    if user is not None and user.is_authenticated and user.is_active:
        return Client(user=user)
    raise FhirError(401, "login", _("Log in or send an integrating system's bearer token."))
