"""CarePlan ↔ ``chronic.Registration``: a resident on the hypertension or type-2 diabetes
registry (慢病管理, rules.md §8; glossary: chronic-disease management = CarePlan), managed by a
primary-care institution and the resident's family-doctor team.

* ``status``: ``active`` while under management, ``completed`` once the registration is
  closed (moved away, died, diagnosis revised, declined; the reason in ``note``).
  ``intent``: ``plan``.
* ``category``: the disease, SNOMED CT 38341003 "Hypertensive disorder, systemic arterial"
  or 44054006 "Diabetes mellitus type 2", with TierCare's own code (``…/CodeSystem/
  chronic-disease``: ``hypertension`` | ``t2d``) in the same concept. The registered ICD-10
  diagnosis (Chinese clinical edition and the WHO code) is in the extension
  ``…/StructureDefinition/chronic-diagnosis`` (``valueCodeableConcept``): the registry keeps
  no Condition of its own for ``addresses`` to name.
* ``subject`` the resident; ``period.start`` enrolment, ``period.end`` the day it closed;
  ``created`` when it was recorded; ``author`` the responsible doctor (``Practitioner/N``),
  else the managing institution; ``contributor`` the managing institution; ``careTeam`` the
  family-doctor team (``CareTeam/N``); ``description`` the care plan text (a hospital's
  down-referral plan, the doctor's notes); ``supportingInfo`` the down-referral it came
  from (``ServiceRequest/N``).
* ``activity[0]``: the next follow-up (SNOMED CT 390906007 "Follow-up encounter"):
  ``detail.status`` ``scheduled`` while managed (``stopped`` once closed),
  ``detail.scheduledPeriod.start`` the day it is due, ``detail.performer`` the team, the
  responsible doctor and the managing institution; ``progress`` the date of the last
  follow-up and whether it was at target.

Read and search only (enrolment runs through the registry's rules in TierCare). Reads are
scoped to the residents the caller sees, as Encounter, and audited as residents' records
(one VIEW per plan read, one SEARCH per search; rules.md §11).
"""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet
from django.utils.translation import gettext_lazy as _

from tiercare.accounts import audit
from tiercare.chronic import rules
from tiercare.chronic.models import Disease, FamilyDoctorTeam, Registration
from tiercare.fhir.auth import Client
from tiercare.fhir.mappers.care_team import team_reference
from tiercare.fhir.mappers.condition import code_concept
from tiercare.fhir.mapping import (
    BASE_URI,
    NOTHING,
    Include,
    ResourceMapper,
    mapper_for,
    reference_filter,
    register,
)
from tiercare.fhir.search import SearchParam, date_q, parse_date, parse_token
from tiercare.patients.models import Patient
from tiercare.registry.models import Institution, Practitioner

SNOMED = "http://snomed.info/sct"
DISEASE_SYSTEM = f"{BASE_URI}/CodeSystem/chronic-disease"
DIAGNOSIS_URL = f"{BASE_URI}/StructureDefinition/chronic-diagnosis"
CARE_PLAN_STATUS = "http://hl7.org/fhir/request-status"
REGISTRATION_LABEL = Registration._meta.label
#: disease → its SNOMED CT concept (code, display)
DISEASE_SNOMED = {
    rules.HYPERTENSION: ("38341003", "Hypertensive disorder, systemic arterial"),
    rules.DIABETES: ("44054006", "Diabetes mellitus type 2"),
}
FOLLOW_UP_CODING = {"system": SNOMED, "code": "390906007", "display": "Follow-up encounter"}
#: our status → CarePlan.status
PLAN_STATUS = {Registration.Status.ACTIVE: "active", Registration.Status.CLOSED: "completed"}


def disease_concept(disease: str) -> dict[str, Any]:
    code, display = DISEASE_SNOMED[disease]
    label = str(Disease(disease).label)
    return {"coding": [{"system": SNOMED, "code": code, "display": display},
                       {"system": DISEASE_SYSTEM, "code": disease, "display": label}],
            "text": label}


def disease_filter(value: str, modifier: str) -> Q:
    """A disease as SNOMED CT (``http://snomed.info/sct|38341003``) or our code
    (``hypertension`` | ``t2d``), with or without the system."""
    token = parse_token(value)
    code = token.code or ""
    if token.system in (None, SNOMED):
        for disease, (snomed, _display) in DISEASE_SNOMED.items():
            if code == snomed:
                return Q(disease=disease)
    if token.system in (None, DISEASE_SYSTEM):
        if code in Disease.values:
            return Q(disease=code)
        if token.system == DISEASE_SYSTEM and not code:
            return Q()
    if token.system == SNOMED and not code:
        return Q()
    return NOTHING


def _status_filter(value: str, modifier: str) -> Q:
    token = parse_token(value)
    if token.system not in (None, "", CARE_PLAN_STATUS):
        return NOTHING
    states = [state for state, code in PLAN_STATUS.items() if code == token.code]
    return Q(status__in=states) if states else NOTHING


def _performer_filter(value: str, modifier: str) -> Q:
    """``performer`` (``activity.detail.performer``): the team, the doctor or the managing
    institution; a bare id is a practitioner."""
    for target, model, field in (("CareTeam", FamilyDoctorTeam, "team_id"),
                                 ("Organization", Institution, "institution_id")):
        if f"{target}/" in value:
            return reference_filter(field, target, model)(value, modifier)
    return reference_filter("doctor_id", "Practitioner", Practitioner)(value, modifier)


def _date_param(name: str, field: str, text: str) -> SearchParam:
    return SearchParam("date", text, lambda value, modifier: date_q(
        field, parse_date(name, value), is_date=True))


def _team_ids(r: Registration) -> list[str]:
    return [str(r.team_id)] if r.team_id is not None else []


