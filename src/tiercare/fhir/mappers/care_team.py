"""CareTeam ↔ ``chronic.FamilyDoctorTeam``: a family-doctor team (家庭医生团队, rules.md §7;
glossary "Family doctors, chronic care"), the team a resident's contract (EpisodeOfCare,
ADR 0020) and chronic care plan (CarePlan) name.

* ``identifier``: ``…/identifier/family-doctor-team`` = the team's code. ``name``.
* ``status``: ``active`` while the team works, ``inactive`` once it is stood down.
* ``category``: LOINC LA28865-6 "Longitudinal care-coordination focused care team" (the
  CareTeam category value set): the team follows its residents for years, not one episode.
* ``participant``: the present members (no end date), each with its ``role`` (``…/CodeSystem/
  family-doctor-team-role``: ``lead`` | ``gp`` | ``village_doctor`` | ``specialist`` |
  ``nurse`` | ``public_health``, the label as text), the member as their employment
  (``PractitionerRole/employment-N``, see the PractitionerRole mapper), ``onBehalfOf`` the
  institution that employs them and ``period.start`` the day they joined. Members come from
  every level: a village doctor's clinic or a county specialist's hospital, not only the
  team's base.
* ``managingOrganization``: the base institution (a township health centre or village clinic,
  ``Organization/institution-N``).

A team is registry data, not a resident's record (it lists no residents): every caller reads
every team, as for PractitionerRole and Organization, and reads are not audited. Read and
search only; teams are formed in TierCare (``chronic.services.create_team``).
"""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch, Q, QuerySet
from django.utils.translation import gettext_lazy as _

from tiercare.chronic.models import FamilyDoctorTeam, TeamMember
from tiercare.fhir.auth import Client
from tiercare.fhir.mapping import (
    BASE_URI,
    NOTHING,
    Include,
    ResourceMapper,
    mapper_for,
    reference_filter,
    referenced,
    register,
)
from tiercare.fhir.search import SearchParam, parse_token, string_q
from tiercare.registry.models import Institution, Posting, Practitioner

TEAM_SYSTEM = f"{BASE_URI}/identifier/family-doctor-team"
ROLE_SYSTEM = f"{BASE_URI}/CodeSystem/family-doctor-team-role"
CARE_TEAM_STATUS = "http://hl7.org/fhir/care-team-status"
CATEGORY_CODING = {"system": "http://loinc.org", "code": "LA28865-6",
                   "display": "Longitudinal care-coordination focused care team"}
ACTIVE, INACTIVE = "active", "inactive"


def team_reference(team_id: int, display: str = "") -> dict[str, str]:
    """``CareTeam/N`` for a family-doctor team."""
    ref = {"reference": f"CareTeam/{team_id}"}
    if display:
        ref["display"] = display
    return ref


def _status_filter(value: str, modifier: str) -> Q:
    token = parse_token(value)
    if token.system not in (None, "", CARE_TEAM_STATUS):
        return NOTHING
    return {ACTIVE: Q(is_active=True), INACTIVE: Q(is_active=False)}.get(token.code or "",
                                                                        NOTHING)


def _identifier_filter(value: str, modifier: str) -> Q:
    token = parse_token(value)
    if token.system not in (None, TEAM_SYSTEM):
        return NOTHING
    return Q(code=token.code) if token.code else Q()


def _category_filter(value: str, modifier: str) -> Q:
    token = parse_token(value)
    coding = CATEGORY_CODING
    if token.system not in (None, coding["system"]):
        return NOTHING
    return Q() if token.code in (None, coding["code"]) else NOTHING


def _present(practitioner_q: Q) -> Q:
    """Teams with a present member matching ``practitioner_q`` (on ``TeamMember``)."""
    members = TeamMember.objects.filter(practitioner_q, end_date__isnull=True)
    return Q(pk__in=members.values("team_id"))


def _participant_filter(value: str, modifier: str) -> Q:
    """``participant``: a member, as ``Practitioner/N`` or ``PractitionerRole/employment-N``
    (or ``posting-N``: the posted practitioner); a bare id is a practitioner."""
    role = referenced(value, "PractitionerRole")
    if role is not None and role[0] is Posting:
        return _present(Q(practitioner_id__in=Posting.objects.filter(pk=role[1])
                          .values("practitioner_id")))
    named = role or referenced(value, "Practitioner")
    if named is None or named[0] is not Practitioner:
        return NOTHING
    return _present(Q(practitioner_id=named[1]))


def _members(team: FamilyDoctorTeam) -> list[TeamMember]:
    found: list[TeamMember] | None = getattr(team, "present_members", None)
    if found is None:
        found = list(team.members.filter(end_date__isnull=True).select_related("practitioner"))
    return found


@register
class CareTeamMapper(ResourceMapper):
    resource_type = "CareTeam"
    model = FamilyDoctorTeam
    search_params = {
        "identifier": SearchParam("token", f"The team's code ({TEAM_SYSTEM}|code)",
                                  _identifier_filter),
        "name": SearchParam("string", "The team's name (starts with; :exact, :contains)",
                            lambda value, modifier: string_q("name", value, modifier),
                            ("exact", "contains")),
        "status": SearchParam("token", "active | inactive", _status_filter),
        "category": SearchParam("token", "LA28865-6 (LOINC): every family-doctor team",
                                _category_filter),
        "organization": SearchParam(
            "reference", "The base institution (Organization/institution-N)",
            reference_filter("institution_id", "Organization", Institution)),
        "participant": SearchParam(
            "reference", "A present member (Practitioner/N or PractitionerRole/employment-N)",
            _participant_filter),
    }
    sorts = {"name": "name"}
    includes = {
        "CareTeam:participant": Include(
            "PractitionerRole",
            lambda t: [mapper_for("PractitionerRole").model_id(Practitioner, m.practitioner_id)
                       for m in _members(t)]),
    }

    def queryset(self, client: Client) -> QuerySet[Any]:
        present = TeamMember.objects.filter(end_date__isnull=True).select_related(
            "practitioner").order_by("role", "id")
        return FamilyDoctorTeam.objects.select_related("institution").prefetch_related(
            Prefetch("members", queryset=present, to_attr="present_members"))

    def to_resource(self, obj: Any, client: Client) -> dict[str, Any]:
        team: FamilyDoctorTeam = obj
        organizations = mapper_for("Organization")
        roles = mapper_for("PractitionerRole")
        participants = []
        for member in _members(team):
            practitioner = member.practitioner
            label = str(TeamMember.Role(member.role).label)
            participant: dict[str, Any] = {
                "role": [{"coding": [{"system": ROLE_SYSTEM, "code": member.role,
                                      "display": label}], "text": label}],
                "member": roles.reference(Practitioner, practitioner.pk, practitioner.name),
                "period": {"start": member.start_date.isoformat()},
            }
            if practitioner.institution_id is not None:
                participant["onBehalfOf"] = organizations.reference(
                    Institution, practitioner.institution_id)
            participants.append(participant)
        resource: dict[str, Any] = {
            "resourceType": "CareTeam",
            "id": str(team.pk),
            "meta": {"lastUpdated": team.updated_at.isoformat()},
            "identifier": [{"system": TEAM_SYSTEM, "value": team.code}],
            "status": ACTIVE if team.is_active else INACTIVE,
            "category": [{"coding": [CATEGORY_CODING],
                          "text": str(_("Family-doctor team"))}],
            "name": team.name,
        }
        if participants:
            resource["participant"] = participants
        resource["managingOrganization"] = [organizations.reference(
            Institution, team.institution_id, team.institution.name)]
        return resource

