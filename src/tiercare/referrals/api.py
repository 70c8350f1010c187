"""JSON API of two-way referrals (mounted at ``/api/referrals``; issue 4 item 6: "JSON API for
every action").

Thin: it finds the records, checks that the caller sees the referral
(``services.visible_referrals``) and calls ``referrals.services``, which decide who may take
each step (``statuses.TRANSITIONS``: sender, receiver, alliance office). Errors are raised and
answered as problem+json (``tiercare.api_problems``): a step the table does not have from the
present state 409, a step that is not the caller's 403, an incomplete request 400 (the
service's ``ReferralInvalid``) or 422 (the request does not match the schema: a missing or
blank reason, an unknown direction), an unknown record 404. Every read of a referral (a
resident's record) is audited, lists with one VIEW event per referral listed (rules.md §11).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import FileResponse, Http404, HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, File, Form, Query, Router, Schema, Status
from ninja.files import UploadedFile

from tiercare.accounts import audit
from tiercare.accounts.models import AuditEvent, Role
from tiercare.api_problems import MAX_RECORD_ID, RecordId
from tiercare.kernel import icd10
from tiercare.patients.models import Patient
from tiercare.referrals import rules, services
from tiercare.referrals.models import (
    FollowUpTask,
    Outcome,
    Referral,
    ReferralAttachment,
)
from tiercare.registry.models import Alliance, Department, Institution, Level
from tiercare.scheduling.models import Bed, Slot, Ward

router = Router(tags=["referrals"])

St = Referral.Status
REFERRAL_LABEL = Referral._meta.label
#: roles that read the overdue list of an alliance (the alliance office; system-wide roles
#: name the alliance)
OFFICE_ROLES = frozenset({Role.ALLIANCE_ADMIN})
WIDE_ROLES = frozenset({Role.SYSTEM_ADMIN, Role.REGULATOR, Role.AUDITOR})

DirectionValue = Literal["up", "down", "lateral", "out_of_county"]
StatusValue = Literal["draft", "awaiting_approval", "submitted", "received", "accepted",
                      "rejected", "redirected", "arrived", "completed", "cancelled", "expired"]
OutcomeValue = Literal["improved", "unchanged", "referred_on", "died", "other"]
LevelValue = Literal["provincial", "city", "county", "township", "village"]
#: a reason that must be given: at least one character that is not white space (422 otherwise)
Reason = Annotated[str, Field(min_length=1, max_length=2000, pattern=r"\S")]
Note = Annotated[str, Field(max_length=2000)]
Text = Annotated[str, Field(max_length=10000)]
Code = Annotated[str, Field(min_length=1, max_length=16)]


# --------------------------------------------------------------------------- schemas


class ReferralOut(Schema):
    id: int
    status: str
    direction: str
    green_channel: bool
    patient_id: int
    patient_name: str
    sending_institution_id: int
    sending_institution_name: str
    sending_department_id: int | None
    sending_practitioner_id: int | None
    receiving_institution_id: int | None
    receiving_institution_name: str
    receiving_department_id: int | None
    receiving_practitioner_id: int | None
    diagnosis: str
    secondary_diagnoses: list[str]
    reason: str
    clinical_summary: str
    care_plan: str
    catalogue_warning: str
    deadline: datetime | None
    escalated_at: datetime | None
    appointment_id: int | None
    bed_id: int | None
    redirected_to_id: int | None
    source_referral_id: int | None
    response_note: str
    outcome: str
    outcome_note: str
    created_at: datetime
    updated_at: datetime
    submitted_at: datetime | None
    approved_at: datetime | None
    received_at: datetime | None
    responded_at: datetime | None
    arrived_at: datetime | None
    closed_at: datetime | None


class EventOut(Schema):
    at: datetime
    by: str
    side: str
    action: str
    from_status: str
    to_status: str
    reason: str


class AttachmentOut(Schema):
    id: int
    name: str
    content_type: str
    size: int
    uploaded_by: str
    uploaded_at: datetime


class FollowUpOut(Schema):
    id: int
    referral_id: int
    institution_id: int
    patient_id: int
    due_date: date
    status: str
    done_at: datetime | None
    note: str


class ReferralDetailOut(ReferralOut):
    events: list[EventOut]
    attachments: list[AttachmentOut]
    follow_up: FollowUpOut | None


class ReferralPage(Schema):
    count: int
    limit: int
    offset: int
    items: list[ReferralOut]


class FollowUpPage(Schema):
    count: int
    limit: int
    offset: int
    items: list[FollowUpOut]


class AdviceOut(Schema):
    code: str
    level: str
    message: str


class StepOut(Schema):
    """A step's answer: the referral as it is now, and what the step produced."""

    referral: ReferralOut
    warning: AdviceOut | None = None
    follow_up: FollowUpOut | None = None
    successor: ReferralOut | None = None
    down_referral: ReferralOut | None = None
    suggestion: AdviceOut | None = None


