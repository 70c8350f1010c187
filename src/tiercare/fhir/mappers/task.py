"""Task ↔ the workflow of a ``referrals.Referral``: one Task per referral, with the
referral's id, whose ``focus`` is the ServiceRequest of the same id (ADR 0013; rules.md §3
the closed loop; the states and who moves them: ``referrals.statuses``, ADR 0012).

| our state | ``Task.status`` | ``businessStatus`` |
|---|---|---|
| draft | ``draft`` | draft |
| awaiting_approval | ``draft`` (not yet ready for the receiver) | awaiting_approval |
| submitted | ``requested`` | submitted |
| received | ``received`` | received |
| accepted | ``accepted`` | accepted |
| rejected | ``rejected`` | rejected |
| redirected | ``rejected`` (declined here, sent on) | redirected |
| arrived | ``in-progress`` | arrived |
| completed | ``completed`` | completed |
| cancelled | ``cancelled`` | cancelled |
| expired | ``failed`` (never answered) | expired |

``businessStatus`` carries our exact state (``…/CodeSystem/referral-status``, its label as
display). ``for``: the resident; ``requester``: as the ServiceRequest's; ``owner``: the
clinician who answered once one did, else the receiving department or institution;
``authoredOn`` written, ``lastModified`` last step; ``executionPeriod`` from receipt to the
close; ``restriction.period.end`` the response deadline; ``statusReason`` why it was
rejected, redirected, cancelled or expired; ``priority`` routine | stat (green channel);
``code`` fulfill. ``input`` / ``output`` (types under ``…/CodeSystem/referral-task``): the
``slot`` (``Slot/N``) or ``bed`` (``Location/bed-N``) accepted with, and the
``appointment`` (``Appointment/N``) or ``bed`` it holds; ``redirect-to`` (the member it was
sent on to) and the ``successor`` ServiceRequest; ``outcome`` (``…/CodeSystem/
referral-outcome``), ``outcome-note`` and, for an admission, ``care-plan`` and the
``down-referral`` ServiceRequest proposed at discharge.

Update (PUT) moves the workflow one step through ``referrals.services``, with all their
rules: the new state is the changed ``businessStatus`` (our code), else the one the changed
``status`` means (``requested`` sends a draft, or is the office's approval of one awaiting
it; ``rejected`` with a ``redirect-to`` input is a redirect). ``accepted`` needs an input
``slot`` or ``bed``; ``rejected`` (also the office's refusal), a redirect, and optionally
``cancelled`` take ``statusReason``; ``completed`` takes the output ``outcome`` (and
``outcome-note``, ``care-plan``). Answering straight from ``submitted`` records the receipt
first (ADR 0012). A step the state does not have → 409, a step that is not the caller's →
403, a missing reason, slot or outcome → 422, each with the translated referral message and
nothing changed. The same status again changes nothing. ``focus``, ``for``, ``intent`` and
``priority`` never change (422).

Who moves: a person's session, as themselves; an integrating system, for the clinician it
names in ``owner`` (the receiving side's steps) or ``requester`` (the sending side's): the
first one with a TierCare account at an institution the system acts for whose side may take
the step. The alliance office's approval is a person's act (a session).
"""

from __future__ import annotations

from typing import Any

from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from tiercare.errors import DomainError
from tiercare.fhir.auth import Client
from tiercare.fhir.errors import FhirError
from tiercare.fhir.mappers.service_request import (
    RESIDENT_PARAMS,
    ReferralPart,
    acting_user,
    audit_system_step,
    clinician,
    organization,
    party_filter,
    priority_filter,
    priority_of,
    reason_text,
    refused,
    requester_of,
)
from tiercare.fhir.mappers.slot import moment
from tiercare.fhir.mapping import (
    BASE_URI,
    NOTHING,
    Include,
    code_filter,
    mapper_for,
    reference_filter,
    referenced,
    register,
)
from tiercare.fhir.search import SearchParam, date_q, parse_date, parse_token
from tiercare.referrals import rules, services, statuses
from tiercare.referrals.models import Outcome, Referral
from tiercare.registry.models import Department, Institution
from tiercare.scheduling.models import Bed, Slot

