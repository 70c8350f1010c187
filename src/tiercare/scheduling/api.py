"""JSON API of scheduling (mounted at ``/api/scheduling``; issue 4 item 6): free slots, booking
and the life of an appointment, a resident's appointments, free beds per ward.

Thin: capacity and transitions are ``scheduling.services``' (a full slot 409, a pool the
caller may not use 403, a step the appointment's state does not allow 409); this module
checks who may act, as the FHIR Appointment interface does (``fhir.mappers.appointment``):

* booking is clinical work (doctors, nurses, system administrators:
  ``patients.access.REGISTER_ROLES``) for a resident the caller sees;
* cancelling is open to those writers when they see the resident, and to the staff of the
  slot's institution; check-in, no-show and fulfilled are the slot's institution's (its
  doctors and nurses) or a system administrator's;
* a booking made for a referral moves with its referral (``/api/referrals/{id}/…``), not
  here (409).

Errors are problem+json (``tiercare.api_problems``). Reads of a resident's appointments are
audited (rules.md §11).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.http import Http404, HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from ninja import Field, Query, Router, Schema, Status

from tiercare.accounts import audit
from tiercare.accounts.models import AuditEvent, Role
from tiercare.api_problems import RecordId
from tiercare.patients import access
from tiercare.patients.models import Patient
from tiercare.registry.models import Institution
from tiercare.scheduling import services
from tiercare.scheduling.errors import SchedulingConflict
from tiercare.scheduling.models import Appointment, Bed, Pool, Schedule, Slot, Ward

router = Router(tags=["scheduling"])

BOOK_ROLES = access.REGISTER_ROLES
STAFF_ROLES = frozenset({Role.DOCTOR, Role.NURSE})
PoolValue = Literal["public", "referral", "internal"]
#: dates of a request: a day in China time whose next day the databases still hold
ApiDate = Annotated[dt.date, Field(ge=dt.date(1900, 1, 1), le=dt.date(9999, 12, 30))]
Reason = Annotated[str, Field(max_length=200)]


# --------------------------------------------------------------------------- schemas


class SlotOut(Schema):
    id: int
    schedule_id: int
    schedule_name: str
    institution_id: int
    department_id: int | None
    practitioner_id: int | None
    start: dt.datetime
    end: dt.datetime
    pool: str
    capacity: int
    booked: int
    free: int
    status: str


class SlotParams(Schema):
    institution: RecordId | None = None
    department: RecordId | None = None
    schedule: RecordId | None = None
    pool: PoolValue | None = None
    date_from: ApiDate | None = Field(None, description="First day (China time); default "
                                                        "now")
    date_to: ApiDate | None = Field(None, description="Last day (China time), included")
    limit: int = Field(50, ge=1, le=200)


class AppointmentOut(Schema):
    id: int
    slot_id: int
    patient_id: int
    pool: str
    status: str
    start: dt.datetime
    end: dt.datetime
    schedule_id: int
    schedule_name: str
    institution_id: int
    booked_by: str
    source_referral_id: int | None
    note: str
    booked_at: dt.datetime


class BookIn(Schema):
    slot_id: RecordId
    patient_id: RecordId
    note: Reason = ""


class StepIn(Schema):
    reason: Reason = ""


class AppointmentParams(Schema):
    status: Literal["booked", "checked_in", "fulfilled", "cancelled", "no_show"] | None = None
    limit: int = Field(50, ge=1, le=200)


class WardBedsOut(Schema):
    ward_id: int
    ward_code: str
    ward_name: str
    institution_id: int
    department_id: int | None
    beds: int
    free: int
    free_public: int
    free_referral: int


class BedParams(Schema):
    institution: RecordId | None = None
    department: RecordId | None = None
    ward: RecordId | None = None


# --------------------------------------------------------------------------- helpers


def _slot_out(s: Slot) -> dict[str, Any]:
    schedule = s.schedule
    return {"id": s.pk, "schedule_id": schedule.pk, "schedule_name": schedule.name,
            "institution_id": schedule.institution_id, "department_id": schedule.department_id,
            "practitioner_id": schedule.practitioner_id, "start": s.start, "end": s.end,
            "pool": s.pool, "capacity": s.capacity, "booked": s.booked,
            "free": max(s.capacity - s.booked, 0), "status": s.status}


def _appointment_out(a: Appointment) -> dict[str, Any]:
    slot = a.slot
    return {"id": a.pk, "slot_id": slot.pk, "patient_id": a.patient_id, "pool": a.pool,
            "status": a.status, "start": slot.start, "end": slot.end,
            "schedule_id": slot.schedule_id, "schedule_name": slot.schedule.name,
            "institution_id": slot.schedule.institution_id, "booked_by": a.booked_by_name,
            "source_referral_id": a.source_referral_id, "note": a.note,
            "booked_at": a.booked_at}


def _forbidden() -> PermissionDenied:
    return PermissionDenied(_("You may not see or change this record."))


def _local_start(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def _appointment(appointment_id: int) -> Appointment:
    return Appointment.objects.select_related("slot__schedule", "patient").get(
        pk=appointment_id)


def _at_slot_institution(user: Any, appointment: Appointment) -> bool:
    return (user.role in STAFF_ROLES
            and user.institution_id == appointment.slot.schedule.institution_id)


def _not_a_referral_booking(appointment: Appointment) -> None:
    if appointment.source_referral_id is not None:
        raise SchedulingConflict(
            "appointment.referral",
            gettext_lazy("This booking was made for referral %(referral)s; change it "
                         "through the referral."), referral=appointment.source_referral_id)


def _may_record(user: Any, appointment: Appointment) -> None:
    """Check-in, no-show and fulfilled: the slot's institution, or a system administrator."""
    if not (user.is_superuser or user.role == Role.SYSTEM_ADMIN
            or _at_slot_institution(user, appointment)):
        raise _forbidden()
    _not_a_referral_booking(appointment)