class ReferralIn(Schema):
    patient_id: RecordId
    direction: DirectionValue
    diagnosis: Code
    reason: Reason
    green_channel: bool = False
    receiving_institution_id: RecordId | None = None
    receiving_department_id: RecordId | None = None
    sending_department_id: RecordId | None = None
    secondary_diagnoses: list[Code] = Field(default_factory=list, max_length=20)
    clinical_summary: Text = ""
    care_plan: Text = ""


class DraftPatch(Schema):
    direction: DirectionValue | None = None
    green_channel: bool | None = None
    receiving_institution_id: RecordId | None = None
    receiving_department_id: RecordId | None = None
    sending_department_id: RecordId | None = None
    diagnosis: Code | None = None
    secondary_diagnoses: list[Code] | None = Field(None, max_length=20)
    reason: Reason | None = None
    clinical_summary: Text | None = None
    care_plan: Text | None = None


class NoteIn(Schema):
    reason: Note = ""


class ReasonIn(Schema):
    reason: Reason


class AcceptIn(Schema):
    """Exactly one of ``slot_id``, ``bed_id``, ``ward_id`` (any free referral bed of it)."""

    slot_id: RecordId | None = None
    bed_id: RecordId | None = None
    ward_id: RecordId | None = None
    receiving_department_id: RecordId | None = None
    note: Annotated[str, Field(max_length=200)] = ""


class RedirectIn(Schema):
    institution_id: RecordId
    department_id: RecordId | None = None
    reason: Reason


class CompleteIn(Schema):
    outcome: OutcomeValue
    outcome_note: Text = ""
    care_plan: Text = Field("", description="For an admission: the care plan of the proposed "
                                            "down-referral")


class FollowUpDoneIn(Schema):
    note: Annotated[str, Field(max_length=200)] = ""


class Paging(Schema):
    limit: int = Field(50, ge=1, le=200)
    offset: int = Field(0, ge=0, le=MAX_RECORD_ID)


class ListParams(Paging):
    direction: DirectionValue | None = None
    status: StatusValue | None = None
    side: Literal["incoming", "outgoing"] | None = Field(
        None, description="Received by or sent by the institution (yours unless "
                          "`institution` is given)")
    institution: RecordId | None = None
    green_channel: bool | None = None


class OverdueParams(Paging):
    alliance: RecordId | None = Field(None, description="Required for system-wide roles; "
                                                        "the alliance office sees its own")


class FollowUpParams(Paging):
    status: Literal["open", "done"] | None = "open"


class EntryOut(Schema):
    code_range: str
    code_first: str
    code_last: str
    name_zh: str
    level: str
    up_criteria: str
    down_criteria: str
    source: str


class LookupOut(Schema):
    code: str
    catalogue_id: int
    catalogue_name: str
    entry: EntryOut
    warning: AdviceOut | None = Field(
        None, description="For `level`: the sending level should treat the condition itself")


class LookupParams(Schema):
    code: Code = Field(..., description="ICD-10 code, e.g. I10")
    level: LevelValue | None = Field(None, description="Level of the sending institution")
    alliance: RecordId | None = Field(None, description="Whose catalogue (default: yours, "
                                                        "else the county default)")


