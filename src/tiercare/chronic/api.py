"""JSON API of family-doctor teams, contracts and chronic-disease management (mounted at
``/api/chronic``; issue 6: "JSON API for every action").

Thin: it finds the records, checks that the caller sees them and calls ``chronic.services``,
which decide who may act (doctors and nurses of the team or the managing institution) and
refuse bad input with a ``ChronicInvalid`` (400), ``ChronicConflict`` (409) or
``ChronicRefused`` (403), answered as problem+json with the translated message
(``tiercare.api_problems``). A request that does not match the schema (an unknown sign, a
non-number, a date before 1900) is 422, an unknown record 404, a record outside the caller's
scope 403.

Who sees what (rules.md §11): teams as ``services.visible_teams``; a contract or a
registration when its team is visible to the caller, when the resident is in the caller's
scope (``patients.access``), or (registrations) when it is managed by the caller's
institution. Every read of a resident's record is audited: one VIEW event per contract,
registration, follow-up or queue row shown.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any, Literal

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema, Status

from tiercare.accounts import audit
from tiercare.accounts.models import AuditEvent, Role
from tiercare.api_problems import MAX_RECORD_ID, RecordId
from tiercare.chronic import queues, rules, services
from tiercare.chronic.errors import ChronicConflict, ChronicInvalid
from tiercare.chronic.models import (
    Contract,
    ElderlyCheck,
    FamilyDoctorTeam,
    FollowUp,
    PackageService,
    PriorityGroupMembership,
    Registration,
    ScreeningReading,
    ServicePackage,
    TeamMember,
)
from tiercare.patients import access
from tiercare.patients.models import Patient
from tiercare.registry.models import Alliance, Institution, Practitioner

router = Router(tags=["chronic"])

#: The dates the API takes: a record of this century or the last (a year-1 or year-9999 date
#: is a typing error, and date arithmetic near the ends of the calendar overflows).
FIRST_DAY = dt.date(1900, 1, 1)
LAST_DAY = dt.date(2199, 12, 31)
ApiDate = Annotated[dt.date, Field(ge=FIRST_DAY, le=LAST_DAY)]

DiseaseValue = Literal["hypertension", "t2d"]
ConsentValue = Literal["signature", "tablet", "app", "guardian"]
MemberRole = Literal["lead", "gp", "village_doctor", "specialist", "nurse", "public_health"]
MethodValue = Literal["clinic", "home", "phone"]
AdherenceValue = Literal["regular", "intermittent", "none", "not_prescribed"]
CloseReason = Literal["moved", "died", "revised", "declined"]
SourceValue = Literal["diagnosis", "screening", "elderly_check", "down_referral"]
SignValue = Literal["altered_consciousness", "severe_headache_or_dizziness", "nausea_vomiting",
                    "blurred_vision_eye_pain", "palpitations_chest_tightness",
                    "breathless_lying_flat", "ketoacidosis_signs", "sudden_vision_loss",
                    "pregnant_or_breastfeeding", "beyond_capacity"]
CheckItem = Literal["assessment", "examination", "blood_routine", "urine_routine",
                    "liver_function", "kidney_function", "fasting_glucose", "lipids", "ecg",
                    "abdominal_ultrasound", "advice"]
DeclaredGroup = Literal["pregnant", "disabled", "tuberculosis", "severe_mental",
                        "family_planning"]
#: a text that must be given: at least one character that is not white space
Reason = Annotated[str, Field(min_length=1, max_length=200, pattern=r"\S")]
Short = Annotated[str, Field(max_length=200)]
Text = Annotated[str, Field(max_length=5000)]
#: a measurement; its plausibility (BP 400/20, glucose 90 mmol/L) is judged by the service,
#: which answers 400 with the field and the expected range
Whole = Annotated[int, Field(ge=-MAX_RECORD_ID, le=MAX_RECORD_ID)]
Number = Annotated[Decimal, Field(allow_inf_nan=False, max_digits=12, decimal_places=4)]

REGISTRATION = Registration._meta.label
CONTRACT = Contract._meta.label
FOLLOW_UP = FollowUp._meta.label
WIDE_ROLES = frozenset({Role.SYSTEM_ADMIN})


# --------------------------------------------------------------------------- schemas


class MemberOut(Schema):
    id: int
    practitioner_id: int
    practitioner_name: str
    institution_id: int | None
    role: str
    start_date: dt.date
    end_date: dt.date | None


class TeamOut(Schema):
    id: int
    code: str
    name: str
    alliance_id: int | None
    institution_id: int
    institution_name: str
    lead_id: int | None
    lead_name: str
    is_active: bool


class TeamDetailOut(TeamOut):
    members: list[MemberOut]


class TeamPage(Schema):
    count: int
    limit: int
    offset: int
    items: list[TeamOut]


class TeamIn(Schema):
    institution_id: RecordId
    code: Annotated[str, Field(min_length=1, max_length=32, pattern=r"\S")]
    name: Annotated[str, Field(min_length=1, max_length=100, pattern=r"\S")]
    lead_id: RecordId | None = Field(None, description="Practitioner leading the team; "
                                                       "becomes its first member")


class MemberIn(Schema):
    practitioner_id: RecordId
    role: MemberRole
    start_date: ApiDate | None = None


class MemberEndIn(Schema):
    end_date: ApiDate | None = None


class ServiceOut(Schema):
    id: int
    code: str
    name: str
    name_en: str
    yearly_count: int
    delivered_by: str


class PackageOut(Schema):
    id: int
    alliance_id: int | None
    code: str
    name: str
    name_en: str
    kind: str
    priority_group: str
    fee_total: Decimal
    fee_resident: Decimal
    fee_public_health: Decimal
    fee_insurance: Decimal
    source: str
    services: list[ServiceOut]


class PackageRef(Schema):
    id: int
    code: str
    name: str


class ContractOut(Schema):
    id: int
    status: str
    end_reason: str
    patient_id: int
    patient_name: str
    team_id: int
    team_name: str
    doctor_id: int | None
    doctor_name: str
    packages: list[PackageRef]
    start_date: dt.date
    end_date: dt.date
    ended_on: dt.date | None
    end_note: str
    consent: str
    consent_at: dt.datetime
    fee_resident: Decimal
    previous_id: int | None
    created_at: dt.datetime


class ContractEventOut(Schema):
    at: dt.datetime
    by: str
    action: str
    from_status: str
    to_status: str
    reason: str


class DeliveryOut(Schema):
    id: int
    contract_id: int
    service_id: int
    service_code: str
    date: dt.date
    note: str


class FulfilmentTotals(Schema):
    owed: Decimal
    counted: Decimal
    rate: Decimal | None = Field(None, description="Delivered ÷ owed, each service capped "
                                                   "at what it owed; null when nothing owed")


class FulfilmentRowOut(Schema):
    service_id: int
    code: str
    name: str
    package_code: str
    yearly_count: int
    delivered_by: str
    owed: Decimal
    delivered: int
    counted: Decimal


class FulfilmentOut(Schema):
    upto: dt.date
    whole_term: FulfilmentTotals
    so_far: FulfilmentTotals
    rows: list[FulfilmentRowOut]


class ContractDetailOut(ContractOut):
    events: list[ContractEventOut]
    deliveries: list[DeliveryOut]
    fulfilment: FulfilmentOut


class ContractPage(Schema):
    count: int
    limit: int
    offset: int
    items: list[ContractOut]


class SignIn(Schema):
    patient_id: RecordId
    team_id: RecordId
    package_ids: list[RecordId] = Field(..., min_length=1, max_length=20)
    consent: ConsentValue
    years: int | None = Field(None, ge=1, le=10)
    start_date: ApiDate | None = None
    doctor_id: RecordId | None = None


class RenewIn(Schema):
    years: int | None = Field(None, ge=1, le=10)
    package_ids: list[RecordId] | None = Field(None, min_length=1, max_length=20)
    consent: ConsentValue | None = None


class SwitchIn(Schema):
    team_id: RecordId
    consent: ConsentValue
    package_ids: list[RecordId] | None = Field(None, min_length=1, max_length=20)
    reason: Short = ""
    years: int | None = Field(None, ge=1, le=10)


class TerminateIn(Schema):
    reason: Reason


class DeliveryIn(Schema):
    service_id: RecordId
    date: ApiDate | None = None
    note: Short = ""


class RegistrationOut(Schema):
    id: int
    status: str
    disease: str
    diagnosis: str
    source: str
    patient_id: int
    patient_name: str
    institution_id: int
    institution_name: str
    team_id: int | None
    doctor_id: int | None
    enrolled_on: dt.date
    next_due: dt.date
    last_follow_up_on: dt.date | None
    last_controlled: bool | None
    closed_on: dt.date | None
    close_reason: str
    care_plan: str
    source_referral_id: int | None


class FollowUpOut(Schema):
    id: int
    registration_id: int
    patient_id: int
    disease: str
    date: dt.date
    method: str
    institution_id: int
    practitioner_id: int | None
    sbp: int | None
    dbp: int | None
    heart_rate: int | None
    temperature: Decimal | None
    fasting_glucose: Decimal | None
    weight_kg: Decimal | None
    height_cm: Decimal | None
    bmi: Decimal | None
    signs: list[str]
    symptoms: str
    medication: str
    adherence: str
    adverse_reaction: bool
    adverse_intolerable: bool
    new_complication: bool
    complication_note: str
    classification: str = Field(..., description="controlled, recheck, refer_up or urgent "
                                                 "(rules.md §8)")
    classification_text: str
    controlled: bool
    reasons: list[str]
    reason_texts: list[str]
    next_due: dt.date
    referral_id: int | None = Field(None, description="The up-referral draft (green channel "
                                                      "for an urgent finding)")
    note: str
    created_at: dt.datetime


class RegistrationDetailOut(RegistrationOut):
    follow_ups: list[FollowUpOut]


class RegistrationPage(Schema):
    count: int
    limit: int
    offset: int
    items: list[RegistrationOut]


class EnrolIn(Schema):
    patient_id: RecordId
    disease: DiseaseValue
    diagnosis: Annotated[str, Field(max_length=16)] = Field(
        "", description="ICD-10 code of the disease (default I10 or E11.9)")
    source: SourceValue = "diagnosis"
    date: ApiDate | None = None
    team_id: RecordId | None = None
    care_plan: Text = ""


class CloseIn(Schema):
    reason: CloseReason
    date: ApiDate | None = None


class Measurements(Schema):
    sbp: Whole | None = None
    dbp: Whole | None = None
    heart_rate: Whole | None = None
    temperature: Number | None = None
    fasting_glucose: Number | None = None
    weight_kg: Number | None = None
    height_cm: Number | None = None


class FollowUpIn(Measurements):
    date: ApiDate
    method: MethodValue = "clinic"
    signs: list[SignValue] = Field(default_factory=list, max_length=10)
    adverse_reaction: bool = False
    adverse_intolerable: bool = False
    new_complication: bool = False
    medication: Annotated[str, Field(max_length=300)] = ""
    adherence: AdherenceValue = "regular"
    symptoms: Short = ""
    complication_note: Short = ""
    note: Text = ""


class ResidentFollowUpIn(FollowUpIn):
    patient_id: RecordId
    disease: DiseaseValue


class ReferralProposalOut(Schema):
    follow_up_id: int
    referral_id: int
    status: str
    green_channel: bool


class ScreeningIn(Schema):
    patient_id: RecordId
    date: ApiDate
    sbp: Whole | None = None
    dbp: Whole | None = None
    fasting_glucose: Number | None = None


class ScreeningOut(Schema):
    id: int
    patient_id: int
    date: dt.date
    institution_id: int
    sbp: int | None
    dbp: int | None
    fasting_glucose: Decimal | None


class ScreeningResultOut(Schema):
    reading: ScreeningOut
    enrolled: list[RegistrationOut]


class ElderlyCheckIn(Measurements):
    patient_id: RecordId
    date: ApiDate
    items: list[CheckItem] = Field(..., min_length=1, max_length=11)
    findings: Text = ""
    diagnosed: list[DiseaseValue] = Field(default_factory=list, max_length=2)


class ElderlyCheckOut(Schema):
    id: int
    patient_id: int
    date: dt.date
    institution_id: int
    practitioner_id: int | None
    items: list[str]
    sbp: int | None
    dbp: int | None
    heart_rate: int | None
    fasting_glucose: Decimal | None
    weight_kg: Decimal | None
    height_cm: Decimal | None
    bmi: Decimal | None
    findings: str


class ElderlyCheckResultOut(Schema):
    check: ElderlyCheckOut
    enrolled: list[RegistrationOut]


class PriorityGroupIn(Schema):
    group: DeclaredGroup
    start_date: ApiDate | None = None
    note: Short = ""


class PriorityGroupOut(Schema):
    id: int
    patient_id: int
    group: str
    start_date: dt.date
    end_date: dt.date | None
    note: str


class QueueRowOut(Schema):
    kind: Literal["registration", "contract", "referral", "referral_follow_up"]
    id: int
    patient_id: int
    patient_name: str
    date: dt.date | None = Field(None, description="Next follow-up due, contract end, "
                                                   "referral sent or follow-up task due")
    days_overdue: int = 0
    detail: str = ""


class QueueListOut(Schema):
    key: str
    total: int
    rows: list[QueueRowOut]


class QueueOut(Schema):
    today: dt.date
    team_id: int | None
    lists: list[QueueListOut]


class Paging(Schema):
    limit: int = Field(50, ge=1, le=200)
    offset: int = Field(0, ge=0, le=MAX_RECORD_ID)


class TeamParams(Paging):
    institution: RecordId | None = None
    alliance: RecordId | None = None


class PackageParams(Schema):
    alliance: RecordId | None = Field(None, description="Whose packages (default: yours, "
                                                        "else the defaults)")


class ContractParams(Paging):
    team: RecordId | None = None
    patient: RecordId | None = None
    status: Literal["active", "ended"] | None = None


class RegistrationParams(Paging):
    team: RecordId | None = None
    patient: RecordId | None = None
    status: Literal["active", "closed"] | None = None
    disease: DiseaseValue | None = None


class ContractView(Schema):
    upto: ApiDate | None = Field(None, description="Fulfilment up to this day (default "
                                                   "today)")


class QueueParams(Schema):
    team: RecordId | None = Field(None, description="A team's queue; without it, your own "
                                                    "(the residents you answer for)")
    limit: int = Field(queues.PAGE, ge=1, le=200)


# --------------------------------------------------------------------------- helpers


def _user(request: HttpRequest) -> Any:
    return request.user


def _forbidden() -> PermissionDenied:
    return PermissionDenied(_("You may not see or change this record."))


def _get(model: Any, pk: int | None) -> Any:
    """The row ``pk`` of ``model`` or ``None`` for no id; an unknown id is 404."""
    if pk is None:
        return None
    return model.objects.get(pk=pk)


def _packages(ids: list[int] | None) -> list[ServicePackage] | None:
    if ids is None:
        return None
    found = {p.pk: p for p in ServicePackage.objects.filter(pk__in=ids)}
    if len(found) != len(set(ids)):
        raise ServicePackage.DoesNotExist
    return [found[pk] for pk in dict.fromkeys(ids)]


def _name(obj: Any) -> str:
    return obj.name if obj is not None else ""


def _in_scope(user: Any, field: str) -> Q:
    """Rows whose resident (``field``) is in ``user``'s scope (rules.md §11)."""
    condition = access.scope_q(user)
    if condition is None:
        return Q()
    if condition == access.NOTHING:
        return Q(pk__in=[])
    return Q(**{f"{field}__in": Patient.objects.filter(condition).values("pk")})


