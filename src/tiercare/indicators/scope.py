"""Who sees which indicators, and the names of org units (issue 5: dashboards for the
alliance office, the health commission and the insurance bureau; rules.md §11: aggregates
for administrators, records only with an audited drill-down).

* Capability ``VIEW_INDICATORS`` (``accounts.roles``): system administrators, regulators
  (every alliance, read-only), alliance administrators and auditors (their alliance; an
  auditor held to none sees every alliance).
* An org unit is named by kind and key as the engine gives them (``engine.definitions``):
  an alliance or institution id, a township's 9-digit division code, a level.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import QuerySet

from tiercare.accounts.models import Role, User
from tiercare.accounts.roles import Capability, has_capability
from tiercare.indicators.engine.definitions import ALLIANCE, INSTITUTION, LEVEL, TOWNSHIP
from tiercare.registry.models import Alliance, Division, Institution, Level


@dataclass(frozen=True)
class OrgUnit:
    """One org unit: kind, key (as the engine keys it) and display name."""

    kind: str
    key: str
    name: str


def may_view(user: object) -> bool:
    return has_capability(user, Capability.VIEW_INDICATORS)


def alliances_for(user: User) -> QuerySet[Alliance]:
    """The alliances whose indicators ``user`` sees (none without the capability)."""
    if not may_view(user):
        return Alliance.objects.none()
    if user.role in (Role.SYSTEM_ADMIN, Role.REGULATOR) or (
            user.role == Role.AUDITOR and user.alliance_id is None):
        return Alliance.objects.order_by("code")
    if user.alliance_id is None:
        return Alliance.objects.none()
    return Alliance.objects.filter(pk=user.alliance_id).order_by("code")


def may_edit_targets(user: User, alliance: Alliance) -> bool:
    """Regulators see every alliance read-only; an alliance's administrators (and system
    administrators) choose its policy pack and override its targets."""
    return user.role == Role.SYSTEM_ADMIN or (
        user.role == Role.ALLIANCE_ADMIN and user.alliance_id == alliance.pk)


def org_units(kind: str, alliance: Alliance) -> list[OrgUnit]:
    """The org units of ``kind`` within ``alliance`` (its members; the townships of its
    county; the levels), named for display."""
    if kind == ALLIANCE:
        return [OrgUnit(ALLIANCE, str(alliance.pk), alliance.name)]
    if kind == INSTITUTION:
        return [OrgUnit(INSTITUTION, str(pk), name) for pk, name in
                alliance.members.order_by("level", "code").values_list("pk", "name")]
    if kind == TOWNSHIP:
        county = alliance.county_code or ""
        return [OrgUnit(TOWNSHIP, code, name) for code, name in
                Division.objects.filter(kind=Division.Kind.TOWNSHIP,
                                        code__startswith=county)
                .order_by("code").values_list("code", "name")] if county else []
    if kind == LEVEL:
        return [OrgUnit(LEVEL, str(value), str(label)) for value, label in Level.choices]
    raise ValueError(kind)


def org_name(kind: str, key: str) -> str:
    """The display name of one org unit (its key when it names nothing known)."""
    if kind == ALLIANCE:
        found = Alliance.objects.filter(pk=int(key)).values_list("name", flat=True).first() \
            if key.isdigit() else None
    elif kind == INSTITUTION:
        found = Institution.objects.filter(pk=int(key)).values_list("name", flat=True) \
            .first() if key.isdigit() else None
    elif kind == TOWNSHIP:
        found = Division.objects.filter(code=key).values_list("name", flat=True).first()
    elif kind == LEVEL:
        found = str(dict(Level.choices).get(key, "")) or None
    else:
        found = None
    return found or key