# --------------------------------------------------------------------------- helpers


def _forbidden() -> PermissionDenied:
    return PermissionDenied(_("You may not see or change this record."))


def _name(user: Any) -> str:
    return user.get_username() if user is not None else ""


def _out(r: Referral) -> dict[str, Any]:
    return {
        "id": r.pk, "status": r.status, "direction": r.direction,
        "green_channel": r.green_channel, "patient_id": r.patient_id,
        "patient_name": r.patient.name,
        "sending_institution_id": r.sending_institution_id,
        "sending_institution_name": r.sending_institution.name,
        "sending_department_id": r.sending_department_id,
        "sending_practitioner_id": r.sending_practitioner_id,
        "receiving_institution_id": r.receiving_institution_id,
        "receiving_institution_name": (r.receiving_institution.name
                                       if r.receiving_institution is not None else ""),
        "receiving_department_id": r.receiving_department_id,
        "receiving_practitioner_id": r.receiving_practitioner_id,
        "diagnosis": r.diagnosis, "secondary_diagnoses": list(r.secondary_diagnoses or []),
        "reason": r.reason, "clinical_summary": r.clinical_summary, "care_plan": r.care_plan,
        "catalogue_warning": r.catalogue_warning, "deadline": r.deadline,
        "escalated_at": r.escalated_at, "appointment_id": r.appointment_id,
        "bed_id": r.bed_id, "redirected_to_id": r.redirected_to_id,
        "source_referral_id": r.source_referral_id, "response_note": r.response_note,
        "outcome": r.outcome, "outcome_note": r.outcome_note, "created_at": r.created_at,
        "updated_at": r.updated_at, "submitted_at": r.submitted_at,
        "approved_at": r.approved_at, "received_at": r.received_at,
        "responded_at": r.responded_at, "arrived_at": r.arrived_at, "closed_at": r.closed_at,
    }


def _follow_up_out(t: FollowUpTask) -> dict[str, Any]:
    return {"id": t.pk, "referral_id": t.referral_id, "institution_id": t.institution_id,
            "patient_id": t.patient_id, "due_date": t.due_date, "status": t.status,
            "done_at": t.done_at, "note": t.note}


def _advice(advice: rules.ReferralAdvice | None) -> dict[str, Any] | None:
    if advice is None:
        return None
    return {"code": advice.code, "level": advice.level, "message": str(advice)}


#: what a referral is answered with
NAMES = ("patient", "sending_institution", "receiving_institution")


def _with_names(queryset: QuerySet[Referral]) -> QuerySet[Referral]:
    return queryset.select_related(*NAMES)


def _fresh(referral: Referral) -> dict[str, Any]:
    return _out(_with_names(Referral.objects.all()).get(pk=referral.pk))


def _visible(request: HttpRequest, referral_id: int) -> Referral:
    """The referral if the caller sees it; 404 when there is none, 403 when it is not the
    caller's to see."""
    return services.visible_referral(request.user, referral_id,  # type: ignore[arg-type]
                                     related=NAMES)


def _audit_reads(rows: list[Referral], summary: str) -> None:
    audit.record_reads(REFERRAL_LABEL, [(r.pk, r.patient_id, summary) for r in rows])


def _page(queryset: QuerySet[Referral], paging: Paging, summary: str) -> dict[str, Any]:
    rows = list(_with_names(queryset)[paging.offset:paging.offset + paging.limit])
    _audit_reads(rows, summary)
    return {"count": queryset.count(), "limit": paging.limit, "offset": paging.offset,
            "items": [_out(r) for r in rows]}


def _get(model: Any, pk: int | None) -> Any:
    """The row ``pk`` of ``model`` or ``None`` for no id; an unknown id is 404."""
    if pk is None:
        return None
    return model.objects.get(pk=pk)


def _user(request: HttpRequest) -> Any:
    return request.user


# --------------------------------------------------------------------------- lists