def _is_wide(user: Any) -> bool:
    return bool(getattr(user, "is_superuser", False)) or getattr(user, "role", "") in WIDE_ROLES


def visible_contracts(user: Any) -> QuerySet[Contract]:
    """Contracts of the teams ``user`` sees and of the residents in their scope."""
    if not (getattr(user, "is_authenticated", False) and getattr(user, "is_active", False)):
        return Contract.objects.none()
    teams = services.visible_teams(user).values("pk")
    return Contract.objects.filter(Q(team_id__in=teams) | _in_scope(user, "patient_id"))


def visible_registrations(user: Any) -> QuerySet[Registration]:
    """Registrations of the teams ``user`` sees, managed by their institution, or of the
    residents in their scope."""
    if not (getattr(user, "is_authenticated", False) and getattr(user, "is_active", False)):
        return Registration.objects.none()
    teams = services.visible_teams(user).values("pk")
    condition = Q(team_id__in=teams) | _in_scope(user, "patient_id")
    if getattr(user, "institution_id", None) is not None and user.role in services.STAFF_ROLES:
        condition |= Q(institution_id=user.institution_id)
    return Registration.objects.filter(condition)


def _visible(queryset: QuerySet[Any], model: Any, pk: int) -> Any:
    """The row if the caller sees it; 404 when there is none, 403 when it is not theirs."""
    row = model.objects.get(pk=pk)
    if not queryset.filter(pk=pk).exists():
        raise _forbidden()
    return row


