"""Appointment ↔ ``scheduling.Appointment``: a resident's booking of one place in a slot
(rules.md §4; docs/scheduling.md). A resident's record: scoped by the caller's residents
(``Client.resident_q``), every read a VIEW and every search a SEARCH audit event.

| TierCare status | FHIR ``status`` |
|---|---|
| booked | ``booked`` |
| checked_in | ``checked-in`` (``arrived`` is read as the same on update) |
| fulfilled | ``fulfilled`` |
| cancelled | ``cancelled`` |
| no_show | ``noshow`` |

* ``slot``: ``Slot/N``; ``start``/``end``: the slot's, in China time; ``created``: booked at.
* ``participant``: the resident (``Patient/N``, required); the schedule's practitioner
  (``Practitioner/N``, type v3 ``PPRF``) when the schedule names one; who booked (type
  ``booked-by`` under ``…/CodeSystem/appointment-participant``): ``Practitioner/N`` when the
  booking user is a practitioner, else display only (the user name or ``token:NAME``).
* ``basedOn``: the referral, when the booking was made for one: a logical reference (type
  ``ServiceRequest``, identifier ``…/identifier/referral``) until ServiceRequest is served.
* ``comment``: the booking's note.

Create = book (``scheduling.services.book``) the one ``slot`` for the ``Patient``
participant, ``status`` booked; the caller is who books (a token: ``token:NAME``). A full,
closed or past slot, a second booking of the resident in the slot, a merged record: 409; a
pool the caller may not use: 403 (docs/scheduling.md "Who may book which pool"). Bookings
for a referral are made by the referral workflow, not here (``basedOn`` on create: 422).

Update = change the status only: cancelled (``services.cancel``, the place is given back),
checked-in / arrived (``check_in``), noshow (``mark_no_show``), fulfilled (``fulfil``).
Anything else that differs from the stored booking (slot, resident, start, end, basedOn)
is 422; a transition the booking's state does not allow is 409. Cancelling is open to every
writer who sees the booking; the other changes are the slot's institution's
(``Client.records_at``; a person: staff of that institution or a system administrator).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db.models import Q, QuerySet
from django.utils.translation import gettext_lazy as _

from tiercare.accounts import audit
from tiercare.accounts.models import Role
from tiercare.errors import DomainError
from tiercare.fhir.auth import Client
from tiercare.fhir.errors import FhirError
from tiercare.fhir.mappers.encounter import parse_datetime
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
from tiercare.registry.models import Practitioner
from tiercare.scheduling import services
from tiercare.scheduling.models import Appointment, Slot

A = Appointment.Status
TO_FHIR = {A.BOOKED: "booked", A.CHECKED_IN: "checked-in", A.FULFILLED: "fulfilled",
           A.CANCELLED: "cancelled", A.NO_SHOW: "noshow"}
FROM_FHIR = {**{code: status for status, code in TO_FHIR.items()}, "arrived": A.CHECKED_IN}
STATUS_SYSTEM = "http://hl7.org/fhir/appointmentstatus"
PARTICIPANT_SYSTEM = f"{BASE_URI}/CodeSystem/appointment-participant"
PARTICIPATION_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
REFERRAL_SYSTEM = f"{BASE_URI}/identifier/referral"
BOOKED_BY = "booked-by"


def _status_filter(value: str, modifier: str) -> Q:
    token = parse_token(value)
    if token.system not in (None, "", STATUS_SYSTEM):
        return NOTHING
    status = FROM_FHIR.get(token.code or "")
    return NOTHING if status is None else Q(status=status)


def _date_filter(value: str, modifier: str) -> Q:
    return date_q("slot__start", parse_date("date", value))


def _actor_filter(value: str, modifier: str) -> Q:
    """``actor``: the resident (``Patient/N``) or the schedule's practitioner
    (``Practitioner/N``); a bare id is tried as both."""
    condition = NOTHING
    patient = referenced(value, "Patient")
    if patient is not None and patient[0] is Patient:
        condition |= Q(patient_id=patient[1])
    practitioner = referenced(value, "Practitioner")
    if practitioner is not None and practitioner[0] is Practitioner:
        condition |= Q(slot__schedule__practitioner_id=practitioner[1])
    return condition


def _refused(err: DomainError) -> FhirError:
    """A scheduling refusal as the FHIR answer: its HTTP status (409 conflict, 403 pool
    refused, 400) and its translated message."""
    status = int(getattr(err, "status", 400))
    code = {403: "forbidden", 409: "conflict"}.get(status, "invalid")
    return FhirError(status, code, str(err))


def _no_slot() -> FhirError:
    return FhirError(422, "required", _("An appointment books exactly one slot "
                                        "(Appointment.slot: one Slot/N of this server)."),
                     ["Appointment.slot"])


def _no_patient(reference: str) -> FhirError:
    """A participant naming no resident the caller sees (missing and out of reach alike)."""
    return FhirError(422, "value", _("%(where)s: “%(value)s” does not name a %(kind)s of this "
                                     "server."), ["Appointment.participant"],
                     where="Appointment.participant", value=reference[:100], kind="Patient")


def _patient_ids(resource: dict[str, Any]) -> list[str]:
    """The ``Patient`` references among the participants (as written)."""
    found = []
    for participant in resource.get("participant") or []:
        actor = participant.get("actor") if isinstance(participant, dict) else None
        text = actor.get("reference", "") if isinstance(actor, dict) else ""
        if text.startswith("Patient/") or "/Patient/" in text:
            found.append(text)
    return found


def _slot_refs(resource: dict[str, Any]) -> list[str]:
    return [ref.get("reference", "") if isinstance(ref, dict) else ""
            for ref in resource.get("slot") or []]


@register
class AppointmentMapper(ResourceMapper):
    resource_type = "Appointment"
    model = Appointment
    interactions = ("read", "search-type", "create", "update")
    # a booking opens its own transaction where it needs one: none on PostgreSQL, where it
    # is one read and one writing statement (services.book, ADR 0016)
    create_needs_transaction = False
    search_params = {
        "patient": SearchParam("reference", "The resident (Patient/N)",
                               reference_filter("patient_id", "Patient", Patient)),
        "slot": SearchParam("reference", "The slot (Slot/N)",
                            reference_filter("slot_id", "Slot", Slot)),
        "status": SearchParam("token", "booked | checked-in (or arrived) | fulfilled | "
                              "cancelled | noshow", _status_filter),
        "date": SearchParam("date", "Start of the slot (prefixes eq, ne, gt, lt, ge, le)",
                            _date_filter),
        "actor": SearchParam("reference", "The resident (Patient/N) or the schedule's "
                             "practitioner (Practitioner/N)", _actor_filter),
    }
    sorts = {"date": "slot__start"}
    includes = {
        "Appointment:patient": Include("Patient", lambda a: [str(a.patient_id)]),
        "Appointment:slot": Include("Slot", lambda a: [str(a.slot_id)]),
    }

    def queryset(self, client: Client) -> QuerySet[Any]:
        rows = Appointment.objects.select_related("slot__schedule__practitioner",
                                                  "slot__schedule__institution", "booked_by")
        return client.residents_only(rows)

    def to_resource(self, obj: Any, client: Client) -> dict[str, Any]:
        a: Appointment = obj
        practitioners = mapper_for("Practitioner")
        participants: list[dict[str, Any]] = [
            {"actor": {"reference": f"Patient/{a.patient_id}"}, "required": "required",
             "status": "accepted"}]
        performer = a.slot.schedule.practitioner
        if performer is not None:
            participants.append({
                "type": [{"coding": [{"system": PARTICIPATION_SYSTEM, "code": "PPRF"}]}],
                "actor": practitioners.reference(Practitioner, performer.pk, performer.name),
                "required": "information-only", "status": "accepted"})
        booker: dict[str, Any] = {"display": a.booked_by_name} if a.booked_by_name else {}
        if a.booked_by is not None and a.booked_by.practitioner_id is not None:
            booker = practitioners.reference(Practitioner, a.booked_by.practitioner_id,
                                             a.booked_by_name)
        if booker:
            participants.append({
                "type": [{"coding": [{"system": PARTICIPANT_SYSTEM, "code": BOOKED_BY}]}],
                "actor": booker, "required": "information-only", "status": "accepted"})
        resource: dict[str, Any] = {
            "resourceType": "Appointment",
            "id": str(a.pk),
            "meta": {"lastUpdated": a.updated_at.isoformat()},
            "status": TO_FHIR[A(a.status)],
            "serviceCategory": mapper_for("Slot").to_resource(a.slot, client)["serviceCategory"],
            "start": moment(a.slot.start),
            "end": moment(a.slot.end),
            "created": moment(a.booked_at),
            "slot": [{"reference": f"Slot/{a.slot_id}"}],
            "participant": participants,
        }
        if a.source_referral_id is not None:
            resource["basedOn"] = [{"type": "ServiceRequest", "identifier": {
                "system": REFERRAL_SYSTEM, "value": str(a.source_referral_id)}}]
        if a.note:
            resource["comment"] = a.note
        return resource

    def audit_read(self, objs: list[Any], client: Client, *, search: str = "") -> None:
        """One VIEW event per appointment read (rules.md §11), one SEARCH event per search."""
        if search:
            self.audit_search(services.APPOINTMENT_LABEL, search, len(objs), client)
            return
        audit.record_reads(services.APPOINTMENT_LABEL,
                           [(a.pk, a.patient_id, f"FHIR Appointment {a.pk}") for a in objs],
                           user=client.audit_user, username=client.audit_username)

    # -- writes -----------------------------------------------------------------------------

    @staticmethod
    def _slot_id(resource: dict[str, Any]) -> int:
        """The id of the one slot the resource names (read by the booking itself)."""
        refs = _slot_refs(resource)
        named = referenced(refs[0], "Slot") if len(refs) == 1 and refs[0] else None
        if named is None or named[0] is not Slot:
            raise _no_slot()
        return named[1]

    @staticmethod
    def _patient_id(resource: dict[str, Any], client: Client) -> int:
        """The id of the one resident the resource names, when the caller sees them: one
        look-up for a caller held to some residents, none for one who sees every resident
        (the booking reads the record itself; an id naming nothing is answered the same)."""
        refs = _patient_ids(resource)
        if len(refs) != 1:
            raise FhirError(422, "required", _("An appointment is for exactly one resident "
                                               "(a participant whose actor is Patient/N)."),
                            ["Appointment.participant"])
        named = referenced(refs[0], "Patient")
        condition = client.resident_q()
        if named is None or named[0] is not Patient or (
                condition is not None
                and not Patient.objects.filter(condition, pk=named[1]).exists()):
            raise _no_patient(refs[0])
        return named[1]

    @staticmethod
    def _check_times(resource: dict[str, Any], slot: Slot) -> None:
        for key, value in (("start", slot.start), ("end", slot.end)):
            if key in resource and parse_datetime(resource[key], f"Appointment.{key}") != value:
                raise FhirError(422, "invariant", _("Appointment.%(element)s is the slot's "
                                                    "(%(value)s); leave it out or send it "
                                                    "unchanged."), [f"Appointment.{key}"],
                                element=key, value=moment(value))

    def create(self, resource: dict[str, Any], client: Client) -> Any:
        """Book (``services.book``, which reads the slot and the resident once, in the
        booking's transaction: the mapper reads neither before)."""
        if resource.get("status") != "booked":
            raise FhirError(422, "value", _("A new appointment is a booking: its status is "
                                            "“booked”."), ["Appointment.status"])
        if resource.get("basedOn"):
            raise FhirError(422, "not-supported", _("Bookings for a referral are made by the "
                                                    "referral workflow, not through FHIR."),
                            ["Appointment.basedOn"])
        slot_id = self._slot_id(resource)
        patient_id = self._patient_id(resource, client)
        note = resource.get("comment") if isinstance(resource.get("comment"), str) else ""
        try:
            booked = services.book(slot_id, patient_id, by=client.user,
                                   by_name=client.audit_username, note=note or "",
                                   check=lambda slot: self._check_times(resource, slot))
        except Slot.DoesNotExist:
            raise _no_slot() from None
        except Patient.DoesNotExist:
            raise _no_patient(_patient_ids(resource)[0]) from None
        except DomainError as err:
            raise _refused(err) from err
        return booked  # the resident was found in the caller's scope above

    def _may_record(self, a: Appointment, client: Client) -> bool:
        institution = a.slot.schedule.institution
        if client.records_at(institution.pk, institution.alliance_id):
            return True
        user = client.user
        return (user is not None and user.role != Role.ALLIANCE_ADMIN
                and user.institution_id == institution.pk)

    def update(self, obj: Any, resource: dict[str, Any], client: Client) -> Any:
        a: Appointment = obj
        target = FROM_FHIR.get(str(resource.get("status", "")))
        if target is None:
            raise FhirError(422, "value", _("Appointment.status can be booked, checked-in "
                                            "(or arrived), fulfilled, cancelled or noshow "
                                            "here."), ["Appointment.status"])
        stored = self.to_resource(a, client)
        same_slot = [referenced(ref, "Slot") for ref in _slot_refs(resource)] == [
            (Slot, a.slot_id)]
        patients = [referenced(ref, "Patient") for ref in _patient_ids(resource)]
        try:
            times = all(parse_datetime(resource[key], key) == getattr(a.slot, key)
                        for key in ("start", "end") if key in resource)
        except FhirError:
            times = False
        if (not same_slot or patients != [(Patient, a.patient_id)] or not times
                or resource.get("basedOn", stored.get("basedOn")) != stored.get("basedOn")):
            raise FhirError(422, "invariant", _("Only the status of an appointment can change "
                                                "(book again for another slot or resident)."),
                            ["Appointment"])
        if target == a.status:
            return a
        if target != A.CANCELLED and not self._may_record(a, client):
            raise FhirError(403, "forbidden", _("Only the slot's institution records "
                                                "arrivals, visits and no-shows of its "
                                                "appointments."))
        reason = self._reason(resource)
        moves: dict[str, Callable[..., Appointment]] = {
            A.CANCELLED: services.cancel, A.CHECKED_IN: services.check_in,
            A.NO_SHOW: services.mark_no_show, A.FULFILLED: services.fulfil}
        move = moves.get(target)
        try:
            if move is None:  # back to booked: no state leads there
                raise FhirError(409, "conflict", _("An appointment that is “%(state)s” cannot "
                                                   "be marked “%(target)s”."),
                                state=A(a.status).label, target=A(target).label)
            move(a, by=client.user, by_name=client.audit_username, reason=reason)
        except DomainError as err:
            raise _refused(err) from err
        return self.queryset(client).get(pk=a.pk)

    @staticmethod
    def _reason(resource: dict[str, Any]) -> str:
        concept = resource.get("cancelationReason")
        if not isinstance(concept, dict):
            return ""
        codings = concept.get("coding") or []
        text = concept.get("text") or next(
            (c.get("display") or c.get("code") for c in codings if isinstance(c, dict)), "")
        return str(text or "")[:200]