@router.get("", response=ReferralPage, summary="Referrals you may see")
def list_referrals(request: HttpRequest, params: Query[ListParams]) -> dict[str, Any]:
    """The referrals visible to you (both sides of your institution; the alliance office: its
    members'), newest first, filtered by direction, status, green channel and side
    (``incoming``: received by the institution, ``outgoing``: sent by it; the institution is
    yours unless ``institution`` is given; without one the side filter finds nothing)."""
    user = _user(request)
    queryset = services.visible_referrals(user)
    if params.direction is not None:
        queryset = queryset.filter(direction=params.direction)
    if params.status is not None:
        queryset = queryset.filter(status=params.status)
    if params.green_channel is not None:
        queryset = queryset.filter(green_channel=params.green_channel)
    if params.side is not None:
        institution_id = params.institution or getattr(user, "institution_id", None)
        if institution_id is None:
            queryset = queryset.none()
        elif params.side == "incoming":
            queryset = queryset.filter(receiving_institution_id=institution_id)
        else:
            queryset = queryset.filter(sending_institution_id=institution_id)
    elif params.institution is not None:
        queryset = queryset.filter(sending_institution_id=params.institution) | queryset.filter(
            receiving_institution_id=params.institution)
    return _page(queryset.order_by("-created_at", "-id"), params, "API: referral list")


@router.get("/incoming", response=ReferralPage,
            summary="Your institution's incoming queue: green channel first, then by deadline")
def incoming_queue(request: HttpRequest, params: Query[Paging]) -> dict[str, Any]:
    """Open referrals received by your institution (submitted, received, accepted,
    arrived). Only staff of an institution have a queue; others get an empty one."""
    return _page(services.incoming(_user(request)), params, "API: incoming queue")


@router.get("/overdue", response=ReferralPage,
            summary="Missed response deadlines of an alliance (the alliance office)")
def overdue_list(request: HttpRequest, params: Query[OverdueParams]) -> dict[str, Any]:
    """Escalated referrals still unanswered, earliest deadline first. For the alliance
    office (its own alliance) and system-wide roles (the ``alliance`` named)."""
    user = _user(request)
    if user.is_superuser or user.role in WIDE_ROLES:
        alliance_id = params.alliance or user.alliance_id
        if alliance_id is None:  # Django's own message, translated by Django
            raise ValidationError({"alliance": [ValidationError(
                _("This field is required."), code="required")]})
    elif user.role in OFFICE_ROLES and user.alliance_id is not None:
        alliance_id = user.alliance_id
        if params.alliance is not None and params.alliance != alliance_id:
            raise _forbidden()
    else:
        raise PermissionDenied(_("Your role does not allow this action."))
    alliance = Alliance.objects.get(pk=alliance_id)
    return _page(services.overdue(alliance), params, "API: overdue referrals")


@router.get("/follow-ups", response=FollowUpPage,
            summary="Follow-up tasks of your institution, earliest due first")
def follow_ups(request: HttpRequest, params: Query[FollowUpParams]) -> dict[str, Any]:
    """The follow-ups your institution owes after its up-referrals (due within 2 weeks,
    rules.md §3). Users without an institution have none."""
    user = _user(request)
    queryset = FollowUpTask.objects.filter(institution_id=user.institution_id) \
        if getattr(user, "institution_id", None) else FollowUpTask.objects.none()
    if params.status is not None:
        queryset = queryset.filter(status=params.status)
    queryset = queryset.order_by("due_date", "pk")
    rows = list(queryset[params.offset:params.offset + params.limit])
    audit.record_reads(FollowUpTask._meta.label,
                       [(t.pk, t.patient_id, "API: follow-up list") for t in rows])
    return {"count": queryset.count(), "limit": params.limit, "offset": params.offset,
            "items": [_follow_up_out(t) for t in rows]}


@router.post("/follow-ups/{task_id}/complete", response=FollowUpOut,
             summary="Close a follow-up task")