def _may_manage(user: Any, institution: Institution, team: FamilyDoctorTeam | None) -> bool:
    """Teams are set up by the system administrator, the alliance office of the team's
    alliance and the doctors and nurses of its base institution (or of the team)."""
    if _is_wide(user):
        return True
    role = getattr(user, "role", "")
    if role == Role.ALLIANCE_ADMIN:
        return user.alliance_id is not None and user.alliance_id == institution.alliance_id
    if role in services.STAFF_ROLES:
        if user.institution_id == institution.pk:
            return True
        return team is not None and services.works_for(user, team)
    return False


def _team_out(team: FamilyDoctorTeam) -> dict[str, Any]:
    return {"id": team.pk, "code": team.code, "name": team.name,
            "alliance_id": team.alliance_id, "institution_id": team.institution_id,
            "institution_name": team.institution.name, "lead_id": team.lead_id,
            "lead_name": _name(team.lead), "is_active": team.is_active}


def _member_out(member: TeamMember) -> dict[str, Any]:
    return {"id": member.pk, "practitioner_id": member.practitioner_id,
            "practitioner_name": member.practitioner.name,
            "institution_id": member.practitioner.institution_id, "role": member.role,
            "start_date": member.start_date, "end_date": member.end_date}


def _team_detail(team: FamilyDoctorTeam) -> dict[str, Any]:
    team = FamilyDoctorTeam.objects.select_related("institution", "lead").get(pk=team.pk)
    body = _team_out(team)
    body["members"] = [_member_out(m) for m in
                       team.members.select_related("practitioner").order_by("start_date", "id")]
    return body