@register
class CarePlanMapper(ResourceMapper):
    resource_type = "CarePlan"
    model = Registration
    search_params = {
        "patient": SearchParam("reference", "The resident (Patient/N)",
                               reference_filter("patient_id", "Patient", Patient)),
        "subject": SearchParam("reference", "The resident (Patient/N)",
                               reference_filter("patient_id", "Patient", Patient)),
        "status": SearchParam("token", "active | completed", _status_filter),
        "category": SearchParam(
            "token", f"The disease: SNOMED CT 38341003 | 44054006, or hypertension | t2d "
            f"({DISEASE_SYSTEM})", disease_filter),
        "care-team": SearchParam("reference", "The family-doctor team (CareTeam/N)",
                                 reference_filter("team_id", "CareTeam", FamilyDoctorTeam)),
        "performer": SearchParam(
            "reference", "Who does the follow-ups: the team (CareTeam/N), the responsible "
            "doctor (Practitioner/N) or the managing institution (Organization/institution-N)",
            _performer_filter),
        "date": _date_param("date", "enrolled_on", "Enrolment day (prefixes eq, ne, gt, lt, "
                            "ge, le)"),
        "activity-date": _date_param("activity-date", "next_due", "The day the next "
                                     "follow-up is due (lt today: overdue)"),
    }
    sorts = {"date": "enrolled_on", "activity-date": "next_due"}
    includes = {
        "CarePlan:patient": Include("Patient", lambda r: [str(r.patient_id)]),
        "CarePlan:subject": Include("Patient", lambda r: [str(r.patient_id)]),
        "CarePlan:care-team": Include("CareTeam", _team_ids),
    }

    def queryset(self, client: Client) -> QuerySet[Any]:
        rows = Registration.objects.select_related("institution", "team", "doctor")
        return client.residents_only(rows)

    def to_resource(self, obj: Any, client: Client) -> dict[str, Any]:
        r: Registration = obj
        organizations = mapper_for("Organization")
        institution = organizations.reference(Institution, r.institution_id,
                                              r.institution.name)
        closed = r.status == Registration.Status.CLOSED
        resource: dict[str, Any] = {
            "resourceType": "CarePlan",
            "id": str(r.pk),
            "meta": {"lastUpdated": r.updated_at.isoformat()},
            "extension": [{"url": DIAGNOSIS_URL,
                           "valueCodeableConcept": code_concept(r.diagnosis)}],
            "status": PLAN_STATUS[Registration.Status(r.status)],
            "intent": "plan",
            "category": [disease_concept(r.disease)],
            "title": str(_("%(disease)s management")) % {
                "disease": Disease(r.disease).label},
        }
        if r.care_plan:
            resource["description"] = r.care_plan
        resource["subject"] = {"reference": f"Patient/{r.patient_id}"}
        period = {"start": r.enrolled_on.isoformat()}
        if closed and r.closed_on is not None:
            period["end"] = r.closed_on.isoformat()
        resource["period"] = period
        resource["created"] = r.created_at.isoformat()
        if r.doctor is not None:
            resource["author"] = mapper_for("Practitioner").reference(
                Practitioner, r.doctor.pk, r.doctor.name)
        else:
            resource["author"] = institution
        resource["contributor"] = [institution]
        if r.team is not None:
            resource["careTeam"] = [team_reference(r.team.pk, r.team.name)]
        if r.source_referral_id is not None:
            resource["supportingInfo"] = [
                {"reference": f"ServiceRequest/{r.source_referral_id}"}]
        resource["activity"] = [self._next_follow_up(r, institution)]
        if closed and r.close_reason:
            resource["note"] = [{"text": str(_("Closed: %(reason)s")) % {
                "reason": Registration.CloseReason(r.close_reason).label}}]
        return resource

    @staticmethod
    def _next_follow_up(r: Registration, institution: dict[str, Any]) -> dict[str, Any]:
        closed = r.status == Registration.Status.CLOSED
        label = str(_("Follow-up visit"))
        performers = [team_reference(r.team.pk, r.team.name)] if r.team is not None else []
        if r.doctor is not None:
            performers.append(mapper_for("Practitioner").reference(Practitioner, r.doctor.pk,
                                                                   r.doctor.name))
        performers.append(institution)
        detail: dict[str, Any] = {
            "code": {"coding": [FOLLOW_UP_CODING], "text": label},
            "status": "stopped" if closed else "scheduled",
            "doNotPerform": False,
            "scheduledPeriod": {"start": r.next_due.isoformat()},
            "performer": performers,
        }
        activity: dict[str, Any] = {"detail": detail}
        if r.last_follow_up_on is not None:
            if r.last_controlled is None:
                text = str(_("Last follow-up on %(date)s.")) % {
                    "date": r.last_follow_up_on.isoformat()}
            elif r.last_controlled:
                text = str(_("Last follow-up on %(date)s: at target.")) % {
                    "date": r.last_follow_up_on.isoformat()}
            else:
                text = str(_("Last follow-up on %(date)s: not at target.")) % {
                    "date": r.last_follow_up_on.isoformat()}
            activity["progress"] = [{"time": r.last_follow_up_on.isoformat(), "text": text}]
        return activity

    def audit_read(self, objs: list[Any], client: Client, *, search: str = "") -> None:
        """A registration is part of the resident's record: one VIEW per plan read, one
        SEARCH per search (rules.md §11)."""
        if search:
            self.audit_search(REGISTRATION_LABEL, search, len(objs), client)
            return
        audit.record_reads(REGISTRATION_LABEL,
                           [(r.pk, r.patient_id, f"FHIR CarePlan {r.pk}") for r in objs],
                           user=client.audit_user, username=client.audit_username)
