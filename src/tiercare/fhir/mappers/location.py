"""Location ↔ the places of the county: the institutions' sites (``registry.Institution``),
the divisions of the grid (``registry.Division``: county, townships, villages; rules.md §1,
§10) and the beds of the wards (``scheduling.Bed``, rules.md §4).

Logical ids name the kind (ADR 0006): ``site-<institution>``, ``division-<division>``,
``bed-<bed>``.
A site is ``mode: instance``, ``physicalType`` building (``bu``), managed by its institution
(``managingOrganization`` → ``Organization/institution-<pk>``), with the institution code as
identifier, the county code in ``address.district`` and the site's division code in the
extension ``…/StructureDefinition/division-code``; it is ``partOf`` the division of that code
when the registry stores it. A division is ``mode: kind``, ``physicalType`` area, identified
by its 12-digit statistical code (``…/identifier/division-code``, GB/T 2260 plus township and
village digits) and ``partOf`` its parent division: village → township → county.
A bed (ADR 0013: what a referral accepted with a bed holds) is ``mode: instance``,
``physicalType`` bed (``bd``), named "<ward> <bed code>", ``partOf`` its institution's site,
managed by the institution, with the ward's department in the ``department`` extension, its
pool (``public`` | ``referral``) as ``type`` under ``…/CodeSystem/slot-pool`` and its state
(``free`` | ``reserved`` | ``occupied`` | ``closed``) as ``operationalStatus`` under
``…/CodeSystem/bed-status``; never its occupant (beds are not residents' records).
Read and search only: the registry and the wards are kept in TierCare's own pages.
"""

from __future__ import annotations

from typing import Any

from django.db.models import OuterRef, Q, QuerySet, Subquery

from tiercare.fhir.auth import Client
from tiercare.fhir.mappers.slot import POOL_SYSTEM
from tiercare.fhir.mapping import (
    BASE_URI,
    NOTHING,
    CompositeMapper,
    ResourceMapper,
    code_filter,
    mapper_for,
    reference_filter,
    referenced,
    register,
)
from tiercare.fhir.search import SearchParam, parse_token, string_q
from tiercare.registry.models import Department, Division, Institution
from tiercare.scheduling.models import Bed, Pool

PHYSICAL_TYPE = "http://terminology.hl7.org/CodeSystem/location-physical-type"
INSTITUTION_SYSTEM = f"{BASE_URI}/identifier/institution"
DIVISION_SYSTEM = f"{BASE_URI}/identifier/division-code"
DIVISION_CODE_URL = f"{BASE_URI}/StructureDefinition/division-code"
DEPARTMENT_URL = f"{BASE_URI}/StructureDefinition/department"
BED_STATUS_SYSTEM = f"{BASE_URI}/CodeSystem/bed-status"
PHYSICAL_DISPLAY = {"bu": "Building", "area": "Area", "bd": "Bed"}



def _physical_type(code: str) -> dict[str, Any]:
    return {"coding": [{"system": PHYSICAL_TYPE, "code": code,
                        "display": PHYSICAL_DISPLAY[code]}]}


def _code_q(value: str, system: str) -> Q:
    token = parse_token(value)
    if token.system not in (None, system):
        return NOTHING
    return Q(code=token.code.strip()) if token.code else Q()


def _name_param(field: str = "name") -> SearchParam:
    return SearchParam("string", "Name (starts with; :exact, :contains)",
                       lambda value, modifier: string_q(field, value.strip(), modifier),
                       ("exact", "contains"))


def _identifier_param(system: str) -> SearchParam:
    return SearchParam("token", "Institution code of a site or division code of an area "
                       "(system|code)", lambda value, modifier: _code_q(value, system))


def _referenced_division(value: str) -> int | None:
    named = referenced(value, "Location")
    return named[1] if named is not None and named[0] is Division else None


def _site_partof(value: str, modifier: str) -> Q:
    """Sites located in the division (at any depth: a county holds its townships' and
    villages' sites)."""
    pk = _referenced_division(value)
    code = None if pk is None else Division.objects.filter(pk=pk).values_list(
        "code", flat=True).first()
    return NOTHING if code is None else Q(division_code__startswith=code)


def _bed_partof(value: str, modifier: str) -> Q:
    """Beds of a site (``Location/site-3``) or of the sites in a division (any depth)."""
    named = referenced(value, "Location")
    if named is not None and named[0] is Institution:
        return Q(ward__institution_id=named[1])
    site = _site_partof(value, modifier)
    return NOTHING if site == NOTHING else Q(
        ward__institution__in=Institution.objects.filter(site).values("pk"))


def _area_partof(value: str, modifier: str) -> Q:
    """Divisions directly under the division (a county's townships, a township's villages)."""
    pk = _referenced_division(value)
    return NOTHING if pk is None else Q(parent_id=pk)


class _LocationPart(ResourceMapper):
    resource_type = "Location"
    sorts = {"name": "name"}

    def _base(self, obj: Any, system: str, status: str, mode: str,
              physical: str) -> dict[str, Any]:
        return {"resourceType": "Location", "id": self.id_of(obj),
                "meta": {"lastUpdated": obj.updated_at.isoformat()},
                "identifier": [{"use": "official", "system": system, "value": obj.code}],
                "status": status, "name": obj.name, "mode": mode,
                "physicalType": _physical_type(physical)}