def _package_out(package: ServicePackage) -> dict[str, Any]:
    return {"id": package.pk, "alliance_id": package.alliance_id, "code": package.code,
            "name": package.name, "name_en": package.name_en, "kind": package.kind,
            "priority_group": package.priority_group, "fee_total": package.fee_total,
            "fee_resident": package.fee_resident,
            "fee_public_health": package.fee_public_health,
            "fee_insurance": package.fee_insurance, "source": package.source,
            "services": [{"id": s.pk, "code": s.code, "name": s.name, "name_en": s.name_en,
                          "yearly_count": s.yearly_count, "delivered_by": s.delivered_by}
                         for s in package.services.all()]}


CONTRACT_NAMES = ("patient", "team", "doctor")


def _contract_out(c: Contract) -> dict[str, Any]:
    return {"id": c.pk, "status": c.status, "end_reason": c.end_reason,
            "patient_id": c.patient_id, "patient_name": c.patient.name, "team_id": c.team_id,
            "team_name": c.team.name, "doctor_id": c.doctor_id, "doctor_name": _name(c.doctor),
            "packages": [{"id": p.pk, "code": p.code, "name": p.name}
                         for p in c.packages.all()],
            "start_date": c.start_date, "end_date": c.end_date, "ended_on": c.ended_on,
            "end_note": c.end_note, "consent": c.consent, "consent_at": c.consent_at,
            "fee_resident": c.fee_resident, "previous_id": c.previous_id,
            "created_at": c.created_at}


def _fresh_contract(contract: Contract) -> dict[str, Any]:
    return _contract_out(Contract.objects.select_related(*CONTRACT_NAMES)
                         .prefetch_related("packages").get(pk=contract.pk))


def _rate(rate: Decimal | None) -> Decimal | None:
    return None if rate is None else rate.quantize(Decimal("0.0001"))


def _totals(result: rules.Fulfilment) -> dict[str, Any]:
    return {"owed": result.owed, "counted": result.counted, "rate": _rate(result.rate)}


def _fulfilment_out(found: services.ContractFulfilment) -> dict[str, Any]:
    return {"upto": found.upto, "whole_term": _totals(found.whole_term),
            "so_far": _totals(found.so_far),
            "rows": [{"service_id": r.service.pk, "code": r.service.code,
                      "name": r.service.name, "package_code": r.service.package.code,
                      "yearly_count": r.service.yearly_count,
                      "delivered_by": r.service.delivered_by, "owed": r.owed,
                      "delivered": r.delivered, "counted": r.counted} for r in found.rows]}


def _delivery_out(d: Any) -> dict[str, Any]:
    return {"id": d.pk, "contract_id": d.contract_id, "service_id": d.service_id,
            "service_code": d.service.code, "date": d.date, "note": d.note}


REGISTRATION_NAMES = ("patient", "institution")


def _registration_out(r: Registration) -> dict[str, Any]:
    return {"id": r.pk, "status": r.status, "disease": r.disease, "diagnosis": r.diagnosis,
            "source": r.source, "patient_id": r.patient_id, "patient_name": r.patient.name,
            "institution_id": r.institution_id, "institution_name": r.institution.name,
            "team_id": r.team_id, "doctor_id": r.doctor_id, "enrolled_on": r.enrolled_on,
            "next_due": r.next_due, "last_follow_up_on": r.last_follow_up_on,
            "last_controlled": r.last_controlled, "closed_on": r.closed_on,
            "close_reason": r.close_reason, "care_plan": r.care_plan,
            "source_referral_id": r.source_referral_id}


def _fresh_registration(registration: Registration) -> dict[str, Any]:
    return _registration_out(Registration.objects.select_related(*REGISTRATION_NAMES)
                             .get(pk=registration.pk))


def _follow_up_out(f: FollowUp) -> dict[str, Any]:
    classification = rules.Classification(f.classification)
    return {"id": f.pk, "registration_id": f.registration_id, "patient_id": f.patient_id,
            "disease": f.disease, "date": f.date, "method": f.method,
            "institution_id": f.institution_id, "practitioner_id": f.practitioner_id,
            "sbp": f.sbp, "dbp": f.dbp, "heart_rate": f.heart_rate,
            "temperature": f.temperature, "fasting_glucose": f.fasting_glucose,
            "weight_kg": f.weight_kg, "height_cm": f.height_cm, "bmi": f.bmi,
            "signs": list(f.signs or []), "symptoms": f.symptoms, "medication": f.medication,
            "adherence": f.adherence, "adverse_reaction": f.adverse_reaction,
            "adverse_intolerable": f.adverse_intolerable,
            "new_complication": f.new_complication, "complication_note": f.complication_note,
            "classification": classification.value,
            "classification_text": str(services.CLASSIFICATION_TEXT[classification]),
            "controlled": f.controlled, "reasons": list(f.reasons or []),
            "reason_texts": [str(services.REASON_TEXT.get(r, r)) for r in f.reasons or []],
            "next_due": f.next_due, "referral_id": f.referral_id, "note": f.note,
            "created_at": f.created_at}


