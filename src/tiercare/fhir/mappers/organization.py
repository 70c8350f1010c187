"""Organization ↔ the alliance's registry: alliances, institutions and departments
(``registry.Alliance``, ``registry.Institution``, ``registry.Department``).

Logical ids name the kind: ``alliance-1``, ``institution-3``, ``department-12`` (ADR 0006).
``partOf`` draws the tree: a department is part of its institution; a village clinic of the
township centre that runs it (``Institution.parent``); any other member of its alliance.
``type`` carries three codings: HL7's organization type (``prov``, ``dept``, ``other`` for an
alliance), TierCare's kind (``county_community``, ``township_centre`` …) and, for
institutions, the level of care (rules.md §1). Identifiers: the registry codes under
``https://tiercare.org/fhir/identifier/alliance`` and ``…/institution``; a department's
code is unique within its institution, so its system is ``…/department/<institution code>``.
Read and search only: the registry is kept in TierCare's own pages.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet
from django.utils.translation import gettext_lazy as _

from tiercare.fhir.auth import Client
from tiercare.fhir.mapping import (
    BASE_URI,
    NOTHING,
    CompositeMapper,
    ResourceMapper,
    mapper_for,
    reference_filter,
    referenced,
    register,
)
from tiercare.fhir.search import SearchParam, parse_token, string_q
from tiercare.registry.models import Alliance, Department, Institution, Level

HL7_ORG_TYPE = "http://terminology.hl7.org/CodeSystem/organization-type"
KIND_SYSTEM = f"{BASE_URI}/CodeSystem/organization-kind"
LEVEL_SYSTEM = f"{BASE_URI}/CodeSystem/level"
ALLIANCE_SYSTEM = f"{BASE_URI}/identifier/alliance"
INSTITUTION_SYSTEM = f"{BASE_URI}/identifier/institution"
DEPARTMENT_SYSTEM = f"{BASE_URI}/identifier/department/"
DIVISION_CODE_URL = f"{BASE_URI}/StructureDefinition/division-code"
BEDS_URL = f"{BASE_URI}/StructureDefinition/beds"
SERVICE_URL = f"{BASE_URI}/StructureDefinition/service"
GRID_URL = f"{BASE_URI}/StructureDefinition/alliance-grid"
LEAD_URL = f"{BASE_URI}/StructureDefinition/alliance-lead"
HL7_DISPLAY = {"prov": "Healthcare Provider", "dept": "Hospital Department", "other": "Other"}



def _coding(system: str, code: str, display: object) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code, "display": str(display)}]}


def _types(hl7: str, kind: str, kind_label: object) -> list[dict[str, Any]]:
    return [_coding(HL7_ORG_TYPE, hl7, HL7_DISPLAY[hl7]), _coding(KIND_SYSTEM, kind, kind_label)]


def _type_q(value: str, constants: dict[str, str], fields: dict[str, str]) -> Q:
    """``type`` on one part: ``constants`` are the part's fixed codes per system (HL7's
    ``prov``), ``fields`` the model fields holding the code of a system (the kind)."""
    token = parse_token(value)
    code = token.code or ""
    systems = [token.system] if token.system is not None else [*constants, *fields]
    result = NOTHING
    for system in systems:
        if system in constants:
            q = Q() if not code or code == constants[system] else NOTHING
        elif system in fields:
            q = Q(**{fields[system]: code}) if code else Q()
        else:
            continue
        if q == Q():
            return q
        if q != NOTHING:
            result = q if result == NOTHING else result | q
    return result


def _type_param(constants: dict[str, str], fields: dict[str, str]) -> SearchParam:
    return SearchParam("token", "prov | dept | other (HL7 organization-type), the kind "
                       "(county_community, township_centre, department …) or the level "
                       "(county, township, village …)",
                       lambda value, modifier: _type_q(value, constants, fields))


def _code_q(value: str, system: str) -> Q:
    token = parse_token(value)
    if token.system not in (None, system):
        return NOTHING
    return Q(code=token.code) if token.code else Q()


def _name_param() -> SearchParam:
    return SearchParam("string", "Name (starts with; :exact, :contains)",
                       lambda value, modifier: string_q("name", value.strip(), modifier),
                       ("exact", "contains"))


class _OrganizationPart(ResourceMapper):
    resource_type = "Organization"
    sorts = {"name": "name"}

    def _base(self, obj: Any, identifier: dict[str, str], types: list[dict[str, Any]],
              active: bool) -> dict[str, Any]:
        return {"resourceType": "Organization", "id": self.id_of(obj),
                "meta": {"lastUpdated": obj.updated_at.isoformat()},
                "identifier": [{"use": "official", **identifier}], "active": active,
                "type": types, "name": obj.name}


class AllianceOrganization(_OrganizationPart):
    """A medical alliance (医联体/医共体): kind, county, lead hospital and grid."""

    model = Alliance
    id_prefix = "alliance"
    search_params = {
        "identifier": SearchParam("token", "Alliance, institution or department code "
                                  "(system|code)",
                                  lambda value, modifier: _code_q(value, ALLIANCE_SYSTEM)),
        "name": _name_param(),
        "type": _type_param({HL7_ORG_TYPE: "other"}, {KIND_SYSTEM: "kind"}),
    }

    def queryset(self, client: Client) -> QuerySet[Any]:
        return Alliance.objects.prefetch_related("divisions")

    def to_resource(self, obj: Any, client: Client) -> dict[str, Any]:
        a: Alliance = obj
        resource = self._base(a, {"system": ALLIANCE_SYSTEM, "value": a.code},
                              _types("other", a.kind, a.get_kind_display()), True)
        resource["address"] = [{"district": a.county_code, "country": "CN"}]
        extensions: list[dict[str, Any]] = []
        if a.lead_id is not None:
            extensions.append({"url": LEAD_URL, "valueReference": mapper_for(
                "Organization").reference(Institution, a.lead_id)})
        extensions.extend({"url": GRID_URL, "valueCode": d.code}
                          for d in sorted(a.divisions.all(), key=lambda d: d.code))
        if extensions:
            resource["extension"] = extensions
        return resource


def _institution_partof(value: str, modifier: str) -> Q:
    named = referenced(value, "Organization")
    if named is None:
        return NOTHING
    model, pk = named
    if model is Alliance:
        return Q(alliance_id=pk, parent__isnull=True)
    if model is Institution:
        return Q(parent_id=pk)
    return NOTHING


class InstitutionOrganization(_OrganizationPart):
    """A member institution (or an outside hospital the registry knows): level, kind,
    site's division code, beds and services."""

    model = Institution
    id_prefix = "institution"
    search_params = {
        "identifier": SearchParam(
            "token", "Alliance, institution or department code (system|code)",
            lambda value, modifier: _code_q(value, INSTITUTION_SYSTEM)),
        "name": _name_param(),
        "partof": SearchParam("reference", "The organization this one is part of "
                              "(Organization/alliance-1, Organization/institution-3)",
                              _institution_partof),
        "type": _type_param({HL7_ORG_TYPE: "prov"}, {KIND_SYSTEM: "kind", LEVEL_SYSTEM: "level"}),
    }

    def queryset(self, client: Client) -> QuerySet[Any]:
        return Institution.objects.select_related("alliance", "parent")

    def to_resource(self, obj: Any, client: Client) -> dict[str, Any]:
        i: Institution = obj
        types = _types("prov", i.kind, i.get_kind_display())
        types.append(_coding(LEVEL_SYSTEM, i.level, Level(i.level).label))
        resource = self._base(i, {"system": INSTITUTION_SYSTEM, "value": i.code}, types,
                              i.is_active)
        resource["address"] = [{"district": i.division_code[:6], "country": "CN",
                                "extension": [{"url": DIVISION_CODE_URL,
                                               "valueCode": i.division_code}]}]
        if i.parent is not None:
            resource["partOf"] = self.reference(Institution, i.parent_id, i.parent.name)
        elif i.alliance is not None:
            resource["partOf"] = mapper_for("Organization").reference(
                Alliance, i.alliance_id, i.alliance.name)
        extensions: list[dict[str, Any]] = [{"url": BEDS_URL, "valueUnsignedInt": i.beds}]
        extensions.extend({"url": SERVICE_URL, "valueCode": code} for code in i.services)
        resource["extension"] = extensions
        return resource


