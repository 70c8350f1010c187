"""What each role may do and which scope it needs (rules.md §11: minimum necessary access;
administrators see aggregates and audit trails, clinicians see the records of residents in
their care relationship). Pure data and functions: no database access."""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol

from tiercare.accounts.models import Role


class Capability(StrEnum):
    """A thing a page or service may require of the acting user."""

    VIEW_OVERVIEW = "view_overview"
    """See the alliance overview and institution pages (aggregates, no resident data)."""
    SEARCH_RESIDENTS = "search_residents"
    """Search residents and open the shared record (the record itself is scope-checked)."""
    VIEW_AUDIT = "view_audit"
    """Query the audit trail (rules.md §11: an auditor can query every read and write)."""
    VIEW_GRID = "view_grid"
    """See the grid coverage report (rules.md §1: gaps and overlaps)."""
    VIEW_ALL_ALLIANCES = "view_all_alliances"
    """Choose among all alliances instead of being held to one."""
    BACK_OFFICE = "back_office"
    """Use the admin back-office for master data."""
    MANAGE_SYSTEMS = "manage_systems"
    """Issue and revoke integrating systems' FHIR tokens and see their traffic."""
    VIEW_REFERRALS = "view_referrals"
    """Open referral slips one may see (``referrals.services.visible_referrals``)."""
    WORK_REFERRALS = "work_referrals"
    """Write referrals, work the incoming queue and the follow-ups of one's institution."""
    OVERSEE_REFERRALS = "oversee_referrals"
    """The alliance office's view of all referrals, their flows and missed deadlines."""
    VIEW_SCHEDULES = "view_schedules"
    """See the slot calendars of departments (rules.md §4: appointment resources shared)."""
    VIEW_TIGHTNESS = "view_tightness"
    """See the tightness evaluations (紧密型判定) of the alliances one may see
    (``indicators.tightness_services.may_view``)."""
    GRADE_TIGHTNESS = "grade_tightness"
    """Start a tightness evaluation, grade its criteria and take its steps (seed 003: the
    alliance assesses itself, the health commission assesses; who grades at which stage is
    decided by ``indicators.tightness_services``)."""
    VIEW_INDICATORS = "view_indicators"
    """The indicator dashboards, reports and drill-downs (issue 5; ``indicators.scope``)."""
    VIEW_FAMILY_DOCTORS = "view_family_doctors"
    """See family-doctor teams with their coverage and fulfilment, the chronic registries and
    contracts of the teams one may see (``chronic.services.visible_teams``)."""
    WORK_FAMILY_DOCTORS = "work_family_doctors"
    """Sign contracts, enrol residents, record follow-ups and elderly checks, work the team's
    queue (doctors and nurses of a member institution; rules.md §7–§8)."""


