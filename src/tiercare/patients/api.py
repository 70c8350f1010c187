"""JSON API of the resident record (mounted at ``/api/patients``): thin, every use case goes
through ``patients.services``; errors are problem+json (``tiercare.api_problems``).

Identifiers are masked for roles that do not need them (rules.md §11,
``access.can_see_identifiers``). Registering and changing residents is for clinical staff and
system administrators; merging and undoing merges for system and alliance administrators.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.utils.translation import gettext
from ninja import Field, Query, Router, Schema, Status

from tiercare.accounts.models import Role
from tiercare.api_problems import RecordId
from tiercare.patients import access, services
from tiercare.patients.models import MatchCandidate, Merge, Patient
from tiercare.patients.rules import mask_id_number, mask_phone

router = Router(tags=["patients"])

#: Roles that register residents and correct their demographics.
REGISTER_ROLES = access.REGISTER_ROLES
#: Roles that merge duplicate records and undo merges (the master patient index stewards).
MERGE_ROLES = frozenset({Role.SYSTEM_ADMIN, Role.ALLIANCE_ADMIN})


class PatientOut(Schema):
    id: int
    health_record_no: str
    name: str
    name_initials: str
    sex: str
    birth_date: date
    id_type: str
    id_number: str = Field(description="Masked (110105********0021) unless the role needs it")
    phone: str = Field(description="Masked (138****5678) unless the role needs it")
    address_code: str
    address: str
    scheme: str
    insured_county: str
    ethnicity: str
    deceased_date: date | None
    is_active: bool
    merged_into_id: int | None


class PatientIn(Schema):
    name: str
    address_code: str
    id_type: str = "id_card"
    id_number: str = ""
    birth_date: date | None = None
    sex: str = ""
    phone: str = ""
    ethnicity: str = ""
    address: str = ""
    scheme: str = "resident"
    insured_county: str = ""


class PatientPatch(Schema):
    name: str | None = None
    address_code: str | None = None
    id_type: str | None = None
    id_number: str | None = None
    birth_date: date | None = None
    sex: str | None = None
    phone: str | None = None
    ethnicity: str | None = None
    address: str | None = None
    scheme: str | None = None
    insured_county: str | None = None
    deceased_date: date | None = None


class MatchOut(Schema):
    id: int
    patient_id: int
    candidate_id: int
    score: int
    reasons: list[str]
    status: str
    found_at: datetime


class MergeIn(Schema):
    survivor_id: RecordId
    merged_id: RecordId
    reason: str = ""


class MergeOut(Schema):
    id: int
    survivor_id: int
    merged_id: int
    moved: dict[str, list[int]]
    reason: str
    merged_at: datetime
    undone_at: datetime | None


class SearchParams(Schema):
    q: str = Field(..., min_length=1, max_length=64,
                   description="ID number, phone, health record number, name or pinyin initials")
    limit: int = Field(50, ge=1, le=200)


def _out(user: Any, patient: Patient) -> dict[str, Any]:
    full = access.can_see_identifiers(user)
    return {
        "id": patient.pk, "health_record_no": patient.health_record_no, "name": patient.name,
        "name_initials": patient.name_initials, "sex": patient.sex,
        "birth_date": patient.birth_date, "id_type": patient.id_type,
        "id_number": patient.id_number if full else mask_id_number(patient.id_number),
        "phone": patient.phone if full else mask_phone(patient.phone),
        "address_code": patient.address_code, "address": patient.address,
        "scheme": patient.scheme, "insured_county": patient.insured_county,
        "ethnicity": patient.ethnicity, "deceased_date": patient.deceased_date,
        "is_active": patient.is_active, "merged_into_id": patient.merged_into_id,
    }


def _require_role(user: Any, roles: frozenset[str]) -> None:
    if not (getattr(user, "is_superuser", False) or getattr(user, "role", "") in roles):
        raise PermissionDenied(gettext("Your role does not allow this action."))


@router.get("", response=list[PatientOut], summary="Search residents")
def search(request: HttpRequest, params: Query[SearchParams]) -> list[dict[str, Any]]:
    """Search active residents in your scope by ID number, phone, health record number, name
    prefix or pinyin initials (``stf`` finds 单田芳)."""
    found = services.search_patients(request.user, params.q, limit=params.limit)
    return [_out(request.user, p) for p in found]


@router.post("", response={201: PatientOut}, summary="Register a resident")
def create(request: HttpRequest, payload: PatientIn) -> Status[dict[str, Any]]:
    _require_role(request.user, REGISTER_ROLES)
    patient = services.register_patient(services.PatientInput(**payload.model_dump()),
                                        user=request.user)  # type: ignore[arg-type]
    return Status(201, _out(request.user, patient))


@router.get("/merges/{merge_id}", response=MergeOut, summary="A merge")
def get_merge(request: HttpRequest, merge_id: RecordId) -> Merge:
    _require_role(request.user, MERGE_ROLES)
    return Merge.objects.get(pk=merge_id)


@router.post("/merges", response={201: MergeOut}, summary="Merge two resident records")
def merge(request: HttpRequest, payload: MergeIn) -> Status[Merge]:
    _require_role(request.user, MERGE_ROLES)
    survivor = Patient.objects.get(pk=payload.survivor_id)
    merged = Patient.objects.get(pk=payload.merged_id)
    for p in (survivor, merged):
        services.require_view(request.user, p)
    result = services.merge_patients(survivor, merged, user=request.user,  # type: ignore[arg-type]
                                     reason=payload.reason)
    return Status(201, result)


@router.post("/merges/{merge_id}/undo", response=MergeOut, summary="Undo a merge")
def undo(request: HttpRequest, merge_id: RecordId) -> Merge:
    _require_role(request.user, MERGE_ROLES)
    record = Merge.objects.get(pk=merge_id)
    services.require_view(request.user, record.survivor)
    return services.undo_merge(record, user=request.user)  # type: ignore[arg-type]


@router.get("/{patient_id}", response=PatientOut, summary="Open a resident's record")
def get(request: HttpRequest, patient_id: RecordId) -> dict[str, Any]:
    """A merged record answers with its survivor. The view is audited."""
    return _out(request.user, services.get_record(request.user, patient_id))


@router.patch("/{patient_id}", response=PatientOut, summary="Change a resident's data")
def update(request: HttpRequest, patient_id: RecordId, payload: PatientPatch) -> dict[str, Any]:
    _require_role(request.user, REGISTER_ROLES)
    patient = Patient.objects.get(pk=patient_id)
    services.require_view(request.user, patient)
    changes = payload.model_dump(exclude_unset=True)
    patient = services.update_patient(patient, changes, user=request.user)  # type: ignore[arg-type]
    return _out(request.user, patient)


@router.get("/{patient_id}/matches", response=list[MatchOut], summary="Probable matches")
def matches(request: HttpRequest, patient_id: RecordId) -> list[MatchCandidate]:
    """Probable duplicates of this record listed for review (master patient index)."""
    patient = Patient.objects.get(pk=patient_id)
    services.require_view(request.user, patient)
    rows = (MatchCandidate.objects.filter(patient=patient)
            | MatchCandidate.objects.filter(candidate=patient))
    return list(rows.order_by("-score", "pk"))
