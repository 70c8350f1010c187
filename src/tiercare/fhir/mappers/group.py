"""Group ↔ the residents of an alliance's grid (``registry.Alliance`` and its ``Grid``): the
group a regulator exports with ``GET /fhir/Group/alliance-N/$export`` (HL7 FHIR Bulk Data
Access IG v2, group-level export).

An alliance answers for the residents living in the townships of its grid (rules.md §1,
seed 002); that is the group. One model, so ids are ``alliance-N`` like the alliance's
Organization (ADR 0006) and name the same record. ``type`` person, ``actual`` true,
``name`` the alliance's name, ``quantity`` the number of active residents whose address lies
in the grid (merged duplicates are not counted: they are one person), ``managingEntity`` the
alliance's Organization. Members are not listed in the resource (R4 allows that; a grid holds
tens of thousands of residents): ``$export`` is how their records are read, scoped and
audited. Read and search only.
"""

from __future__ import annotations

import functools
import operator
from typing import Any

from django.db.models import Q, QuerySet

from tiercare.fhir.auth import Client
from tiercare.fhir.mappers.organization import ALLIANCE_SYSTEM
from tiercare.fhir.mapping import (
    NOTHING,
    ResourceMapper,
    mapper_for,
    reference_filter,
    register,
)
from tiercare.fhir.search import SearchParam, parse_token
from tiercare.patients import access
from tiercare.patients.models import Patient
from tiercare.registry.models import Alliance

GROUP_TYPE_SYSTEM = "http://hl7.org/fhir/group-type"


def members_q(alliance_id: int) -> Q:
    """The residents of the alliance's grid (their address lies in one of its townships), as
    ``patients.access`` draws an alliance's reach."""
    parts = access.reach_parts(alliance_id=alliance_id) or [Q()]
    return functools.reduce(operator.or_, parts)


def _identifier_q(value: str, modifier: str) -> Q:
    token = parse_token(value)
    if token.system not in (None, ALLIANCE_SYSTEM):
        return NOTHING
    return Q(code=token.code) if token.code else Q()


def _type_q(value: str, modifier: str) -> Q:
    token = parse_token(value)
    if token.system not in (None, GROUP_TYPE_SYSTEM):
        return NOTHING
    return Q() if token.code in (None, "person") else NOTHING


def _actual_q(value: str, modifier: str) -> Q:
    return Q() if parse_token(value).code == "true" else NOTHING


@register
class GroupMapper(ResourceMapper):
    """The residents of an alliance's grid."""

    resource_type = "Group"
    model = Alliance
    id_prefix = "alliance"
    search_params = {
        "identifier": SearchParam("token", "The alliance's code (system|code)", _identifier_q),
        "managing-entity": SearchParam(
            "reference", "The alliance (Organization/alliance-N)",
            reference_filter("pk", "Organization", Alliance)),
        "type": SearchParam("token", "person (every group here)", _type_q),
        "actual": SearchParam("token", "true (every group here)", _actual_q),
    }

    def queryset(self, client: Client) -> QuerySet[Any]:
        return Alliance.objects.all()

    def quantity(self, alliance_id: int) -> int:
        return Patient.objects.filter(members_q(alliance_id), is_active=True).count()

    def to_resource(self, obj: Any, client: Client) -> dict[str, Any]:
        a: Alliance = obj
        return {
            "resourceType": "Group",
            "id": self.id_of(a),
            "meta": {"lastUpdated": a.updated_at.isoformat()},
            "identifier": [{"use": "official", "system": ALLIANCE_SYSTEM, "value": a.code}],
            "active": True,
            "type": "person",
            "actual": True,
            "name": a.name,
            "quantity": self.quantity(a.pk),
            "managingEntity": mapper_for("Organization").reference(Alliance, a.pk, a.name),
        }
