"""JSON API of encounters and settlements (mounted at ``/api/encounters``).

Thin: it resolves references, checks who may read or write, and calls the services. Errors
are raised (``ValidationError``, kernel errors, ``PermissionDenied``, ``Http404``) and turned
into problem+json documents (RFC 9457) by ``tiercare.api_problems``: 401/403 for access, 404
for unknown records, 422 with the field errors for bad input. Reads of a resident's
encounters are audited (rules.md §11).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _
from ninja import Field, Router, Schema, Status

from tiercare.accounts import audit
from tiercare.accounts.models import AuditEvent, Role
from tiercare.api_problems import MAX_RECORD_ID, ApiDateTime, RecordId
from tiercare.encounters import services
from tiercare.encounters.models import Encounter, Settlement
from tiercare.patients import access
from tiercare.patients.models import IdentifierType, Patient
from tiercare.registry.models import Department, Institution, Practitioner

router = Router(tags=["encounters"])

WRITE_ROLES = frozenset({Role.SYSTEM_ADMIN, Role.ALLIANCE_ADMIN})
CLINICAL_ROLES = frozenset({Role.DOCTOR, Role.NURSE})


# --------------------------------------------------------------------------- schemas


class DiagnosisOut(Schema):
    rank: int
    code: str


class EncounterOut(Schema):
    id: int
    patient_id: int
    encounter_class: str
    institution_id: int
    institution_code: str
    institution_name: str
    institution_level: str
    department_id: int | None
    practitioner_id: int | None
    start: dt.datetime
    end: dt.datetime | None
    primary_diagnosis: str
    secondary_diagnoses: list[DiagnosisOut]
    total: Decimal
    drugs: Decimal
    consumables: Decimal
    examinations: Decimal
    services: Decimal
    insurance_paid: Decimal
    source_system: str
    source_id: str


class ResidentRef(Schema):
    patient_id: RecordId | None = None
    resident_id_number: str = ""
    health_record_no: str = ""


class EncounterIn(ResidentRef):
    institution_code: str
    department_code: str = ""
    practitioner_code: str = ""
    encounter_class: str
    start: ApiDateTime
    end: ApiDateTime | None = None
    primary_diagnosis: str
    secondary_diagnoses: list[str] = []
    total: Decimal
    drugs: Decimal = Decimal("0")
    consumables: Decimal = Decimal("0")
    examinations: Decimal = Decimal("0")
    services: Decimal = Decimal("0")
    insurance_paid: Decimal = Decimal("0")
    source_system: str
    source_id: str


class SettlementOut(Schema):
    id: int
    patient_id: int
    scheme: str
    in_county: bool
    institution_id: int | None
    institution_name: str
    institution_level: str
    division_code: str
    encounter_class: str
    start_date: dt.date
    end_date: dt.date | None
    diagnosis: str
    total: Decimal
    fund_paid: Decimal
    self_paid: Decimal
    encounter_id: int | None
    encounter_ref: str
    settled_at: dt.datetime | None
    source_system: str
    source_id: str


class SettlementIn(ResidentRef):
    scheme: str = ""
    in_county: bool | None = None
    institution_code: str = ""
    institution_name: str = ""
    institution_level: str = ""
    division_code: str = ""
    encounter_class: str
    start_date: dt.date
    end_date: dt.date | None = None
    diagnosis: str
    total: Decimal
    fund_paid: Decimal
    self_paid: Decimal
    encounter_ref: str = ""
    settled_at: ApiDateTime | None = None
    source_system: str
    source_id: str


# --------------------------------------------------------------------------- helpers


def _forbidden() -> PermissionDenied:
    return PermissionDenied(_("You may not see or change this record."))


def _resolve_patient(ref: ResidentRef) -> Patient:
    errors: dict[str, list[ValidationError]] = {}
    query = Patient.objects.all()
    patient: Patient | None = None
    if ref.patient_id is not None:
        patient = query.filter(pk=ref.patient_id).first()
        field, value = "patient_id", str(ref.patient_id)
    elif ref.resident_id_number:
        patient = query.filter(id_type=IdentifierType.ID_CARD,
                               id_number=ref.resident_id_number.strip().upper(),
                               is_active=True).first()
        field, value = "resident_id_number", ref.resident_id_number
    elif ref.health_record_no:
        patient = query.filter(health_record_no=ref.health_record_no.strip()).first()
        field, value = "health_record_no", ref.health_record_no
    else:
        raise ValidationError({"patient_id": [ValidationError(
            _("Give the resident's ID number or health record number."), code="required")]})
    if patient is None:
        errors[field] = [ValidationError(_("No resident matches “%(value)s”.")
                                         % {"value": value}, code="unknown_resident")]
        raise ValidationError(errors)
    return patient


def _institution(code: str, field: str = "institution_code") -> Institution:
    institution = Institution.objects.filter(code=code.strip()).first()
    if institution is None:
        raise ValidationError({field: [ValidationError(
            _("No institution with code “%(value)s”.") % {"value": code},
            code="unknown_institution")]})
    return institution


def _may_write(user: Any, institution: Institution | None, *, settlement: bool) -> bool:
    if user.is_superuser or user.role in WRITE_ROLES:
        if user.role == Role.ALLIANCE_ADMIN and institution is not None:
            return institution.alliance_id == user.alliance_id
        return True
    if settlement:
        return False
    return (user.role in CLINICAL_ROLES and institution is not None
            and user.institution_id == institution.pk)


def _encounter_out(e: Encounter) -> dict[str, Any]:
    return {
        "id": e.pk, "patient_id": e.patient_id, "encounter_class": e.encounter_class,
        "institution_id": e.institution_id, "institution_code": e.institution.code,
        "institution_name": e.institution.name, "institution_level": e.institution.level,
        "department_id": e.department_id, "practitioner_id": e.practitioner_id,
        "start": e.start, "end": e.end, "primary_diagnosis": e.primary_diagnosis,
        "secondary_diagnoses": [{"rank": d.rank, "code": d.code} for d in e.diagnoses.all()],
        "total": e.total, "drugs": e.drugs, "consumables": e.consumables,
        "examinations": e.examinations, "services": e.services,
        "insurance_paid": e.insurance_paid, "source_system": e.source_system,
        "source_id": e.source_id,
    }


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    """Times without an offset are China Standard Time (Asia/Shanghai)."""
    if value is not None and timezone.is_naive(value):
        return timezone.make_aware(value)
    return value


def _visible_patient(request: HttpRequest, patient_id: int) -> Patient:
    patient = Patient.objects.filter(pk=patient_id).first()
    if patient is None:
        raise Http404(_("No resident with id %(id)s.") % {"id": patient_id})
    if not access.can_view(request.user, patient):
        raise _forbidden()
    return patient


# --------------------------------------------------------------------------- endpoints


@router.get("/patients/{patient_id}/encounters", response={200: list[EncounterOut]},
            summary="Encounters of a resident at every member institution, newest first")
def list_encounters(request: HttpRequest, patient_id: RecordId,
                    limit: Annotated[int, Field(ge=1, le=MAX_RECORD_ID)] | None = None) -> Any:
    found = _visible_patient(request, patient_id)
    rows = services.timeline(found, limit=limit)
    audit.record(AuditEvent.Action.VIEW, object_type="patients.Patient", object_id=found.pk,
                 patient_id=found.pk, summary="API: encounters")
    return [_encounter_out(e) for e in rows]


@router.post("/", response={200: EncounterOut, 201: EncounterOut},
             summary="Record an encounter (idempotent on source_system + source_id)")
def post_encounter(request: HttpRequest, payload: EncounterIn) -> Any:
    patient = _resolve_patient(payload)
    institution = _institution(payload.institution_code)
    if not _may_write(request.user, institution, settlement=False):
        raise _forbidden()
    department_id = practitioner_id = None
    if payload.department_code:
        department_id = Department.objects.filter(
            institution=institution, code=payload.department_code.strip()
        ).values_list("id", flat=True).first()
        if department_id is None:
            raise ValidationError({"department_code": [ValidationError(
                _("No department “%(value)s” at institution %(institution)s.")
                % {"value": payload.department_code, "institution": institution.code},
                code="unknown_department")]})
    if payload.practitioner_code:
        practitioner_id = Practitioner.objects.filter(
            code=payload.practitioner_code.strip()).values_list("id", flat=True).first()
        if practitioner_id is None:
            raise ValidationError({"practitioner_code": [ValidationError(
                _("No practitioner with code “%(value)s”.")
                % {"value": payload.practitioner_code}, code="unknown_practitioner")]})
    recorded = services.save_encounter(services.EncounterInput(
        patient_id=patient.pk, institution_id=institution.pk,
        encounter_class=payload.encounter_class, start=_aware(payload.start),  # type: ignore[arg-type]
        end=_aware(payload.end),
        primary_diagnosis=payload.primary_diagnosis,
        secondary_diagnoses=list(payload.secondary_diagnoses),
        department_id=department_id, practitioner_id=practitioner_id,
        total=payload.total, drugs=payload.drugs, consumables=payload.consumables,
        examinations=payload.examinations, services=payload.services,
        insurance_paid=payload.insurance_paid,
        source_system=payload.source_system.strip(), source_id=payload.source_id.strip(),
    ), user=request.user)  # type: ignore[arg-type]
    encounter = (Encounter.objects.select_related("institution")
                 .prefetch_related("diagnoses").get(pk=recorded.record.pk))
    status = 201 if recorded.outcome == services.Outcome.INSERTED else 200
    return Status(status, _encounter_out(encounter))


@router.post("/settlements", response={200: SettlementOut, 201: SettlementOut},
             summary="Record an insurance settlement (idempotent on source_system + source_id)")
def post_settlement(request: HttpRequest, payload: SettlementIn) -> Any:
    patient = _resolve_patient(payload)
    institution = _institution(payload.institution_code) if payload.institution_code else None
    if not _may_write(request.user, institution, settlement=True):
        raise _forbidden()
    recorded = services.save_settlement(services.SettlementInput(
        patient_id=patient.pk, scheme=payload.scheme, in_county=payload.in_county,
        institution_id=institution.pk if institution else None,
        institution_name=payload.institution_name,
        institution_level=payload.institution_level, division_code=payload.division_code,
        encounter_class=payload.encounter_class, start_date=payload.start_date,
        end_date=payload.end_date, diagnosis=payload.diagnosis, total=payload.total,
        fund_paid=payload.fund_paid, self_paid=payload.self_paid,
        encounter_ref=payload.encounter_ref, settled_at=_aware(payload.settled_at),
        source_system=payload.source_system.strip(), source_id=payload.source_id.strip(),
    ), user=request.user)  # type: ignore[arg-type]
    status = 201 if recorded.outcome == services.Outcome.INSERTED else 200
    return Status(status, recorded.record)


# Declared after ``/settlements`` so that Django tries that address first; the id is
# validated by Ninja (422 problem for a non-integer), not by a URL converter (HTML 404).
@router.get("/{encounter_id}", response={200: EncounterOut}, summary="One encounter")
def get_encounter(request: HttpRequest, encounter_id: RecordId) -> Any:
    encounter = (Encounter.objects.select_related("institution", "patient")
                 .prefetch_related("diagnoses").filter(pk=encounter_id).first())
    if encounter is None:
        raise Http404(_("No encounter with id %(id)s.") % {"id": encounter_id})
    if not access.can_view(request.user, encounter.patient):
        raise _forbidden()
    audit.record(AuditEvent.Action.VIEW, object_type=services.ENCOUNTER_TYPE,
                 object_id=encounter.pk, patient_id=encounter.patient_id, summary="API")
    return _encounter_out(encounter)


@router.get("/patients/{patient_id}/settlements", response={200: list[SettlementOut]},
            summary="Insurance settlements of a resident, newest first")
def list_settlements(request: HttpRequest, patient_id: RecordId,
                     in_county: bool | None = None) -> Any:
    found = _visible_patient(request, patient_id)
    rows = Settlement.objects.filter(patient=found).order_by("-start_date", "-id")
    if in_county is not None:
        rows = rows.filter(in_county=in_county)
    audit.record(AuditEvent.Action.VIEW, object_type="patients.Patient", object_id=found.pk,
                 patient_id=found.pk, summary="API: settlements")
    return list(rows)