def _values(payload: Measurements) -> dict[str, Any]:
    return {name: getattr(payload, name) for name in services.READING_FIELDS}


def _follow_up_values(payload: FollowUpIn) -> dict[str, Any]:
    values = _values(payload)
    values.update(signs=list(payload.signs), adverse_reaction=payload.adverse_reaction,
                  adverse_intolerable=payload.adverse_intolerable,
                  new_complication=payload.new_complication)
    return values


def _follow_up_kwargs(request: HttpRequest, payload: FollowUpIn) -> dict[str, Any]:
    return {"by": _user(request), "date": payload.date, "values": _follow_up_values(payload),
            "method": payload.method, "medication": payload.medication.strip(),
            "adherence": payload.adherence, "symptoms": payload.symptoms.strip(),
            "complication_note": payload.complication_note.strip(),
            "note": payload.note.strip()}


def _audit_reads(label: str, rows: list[Any], summary: str) -> None:
    audit.record_reads(label, [(r.pk, r.patient_id, summary) for r in rows])


def _audit_read(label: str, row: Any) -> None:
    audit.record(AuditEvent.Action.VIEW, object_type=label, object_id=row.pk,
                 patient_id=row.patient_id, summary="API")


# --------------------------------------------------------------------------- teams


@router.get("/teams", response=TeamPage, summary="Family-doctor teams you may see")
def list_teams(request: HttpRequest, params: Query[TeamParams]) -> dict[str, Any]:
    """Doctors and nurses: their institution's teams and the teams they belong to; the
    alliance office: its alliance's; system-wide roles: all. Filter by base institution or
    alliance."""
    queryset = services.visible_teams(_user(request))
    if params.institution is not None:
        queryset = queryset.filter(institution_id=params.institution)
    if params.alliance is not None:
        queryset = queryset.filter(alliance_id=params.alliance)
    queryset = queryset.order_by("code", "id")
    rows = queryset.select_related("institution", "lead")[
        params.offset:params.offset + params.limit]
    return {"count": queryset.count(), "limit": params.limit, "offset": params.offset,
            "items": [_team_out(t) for t in rows]}


@router.post("/teams", response={201: TeamDetailOut}, summary="Set up a family-doctor team")
def create_team(request: HttpRequest, payload: TeamIn) -> Status[dict[str, Any]]:
    """At a township health centre or a village clinic (400 otherwise). The system
    administrator, the alliance office or the institution's doctors and nurses. A code in use
    is 409."""
    user = _user(request)
    institution = Institution.objects.get(pk=payload.institution_id)
    lead = _get(Practitioner, payload.lead_id)
    if not _may_manage(user, institution, None):
        raise _forbidden()
    code = payload.code.strip()
    if FamilyDoctorTeam.objects.filter(code=code).exists():
        raise ChronicConflict("team.code", _("The team code %(code)s is already in use."),
                              code=code)
    try:
        with transaction.atomic():
            team = services.create_team(institution=institution, code=code,
                                        name=payload.name, lead=lead, by=user)
    except IntegrityError:
        raise ChronicConflict("team.code", _("The team code %(code)s is already in use."),
                              code=code) from None
    return Status(201, _team_detail(team))


@router.get("/teams/{team_id}", response=TeamDetailOut, summary="One team with its members")
def get_team(request: HttpRequest, team_id: RecordId) -> dict[str, Any]:
    team = _visible(services.visible_teams(_user(request)), FamilyDoctorTeam, team_id)
    return _team_detail(team)


@router.post("/teams/{team_id}/members", response={201: MemberOut},
             summary="Add a practitioner of any level to a team")
def add_member(request: HttpRequest, team_id: RecordId,
               payload: MemberIn) -> Status[dict[str, Any]]:
    """A practitioner already in the team is 409."""
    user = _user(request)
    team = FamilyDoctorTeam.objects.select_related("institution").get(pk=team_id)
    practitioner = Practitioner.objects.get(pk=payload.practitioner_id)
    if not _may_manage(user, team.institution, team):
        raise _forbidden()
    member = services.add_member(team, practitioner, role=payload.role, by=user,
                                 on=payload.start_date)
    return Status(201, _member_out(member))


@router.post("/teams/{team_id}/members/{member_id}/end", response=MemberOut,
             summary="A member leaves the team")
def end_membership(request: HttpRequest, team_id: RecordId, member_id: RecordId,
                   payload: MemberEndIn) -> dict[str, Any]:
    """From ``end_date`` (default today). A membership that has ended already is 409."""
    user = _user(request)
    team = FamilyDoctorTeam.objects.select_related("institution").get(pk=team_id)
    member = TeamMember.objects.select_related("practitioner").get(pk=member_id, team=team)
    if not _may_manage(user, team.institution, team):
        raise _forbidden()
    if member.end_date is not None:
        raise ChronicConflict("team.member_left",
                              _("%(name)s left the team on %(date)s."),
                              name=member.practitioner.name, date=member.end_date.isoformat())
    day = payload.end_date or services.today()
    if day < member.start_date:
        raise ChronicInvalid("team.member_dates",
                             _("A member cannot leave before joining (%(date)s)."),
                             date=member.start_date.isoformat())
    return _member_out(services.end_membership(member, by=user, on=day))


# --------------------------------------------------------------------------- packages


@router.get("/packages", response=list[PackageOut],
            summary="Service packages an alliance offers, with their services")
def list_packages(request: HttpRequest, params: Query[PackageParams]) -> list[dict[str, Any]]:
    """The alliance's own set once it has one, else the defaults shipped with TierCare
    (rules.md §7)."""
    user = _user(request)
    if params.alliance is not None:
        alliance_id: int | None = Alliance.objects.get(pk=params.alliance).pk
    else:
        alliance_id = getattr(user, "alliance_id", None) or getattr(
            getattr(user, "institution", None), "alliance_id", None)
    packages = services.packages_for(alliance_id).prefetch_related("services")
    return [_package_out(p) for p in packages]