def complete_follow_up(request: HttpRequest, task_id: RecordId,
                       payload: FollowUpDoneIn) -> dict[str, Any]:
    task = FollowUpTask.objects.get(pk=task_id)
    done = services.complete_follow_up(task, by=_user(request), note=payload.note.strip())
    return _follow_up_out(done)


@router.get("/catalogue/lookup", response=LookupOut,
            summary="The tiered disease catalogue's entry for an ICD-10 code")
def catalogue_lookup(request: HttpRequest, params: Query[LookupParams]) -> dict[str, Any]:
    """The lowest level that should treat the condition and the up- and down-referral
    criteria (rules.md §2), from the alliance's catalogue or the county default; with
    ``level``, the warning a referral up from that level would carry. An invalid code is
    422, a code the catalogue has no entry for 404."""
    user = _user(request)
    code = icd10.validate(params.code).code
    alliance = (Alliance.objects.get(pk=params.alliance) if params.alliance is not None
                else getattr(user, "alliance", None)
                or getattr(getattr(user, "institution", None), "alliance", None))
    catalogue = services.catalogue_for(alliance)
    if catalogue is None:
        raise Http404(_("The requested record does not exist."))
    entries = services.rules_catalogue(catalogue)
    entry = entries.lookup(code)
    if entry is None:
        raise Http404(_("The requested record does not exist."))
    warning = None
    if params.level is not None:
        top = max(Level.values, key=lambda level: rules.RANK[level])
        warning = entries.up_referral_warning(code, params.level, top)
    return {"code": code, "catalogue_id": catalogue.pk, "catalogue_name": catalogue.name,
            "entry": {"code_range": rules.display_range(entry), "code_first": entry.code_first,
                      "code_last": entry.code_last, "level": entry.level,
                      **{key: getattr(entry, key, "") for key in (
                          "name_zh", "up_criteria", "down_criteria", "source")}},
            "warning": _advice(warning)}


# --------------------------------------------------------------------------- the slip


@router.post("", response={201: ReferralOut}, summary="Write a referral slip (a draft)")
def create_referral(request: HttpRequest, payload: ReferralIn) -> Status[dict[str, Any]]:
    """A draft at your institution (doctors and nurses of a member institution). The
    receiving institution may be chosen now or before submitting."""
    patient = Patient.objects.get(pk=payload.patient_id)
    referral = services.create_referral(
        patient=patient, direction=payload.direction, diagnosis=payload.diagnosis,
        reason=payload.reason, by=_user(request),
        receiving_institution=_get(Institution, payload.receiving_institution_id),
        receiving_department=_get(Department, payload.receiving_department_id),
        sending_department=_get(Department, payload.sending_department_id),
        secondary_diagnoses=payload.secondary_diagnoses,
        clinical_summary=payload.clinical_summary, care_plan=payload.care_plan,
        green_channel=payload.green_channel)
    return Status(201, _fresh(referral))


@router.get("/{referral_id}", response=ReferralDetailOut,
            summary="One referral with its timeline, attachments and follow-up")
def get_referral(request: HttpRequest, referral_id: RecordId) -> dict[str, Any]:
    """The read is audited (a resident's record)."""
    referral = _visible(request, referral_id)
    body = _out(referral)
    body["events"] = [
        {"at": e.at, "by": e.by_name, "side": e.side, "action": e.action,
         "from_status": e.from_status, "to_status": e.to_status, "reason": e.reason}
        for e in referral.events.all()]
    body["attachments"] = [
        {"id": a.pk, "name": a.name, "content_type": a.content_type, "size": a.size,
         "uploaded_by": _name(a.uploaded_by), "uploaded_at": a.uploaded_at}
        for a in referral.attachments.select_related("uploaded_by")]
    task = FollowUpTask.objects.filter(referral=referral).first()
    body["follow_up"] = _follow_up_out(task) if task is not None else None
    audit.record(AuditEvent.Action.VIEW, object_type=REFERRAL_LABEL, object_id=referral.pk,
                 patient_id=referral.patient_id, summary="API")
    return body