class SiteLocation(_LocationPart):
    """The premises of an institution."""

    model = Institution
    id_prefix = "site"
    search_params = {
        "identifier": _identifier_param(INSTITUTION_SYSTEM),
        "name": _name_param(),
        "partof": SearchParam("reference", "The division it lies in (Location/division-2: "
                              "sites at any depth, divisions directly under it)",
                              _site_partof),
        "organization": SearchParam("reference", "The institution of a site "
                                    "(Organization/institution-3)",
                                    reference_filter("pk", "Organization", Institution)),
    }

    def queryset(self, client: Client) -> QuerySet[Any]:
        division = Division.objects.filter(code=OuterRef("division_code"))
        return Institution.objects.annotate(
            division_pk=Subquery(division.values("pk")[:1]),
            division_name=Subquery(division.values("name")[:1]))

    def to_resource(self, obj: Any, client: Client) -> dict[str, Any]:
        i: Institution = obj
        resource = self._base(i, INSTITUTION_SYSTEM, "active" if i.is_active else "inactive",
                              "instance", "bu")
        resource["address"] = {"district": i.division_code[:6], "country": "CN",
                               "extension": [{"url": DIVISION_CODE_URL,
                                              "valueCode": i.division_code}]}
        resource["managingOrganization"] = mapper_for("Organization").reference(
            Institution, i.pk, i.name)
        division_pk = getattr(i, "division_pk", None)
        if division_pk is not None:
            resource["partOf"] = mapper_for("Location").reference(
                Division, division_pk, getattr(i, "division_name", "") or "")
        return resource


class DivisionLocation(_LocationPart):
    """A county, township or village of the grid."""

    model = Division
    id_prefix = "division"
    search_params = {
        "identifier": _identifier_param(DIVISION_SYSTEM),
        "name": _name_param(),
        "partof": SearchParam("reference", "The division it lies in", _area_partof),
    }

    def queryset(self, client: Client) -> QuerySet[Any]:
        return Division.objects.select_related("parent")

    def to_resource(self, obj: Any, client: Client) -> dict[str, Any]:
        d: Division = obj
        resource = self._base(d, DIVISION_SYSTEM, "active", "kind", "area")
        if d.parent is not None:
            resource["partOf"] = mapper_for("Location").reference(Division, d.parent.pk,
                                                                  d.parent.name)
        return resource


class BedLocation(_LocationPart):
    """A bed of a ward (the place a referral accepted with a bed holds)."""

    model = Bed
    id_prefix = "bed"
    sorts = {"name": "ward__name"}
    search_params = {
        "name": _name_param("ward__name"),
        "partof": SearchParam("reference", "The site (Location/site-3) or the division "
                              "(any depth) of the bed's institution", _bed_partof),
        "organization": SearchParam("reference", "The institution of the bed's ward "
                                    "(Organization/institution-3)",
                                    reference_filter("ward__institution_id", "Organization",
                                                     Institution)),
        "operational-status": SearchParam(
            "token", f"A bed's state: free | reserved | occupied | closed ({BED_STATUS_SYSTEM})",
            code_filter("status", BED_STATUS_SYSTEM, Bed.Status.values)),
        "type": SearchParam("token", f"A bed's pool: public | referral ({POOL_SYSTEM})",
                            code_filter("pool", POOL_SYSTEM, Pool.values)),
    }

    def queryset(self, client: Client) -> QuerySet[Any]:
        return Bed.objects.select_related("ward__institution", "ward__department")

    def to_resource(self, obj: Any, client: Client) -> dict[str, Any]:
        b: Bed = obj
        ward, institution = b.ward, b.ward.institution
        status = ("inactive" if not ward.is_active
                  else "suspended" if b.status == Bed.Status.CLOSED else "active")
        locations, organizations = mapper_for("Location"), mapper_for("Organization")
        resource: dict[str, Any] = {
            "resourceType": "Location", "id": self.id_of(b),
            "meta": {"lastUpdated": b.updated_at.isoformat()},
            "status": status,
            "operationalStatus": {"system": BED_STATUS_SYSTEM, "code": b.status,
                                  "display": str(Bed.Status(b.status).label)},
            "name": f"{ward.name} {b.code}", "mode": "instance",
            "type": [{"coding": [{"system": POOL_SYSTEM, "code": b.pool,
                                  "display": str(Pool(b.pool).label)}]}],
            "physicalType": _physical_type("bd"),
            "managingOrganization": organizations.reference(Institution, institution.pk,
                                                            institution.name),
            "partOf": locations.reference(Institution, institution.pk, institution.name),
        }
        if ward.department is not None:
            resource["extension"] = [{"url": DEPARTMENT_URL, "valueReference": (
                organizations.reference(Department, ward.department.pk, ward.department.name))}]
        return resource


@register
class LocationMapper(CompositeMapper):
    """Institution sites, the grid's divisions and the wards' beds as one resource type."""

    resource_type = "Location"
    part_types = (SiteLocation, DivisionLocation, BedLocation)