# --------------------------------------------------------------------------- contracts


@router.get("/contracts", response=ContractPage, summary="Contracts you may see")
def list_contracts(request: HttpRequest, params: Query[ContractParams]) -> dict[str, Any]:
    """Newest first, filtered by team, resident and status. Each contract listed is an
    audited read."""
    queryset = visible_contracts(_user(request))
    if params.team is not None:
        queryset = queryset.filter(team_id=params.team)
    if params.patient is not None:
        queryset = queryset.filter(patient_id=params.patient)
    if params.status is not None:
        queryset = queryset.filter(status=params.status)
    queryset = queryset.order_by("-start_date", "-id")
    rows = list(queryset.select_related(*CONTRACT_NAMES).prefetch_related("packages")[
        params.offset:params.offset + params.limit])
    _audit_reads(CONTRACT, rows, "API: contract list")
    return {"count": queryset.count(), "limit": params.limit, "offset": params.offset,
            "items": [_contract_out(c) for c in rows]}


@router.post("/contracts", response={201: ContractOut}, summary="Sign a family-doctor contract")
def sign_contract(request: HttpRequest, payload: SignIn) -> Status[dict[str, Any]]:
    """By a doctor or nurse of the team, with the resident's consent (rules.md §7): the basic
    package plus priority-group packages the resident qualifies for, 1–3 years (the
    alliance's limits). A second active contract is 409."""
    patient = Patient.objects.get(pk=payload.patient_id)
    team = FamilyDoctorTeam.objects.get(pk=payload.team_id)
    contract = services.sign_contract(
        patient=patient, team=team, packages=_packages(payload.package_ids) or [],
        consent=payload.consent, by=_user(request), years=payload.years,
        start=payload.start_date, doctor=_get(Practitioner, payload.doctor_id))
    return Status(201, _fresh_contract(contract))


@router.get("/contracts/{contract_id}", response=ContractDetailOut,
            summary="One contract with its events, deliveries and fulfilment")
def get_contract(request: HttpRequest, contract_id: RecordId,
                 params: Query[ContractView]) -> dict[str, Any]:
    """Fulfilment: services owed over the whole term and pro rata up to ``upto``, delivered
    counted from the records (rules.md §7). The read is audited."""
    contract = _visible(visible_contracts(_user(request)), Contract, contract_id)
    contract = Contract.objects.select_related(*CONTRACT_NAMES).prefetch_related(
        "packages").get(pk=contract.pk)
    body = _contract_out(contract)
    body["events"] = [{"at": e.at, "by": e.by.get_username() if e.by else "",
                       "action": e.action, "from_status": e.from_status,
                       "to_status": e.to_status, "reason": e.reason}
                      for e in contract.events.select_related("by")]
    body["deliveries"] = [_delivery_out(d) for d in
                          contract.deliveries.select_related("service")]
    body["fulfilment"] = _fulfilment_out(services.fulfilment_of(contract, params.upto))
    _audit_read(CONTRACT, contract)
    return body


@router.post("/contracts/{contract_id}/renew", response={201: ContractOut},
             summary="Renew with the same team")
def renew_contract(request: HttpRequest, contract_id: RecordId,
                   payload: RenewIn) -> Status[dict[str, Any]]:
    """The new contract starts the day after the old one ends (or today); packages and
    consent as before unless given. An ended contract is 409."""
    contract = _visible(visible_contracts(_user(request)), Contract, contract_id)
    renewed = services.renew_contract(contract, by=_user(request), years=payload.years,
                                      packages=_packages(payload.package_ids),
                                      consent=payload.consent or "")
    return Status(201, _fresh_contract(renewed))


@router.post("/contracts/{contract_id}/switch", response={201: ContractOut},
             summary="The resident switches to another team")
def switch_team(request: HttpRequest, contract_id: RecordId,
                payload: SwitchIn) -> Status[dict[str, Any]]:
    """Done by the new team's staff: the old contract ends yesterday, the new one starts
    today (basic package unless packages are given)."""
    contract = _visible(visible_contracts(_user(request)), Contract, contract_id)
    team = FamilyDoctorTeam.objects.get(pk=payload.team_id)
    switched = services.switch_team(contract, team=team, by=_user(request),
                                    consent=payload.consent,
                                    packages=_packages(payload.package_ids),
                                    reason=payload.reason.strip(), years=payload.years)
    return Status(201, _fresh_contract(switched))


@router.post("/contracts/{contract_id}/terminate", response=ContractOut,
             summary="End a contract early (reason required)")
def terminate_contract(request: HttpRequest, contract_id: RecordId,
                       payload: TerminateIn) -> dict[str, Any]:
    contract = _visible(visible_contracts(_user(request)), Contract, contract_id)
    ended = services.terminate_contract(contract, by=_user(request),
                                        reason=payload.reason.strip())
    return _fresh_contract(ended)


@router.post("/contracts/{contract_id}/deliveries", response={201: DeliveryOut},
             summary="Record a package service given by hand (a home visit …)")
def record_delivery(request: HttpRequest, contract_id: RecordId,
                    payload: DeliveryIn) -> Status[dict[str, Any]]:
    """Only services counted "recorded by the team"; follow-ups, elderly checks and visits
    count by themselves (400)."""
    contract = _visible(visible_contracts(_user(request)), Contract, contract_id)
    service = PackageService.objects.get(pk=payload.service_id)
    delivery = services.record_delivery(contract, service, by=_user(request), on=payload.date,
                                        note=payload.note.strip())
    return Status(201, _delivery_out(delivery))


# --------------------------------------------------------------------------- registrations


@router.get("/registrations", response=RegistrationPage,
            summary="Residents on the hypertension and diabetes registries you may see")