@router.patch("/{referral_id}", response=ReferralOut, summary="Change a draft's slip")
def update_draft(request: HttpRequest, referral_id: RecordId,
                 payload: DraftPatch) -> dict[str, Any]:
    """The sending institution, while the referral is a draft. Fields left out are kept; a
    ``null`` id clears the receiving institution or a department."""
    referral = _visible(request, referral_id)
    given = payload.model_dump(exclude_unset=True)
    changes: dict[str, Any] = {}
    for key, model in (("receiving_institution", Institution),
                       ("receiving_department", Department),
                       ("sending_department", Department)):
        if f"{key}_id" in given:
            changes[key] = _get(model, given.pop(f"{key}_id"))
    for key, value in given.items():
        if value is None and key not in ("secondary_diagnoses",):
            continue  # a null text, choice or flag means "unchanged"
        changes[key] = value if value is not None else []
    updated = services.update_draft(referral, changes, by=_user(request))
    return _fresh(updated)


# --------------------------------------------------------------------------- workflow steps


@router.post("/{referral_id}/submit", response=StepOut, summary="Send a draft")
def submit(request: HttpRequest, referral_id: RecordId) -> dict[str, Any]:
    """The sender. Out-of-county referrals (not green channel) wait for the alliance
    office's approval; otherwise the response deadline starts, and an up-referral opens the
    sender's follow-up task. The catalogue's warning does not refuse; it is returned."""
    result = services.submit(_visible(request, referral_id), by=_user(request))
    return {"referral": _fresh(result.referral), "warning": _advice(result.warning),
            "follow_up": _follow_up_out(result.follow_up) if result.follow_up else None}


@router.post("/{referral_id}/approve", response=StepOut,
             summary="Approve an out-of-county referral (the alliance office)")
def approve(request: HttpRequest, referral_id: RecordId, payload: NoteIn) -> dict[str, Any]:
    result = services.approve(_visible(request, referral_id), by=_user(request),
                              reason=payload.reason)
    return {"referral": _fresh(result.referral),
            "follow_up": _follow_up_out(result.follow_up) if result.follow_up else None}


@router.post("/{referral_id}/refuse", response=StepOut,
             summary="Refuse an out-of-county referral (the alliance office; reason required)")
def refuse(request: HttpRequest, referral_id: RecordId, payload: ReasonIn) -> dict[str, Any]:
    referral = services.refuse(_visible(request, referral_id), by=_user(request),
                               reason=payload.reason)
    return {"referral": _fresh(referral)}


@router.post("/{referral_id}/receive", response=StepOut,
             summary="Open a submitted referral (the receiver)")
def receive(request: HttpRequest, referral_id: RecordId) -> dict[str, Any]:
    referral = services.receive(_visible(request, referral_id), by=_user(request))
    return {"referral": _fresh(referral)}


@router.post("/{referral_id}/accept", response=StepOut,
             summary="Accept with a clinic slot, a bed or any free referral bed of a ward")
def accept(request: HttpRequest, referral_id: RecordId, payload: AcceptIn) -> dict[str, Any]:
    """The receiver. The slot place or bed is booked in the same transaction; a full slot
    or a ward without a free bed refuses the acceptance (409) and nothing changes. Give
    exactly one of ``slot_id``, ``bed_id``, ``ward_id`` (400 otherwise)."""
    referral = _visible(request, referral_id)
    accepted = services.accept(
        referral, by=_user(request), slot=_get(Slot, payload.slot_id),
        bed=_get(Bed, payload.bed_id), ward=_get(Ward, payload.ward_id),
        receiving_department=_get(Department, payload.receiving_department_id),
        note=payload.note.strip())
    return {"referral": _fresh(accepted)}


@router.post("/{referral_id}/reject", response=StepOut,
             summary="Reject a referral (the receiver; reason required)")
def reject(request: HttpRequest, referral_id: RecordId, payload: ReasonIn) -> dict[str, Any]:
    referral = services.reject(_visible(request, referral_id), by=_user(request),
                               reason=payload.reason)
    return {"referral": _fresh(referral)}


