"""JSON API of the alliance registry (mounted at ``/api/registry``): alliances, member
institutions, the alliance tree and the grid coverage report (rules.md §1). Read-only and
thin: it calls ``registry.services``; errors are problem+json."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.utils.translation import gettext
from ninja import Field, Query, Router, Schema

from tiercare.accounts.roles import Capability, has_capability
from tiercare.api_problems import RecordId
from tiercare.registry import services
from tiercare.registry.models import Alliance, Institution

router = Router(tags=["registry"])


class AllianceOut(Schema):
    id: int
    code: str
    name: str
    kind: str
    county_code: str
    lead_id: int | None
    grid: list[str] = Field(description="Division codes the alliance answers for")


class InstitutionOut(Schema):
    id: int
    code: str
    name: str
    level: str
    kind: str
    alliance_id: int | None
    parent_id: int | None
    division_code: str
    beds: int
    services: list[str]
    is_active: bool


class InstitutionFilter(Schema):
    alliance: RecordId | None = None
    level: str | None = None


class TownshipOut(Schema):
    code: str
    name: str


class AllianceRefOut(Schema):
    id: int
    code: str
    name: str


class OverlapOut(Schema):
    township: TownshipOut
    alliances: list[AllianceRefOut]


class CoverageOut(Schema):
    county_code: str
    townships: int
    covered: int
    ok: bool
    gaps: list[TownshipOut]
    overlaps: list[OverlapOut]


class TreeInstitutionOut(Schema):
    id: int
    code: str
    name: str
    level: str
    kind: str
    division_code: str
    parent_id: int | None
    practitioners: int
    residents_in_grid: int
    encounters_this_year: int


class TreeLevelOut(Schema):
    level: str
    label: str
    institutions: list[TreeInstitutionOut]
    practitioners: int
    residents_in_grid: int
    encounters_this_year: int


def _require(request: HttpRequest, capability: Capability) -> None:
    if not (getattr(request.user, "is_superuser", False)
            or has_capability(request.user, capability)):
        raise PermissionDenied(gettext("Your role does not allow this action."))


def _alliance_out(alliance: Alliance) -> dict[str, Any]:
    return {"id": alliance.pk, "code": alliance.code, "name": alliance.name,
            "kind": alliance.kind, "county_code": alliance.county_code,
            "lead_id": alliance.lead_id,
            "grid": sorted(g.division.code for g in alliance.grid.all())}


@router.get("/alliances", response=list[AllianceOut], summary="Medical alliances")
def alliances(request: HttpRequest) -> list[dict[str, Any]]:
    _require(request, Capability.VIEW_OVERVIEW)
    rows = Alliance.objects.prefetch_related("grid__division").order_by("code")
    return [_alliance_out(a) for a in rows]


@router.get("/alliances/{alliance_id}", response=AllianceOut, summary="One alliance")
def alliance(request: HttpRequest, alliance_id: RecordId) -> dict[str, Any]:
    _require(request, Capability.VIEW_OVERVIEW)
    return _alliance_out(Alliance.objects.prefetch_related("grid__division").get(pk=alliance_id))


@router.get("/alliances/{alliance_id}/tree", response=list[TreeLevelOut],
            summary="Members by level with counts")
def tree(request: HttpRequest, alliance_id: RecordId) -> list[services.TreeLevel]:
    _require(request, Capability.VIEW_OVERVIEW)
    return services.alliance_tree(Alliance.objects.get(pk=alliance_id))


@router.get("/institutions", response=list[InstitutionOut], summary="Member institutions")
def institutions(request: HttpRequest, filters: Query[InstitutionFilter]) -> list[Institution]:
    _require(request, Capability.VIEW_OVERVIEW)
    rows = Institution.objects.all()
    if filters.alliance is not None:
        rows = rows.filter(alliance_id=filters.alliance)
    if filters.level:
        rows = rows.filter(level=filters.level)
    return list(rows.order_by("code"))


@router.get("/institutions/{institution_id}", response=InstitutionOut, summary="An institution")
def institution(request: HttpRequest, institution_id: RecordId) -> Institution:
    _require(request, Capability.VIEW_OVERVIEW)
    return Institution.objects.get(pk=institution_id)


@router.get("/coverage/{county_code}", response=CoverageOut, summary="Grid coverage check")
def coverage(request: HttpRequest, county_code: str) -> dict[str, Any]:
    """Townships of the county in no alliance (gaps) or in several (overlaps) (rules.md §1)."""
    _require(request, Capability.VIEW_GRID)
    # isascii: str.isdigit() also takes full-width and other Unicode digits ("１２３４５６").
    if len(county_code) != 6 or not (county_code.isascii() and county_code.isdigit()):
        from django.core.exceptions import ValidationError

        raise ValidationError({"county_code": [ValidationError(
            gettext("A county code has 6 digits, got “%(code)s”.") % {"code": county_code},
            code="county_code.format")]})
    report = services.check_grid_coverage(county_code)
    return {"county_code": report.county_code, "townships": report.townships,
            "covered": report.covered, "ok": report.ok, "gaps": report.gaps,
            "overlaps": report.overlaps}