def _department_identifier(value: str, modifier: str) -> Q:
    token = parse_token(value)
    if token.system is None:
        return Q(code=token.code) if token.code else Q()
    if not token.system.startswith(DEPARTMENT_SYSTEM):
        return NOTHING
    institution = token.system[len(DEPARTMENT_SYSTEM):]
    condition = Q(institution__code=institution)
    return condition & Q(code=token.code) if token.code else condition


class DepartmentOrganization(_OrganizationPart):
    """A department (科室) of an institution; its specialty is the name's text."""

    model = Department
    id_prefix = "department"
    search_params = {
        "identifier": SearchParam(
            "token", "Alliance, institution or department code (system|code)",
            _department_identifier),
        "name": _name_param(),
        "partof": SearchParam("reference", "The organization this one is part of",
                              reference_filter("institution_id", "Organization", Institution)),
        "type": _type_param({HL7_ORG_TYPE: "dept", KIND_SYSTEM: "department"}, {}),
    }

    def queryset(self, client: Client) -> QuerySet[Any]:
        return Department.objects.select_related("institution")

    def to_resource(self, obj: Any, client: Client) -> dict[str, Any]:
        d: Department = obj
        resource = self._base(
            d, {"system": DEPARTMENT_SYSTEM + d.institution.code, "value": d.code},
            _types("dept", "department", _("Department")), d.is_active)
        resource["partOf"] = mapper_for("Organization").reference(
            Institution, d.institution_id, d.institution.name)
        if d.specialty:
            resource["type"].append({"text": d.specialty})
        return resource


@register
class OrganizationMapper(CompositeMapper):
    """Alliances, institutions and departments as one resource type."""

    resource_type = "Organization"
    part_types = (AllianceOrganization, InstitutionOrganization, DepartmentOrganization)