def list_registrations(request: HttpRequest,
                       params: Query[RegistrationParams]) -> dict[str, Any]:
    """Earliest next follow-up first, filtered by team, resident, status and disease. Each
    registration listed is an audited read."""
    queryset = visible_registrations(_user(request))
    if params.team is not None:
        queryset = queryset.filter(team_id=params.team)
    if params.patient is not None:
        queryset = queryset.filter(patient_id=params.patient)
    if params.status is not None:
        queryset = queryset.filter(status=params.status)
    if params.disease is not None:
        queryset = queryset.filter(disease=params.disease)
    queryset = queryset.order_by("next_due", "id")
    rows = list(queryset.select_related(*REGISTRATION_NAMES)[
        params.offset:params.offset + params.limit])
    _audit_reads(REGISTRATION, rows, "API: registration list")
    return {"count": queryset.count(), "limit": params.limit, "offset": params.offset,
            "items": [_registration_out(r) for r in rows]}


@router.post("/registrations", response={201: RegistrationOut},
             summary="Put a resident on the hypertension or type-2 diabetes registry")
def enrol(request: HttpRequest, payload: EnrolIn) -> Status[dict[str, Any]]:
    """Residents aged 35 and over (rules.md §8), managed by your institution; the first
    follow-up is due within 2 weeks. Already registered is 409."""
    patient = Patient.objects.get(pk=payload.patient_id)
    team = None
    if payload.team_id is not None:  # a team the caller sees, not any team of the county
        team = _visible(services.visible_teams(_user(request)), FamilyDoctorTeam,
                        payload.team_id)
    registration = services.enrol(patient=patient, disease=payload.disease,
                                  source=payload.source, by=_user(request), team=team,
                                  diagnosis=payload.diagnosis, on=payload.date,
                                  care_plan=payload.care_plan)
    return Status(201, _fresh_registration(registration))


@router.get("/registrations/{registration_id}", response=RegistrationDetailOut,
            summary="One registration with its follow-ups, newest first")
def get_registration(request: HttpRequest, registration_id: RecordId) -> dict[str, Any]:
    """The read is audited."""
    registration = _visible(visible_registrations(_user(request)), Registration,
                            registration_id)
    registration = Registration.objects.select_related(*REGISTRATION_NAMES).get(
        pk=registration.pk)
    body = _registration_out(registration)
    body["follow_ups"] = [_follow_up_out(f) for f in
                          registration.follow_ups.order_by("-date", "-id")[:200]]
    _audit_read(REGISTRATION, registration)
    return body


@router.post("/registrations/{registration_id}/close", response=RegistrationOut,
             summary="Take a resident off the registry (moved, died, revised, declined)")
def close_registration(request: HttpRequest, registration_id: RecordId,
                       payload: CloseIn) -> dict[str, Any]:
    registration = _visible(visible_registrations(_user(request)), Registration,
                            registration_id)
    closed = services.close_registration(registration, by=_user(request),
                                         reason=payload.reason, on=payload.date)
    return _fresh_registration(closed)


@router.post("/registrations/{registration_id}/follow-ups", response={201: FollowUpOut},
             summary="Record a follow-up; it is classified by rules.md §8")
def record_follow_up(request: HttpRequest, registration_id: RecordId,
                     payload: FollowUpIn) -> Status[dict[str, Any]]:
    """The answer carries the classification (controlled, recheck, refer_up, urgent), its
    reasons, the next due date and, for an urgent finding, the green-channel referral draft.
    An impossible value (BP 400/20, glucose 90 mmol/L), a missing measurement or a date in
    the future is 400."""
    registration = _visible(visible_registrations(_user(request)), Registration,
                            registration_id)
    result = services.record_follow_up(registration, **_follow_up_kwargs(request, payload))
    return Status(201, _follow_up_out(result.follow_up))


# --------------------------------------------------------------------------- follow-ups


@router.post("/follow-ups", response={201: FollowUpOut},
             summary="Record a follow-up for a resident and disease")
def record_follow_up_for(request: HttpRequest,
                         payload: ResidentFollowUpIn) -> Status[dict[str, Any]]:
    """As ``/registrations/{id}/follow-ups``; a resident not on that registry is 400."""
    patient = Patient.objects.get(pk=payload.patient_id)
    result = services.record_follow_up_for(patient, payload.disease,
                                           **_follow_up_kwargs(request, payload))
    return Status(201, _follow_up_out(result.follow_up))


@router.get("/follow-ups/{follow_up_id}", response=FollowUpOut, summary="One follow-up")
def get_follow_up(request: HttpRequest, follow_up_id: RecordId) -> dict[str, Any]:
    """Visible with its registration. The read is audited."""
    follow_up = FollowUp.objects.get(pk=follow_up_id)
    if not visible_registrations(_user(request)).filter(pk=follow_up.registration_id).exists():
        raise _forbidden()
    _audit_read(FOLLOW_UP, follow_up)
    return _follow_up_out(follow_up)


@router.post("/follow-ups/{follow_up_id}/referral", response={201: ReferralProposalOut},
             summary="Write the up-referral a refer-up finding proposes")
def propose_up_referral(request: HttpRequest,
                        follow_up_id: RecordId) -> Status[dict[str, Any]]:
    """A draft to the alliance's lead hospital prefilled from the follow-up (the doctor
    reviews and submits it at ``/api/referrals``); the existing one when it was written
    already. A controlled or recheck follow-up is 400."""
    follow_up = FollowUp.objects.get(pk=follow_up_id)
    if not visible_registrations(_user(request)).filter(pk=follow_up.registration_id).exists():
        raise _forbidden()
    referral = services.propose_up_referral(follow_up, by=_user(request))
    return Status(201, {"follow_up_id": follow_up.pk, "referral_id": referral.pk,
                        "status": referral.status, "green_channel": referral.green_channel})


# --------------------------------------------------------------------------- screening, checks


