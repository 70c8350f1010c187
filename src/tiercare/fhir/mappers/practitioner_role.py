"""PractitionerRole ↔ where a health worker works: the employment (``registry.Practitioner``:
the employing institution and department) and the postings (``registry.Posting``: the lead
hospital's physicians stationed at township centres for a period, rules.md §1, seed 003
"four downward flows").

Logical ids name the kind (ADR 0006): ``employment-<practitioner>``, ``posting-<posting>``.
Both give ``practitioner`` (``Practitioner/<pk>``), ``organization`` (the employing or the
host institution, ``Organization/institution-<pk>``), the department as an extension
``…/StructureDefinition/department`` (``Organization/department-<pk>``) with its specialty in
``specialty``, and ``code`` with two concepts: the kind (``employment`` | ``posting`` under
``…/CodeSystem/practitioner-role``) and the professional title (``…/CodeSystem/
professional-title``). An employment has no ``period`` and is active while the practitioner
is; a posting carries its ``period`` and is active on the days inside it. Read and search
only.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from tiercare.fhir.auth import Client
from tiercare.fhir.mappers.practitioner import TITLE_SYSTEM, parse_boolean, title_coding
from tiercare.fhir.mapping import (
    BASE_URI,
    NOTHING,
    CompositeMapper,
    Include,
    ResourceMapper,
    mapper_for,
    referenced,
    register,
)
from tiercare.fhir.search import CHINA, Period, SearchParam, parse_date, parse_token
from tiercare.registry.models import Department, Institution, Posting, Practitioner

ROLE_SYSTEM = f"{BASE_URI}/CodeSystem/practitioner-role"
DEPARTMENT_URL = f"{BASE_URI}/StructureDefinition/department"
EMPLOYMENT = "employment"
POSTING = "posting"
ROLE_LABELS = {EMPLOYMENT: _("Employment"), POSTING: _("Posting")}



def _role_q(value: str, kind: str, title_field: str) -> Q:
    """``role`` on one part: the kind (``employment`` | ``posting``) or the title code, with
    or without their systems."""
    token = parse_token(value)
    code = token.code or ""
    if token.system in (None, ROLE_SYSTEM) and code in ROLE_LABELS:
        return Q() if code == kind else NOTHING
    if token.system == ROLE_SYSTEM:
        return NOTHING if code else Q()
    if token.system in (None, TITLE_SYSTEM):
        return Q(**{title_field: code}) if code else Q()
    return NOTHING


def _institution_q(value: str, field: str) -> Q:
    """``organization``: the employing or host institution (``Organization/institution-3``);
    another kind of organization matches nothing."""
    named = referenced(value, "Organization")
    if named is None or named[0] is not Institution:
        return NOTHING
    return Q(**{field: named[1]})


def _practitioner_q(value: str, field: str) -> Q:
    named = referenced(value, "Practitioner")
    return NOTHING if named is None else Q(**{field: named[1]})


def _days(period: Period) -> tuple[dt.date, dt.date]:
    """The days ``[first, after)`` a date parameter's value touches, in China time."""
    first = timezone.localtime(period.start, CHINA).date()
    end = timezone.localtime(period.end, CHINA)
    after = end.date()
    if end.time() != dt.time(0):
        after = after + dt.timedelta(days=1) if after < dt.date.max else after
    return first, after


def _in_force_q(first: dt.date, after: dt.date) -> Q:
    """Postings whose period (start and end days included; no end: open) overlaps the days
    ``[first, after)``."""
    return Q(start_date__lt=after) & (Q(end_date__isnull=True) | Q(end_date__gte=first))


def _posting_date_q(value: str, modifier: str) -> Q:
    """``date``: the posting's period against the value (FHIR date search on a Period): eq
    overlaps it (a day: the posting was in force that day), ne does not, lt/gt began before /
    goes on after it, le/ge overlaps or began before / goes on after."""
    period = parse_date("date", value)
    first, after = _days(period)
    in_force = _in_force_q(first, after)
    open_end = Q(end_date__isnull=True)
    return {
        "eq": in_force,
        "ne": ~in_force,
        "lt": Q(start_date__lt=first),
        "le": Q(start_date__lt=after),
        "gt": open_end | Q(end_date__gte=after),
        "ge": open_end | Q(end_date__gte=first),
    }[period.prefix]


def _employment_date_q(value: str, modifier: str) -> Q:
    """An employment has no period: it matches every (valid) date."""
    parse_date("date", value)
    return Q()