def _fresh(appointment: Appointment) -> dict[str, Any]:
    return _appointment_out(_appointment(appointment.pk))


# --------------------------------------------------------------------------- endpoints


@router.get("/slots", response=list[SlotOut], summary="Free slots, earliest first")
def free_slots(request: HttpRequest, params: Query[SlotParams]) -> list[dict[str, Any]]:
    """Open slots with a free place that have not begun, filtered by institution, department,
    schedule, pool and days (China time; ``date_to`` included). Nothing is held: the booking
    may still find the slot full."""
    now = timezone.now()
    start_from = now
    if params.date_from is not None:
        start_from = max(now, _local_start(params.date_from))
    start_to = (_local_start(params.date_to + dt.timedelta(days=1))
                if params.date_to is not None else None)
    schedule = (Schedule.objects.get(pk=params.schedule) if params.schedule is not None
                else None)
    institution = (Institution.objects.get(pk=params.institution)
                   if params.institution is not None else None)
    rows = services.free_slots(schedule=schedule, institution=institution,
                               department_id=params.department, pool=params.pool,
                               start_from=start_from, start_to=start_to, limit=params.limit)
    return [_slot_out(s) for s in rows]


@router.post("/appointments", response={201: AppointmentOut},
             summary="Book a place of a slot for a resident")
def book(request: HttpRequest, payload: BookIn) -> Status[dict[str, Any]]:
    """Doctors, nurses and system administrators, for a resident they see. A full, closed
    or past slot, or a second booking of the resident in the slot: 409; a pool you may not
    use (referral places, another institution's internal ones): 403."""
    user: Any = request.user
    if not (user.is_superuser or user.role in BOOK_ROLES):
        raise PermissionDenied(_("Your role does not allow this action."))
    patient = Patient.objects.get(pk=payload.patient_id)
    if not access.can_view(user, patient):
        raise _forbidden()
    # the booking reads the slot (an unknown one: 404) with its schedule, and answers with
    # the appointment it made: nothing is read again
    appointment = services.book(payload.slot_id, patient, by=user, note=payload.note.strip())
    return Status(201, _appointment_out(appointment))


@router.post("/appointments/{appointment_id}/cancel", response=AppointmentOut,
             summary="Cancel a booking (its place is free again)")