@router.post("/screenings", response={201: ScreeningResultOut},
             summary="Record a screening blood pressure or fasting glucose")
def record_screening(request: HttpRequest, payload: ScreeningIn) -> Status[dict[str, Any]]:
    """Three raised readings on different days enrol the resident provisionally (rules.md
    §8); ``enrolled`` lists the registrations this reading opened."""
    patient = Patient.objects.get(pk=payload.patient_id)
    result = services.record_screening(patient, by=_user(request), date=payload.date,
                                       values={"sbp": payload.sbp, "dbp": payload.dbp,
                                               "fasting_glucose": payload.fasting_glucose})
    row: ScreeningReading = result.reading
    return Status(201, {"reading": {"id": row.pk, "patient_id": row.patient_id,
                                    "date": row.date, "institution_id": row.institution_id,
                                    "sbp": row.sbp, "dbp": row.dbp,
                                    "fasting_glucose": row.fasting_glucose},
                        "enrolled": [_fresh_registration(r) for r in result.enrolled]})


@router.post("/elderly-checks", response={201: ElderlyCheckResultOut},
             summary="Record the yearly service of a resident aged 65 or over")
def record_elderly_check(request: HttpRequest,
                         payload: ElderlyCheckIn) -> Status[dict[str, Any]]:
    """Newly found hypertension or diabetes is enrolled: ``diagnosed`` by the doctor, or by
    the screening rule with the check's readings (``enrolled``)."""
    patient = Patient.objects.get(pk=payload.patient_id)
    result = services.record_elderly_check(patient, by=_user(request), date=payload.date,
                                           items=list(payload.items), values=_values(payload),
                                           findings=payload.findings,
                                           diagnosed=list(payload.diagnosed))
    check: ElderlyCheck = result.check
    body = {"id": check.pk, "patient_id": check.patient_id, "date": check.date,
            "institution_id": check.institution_id, "practitioner_id": check.practitioner_id,
            "items": list(check.items), "findings": check.findings,
            **{name: getattr(check, name) for name in (
                "sbp", "dbp", "heart_rate", "fasting_glucose", "weight_kg", "height_cm",
                "bmi")}}
    return Status(201, {"check": body,
                        "enrolled": [_fresh_registration(r) for r in result.enrolled]})


@router.post("/patients/{patient_id}/priority-groups", response={201: PriorityGroupOut},
             summary="Declare a resident in a priority group")
def declare_priority_group(request: HttpRequest, patient_id: RecordId,
                           payload: PriorityGroupIn) -> Status[dict[str, Any]]:
    """The groups not read from age or the registries (pregnancy, disability, tuberculosis,
    severe mental disorder, family-planning special family; rules.md §7); the existing
    membership when declared already."""
    patient = Patient.objects.get(pk=patient_id)
    row: PriorityGroupMembership = services.declare_priority_group(
        patient, payload.group, by=_user(request), on=payload.start_date,
        note=payload.note.strip())
    return Status(201, {"id": row.pk, "patient_id": row.patient_id, "group": row.group,
                        "start_date": row.start_date, "end_date": row.end_date,
                        "note": row.note})


# --------------------------------------------------------------------------- work queue


def _queue_row(key: str, row: Any, today: dt.date) -> dict[str, Any]:
    if isinstance(row, Registration):
        return {"kind": "registration", "id": row.pk, "patient_id": row.patient_id,
                "patient_name": row.patient.name, "date": row.next_due,
                "days_overdue": max(0, (today - row.next_due).days),
                "detail": str(row.get_disease_display())}
    if isinstance(row, Contract):
        return {"kind": "contract", "id": row.pk, "patient_id": row.patient_id,
                "patient_name": row.patient.name, "date": row.end_date,
                "detail": row.team.name}
    if key == "down_referrals":
        sent = row.submitted_at
        return {"kind": "referral", "id": row.pk, "patient_id": row.patient_id,
                "patient_name": row.patient.name,
                "date": services.today(sent) if sent is not None else None,
                "detail": row.sending_institution.name}
    return {"kind": "referral_follow_up", "id": row.pk, "patient_id": row.patient_id,
            "patient_name": row.patient.name, "date": row.due_date,
            "days_overdue": max(0, (today - row.due_date).days),
            "detail": f"#{row.referral_id}"}


@router.get("/queue", response=QueueOut, summary="A team's work queue, or your own")
def work_queue(request: HttpRequest, params: Query[QueueParams]) -> dict[str, Any]:
    """Six lists, each a page of the most pressing rows and its full count: due this week,
    overdue (rules.md §8), rechecks, contracts expiring, down-referrals received and
    follow-ups owed after an up-referral. Without ``team``: the residents you answer for as
    their doctor (or your institution's, without a practitioner record). Every resident
    shown is an audited read."""
    user = _user(request)
    team = None
    if params.team is not None:
        team = _visible(services.visible_teams(user), FamilyDoctorTeam, params.team)
        queue = queues.work_queue(team=team, limit=params.limit)
    elif getattr(user, "practitioner_id", None) is not None and \
            user.role in services.STAFF_ROLES:
        queue = queues.work_queue(doctor_id=user.practitioner_id,
                                  institution_ids={user.institution_id}
                                  if user.institution_id else set(), limit=params.limit)
    elif getattr(user, "institution_id", None) is not None and \
            user.role in services.STAFF_ROLES:
        queue = queues.work_queue(institution_ids={user.institution_id}, limit=params.limit)
    else:
        queue = queues.WorkQueue(services.today())
    lists = []
    for key, found in queue.lists.items():
        lists.append({"key": key, "total": found.total,
                      "rows": [_queue_row(key, row, queue.today) for row in found.rows]})
        if found.rows:  # one list holds one kind of record
            audit.record_reads(found.rows[0]._meta.label,
                               [(row.pk, row.patient_id, f"API: work queue {key}")
                                for row in found.rows])
    return {"today": queue.today, "team_id": team.pk if team is not None else None,
            "lists": lists}
