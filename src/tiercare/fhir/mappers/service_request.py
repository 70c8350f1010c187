"""ServiceRequest ↔ ``referrals.Referral``: the referral slip (双向转诊, rules.md §3; the
WS 445 part 16 referral record: sending and receiving institution and clinician, diagnosis,
reason, clinical summary). Its workflow status is the Task of the same id (``task.py``);
ADR 0013 records the choices, docs/fhir.md the state table.

* ``identifier``: ``…/identifier/referral`` = the referral's number (the id), which the
  logical ``Appointment.basedOn`` of a referral booking names.
* ``status``: draft → ``draft``; awaiting approval, submitted, received, accepted, arrived →
  ``active``; completed → ``completed``; rejected, redirected, cancelled, expired →
  ``revoked`` (the request ends without being carried out; a redirected referral's successor
  ``replaces`` it). ``intent``: ``order``.
* ``category``: SNOMED CT 3457005 "Patient referral" and the direction (``up`` | ``down`` |
  ``lateral`` | ``out_of_county`` under ``…/CodeSystem/referral-direction``).
* ``priority``: ``stat`` for the emergency green channel (rules.md §3 [seed 001 §18]: its own
  15-minute deadline, no approval queue), else ``routine``. TierCare has no third speed:
  ``urgent`` and ``asap`` are refused on writes (422) rather than silently read as one of
  the two (ADR 0013).
* ``subject``: the resident. ``requester``: the sending clinician
  (``PractitionerRole/employment-N`` when employed at the sending institution, else
  ``Practitioner/N``), or the sending institution when none is recorded; the sending
  department in the extension ``…/StructureDefinition/department``. ``performer``: the
  receiving department, else the receiving institution (``Organization/…``).
* ``reasonCode``: the diagnosis then the secondary diagnoses (ICD-10, Chinese clinical
  edition with the WHO code). ``note``: the reason, the clinical summary, the care plan (a
  down-referral) and the catalogue's warning, each marked by the extension
  ``…/StructureDefinition/referral-note-kind`` (``reason`` | ``clinical-summary`` |
  ``care-plan`` | ``catalogue-warning``).
* ``authoredOn``: when it was sent (a draft: when it was written). ``basedOn``: the
  referral a down-referral follows (discharge); ``replaces``: the referral a redirected one
  continues. ``occurrencePeriod``: the booked slot's time, or the stay from arrival for a bed.

Create = write the slip (``referrals.services.create_referral``) as a ``draft``, or with
``status: active`` also send it (``submit``) in the same transaction. Update = edit a draft's
slip (``update_draft``); the status follows the workflow, moved through ``Task``. Reads are
scoped like the JSON API (``services.visible_referrals``; an integrating system sees what
its institution or alliance sent and received, ``services.referrals_seen_from``) and
audited as residents' records.

Who writes: a person's session writes in their own name; an integrating system writes for
the clinician named in ``requester`` (a practitioner with a TierCare account at an
institution the system acts for), and its step is audited under its own name as well.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db.models import OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils.translation import gettext_lazy as _

from tiercare.accounts import audit
from tiercare.accounts.models import AuditEvent, User
from tiercare.errors import DomainError
from tiercare.fhir import query
from tiercare.fhir.auth import Client
from tiercare.fhir.errors import FhirError
from tiercare.fhir.mappers.condition import code_concept
from tiercare.fhir.mappers.encounter import DEPARTMENT_URL, icd10_code
from tiercare.fhir.mappers.slot import moment
from tiercare.fhir.mapping import (
    BASE_URI,
    NOTHING,
    Include,
    ResourceMapper,
    mapper_for,
    reference_filter,
    referenced,
    register,
)
from tiercare.fhir.search import SearchParam, date_q, parse_date, parse_token
from tiercare.patients.models import Patient
from tiercare.referrals import services
from tiercare.referrals.models import Direction, Referral, ReferralEvent
from tiercare.registry.models import Department, Institution, Posting, Practitioner

St = Referral.Status
REFERRAL_LABEL = Referral._meta.label
REFERRAL_SYSTEM = f"{BASE_URI}/identifier/referral"
DIRECTION_SYSTEM = f"{BASE_URI}/CodeSystem/referral-direction"
NOTE_KIND_URL = f"{BASE_URI}/StructureDefinition/referral-note-kind"
REFERRAL_CATEGORY = {"system": "http://snomed.info/sct", "code": "3457005",
                     "display": "Patient referral"}
ROUTINE, STAT = "routine", "stat"
#: note kind → slip field (the catalogue's warning is written by the server at submit)
NOTE_KINDS = {"reason": "reason", "clinical-summary": "clinical_summary",
              "care-plan": "care_plan", "catalogue-warning": "catalogue_warning"}
#: our state → ServiceRequest.status
SR_STATUS = {St.DRAFT: "draft", St.AWAITING_APPROVAL: "active", St.SUBMITTED: "active",
             St.RECEIVED: "active", St.ACCEPTED: "active", St.ARRIVED: "active",
             St.COMPLETED: "completed", St.REJECTED: "revoked", St.REDIRECTED: "revoked",
             St.CANCELLED: "revoked", St.EXPIRED: "revoked"}


# -- shared by ServiceRequest and Task ----------------------------------------------------------

#: ``patient`` and ``subject``: the resident
RESIDENT_PARAMS = {name: SearchParam("reference", "The resident (Patient/N)",
                                     reference_filter("patient_id", "Patient", Patient))
                   for name in ("patient", "subject")}


def referral_rows(client: Client) -> QuerySet[Referral]:
    """The referrals this client sees: a person as in the JSON API
    (``services.visible_referrals``); an integrating system as its reach's staff or office
    would (``services.referrals_seen_from``), a whole-county system all of them."""
    token = client.token
    if token is None:
        rows = services.visible_referrals(client.user)
    elif token.whole_county:
        rows = Referral.objects.all()
    else:
        rows = services.referrals_seen_from(institution_id=token.institution_id,
                                            alliance_id=token.alliance_id)
    return annotated(rows)


def annotated(rows: QuerySet[Referral]) -> QuerySet[Referral]:
    """``rows`` with what the two resources show: related rows, when it was sent, why it is
    in its present state, the referral it continues and the down-referral it led to."""
    events = ReferralEvent.objects.filter(referral=OuterRef("pk"), to_status=OuterRef("status"))
    return rows.select_related(
        "sending_institution", "sending_department", "sending_practitioner",
        "receiving_institution", "receiving_department", "receiving_practitioner",
        "appointment__slot", "redirected_to__receiving_institution",
        "redirected_to__receiving_department",
    ).annotate(
        authored_at=Coalesce("submitted_at", "created_at"),
        status_reason=Subquery(events.order_by("-at", "-id").values("reason")[:1]),
        predecessor_id=Subquery(Referral.objects.filter(redirected_to=OuterRef("pk"))
                                .values("pk")[:1]),
        down_referral_id=Subquery(Referral.objects.filter(
            source_referral=OuterRef("pk"), direction=Direction.DOWN).order_by("pk")
            .values("pk")[:1]),
    )


def refused(err: DomainError) -> FhirError:
    """A referral or scheduling refusal as the FHIR answer, in the caller's language: a step
    the state does not allow 409, a step that is not the caller's 403, an incomplete request
    (a missing reason, outcome, slot …) 422."""
    status = int(getattr(err, "status", 400))
    if status == 400:
        status = 422
    code = {403: "forbidden", 409: "conflict"}.get(status, "business-rule")
    return FhirError(status, code, str(err))


def clinician(institution: Institution | None,
              practitioner: Practitioner | None) -> dict[str, Any] | None:
    """A clinician of a referral as a reference: their employment at the institution
    (``PractitionerRole/employment-N``), else the practitioner."""
    if practitioner is None:
        return None
    if institution is not None and practitioner.institution_id == institution.pk:
        return mapper_for("PractitionerRole").reference(Practitioner, practitioner.pk,
                                                        practitioner.name)
    return mapper_for("Practitioner").reference(Practitioner, practitioner.pk,
                                                practitioner.name)


def organization(institution: Institution | None,
                 department: Department | None) -> dict[str, Any] | None:
    """The department when known, else the institution, as an Organization reference."""
    organizations = mapper_for("Organization")
    if department is not None:
        return organizations.reference(Department, department.pk, department.name)
    if institution is not None:
        return organizations.reference(Institution, institution.pk, institution.name)
    return None


def requester_of(r: Referral) -> dict[str, Any]:
    found = clinician(r.sending_institution, r.sending_practitioner)
    if found is not None:
        return found
    return mapper_for("Organization").reference(Institution, r.sending_institution_id,
                                                r.sending_institution.name)


def priority_of(r: Referral) -> str:
    return STAT if r.green_channel else ROUTINE


def priority_filter(value: str, modifier: str) -> Q:
    token = parse_token(value)
    if token.system not in (None, "", "http://hl7.org/fhir/request-priority"):
        return NOTHING
    return {ROUTINE: Q(green_channel=False), STAT: Q(green_channel=True)}.get(
        token.code or "", NOTHING)


def party_filter(institution: str, department: str, practitioner: str) -> Callable[[str, str], Q]:
    """A reference parameter naming one side of a referral: an institution, a department
    (``Organization/…``) or a clinician (``Practitioner/N``, ``PractitionerRole/…``; a bare
    id is a practitioner)."""

    def make(value: str, modifier: str) -> Q:
        org = referenced(value, "Organization")
        if org is not None and org[0] is Institution:
            return Q(**{institution: org[1]})
        if org is not None and org[0] is Department:
            return Q(**{department: org[1]})
        if org is not None:
            return NOTHING
        role = referenced(value, "PractitionerRole")
        if role is not None and role[0] is Posting:
            return Q(**{f"{practitioner}__in": Posting.objects.filter(pk=role[1])
                        .values("practitioner_id")})
        named = role or referenced(value, "Practitioner")
        return NOTHING if named is None else Q(**{practitioner: named[1]})

    return make


def practitioner_named(ref: object) -> int | None:
    """The practitioner a Reference names (``Practitioner/N``, ``PractitionerRole/
    employment-N`` or ``posting-N``), or ``None``."""
    text = ref.get("reference", "") if isinstance(ref, dict) else ""
    if not text:
        return None
    role = referenced(text, "PractitionerRole")
    if role is not None and role[0] is Posting:
        pk: int | None = Posting.objects.filter(pk=role[1]).values_list(
            "practitioner_id", flat=True).first()
        return pk
    named = role or referenced(text, "Practitioner")
    return None if named is None else named[1]


def acting_user(client: Client, refs: list[tuple[object, str]],
                fits: Callable[[User], bool] | None = None) -> User:
    """Who takes a referral step. A person's session: the person. An integrating system:
    the clinician named in ``refs`` (each a Reference and where it sits), a practitioner
    with an active TierCare account at an institution the system acts for
    (``Client.records_at``); the first one that ``fits`` the step, else the first one (the
    service then says why they may not)."""
    if client.user is not None:
        return client.user
    named: list[User] = []
    for ref, _where in refs:
        pk = practitioner_named(ref)
        user = None if pk is None else User.objects.filter(
            practitioner_id=pk, is_active=True).select_related("institution").first()
        if user is not None:
            named.append(user)
    where = " / ".join(where for _ref, where in refs)
    if not named:
        raise FhirError(422, "required", _("An integrating system acts for a clinician: name "
                                           "the doctor or nurse "
                                           "(Practitioner/N or PractitionerRole/employment-N, "
                                           "with a TierCare account) in %(where)s."),
                        [where], where=where)
    reachable = [u for u in named if u.institution is not None and client.records_at(
        u.institution.pk, u.institution.alliance_id)]
    if not reachable:
        raise FhirError(403, "forbidden", _("This system does not act for the clinician named "
                                            "in %(where)s."), [where], where=where)
    return next((u for u in reachable if fits is None or fits(u)), reachable[0])


def audit_system_step(client: Client, referral: Referral, step: str, user: User) -> None:
    """An integrating system took a step for a clinician: the services record the
    clinician; this event records the system that sent it (rules.md §11: who and from
    where)."""
    if client.token is None:
        return
    audit.record(AuditEvent.Action.UPDATE, username=client.audit_username,
                 object_type=REFERRAL_LABEL, object_id=referral.pk,
                 patient_id=referral.patient_id,
                 summary=f"FHIR {step} for {user.get_username()}",
                 changes={"step": step, "acting_user": user.get_username()})


def reason_text(concept: object) -> str:
    """The text of a CodeableConcept (its text, else a coding's display or code)."""
    if not isinstance(concept, dict):
        return ""
    codings = [c for c in concept.get("coding") or [] if isinstance(c, dict)]
    return str(concept.get("text") or next(
        (c.get("display") or c.get("code") for c in codings), "") or "")


class ReferralPart(ResourceMapper):
    """What ServiceRequest and Task share: the referral rows the caller sees, and reads
    audited as a resident's record (one VIEW per referral read, one SEARCH per search;
    rules.md §11), under the referral's own label as in the JSON API."""

    model = Referral

    def queryset(self, client: Client) -> QuerySet[Any]:
        return referral_rows(client)

    def audit_read(self, objs: list[Any], client: Client, *, search: str = "") -> None:
        if search:
            self.audit_search(REFERRAL_LABEL, search, len(objs), client)
            return
        audit.record_reads(REFERRAL_LABEL,
                           [(r.pk, r.patient_id, f"FHIR {self.resource_type} {r.pk}")
                            for r in objs],
                           user=client.audit_user, username=client.audit_username)

    def fresh(self, referral: Referral) -> Referral:
        """The referral as stored now, with what ``to_resource`` reads."""
        return annotated(Referral.objects.all()).get(pk=referral.pk)


# -- search parameters ------------------------------------------------------------------------

def _status_filter(value: str, modifier: str) -> Q:
    token = parse_token(value)
    if token.system not in (None, "", "http://hl7.org/fhir/request-status"):
        return NOTHING
    states = [state for state, code in SR_STATUS.items() if code == token.code]
    return Q(status__in=states) if states else NOTHING


def _category_filter(value: str, modifier: str) -> Q:
    token = parse_token(value)
    if token.system in (None, REFERRAL_CATEGORY["system"]) and \
            token.code == REFERRAL_CATEGORY["code"]:
        return Q()
    if token.system in (None, DIRECTION_SYSTEM) and token.code in Direction.values:
        return Q(direction=token.code)
    return NOTHING


def _identifier_filter(value: str, modifier: str) -> Q:
    token = parse_token(value)
    code = (token.code or "").strip()
    if token.system not in (None, REFERRAL_SYSTEM) or not code.isdigit() or len(code) > 18:
        return NOTHING
    return Q(pk=int(code))


def _authored_filter(value: str, modifier: str) -> Q:
    return date_q("authored_at", parse_date("authored", value))


# -- writing ----------------------------------------------------------------------------------

def _reference_text(ref: object) -> str:
    return str(ref.get("reference", "")) if isinstance(ref, dict) else ""


def _unknown(where: str, value: str, kind: str) -> FhirError:
    return FhirError(422, "value", _("%(where)s: “%(value)s” does not name a %(kind)s of this "
                                     "server."), [where], where=where, value=value[:100],
                     kind=kind)


def _organizations(refs: object, where: str) -> tuple[Institution | None, Department | None]:
    """The receiving institution and department the ``performer`` list names: an
    institution, a department (its institution follows), or both when they agree."""
    institution: Institution | None = None
    department: Department | None = None
    for index, ref in enumerate(refs if isinstance(refs, list) else []):
        place = f"{where}[{index}]"
        text = _reference_text(ref)
        named = referenced(text, "Organization") if text else None
        if named is not None and named[0] is Institution and institution is None:
            institution = Institution.objects.filter(pk=named[1]).first()
            if institution is not None:
                continue
        if named is not None and named[0] is Department and department is None:
            department = Department.objects.select_related("institution").filter(
                pk=named[1]).first()
            if department is not None:
                continue
        raise FhirError(422, "value", _("%(where)s: name the receiving institution "
                                        "(Organization/institution-N) and, if known, its "
                                        "department (Organization/department-N) of this "
                                        "server, once each."), [place], where=place)
    if department is not None:
        if institution is None:
            institution = department.institution
        elif department.institution_id != institution.pk:
            raise FhirError(422, "invariant", _("The department %(department)s is not part of "
                                                "%(institution)s."), [where],
                            department=department.name, institution=institution.name)
    return institution, department


def _sending_department(resource: dict[str, Any]) -> Department | None:
    for index, extension in enumerate(resource.get("extension") or []):
        if not isinstance(extension, dict) or extension.get("url") != DEPARTMENT_URL:
            continue
        where = f"ServiceRequest.extension[{index}]"
        text = _reference_text(extension.get("valueReference"))
        named = referenced(text, "Organization") if text else None
        found = (Department.objects.filter(pk=named[1]).first()
                 if named is not None and named[0] is Department else None)
        if found is None:
            raise _unknown(where, text, "department")
        return found
    return None


def _notes(resource: dict[str, Any]) -> dict[str, str]:
    """The slip's texts from ``note``: each marked by its kind; an unmarked note is the
    reason when no note is marked so (one unmarked note at most)."""
    texts: dict[str, str] = {}
    unmarked: list[tuple[int, str]] = []
    for index, note in enumerate(resource.get("note") or []):
        text = str(note.get("text") or "") if isinstance(note, dict) else ""
        kinds = [e.get("valueCode") for e in note.get("extension") or []
                 if isinstance(e, dict) and e.get("url") == NOTE_KIND_URL] if isinstance(
            note, dict) else []
        where = f"ServiceRequest.note[{index}]"
        if not kinds:
            unmarked.append((index, text))
            continue
        field = NOTE_KINDS.get(str(kinds[0]))
        if field is None or len(kinds) > 1 or field in texts:
            raise FhirError(422, "value", _("%(where)s: the note's kind (extension %(url)s) is "
                                            "one of %(kinds)s, each at most once."), [where],
                            where=where, url=NOTE_KIND_URL, kinds=", ".join(NOTE_KINDS))
        texts[field] = text
    if unmarked and ("reason" in texts or len(unmarked) > 1):
        where = f"ServiceRequest.note[{unmarked[-1][0]}]"
        raise FhirError(422, "value", _("%(where)s: mark each note with its kind (extension "
                                        "%(url)s); only the reason may go unmarked."),
                        [where], where=where, url=NOTE_KIND_URL)
    if unmarked:
        texts["reason"] = unmarked[0][1]
    texts.pop("catalogue_warning", None)  # the server's, recomputed at submit
    return texts


def _direction(resource: dict[str, Any]) -> str:
    found = [coding.get("code") for concept in resource.get("category") or []
             if isinstance(concept, dict) for coding in concept.get("coding") or []
             if isinstance(coding, dict) and coding.get("system") == DIRECTION_SYSTEM]
    if len(found) != 1 or found[0] not in Direction.values:
        raise FhirError(422, "required", _("ServiceRequest.category: give the direction once, "
                                           "as a coding of %(system)s (%(codes)s)."),
                        ["ServiceRequest.category"], system=DIRECTION_SYSTEM,
                        codes=" | ".join(Direction.values))
    return str(found[0])


def _green_channel(resource: dict[str, Any]) -> bool:
    priority = resource.get("priority", ROUTINE)
    if priority not in (ROUTINE, STAT):
        raise FhirError(422, "value", _("ServiceRequest.priority: a referral is routine, or "
                                        "stat for the emergency green channel (TierCare has "
                                        "no “%(value)s”)."), ["ServiceRequest.priority"],
                        value=str(priority)[:20])
    return bool(priority == STAT)


def _diagnoses(resource: dict[str, Any]) -> list[str]:
    concepts = resource.get("reasonCode") or []
    if not concepts:
        raise FhirError(422, "required", _("A referral needs its diagnosis "
                                           "(ServiceRequest.reasonCode, ICD-10)."),
                        ["ServiceRequest.reasonCode"])
    return [icd10_code(concept, f"ServiceRequest.reasonCode[{index}]")
            for index, concept in enumerate(concepts)]


def slip_of(resource: dict[str, Any]) -> dict[str, Any]:
    """The slip fields a ServiceRequest gives (``services.DRAFT_FIELDS``), checked for form;
    the services check the rest (codes in ICD-10, reason given, direction fits the
    levels)."""
    receiving, department = _organizations(resource.get("performer"),
                                           "ServiceRequest.performer")
    codes = _diagnoses(resource)
    notes = _notes(resource)
    return {"direction": _direction(resource), "green_channel": _green_channel(resource),
            "receiving_institution": receiving, "receiving_department": department,
            "sending_department": _sending_department(resource), "diagnosis": codes[0],
            "secondary_diagnoses": codes[1:], "reason": notes.get("reason", ""),
            "clinical_summary": notes.get("clinical_summary", ""),
            "care_plan": notes.get("care_plan", "")}


@register
class ServiceRequestMapper(ReferralPart):
    resource_type = "ServiceRequest"
    interactions = ("read", "search-type", "create", "update")
    search_params = {
        "identifier": SearchParam("token", f"The referral's number ({REFERRAL_SYSTEM}|N)",
                                  _identifier_filter),
        **RESIDENT_PARAMS,
        "status": SearchParam("token", "draft | active | completed | revoked",
                              _status_filter),
        "priority": SearchParam("token", "routine | stat (the emergency green channel)",
                                priority_filter),
        "category": SearchParam("token", f"The direction: up | down | lateral | out_of_county "
                                f"({DIRECTION_SYSTEM})", _category_filter),
        "requester": SearchParam(
            "reference", "The sending institution or department (Organization/…) or "
            "clinician (Practitioner/N, PractitionerRole/…)",
            party_filter("sending_institution_id", "sending_department_id",
                         "sending_practitioner_id")),
        "performer": SearchParam(
            "reference", "The receiving institution or department (Organization/…) or "
            "clinician (Practitioner/N, PractitionerRole/…)",
            party_filter("receiving_institution_id", "receiving_department_id",
                         "receiving_practitioner_id")),
        "authored": SearchParam("date", "When it was sent, a draft when it was written "
                                "(prefixes eq, ne, gt, lt, ge, le)", _authored_filter),
        "based-on": SearchParam("reference", "The referral a down-referral follows "
                                "(ServiceRequest/N)",
                                reference_filter("source_referral_id", "ServiceRequest",
                                                 Referral)),
    }
    sorts = {"authored": "authored_at"}
    includes = {
        "ServiceRequest:patient": Include("Patient", lambda r: [str(r.patient_id)]),
        "ServiceRequest:subject": Include("Patient", lambda r: [str(r.patient_id)]),
    }

    def to_resource(self, obj: Any, client: Client) -> dict[str, Any]:
        r: Referral = obj
        resource: dict[str, Any] = {
            "resourceType": "ServiceRequest",
            "id": str(r.pk),
            "meta": {"lastUpdated": r.updated_at.isoformat()},
            "identifier": [{"system": REFERRAL_SYSTEM, "value": str(r.pk)}],
        }
        if r.sending_department is not None:
            resource["extension"] = [{"url": DEPARTMENT_URL, "valueReference": organization(
                None, r.sending_department)}]
        if r.source_referral_id is not None:
            resource["basedOn"] = [{"reference": f"ServiceRequest/{r.source_referral_id}"}]
        predecessor = getattr(r, "predecessor_id", None)
        if predecessor is not None:
            resource["replaces"] = [{"reference": f"ServiceRequest/{predecessor}"}]
        resource.update({
            "status": SR_STATUS[St(r.status)],
            "intent": "order",
            "category": [{"coding": [REFERRAL_CATEGORY]}, {"coding": [{
                "system": DIRECTION_SYSTEM, "code": r.direction,
                "display": str(Direction(r.direction).label)}]}],
            "priority": priority_of(r),
            "subject": {"reference": f"Patient/{r.patient_id}"},
        })
        occurrence = self._occurrence(r)
        if occurrence:
            resource["occurrencePeriod"] = occurrence
        resource["authoredOn"] = moment(r.submitted_at or r.created_at)
        resource["requester"] = requester_of(r)
        performer = organization(r.receiving_institution, r.receiving_department)
        if performer is not None:
            resource["performer"] = [performer]
        resource["reasonCode"] = [code_concept(code)
                                  for code in [r.diagnosis, *(r.secondary_diagnoses or [])]]
        notes = [{"extension": [{"url": NOTE_KIND_URL, "valueCode": kind}],
                  "text": getattr(r, field)}
                 for kind, field in NOTE_KINDS.items() if getattr(r, field)]
        if notes:
            resource["note"] = notes
        return resource

    @staticmethod
    def _occurrence(r: Referral) -> dict[str, str]:
        if r.appointment is not None:
            slot = r.appointment.slot
            return {"start": moment(slot.start), "end": moment(slot.end)}
        if r.bed_id is not None and r.arrived_at is not None:
            period = {"start": moment(r.arrived_at)}
            if r.status == St.COMPLETED and r.closed_at is not None:
                period["end"] = moment(r.closed_at)
            return period
        return {}

    # -- writes -----------------------------------------------------------------------------

    def _writer(self, resource: dict[str, Any], client: Client) -> User:
        """The clinician who writes: the person; a system names them in ``requester``. A
        person may name themselves, their practitioner record or their institution there,
        nobody else."""
        ref = resource.get("requester")
        user = acting_user(client, [(ref, "ServiceRequest.requester")])
        if client.user is not None and ref is not None:
            text = _reference_text(ref)
            named = referenced(text, "Organization") if text else None
            own_institution = named == (Institution, user.institution_id)
            own_record = (user.practitioner_id is not None
                          and practitioner_named(ref) == user.practitioner_id)
            if not (own_institution or own_record):
                raise FhirError(422, "invariant", _("ServiceRequest.requester: you write "
                                                    "referrals in your own name."),
                                ["ServiceRequest.requester"])
        return user

    def _source(self, resource: dict[str, Any], client: Client) -> Referral | None:
        refs = resource.get("basedOn") or []
        if not refs:
            return None
        text = _reference_text(refs[0]) if len(refs) == 1 else ""
        named = referenced(text, "ServiceRequest") if text else None
        found = query.fetch(self, client, [str(named[1])]) if named is not None else []
        if not found:
            raise _unknown("ServiceRequest.basedOn", text, "referral")
        source: Referral = found[0]
        return source

    def _patient(self, resource: dict[str, Any], client: Client) -> Patient:
        text = _reference_text(resource.get("subject"))
        named = referenced(text, "Patient") if text else None
        found = (query.fetch(mapper_for("Patient"), client, [str(named[1])])
                 if named is not None and named[0] is Patient else [])
        if not found:
            raise _unknown("ServiceRequest.subject", text, "Patient")
        patient: Patient = found[0]
        return patient

    def create(self, resource: dict[str, Any], client: Client) -> Any:
        status = resource.get("status")
        if status not in ("draft", "active"):
            raise FhirError(422, "value", _("A new referral is a draft, or active to send it "
                                            "at once (ServiceRequest.status)."),
                            ["ServiceRequest.status"])
        if resource.get("intent") != "order":
            raise FhirError(422, "value", _("A referral is an order (ServiceRequest.intent)."),
                            ["ServiceRequest.intent"])
        patient = self._patient(resource, client)
        slip = slip_of(resource)
        source = self._source(resource, client)
        by = self._writer(resource, client)
        try:
            referral = services.create_referral(patient=patient, by=by, source_referral=source,
                                                **slip)
            if status == "active":
                services.submit(referral, by=by)
        except DomainError as err:
            raise refused(err) from err
        audit_system_step(client, referral, f"ServiceRequest create ({status})", by)
        return self.fresh(referral)

    def update(self, obj: Any, resource: dict[str, Any], client: Client) -> Any:
        """Edit a draft's slip; the status, resident and ``basedOn`` stay as they are."""
        r: Referral = obj
        stored = self.to_resource(r, client)
        if resource.get("status") != stored["status"]:
            raise FhirError(422, "invariant", _("ServiceRequest.status follows the referral's "
                                                "workflow: move it through Task/%(id)s."),
                            ["ServiceRequest.status"], id=r.pk)
        for key in ("subject", "basedOn", "intent"):
            if key in resource and self._target(resource[key]) != self._target(stored.get(key)):
                raise FhirError(422, "invariant", _("ServiceRequest.%(element)s cannot change; "
                                                    "write a new referral instead."),
                                [f"ServiceRequest.{key}"], element=key)
        slip = slip_of(resource)
        changes = {key: value for key, value in slip.items()
                   if _stored_value(r, key) != _comparable(value)}
        if not changes:
            return r
        by = self._writer(resource, client)
        try:
            services.update_draft(r, changes, by=by)
        except DomainError as err:
            raise refused(err) from err
        audit_system_step(client, r, "ServiceRequest update", by)
        return self.fresh(r)

    @staticmethod
    def _target(value: object) -> object:
        """What a Reference (or a list of them) points at, displays aside."""
        if isinstance(value, list):
            return [ServiceRequestMapper._target(v) for v in value]
        return _reference_text(value) if isinstance(value, dict) else value


def _comparable(value: Any) -> Any:
    if isinstance(value, (Institution, Department)):
        return value.pk
    if isinstance(value, str):
        return value.strip()
    return value


def _stored_value(r: Referral, key: str) -> Any:
    if key in ("receiving_institution", "receiving_department", "sending_department"):
        return getattr(r, f"{key}_id")
    if key == "secondary_diagnoses":
        return list(r.secondary_diagnoses or [])
    return getattr(r, key)