def cancel(request: HttpRequest, appointment_id: RecordId, payload: StepIn) -> dict[str, Any]:
    user: Any = request.user
    appointment = _appointment(appointment_id)
    writer = user.is_superuser or user.role in BOOK_ROLES
    if not ((writer and access.can_view(user, appointment.patient))
            or _at_slot_institution(user, appointment)):
        raise _forbidden()
    _not_a_referral_booking(appointment)
    return _fresh(services.cancel(appointment, by=user, reason=payload.reason.strip()))


@router.post("/appointments/{appointment_id}/check-in", response=AppointmentOut,
             summary="The resident arrived")
def check_in(request: HttpRequest, appointment_id: RecordId,
             payload: StepIn) -> dict[str, Any]:
    appointment = _appointment(appointment_id)
    _may_record(request.user, appointment)
    return _fresh(services.check_in(appointment, by=request.user,  # type: ignore[arg-type]
                                    reason=payload.reason.strip()))


@router.post("/appointments/{appointment_id}/no-show", response=AppointmentOut,
             summary="The resident did not come (after the slot has begun)")
def no_show(request: HttpRequest, appointment_id: RecordId, payload: StepIn) -> dict[str, Any]:
    appointment = _appointment(appointment_id)
    _may_record(request.user, appointment)
    return _fresh(services.mark_no_show(appointment, by=request.user,  # type: ignore[arg-type]
                                        reason=payload.reason.strip()))


@router.post("/appointments/{appointment_id}/fulfil", response=AppointmentOut,
             summary="The visit or examination took place")
def fulfil(request: HttpRequest, appointment_id: RecordId, payload: StepIn) -> dict[str, Any]:
    appointment = _appointment(appointment_id)
    _may_record(request.user, appointment)
    return _fresh(services.fulfil(appointment, by=request.user,  # type: ignore[arg-type]
                                  reason=payload.reason.strip()))


@router.get("/patients/{patient_id}/appointments", response=list[AppointmentOut],
            summary="A resident's appointments, latest slot first (audited)")
def patient_appointments(request: HttpRequest, patient_id: RecordId,
                         params: Query[AppointmentParams]) -> list[dict[str, Any]]:
    patient = Patient.objects.filter(pk=patient_id).first()
    if patient is None:
        raise Http404(_("The requested record does not exist."))
    if not access.can_view(request.user, patient):
        raise _forbidden()
    rows = Appointment.objects.filter(patient=patient).select_related("slot__schedule")
    if params.status is not None:
        rows = rows.filter(status=params.status)
    found = list(rows.order_by("-slot__start", "-pk")[:params.limit])
    audit.record(AuditEvent.Action.VIEW, object_type="patients.Patient", object_id=patient.pk,
                 patient_id=patient.pk, summary="API: appointments")
    return [_appointment_out(a) for a in found]


@router.get("/beds", response=list[WardBedsOut], summary="Free beds per ward")
def free_beds(request: HttpRequest, params: Query[BedParams]) -> list[dict[str, Any]]:
    """Active wards with their number of beds (not closed) and of free beds, in all and per
    pool (public, reserved for referrals)."""
    wards = Ward.objects.filter(is_active=True)
    if params.institution is not None:
        wards = wards.filter(institution_id=params.institution)
    if params.department is not None:
        wards = wards.filter(department_id=params.department)
    if params.ward is not None:
        wards = wards.filter(pk=params.ward)
    free = Q(beds__status=Bed.Status.FREE)
    counted = wards.annotate(
        n_beds=Count("beds", filter=~Q(beds__status=Bed.Status.CLOSED)),
        n_free=Count("beds", filter=free),
        n_public=Count("beds", filter=free & Q(beds__pool=Pool.PUBLIC)),
        n_referral=Count("beds", filter=free & Q(beds__pool=Pool.REFERRAL)),
    ).order_by("institution_id", "code", "pk")
    return [{"ward_id": w.pk, "ward_code": w.code, "ward_name": w.name,
             "institution_id": w.institution_id, "department_id": w.department_id,
             "beds": w.n_beds, "free": w.n_free, "free_public": w.n_public,
             "free_referral": w.n_referral} for w in counted]