St = Referral.Status
STATUS_SYSTEM = f"{BASE_URI}/CodeSystem/referral-status"
TASK_SYSTEM = f"{BASE_URI}/CodeSystem/referral-task"
OUTCOME_SYSTEM = f"{BASE_URI}/CodeSystem/referral-outcome"
TASK_STATUS_SYSTEM = "http://hl7.org/fhir/task-status"
TASK_CODE = {"coding": [{"system": "http://hl7.org/fhir/CodeSystem/task-code",
                         "code": "fulfill", "display": "Fulfill the focal request"}]}
#: our state → Task.status
TASK_STATUS = {St.DRAFT: "draft", St.AWAITING_APPROVAL: "draft", St.SUBMITTED: "requested",
               St.RECEIVED: "received", St.ACCEPTED: "accepted", St.REJECTED: "rejected",
               St.REDIRECTED: "rejected", St.ARRIVED: "in-progress",
               St.COMPLETED: "completed", St.CANCELLED: "cancelled", St.EXPIRED: "failed"}
#: a Task.status sent on update → the state it asks for
FROM_TASK_STATUS = {"draft": St.DRAFT, "requested": St.SUBMITTED, "received": St.RECEIVED,
                    "accepted": St.ACCEPTED, "rejected": St.REJECTED,
                    "in-progress": St.ARRIVED, "completed": St.COMPLETED,
                    "cancelled": St.CANCELLED, "failed": St.EXPIRED}
#: states whose Task shows why (the reason given with the move into them)
WITH_REASON = frozenset({St.REJECTED, St.REDIRECTED, St.CANCELLED, St.EXPIRED})
#: answers the receiving side may give straight from ``submitted`` (ADR 0012 §3)
ANSWERS = frozenset({St.ACCEPTED, St.REJECTED, St.REDIRECTED})
TASK_TYPE_LABELS = {"slot": "Slot", "bed": "Bed", "appointment": "Appointment",
                    "redirect-to": "Redirected to", "successor": "Successor referral",
                    "outcome": "Outcome", "outcome-note": "Outcome note",
                    "care-plan": "Care plan", "down-referral": "Down-referral"}


def _parameter(kind: str, **value: Any) -> dict[str, Any]:
    return {"type": {"coding": [{"system": TASK_SYSTEM, "code": kind,
                                 "display": TASK_TYPE_LABELS[kind]}]}, **value}


def _of_kind(items: object, kind: str) -> list[tuple[int, dict[str, Any]]]:
    """The input or output entries of a type (our system, or a bare code)."""
    found = []
    for index, item in enumerate(items if isinstance(items, list) else []):
        codings = ((item.get("type") or {}).get("coding") or []) if isinstance(item, dict) \
            else []
        if any(isinstance(c, dict) and c.get("code") == kind
               and c.get("system") in (None, TASK_SYSTEM) for c in codings):
            found.append((index, item))
    return found


def _state_filter(value: str, modifier: str) -> Q:
    token = parse_token(value)
    if token.system not in (None, "", TASK_STATUS_SYSTEM):
        return NOTHING
    states = [state for state, code in TASK_STATUS.items() if code == token.code]
    return Q(status__in=states) if states else NOTHING


def _date_param(name: str, field: str, text: str) -> SearchParam:
    return SearchParam("date", text, lambda value, modifier: date_q(field,
                                                                    parse_date(name, value)))


