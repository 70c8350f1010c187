"""Who sees which residents (rules.md §11: minimum necessary access; a practitioner sees the
residents in their care relationship; ID numbers and phones masked for roles that do not need
them).

Scopes, by role (``tiercare.accounts.models.Role``):

* system administrator, regulator: every resident; an auditor too, unless the account is held
  to one alliance (``accounts.roles``: "an auditor may be held to one alliance"), then that
  alliance's grid;
* alliance administrator: residents whose address township (``address_code[:9]``) is in the
  alliance's grid;
* doctor, nurse, pharmacist: residents in the grid of their institution's alliance, or with an
  encounter at their institution;
* anyone else (no role, no scope, not logged in): nobody.

The filters stay indexable: address ranges on the ``(address_code, is_active)`` index and a
correlated ``EXISTS`` on the encounters' ``(patient, start)`` index.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Iterable
from typing import Any

from django.db.models import (
    BigIntegerField,
    Exists,
    ExpressionWrapper,
    F,
    OuterRef,
    Q,
    QuerySet,
)

from tiercare.accounts.models import Role
from tiercare.patients.models import Patient
from tiercare.patients.rules import digit_prefix_ranges

#: Roles that see every resident (rules.md §11: regulators and administrators of the system).
ALL_RESIDENT_ROLES = frozenset({Role.SYSTEM_ADMIN, Role.REGULATOR, Role.AUDITOR})
#: Roles held to one institution: their alliance's grid plus their own encounters.
INSTITUTION_ROLES = frozenset({Role.DOCTOR, Role.NURSE, Role.PHARMACIST})
#: Roles that register residents and correct their demographics (JSON API and FHIR).
REGISTER_ROLES = frozenset({Role.SYSTEM_ADMIN, Role.DOCTOR, Role.NURSE})
#: Roles that need full ID numbers and phones to do their work (rules.md §11).
IDENTIFIER_ROLES = frozenset({Role.DOCTOR, Role.NURSE, Role.SYSTEM_ADMIN})

NOTHING = Q(pk__in=[])


def address_prefix_q(prefixes: Iterable[str]) -> Q:
    """Residents whose 12-digit address code starts with one of ``prefixes``, as index ranges
    (``low <= code < high``), adjacent ones merged (a grid's consecutive townships are one
    range: a short filter to build, to plan and to test row by row)."""
    wanted = set(prefixes)
    if "" in wanted:
        return Q()
    ranges = digit_prefix_ranges(wanted)
    if not ranges:
        return NOTHING
    condition = Q()
    for low, high in ranges:
        condition |= Q(address_code__gte=low, address_code__lt=high)
    return condition


def _grid_q(alliance_id: int | None) -> Q:
    if alliance_id is None:
        return NOTHING
    from tiercare.registry.models import Grid
    from tiercare.registry.rules import division_prefix

    codes = Grid.objects.filter(alliance_id=alliance_id).values_list("division__code", flat=True)
    return address_prefix_q(division_prefix(c) for c in codes)


def _is_user(user: Any) -> bool:
    return bool(getattr(user, "is_authenticated", False)) and bool(
        getattr(user, "is_active", False))


def scope_parts(user: Any) -> list[Q] | None:
    """``user``'s scope as alternatives whose union is the scope (``None``: every resident).
    A doctor's scope is two parts, the alliance's grid and the residents cared for at their
    institution; a search runs each part on its own index instead of one ``OR`` the
    database cannot answer from an index (patients.services.search_patients)."""
    if _is_user(user) and getattr(user, "role", "") in INSTITUTION_ROLES \
            and not getattr(user, "is_superuser", False) and user.institution is not None:
        return reach_parts(institution=user.institution, alliance_id=user.alliance_id)
    condition = scope_q(user)
    return None if condition is None else [condition]


def reach_parts(*, institution: Any = None, alliance_id: int | None = None,
                whole_county: bool = False) -> list[Q] | None:
    """Who is seen from an institution, an alliance or the whole county, as parts like
    ``scope_parts``: from an institution (a practitioner, an integrating system of it), the
    grid of its alliance (``alliance_id`` when given, else the institution's) and the
    residents with an encounter there; from an alliance, its grid; the whole county: every
    resident (``None``)."""
    if whole_county:
        return None
    if institution is not None:
        grid, cared_for = institution_parts(institution, alliance_id or institution.alliance_id)
        return [cared_for] if grid == NOTHING else [grid, cared_for]
    return [_grid_q(alliance_id)]


def institution_parts(institution: Any, alliance_id: int | None) -> tuple[Q, Q]:
    """(the grid of ``alliance_id``, residents with an encounter at ``institution``)."""
    from tiercare.encounters.models import Encounter

    # ``institution_id + 0`` keeps the planner on the (patient, start) index: an
    # institution's encounters can be millions, one resident's are a handful.
    cared_for = Exists(
        Encounter.objects.filter(patient_id=OuterRef("pk"))
        .annotate(_at=ExpressionWrapper(F("institution_id") + 0,
                                        output_field=BigIntegerField()))
        .filter(_at=institution.pk)
    )
    return _grid_q(alliance_id), Q(cared_for)


def scope_q(user: Any) -> Q | None:
    """The resident filter of ``user``'s scope; ``None`` means every resident."""
    if not _is_user(user):
        return NOTHING
    role = getattr(user, "role", "")
    if getattr(user, "is_superuser", False) or role in (Role.SYSTEM_ADMIN, Role.REGULATOR):
        return None
    if role == Role.AUDITOR:
        return None if user.alliance_id is None else _grid_q(user.alliance_id)
    if role == Role.ALLIANCE_ADMIN:
        return _grid_q(user.alliance_id)
    if role in INSTITUTION_ROLES:
        if user.institution is None:
            return NOTHING
        parts = reach_parts(institution=user.institution, alliance_id=user.alliance_id) or []
        return functools.reduce(operator.or_, parts)
    return NOTHING


def visible_patients(user: Any) -> QuerySet[Patient]:
    """The active residents ``user`` may see (rules.md §11); merged records are left out (they
    resolve to their survivor)."""
    queryset = Patient.objects.filter(is_active=True)
    condition = scope_q(user)
    return queryset if condition is None else queryset.filter(condition)


def can_view(user: Any, patient: Patient) -> bool:
    """True when ``patient`` (active or not) is inside ``user``'s scope."""
    condition = scope_q(user)
    if condition is None:
        return True
    if condition == NOTHING:
        return False
    return Patient.objects.filter(condition, pk=patient.pk).exists()


def can_see_identifiers(user: Any) -> bool:
    """Doctors, nurses and system administrators see full ID numbers and phones; alliance
    administrators, regulators, auditors and pharmacists see them masked (rules.md §11)."""
    if not _is_user(user):
        return False
    return bool(getattr(user, "is_superuser", False)) or getattr(user, "role", "") in \
        IDENTIFIER_ROLES