@router.post("/{referral_id}/redirect", response=StepOut,
             summary="Send a referral on to another member institution (reason required)")
def redirect(request: HttpRequest, referral_id: RecordId,
             payload: RedirectIn) -> dict[str, Any]:
    """The receiver. This referral ends ``redirected``; the answer's ``successor`` is the
    new referral submitted to ``institution_id``."""
    referral = _visible(request, referral_id)
    successor = services.redirect(
        referral, by=_user(request), to=Institution.objects.get(pk=payload.institution_id),
        department=_get(Department, payload.department_id), reason=payload.reason)
    return {"referral": _fresh(referral), "successor": _fresh(successor)}


@router.post("/{referral_id}/arrive", response=StepOut, summary="The resident arrived")
def arrive(request: HttpRequest, referral_id: RecordId) -> dict[str, Any]:
    referral = services.arrive(_visible(request, referral_id), by=_user(request))
    return {"referral": _fresh(referral)}


@router.post("/{referral_id}/complete", response=StepOut,
             summary="Complete with an outcome (discharge proposes a down-referral)")
def complete(request: HttpRequest, referral_id: RecordId,
             payload: CompleteIn) -> dict[str, Any]:
    """The receiver. For an admission, when the catalogue suggests a lower level or a care
    plan is given, a down-referral draft to the resident's township centre is proposed
    (``down_referral``; the discharging doctor submits it)."""
    result = services.complete(_visible(request, referral_id), by=_user(request),
                               outcome=Outcome(payload.outcome),
                               outcome_note=payload.outcome_note, care_plan=payload.care_plan)
    return {"referral": _fresh(result.referral), "suggestion": _advice(result.suggestion),
            "down_referral": (_fresh(result.down_referral)
                              if result.down_referral is not None else None)}


@router.post("/{referral_id}/cancel", response=StepOut, summary="Withdraw a referral")
def cancel(request: HttpRequest, referral_id: RecordId, payload: NoteIn) -> dict[str, Any]:
    """The sender; after acceptance also the receiver. A held slot place or bed is given
    back."""
    referral = services.cancel(_visible(request, referral_id), by=_user(request),
                               reason=payload.reason)
    return {"referral": _fresh(referral)}


# --------------------------------------------------------------------------- attachments


@router.post("/{referral_id}/attachments", response={201: AttachmentOut},
             summary="Attach a PDF, JPEG or PNG (at most 10 MB) to an open referral")
def upload_attachment(request: HttpRequest, referral_id: RecordId,
                      file: File[UploadedFile], name: Form[str] = "") -> Status[dict[str, Any]]:
    """Multipart form: ``file`` and an optional display ``name``. The type is recognised by
    the content; another type, an empty file or a larger one is refused (400)."""
    referral = _visible(request, referral_id)
    row = services.attach(referral, file, by=_user(request), name=name.strip()[:200])
    return Status(201, {"id": row.pk, "name": row.name, "content_type": row.content_type,
                        "size": row.size, "uploaded_by": _name(row.uploaded_by),
                        "uploaded_at": row.uploaded_at})


@router.get("/{referral_id}/attachments/{attachment_id}",
            summary="Download an attachment (audited)",
            openapi_extra={"responses": {200: {"description": "The file", "content": {
                "application/pdf": {}, "image/jpeg": {}, "image/png": {}}}}})
def download_attachment(request: HttpRequest, referral_id: RecordId,
                        attachment_id: RecordId) -> FileResponse:
    referral = _visible(request, referral_id)
    row = ReferralAttachment.objects.get(pk=attachment_id, referral=referral)
    try:
        handle = row.file.open("rb")
    except FileNotFoundError:
        raise Http404(_("The requested record does not exist.")) from None
    audit.record(AuditEvent.Action.VIEW, object_type=ReferralAttachment._meta.label,
                 object_id=row.pk, patient_id=referral.patient_id,
                 summary=f"API: attachment of referral {referral.pk}")
    return FileResponse(handle, as_attachment=True, filename=row.name,
                        content_type=row.content_type)

