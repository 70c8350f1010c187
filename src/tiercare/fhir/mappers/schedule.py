"""Schedule ↔ ``scheduling.Schedule``: the bookable time of a department, a practitioner or a
piece of large equipment at one member institution (rules.md §4; docs/scheduling.md).

* ``actor``: the practitioner (``Practitioner/N``), the department
  (``Organization/department-N``) and, for equipment, a display-only reference (type
  ``Device``, its name and its code under ``…/identifier/equipment/<institution code>``):
  equipment is not served as a resource. The institution is the extension
  ``…/StructureDefinition/institution`` (``Organization/institution-N``).
* ``serviceCategory``: ``clinic`` | ``equipment`` (``…/CodeSystem/schedule-kind``);
  ``serviceType``: ``specialist`` for a chief / associate chief physician's clinic (专家号),
  or the equipment's modality (``…/CodeSystem/equipment-modality``); ``specialty``: the
  department's specialty as text.
* ``active``; ``planningHorizon``: from the first slot's start to the last slot's end;
  ``comment``: the schedule's name.

Read and search only; schedules are not residents' records (no audit of reads).
"""

from __future__ import annotations

from typing import Any

from django.db.models import OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from tiercare.fhir.auth import Client
from tiercare.fhir.mappers.practitioner import parse_boolean
from tiercare.fhir.mapping import (
    BASE_URI,
    NOTHING,
    ResourceMapper,
    mapper_for,
    referenced,
    register,
)
from tiercare.fhir.search import CHINA, SearchParam
from tiercare.registry.models import Department, Institution, Practitioner
from tiercare.scheduling.models import Schedule, Slot

KIND_SYSTEM = f"{BASE_URI}/CodeSystem/schedule-kind"
MODALITY_SYSTEM = f"{BASE_URI}/CodeSystem/equipment-modality"
INSTITUTION_URL = f"{BASE_URI}/StructureDefinition/institution"
EQUIPMENT_BASE = f"{BASE_URI}/identifier/equipment/"
SPECIALIST = "specialist"


def _actor_filter(value: str, modifier: str) -> Q:
    """``actor``: a practitioner (``Practitioner/3``, or a bare ``3``), a department
    (``Organization/department-3``) or an institution (``Organization/institution-3``: all its
    schedules)."""
    condition = NOTHING
    practitioner = referenced(value, "Practitioner")
    if practitioner is not None and practitioner[0] is Practitioner:
        condition |= Q(practitioner_id=practitioner[1])
    organization = referenced(value, "Organization")
    if organization is not None and organization[0] is Department:
        condition |= Q(department_id=organization[1])
    elif organization is not None and organization[0] is Institution:
        condition |= Q(institution_id=organization[1])
    return condition


def _active_filter(value: str, modifier: str) -> Q:
    return Q(is_active=parse_boolean("active", value))


@register
class ScheduleMapper(ResourceMapper):
    resource_type = "Schedule"
    model = Schedule
    #: schedules carry no change time; their creation stands for it
    search_params = {
        "actor": SearchParam("reference", "The practitioner (Practitioner/N), department "
                             "(Organization/department-N) or institution "
                             "(Organization/institution-N)", _actor_filter),
        "active": SearchParam("token", "true | false", _active_filter),
    }

    def queryset(self, client: Client) -> QuerySet[Any]:
        # one indexed look-up per schedule (slot_unique_per_pool starts with schedule, start);
        # a schedule's slots never overlap, so the last to start is the last to end
        slots = Slot.objects.filter(schedule=OuterRef("pk"))
        return Schedule.objects.select_related(
            "institution", "department", "practitioner", "equipment").annotate(
            first_start=Subquery(slots.order_by("start").values("start")[:1]),
            last_end=Subquery(slots.order_by("-start").values("end")[:1]))

    def to_resource(self, obj: Any, client: Client) -> dict[str, Any]:
        s: Schedule = obj
        organizations = mapper_for("Organization")
        actors: list[dict[str, Any]] = []
        if s.practitioner is not None:
            actors.append(mapper_for("Practitioner").reference(
                Practitioner, s.practitioner.pk, s.practitioner.name))
        if s.department is not None:
            actors.append(organizations.reference(Department, s.department.pk,
                                                  s.department.name))
        if s.equipment is not None:
            actors.append({"type": "Device", "display": s.equipment.name, "identifier": {
                "system": EQUIPMENT_BASE + s.institution.code, "value": s.equipment.code}})
        kind_label = Schedule.Kind(s.kind).label
        resource: dict[str, Any] = {
            "resourceType": "Schedule",
            "id": str(s.pk),
            "meta": {"lastUpdated": s.updated_at.isoformat()},
            "active": s.is_active,
            "serviceCategory": [{"coding": [{"system": KIND_SYSTEM, "code": s.kind,
                                             "display": str(kind_label)}]}],
            "actor": actors,
            "comment": s.name,
            "extension": [{"url": INSTITUTION_URL, "valueReference": organizations.reference(
                Institution, s.institution.pk, s.institution.name)}],
        }
        if s.is_specialist:
            resource["serviceType"] = [{"coding": [{"system": KIND_SYSTEM,
                                                    "code": SPECIALIST}]}]
        elif s.equipment is not None:
            resource["serviceType"] = [{"coding": [{
                "system": MODALITY_SYSTEM, "code": s.equipment.modality,
                "display": str(s.equipment.get_modality_display())}]}]
        if s.department is not None and s.department.specialty:
            resource["specialty"] = [{"text": s.department.specialty}]
        first = getattr(s, "first_start", None)
        last = getattr(s, "last_end", None)
        if first is not None and last is not None:
            resource["planningHorizon"] = {"start": timezone.localtime(first, CHINA).isoformat(),
                                           "end": timezone.localtime(last, CHINA).isoformat()}
        return resource