def _posting_active_q(value: str, modifier: str) -> Q:
    today = timezone.localdate()
    in_force = _in_force_q(today, today + dt.timedelta(days=1))
    return in_force if parse_boolean("active", value) else ~in_force


def _params(kind: str, *, practitioner: str, title: str, active: Any,
            date: Any) -> dict[str, SearchParam]:
    return {
        "practitioner": SearchParam(
            "reference", "The practitioner (Practitioner/3)",
            lambda value, modifier: _practitioner_q(value, practitioner)),
        "organization": SearchParam(
            "reference", "The employing or host institution (Organization/institution-3)",
            lambda value, modifier: _institution_q(value, "institution_id")),
        "active": SearchParam("token", "true | false (a posting: today inside its period)",
                              active),
        "role": SearchParam(
            "token", "employment | posting, or the professional title (attending …)",
            lambda value, modifier: _role_q(value, kind, title)),
        "date": SearchParam("date", "A posting's period against the date (eq: in force "
                            "then); an employment matches every date", date),
    }


class _RolePart(ResourceMapper):
    resource_type = "PractitionerRole"
    kind: str

    def _resource(self, obj: Any, practitioner: Practitioner, institution: Institution,
                  department: Department | None, active: bool) -> dict[str, Any]:
        organizations = mapper_for("Organization")
        resource: dict[str, Any] = {
            "resourceType": "PractitionerRole",
            "id": self.id_of(obj),
            "meta": {"lastUpdated": obj.updated_at.isoformat()},
            "active": active,
            "practitioner": mapper_for("Practitioner").reference(
                Practitioner, practitioner.pk, practitioner.name),
            "organization": organizations.reference(Institution, institution.pk,
                                                    institution.name),
            "code": [
                {"coding": [{"system": ROLE_SYSTEM, "code": self.kind,
                             "display": str(ROLE_LABELS[self.kind])}]},
                {"coding": [title_coding(practitioner.title)]},
            ],
        }
        if department is not None:
            resource["extension"] = [{"url": DEPARTMENT_URL, "valueReference":
                                      organizations.reference(Department, department.pk,
                                                              department.name)}]
            if department.specialty:
                resource["specialty"] = [{"text": department.specialty}]
        return resource


class EmploymentRole(_RolePart):
    """A practitioner at the institution (and department) that employs them."""

    model = Practitioner
    id_prefix = EMPLOYMENT
    kind = EMPLOYMENT
    search_params = _params(
        EMPLOYMENT, practitioner="pk", title="title",
        active=lambda value, modifier: Q(is_active=parse_boolean("active", value)),
        date=_employment_date_q)

    def queryset(self, client: Client) -> QuerySet[Any]:
        return Practitioner.objects.select_related("institution", "department")

    def to_resource(self, obj: Any, client: Client) -> dict[str, Any]:
        p: Practitioner = obj
        return self._resource(p, p, p.institution, p.department, p.is_active)


class PostingRole(_RolePart):
    """A practitioner stationed at a host institution for a period (rules.md §1)."""

    model = Posting
    id_prefix = POSTING
    kind = POSTING
    search_params = _params(POSTING, practitioner="practitioner_id",
                            title="practitioner__title", active=_posting_active_q,
                            date=_posting_date_q)

    def queryset(self, client: Client) -> QuerySet[Any]:
        return Posting.objects.select_related("practitioner", "institution", "department")

    def to_resource(self, obj: Any, client: Client) -> dict[str, Any]:
        posting: Posting = obj
        today = timezone.localdate()
        active = posting.start_date <= today and (posting.end_date is None
                                                 or today <= posting.end_date)
        resource = self._resource(posting, posting.practitioner, posting.institution,
                                  posting.department, active)
        period = {"start": posting.start_date.isoformat()}
        if posting.end_date is not None:
            period["end"] = posting.end_date.isoformat()
        resource["period"] = period
        return resource


def _practitioner_ids(obj: Any) -> list[str]:
    pk = obj.pk if isinstance(obj, Practitioner) else obj.practitioner_id
    return [mapper_for("Practitioner").model_id(Practitioner, pk)]


def _organization_ids(obj: Any) -> list[str]:
    return [mapper_for("Organization").model_id(Institution, obj.institution_id)]


@register
class PractitionerRoleMapper(CompositeMapper):
    """Employments and postings as one resource type."""

    resource_type = "PractitionerRole"
    part_types = (EmploymentRole, PostingRole)
    includes = {
        "PractitionerRole:practitioner": Include("Practitioner", _practitioner_ids),
        "PractitionerRole:organization": Include("Organization", _organization_ids),
    }