@register
class TaskMapper(ReferralPart):
    resource_type = "Task"
    interactions = ("read", "search-type", "update")
    search_params = {
        "focus": SearchParam("reference", "The referral (ServiceRequest/N)",
                             reference_filter("pk", "ServiceRequest", Referral)),
        **RESIDENT_PARAMS,
        "status": SearchParam("token", "draft | requested | received | accepted | rejected | "
                              "in-progress | completed | cancelled | failed", _state_filter),
        "business-status": SearchParam("token", f"Our state ({STATUS_SYSTEM}): "
                                       + " | ".join(St.values),
                                       code_filter("status", STATUS_SYSTEM, St.values)),
        "owner": SearchParam(
            "reference", "The receiving institution or department (Organization/…) or the "
            "clinician who answered (Practitioner/N, PractitionerRole/…)",
            party_filter("receiving_institution_id", "receiving_department_id",
                         "receiving_practitioner_id")),
        "requester": SearchParam(
            "reference", "The sending institution or department (Organization/…) or "
            "clinician (Practitioner/N, PractitionerRole/…)",
            party_filter("sending_institution_id", "sending_department_id",
                         "sending_practitioner_id")),
        "priority": SearchParam("token", "routine | stat (the emergency green channel)",
                                priority_filter),
        "authored-on": _date_param("authored-on", "created_at", "When the referral was "
                                   "written (prefixes eq, ne, gt, lt, ge, le)"),
        "modified": _date_param("modified", "updated_at", "Its last step (prefixes eq, ne, "
                                "gt, lt, ge, le)"),
    }
    #: ``_sort=-priority,deadline`` is the receiving queue's order (green channel first)
    sorts = {"authored-on": "created_at", "modified": "updated_at",
             "priority": "green_channel", "deadline": "deadline"}
    includes = {
        "Task:focus": Include("ServiceRequest", lambda r: [str(r.pk)]),
        "Task:patient": Include("Patient", lambda r: [str(r.patient_id)]),
    }

    def to_resource(self, obj: Any, client: Client) -> dict[str, Any]:
        r: Referral = obj
        state = St(r.status)
        resource: dict[str, Any] = {
            "resourceType": "Task",
            "id": str(r.pk),
            "meta": {"lastUpdated": r.updated_at.isoformat()},
            "status": TASK_STATUS[state],
        }
        why = getattr(r, "status_reason", "") or ""
        if state in WITH_REASON and why:
            resource["statusReason"] = {"text": why}
        resource.update({
            "businessStatus": {"coding": [{"system": STATUS_SYSTEM, "code": r.status,
                                           "display": str(state.label)}],
                               "text": str(state.label)},
            "intent": "order",
            "priority": priority_of(r),
            "code": TASK_CODE,
            "focus": {"reference": f"ServiceRequest/{r.pk}"},
            "for": {"reference": f"Patient/{r.patient_id}"},
        })
        period = {key: moment(value) for key, value in (("start", r.received_at),
                                                        ("end", r.closed_at)) if value}
        if period:
            resource["executionPeriod"] = period
        resource["authoredOn"] = moment(r.created_at)
        resource["lastModified"] = moment(r.updated_at)
        resource["requester"] = requester_of(r)
        owner = (clinician(r.receiving_institution, r.receiving_practitioner)
                 or organization(r.receiving_institution, r.receiving_department))
        if owner is not None:
            resource["owner"] = owner
        if r.deadline is not None:
            resource["restriction"] = {"period": {"end": moment(r.deadline)}}
        inputs, outputs = self._parameters(r)
        if inputs:
            resource["input"] = inputs
        if outputs:
            resource["output"] = outputs
        return resource

    @staticmethod
    def _parameters(r: Referral) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        inputs: list[dict[str, Any]] = []
        outputs: list[dict[str, Any]] = []
        if r.appointment is not None:
            inputs.append(_parameter("slot", valueReference={
                "reference": f"Slot/{r.appointment.slot_id}"}))
            outputs.append(_parameter("appointment", valueReference={
                "reference": f"Appointment/{r.appointment_id}"}))
        if r.bed_id is not None:
            bed = {"reference": mapper_for("Location").reference(Bed, r.bed_id)["reference"]}
            inputs.append(_parameter("bed", valueReference=bed))
            outputs.append(_parameter("bed", valueReference=bed))
        successor = r.redirected_to
        if successor is not None:
            target = organization(successor.receiving_institution,
                                  successor.receiving_department)
            if target is not None:
                inputs.append(_parameter("redirect-to", valueReference=target))
            outputs.append(_parameter("successor", valueReference={
                "reference": f"ServiceRequest/{successor.pk}"}))
        if r.outcome:
            outputs.append(_parameter("outcome", valueCodeableConcept={"coding": [{
                "system": OUTCOME_SYSTEM, "code": r.outcome,
                "display": str(Outcome(r.outcome).label)}]}))
        if r.outcome_note:
            outputs.append(_parameter("outcome-note", valueString=r.outcome_note))
        down = getattr(r, "down_referral_id", None)
        if down is not None:
            outputs.append(_parameter("down-referral", valueReference={
                "reference": f"ServiceRequest/{down}"}))
        return inputs, outputs

    # -- moving the workflow ----------------------------------------------------------------

    def update(self, obj: Any, resource: dict[str, Any], client: Client) -> Any:
        r: Referral = obj
        stored = self.to_resource(r, client)
        for key in ("focus", "for", "intent", "priority"):
            sent, kept = resource.get(key), stored.get(key)
            if isinstance(sent, dict) and isinstance(kept, dict):
                sent, kept = sent.get("reference"), kept.get("reference")
            if key in resource and sent != kept:
                raise FhirError(422, "invariant", _("Task.%(element)s cannot change (the "
                                                    "referral's slip is its ServiceRequest)."),
                                [f"Task.{key}"], element=key)
        target = self._target(resource, r)
        if target is None or target == r.status:
            return r
        source = St.RECEIVED if r.status == St.SUBMITTED and target in ANSWERS else r.status

        def fits(user: Any) -> bool:
            return statuses.may_move(source, target, services.sides_of(user, r))

        by = acting_user(client, [(resource.get("owner"), "Task.owner"),
                                  (resource.get("requester"), "Task.requester")], fits)
        try:
            rules.check_move(source, target, services.sides_of(by, r))
            self._move(r, target, resource, by)
        except DomainError as err:
            raise refused(err) from err
        audit_system_step(client, r, f"Task {r.status} → {target}", by)
        return self.fresh(r)

    @staticmethod
    def _target(resource: dict[str, Any], r: Referral) -> str | None:
        """The state the update asks for: a changed ``businessStatus``, else what a changed
        ``status`` means; ``None`` when neither changed."""
        stored = TASK_STATUS[St(r.status)]
        status = resource.get("status")
        concept = resource.get("businessStatus")
        business = None
        if concept is not None:
            codes = [c.get("code") for c in (concept.get("coding") or [])
                     if isinstance(c, dict) and c.get("system") in (None, STATUS_SYSTEM)]
            if len(codes) != 1 or codes[0] not in St.values:
                raise FhirError(422, "value", _("Task.businessStatus: one coding of %(system)s "
                                                "(%(codes)s)."), ["Task.businessStatus"],
                                system=STATUS_SYSTEM, codes=" | ".join(St.values))
            business = str(codes[0])
        if business is not None and business != r.status:
            if status not in (stored, TASK_STATUS[St(business)]):
                raise FhirError(422, "invariant", _("Task.status “%(status)s” does not go with "
                                                    "businessStatus “%(business)s” (that is "
                                                    "“%(expected)s”)."), ["Task.status"],
                                status=str(status)[:20], business=business,
                                expected=TASK_STATUS[St(business)])
            return business
        if status == stored:
            return None
        target = FROM_TASK_STATUS.get(str(status))
        if target is None:
            raise FhirError(422, "value", _("Task.status can be %(codes)s here."),
                            ["Task.status"], codes=", ".join(FROM_TASK_STATUS))
        if target == St.REJECTED and _of_kind(resource.get("input"), "redirect-to"):
            return St.REDIRECTED
        return target

    def _move(self, r: Referral, target: str, resource: dict[str, Any], by: Any) -> None:
        """Call the service of the step (each checks the move again under the row lock)."""
        why = reason_text(resource.get("statusReason"))
        if target in (St.SUBMITTED, St.AWAITING_APPROVAL):
            if r.status == St.DRAFT:
                services.submit(r, by=by)
            else:
                services.approve(r, by=by, reason=why)
        elif target == St.RECEIVED:
            services.receive(r, by=by)
        elif target == St.ACCEPTED:
            slot, bed = self._capacity(resource)
            services.accept(r, by=by, slot=slot, bed=bed)
        elif target == St.REJECTED:
            refuse = services.refuse if r.status == St.AWAITING_APPROVAL else services.reject
            refuse(r, by=by, reason=why)
        elif target == St.REDIRECTED:
            to, department = self._redirect_target(resource)
            services.redirect(r, by=by, to=to, department=department, reason=why)
        elif target == St.ARRIVED:
            services.arrive(r, by=by)
        elif target == St.COMPLETED:
            outcome = self._outcome(resource)
            services.complete(r, by=by, outcome=outcome["outcome"],
                              outcome_note=outcome["outcome_note"],
                              care_plan=outcome["care_plan"])
        elif target == St.CANCELLED:
            services.cancel(r, by=by, reason=why)

    @staticmethod
    def _reference(resource: dict[str, Any], kind: str, target: str) -> tuple[Any, str] | None:
        """(model, pk) named by the one input of ``kind``, and where it sits; ``None`` when
        there is no such input."""
        found = _of_kind(resource.get("input"), kind)
        if not found:
            return None
        index, item = found[0]
        where = f"Task.input[{index}].valueReference"
        ref = item.get("valueReference")
        text = ref.get("reference", "") if isinstance(ref, dict) else ""
        named = referenced(text, target) if text else None
        if len(found) > 1 or named is None:
            raise FhirError(422, "value", _("%(where)s: one %(kind)s of this server "
                                            "(%(target)s/…)."), [where], where=where,
                            kind=kind, target=target)
        return named, where

    def _capacity(self, resource: dict[str, Any]) -> tuple[Slot | None, Bed | None]:
        """The slot or bed an acceptance books (inputs ``slot`` / ``bed``)."""
        chosen: dict[str, Any] = {}
        for kind, target, model, form in (("slot", "Slot", Slot, "Slot/N"),
                                          ("bed", "Location", Bed, "Location/bed-N")):
            named = self._reference(resource, kind, target)
            if named is None:
                continue
            (found, pk), where = named
            chosen[kind] = model.objects.filter(pk=pk).first() if found is model else None
            if chosen[kind] is None:
                raise FhirError(422, "value", _("%(where)s does not name a %(kind)s "
                                                "(%(form)s) of this server."), [where],
                                where=where, kind=kind, form=form)
        return chosen.get("slot"), chosen.get("bed")

    def _redirect_target(self, resource: dict[str, Any]) -> tuple[Institution,
                                                                   Department | None]:
        named = self._reference(resource, "redirect-to", "Organization")
        if named is None:
            raise FhirError(422, "required", _("A redirect names the member it goes to: an "
                                               "input redirect-to with Organization/"
                                               "institution-N or department-N."),
                            ["Task.input"])
        (model, pk), where = named
        if model is Department:
            department = Department.objects.select_related("institution").filter(
                pk=pk).first()
            if department is not None:
                return department.institution, department
        institution = Institution.objects.filter(pk=pk).first() if model is Institution \
            else None
        if institution is None:
            raise FhirError(422, "value", _("%(where)s does not name an institution or "
                                            "department of this server."), [where],
                            where=where)
        return institution, None

    @staticmethod
    def _outcome(resource: dict[str, Any]) -> dict[str, str]:
        """The outputs a completion records: ``outcome`` (required by the service),
        ``outcome-note`` and ``care-plan``."""
        values: dict[str, str] = {"outcome": "", "outcome_note": "", "care_plan": ""}
        for index, item in _of_kind(resource.get("output"), "outcome"):
            concept = item.get("valueCodeableConcept") or {}
            codes = [c.get("code") for c in concept.get("coding") or []
                     if isinstance(c, dict) and c.get("system") in (None, OUTCOME_SYSTEM)]
            if not codes or codes[0] not in Outcome.values:
                where = f"Task.output[{index}].valueCodeableConcept"
                raise FhirError(422, "value", _("%(where)s: the outcome is one of %(codes)s "
                                                "(%(system)s)."), [where], where=where,
                                codes=" | ".join(Outcome.values), system=OUTCOME_SYSTEM)
            values["outcome"] = str(codes[0])
        for kind, key in (("outcome-note", "outcome_note"), ("care-plan", "care_plan")):
            for _index, item in _of_kind(resource.get("output"), kind):
                values[key] = str(item.get("valueString") or "")
        return values