ROLE_CAPABILITIES: dict[str, frozenset[Capability]] = {
    Role.SYSTEM_ADMIN: frozenset(Capability),
    Role.ALLIANCE_ADMIN: frozenset(
        {Capability.VIEW_OVERVIEW, Capability.VIEW_GRID, Capability.BACK_OFFICE,
         Capability.VIEW_REFERRALS, Capability.OVERSEE_REFERRALS, Capability.VIEW_SCHEDULES,
         Capability.VIEW_INDICATORS, Capability.VIEW_TIGHTNESS, Capability.GRADE_TIGHTNESS,
         Capability.VIEW_FAMILY_DOCTORS}
    ),
    Role.REGULATOR: frozenset(
        {Capability.VIEW_OVERVIEW, Capability.VIEW_GRID, Capability.VIEW_ALL_ALLIANCES,
         Capability.SEARCH_RESIDENTS, Capability.VIEW_REFERRALS, Capability.OVERSEE_REFERRALS,
         Capability.VIEW_INDICATORS, Capability.VIEW_TIGHTNESS, Capability.GRADE_TIGHTNESS,
         Capability.VIEW_FAMILY_DOCTORS}
    ),
    Role.AUDITOR: frozenset(
        {Capability.VIEW_OVERVIEW, Capability.VIEW_AUDIT, Capability.SEARCH_RESIDENTS,
         Capability.VIEW_REFERRALS, Capability.OVERSEE_REFERRALS, Capability.VIEW_INDICATORS,
         Capability.VIEW_FAMILY_DOCTORS}
    ),
    Role.DOCTOR: frozenset({Capability.VIEW_OVERVIEW, Capability.SEARCH_RESIDENTS,
                            Capability.VIEW_REFERRALS, Capability.WORK_REFERRALS,
                            Capability.VIEW_SCHEDULES, Capability.VIEW_FAMILY_DOCTORS,
                            Capability.WORK_FAMILY_DOCTORS}),
    Role.NURSE: frozenset({Capability.VIEW_OVERVIEW, Capability.SEARCH_RESIDENTS,
                           Capability.VIEW_REFERRALS, Capability.WORK_REFERRALS,
                           Capability.VIEW_SCHEDULES, Capability.VIEW_FAMILY_DOCTORS,
                           Capability.WORK_FAMILY_DOCTORS}),
    Role.PHARMACIST: frozenset({Capability.VIEW_OVERVIEW, Capability.SEARCH_RESIDENTS}),
}

#: Roles whose scope is one institution (they work there).
INSTITUTION_ROLES = frozenset({Role.DOCTOR, Role.NURSE, Role.PHARMACIST})
#: Roles whose scope is one alliance.
ALLIANCE_ROLES = frozenset({Role.ALLIANCE_ADMIN})
#: Roles that may be held to one alliance or see all (an auditor of one community or of the
#: county health commission).
OPTIONAL_ALLIANCE_ROLES = frozenset({Role.AUDITOR})
#: Roles with no institution or alliance scope (they see every alliance).
UNSCOPED_ROLES = frozenset({Role.SYSTEM_ADMIN, Role.REGULATOR})


class _HasRole(Protocol):
    role: str
    is_active: bool


def capabilities(role: str) -> frozenset[Capability]:
    """The capabilities of a role; an unknown role has none."""
    return ROLE_CAPABILITIES.get(role, frozenset())


def has_capability(user: object, capability: Capability) -> bool:
    """True when an authenticated, active user's role grants ``capability``."""
    if not getattr(user, "is_authenticated", False) or not getattr(user, "is_active", False):
        return False
    return capability in capabilities(getattr(user, "role", ""))


class ScopeProblem(StrEnum):
    """Why a role and a scope do not fit together (see ``scope_problem``)."""

    INSTITUTION_REQUIRED = "institution_required"
    ALLIANCE_REQUIRED = "alliance_required"
    NO_INSTITUTION = "no_institution"
    NO_ALLIANCE = "no_alliance"
    UNKNOWN_ROLE = "unknown_role"


def scope_problem(role: str, *, has_institution: bool, has_alliance: bool) -> ScopeProblem | None:
    """Check that a role's scope fits (rules.md §11, accounts model): doctors, nurses and
    pharmacists work at one institution; an alliance administrator runs one alliance; an
    auditor may be held to one alliance; system administrators and regulators have neither.
    Returns ``None`` when the scope fits, else the problem."""
    if role not in ROLE_CAPABILITIES:
        return ScopeProblem.UNKNOWN_ROLE
    if role in INSTITUTION_ROLES:
        if not has_institution:
            return ScopeProblem.INSTITUTION_REQUIRED
        if has_alliance:
            return ScopeProblem.NO_ALLIANCE
        return None
    if has_institution:
        return ScopeProblem.NO_INSTITUTION
    if role in ALLIANCE_ROLES and not has_alliance:
        return ScopeProblem.ALLIANCE_REQUIRED
    if role in UNSCOPED_ROLES and has_alliance:
        return ScopeProblem.NO_ALLIANCE
    return None
