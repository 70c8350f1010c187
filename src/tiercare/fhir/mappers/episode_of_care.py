"""EpisodeOfCare ↔ ``chronic.Contract``: a family-doctor contract (家庭医生签约服务, rules.md
§7) — one resident, one team and its named doctor, the packages chosen, a period of 1–3
years. ADR 0020 records why it is an EpisodeOfCare (with the team as CareTeam) and not a
FHIR Contract.

* ``identifier``: ``…/identifier/family-doctor-contract`` = the contract's number (the id).
* ``status`` (read against today, China time): ``planned`` — active, starts later (a renewal
  waiting for the old contract to run out); ``active`` — active and inside its period;
  ``finished`` — ended (expired, renewed, switched, terminated) or past its end day before
  the nightly expiry ran; ``cancelled`` — ended before it began (a renewal replaced by a
  switch). ``statusHistory`` is not kept (the contract events stay in TierCare).
* ``type``: first ``family-doctor-contract`` (``…/CodeSystem/episode-of-care-type``), then
  one concept per service package chosen (``…/CodeSystem/service-package``, the package's
  code, its name as display).
* ``patient`` the resident; ``managingOrganization`` the team's base institution;
  ``period`` the contract's start and its last day (the day it ended early, else its end
  date); ``careManager`` the family doctor (``Practitioner/N``); ``team`` the team
  (``CareTeam/N``).
* extensions under ``…/StructureDefinition/``: ``contract-consent`` (``valueCoding`` of
  ``…/CodeSystem/contract-consent``: signature | tablet | app | guardian),
  ``contract-fee`` (``valueMoney``, what the resident pays a year), ``contract-end-reason``
  (``valueCoding`` of ``…/CodeSystem/contract-end-reason``: expired | renewed | switched |
  terminated) and ``contract-previous`` (``valueReference``: the contract it renews or
  replaces, ``EpisodeOfCare/N``).

Read and search only: signing, renewing, switching and ending need the resident's consent
in TierCare (``chronic.services``). Reads are scoped to the residents the caller sees and
audited as residents' records.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import F, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from tiercare.accounts import audit
from tiercare.chronic.models import Contract, FamilyDoctorTeam
from tiercare.fhir.auth import Client
from tiercare.fhir.mappers.care_team import team_reference
from tiercare.fhir.mapping import (
    BASE_URI,
    NOTHING,
    Include,
    ResourceMapper,
    mapper_for,
    money,
    reference_filter,
    referenced,
    register,
)
from tiercare.fhir.search import CHINA, SearchParam, parse_date, parse_token
from tiercare.patients.models import Patient
from tiercare.registry.models import Institution, Practitioner

CONTRACT_SYSTEM = f"{BASE_URI}/identifier/family-doctor-contract"
TYPE_SYSTEM = f"{BASE_URI}/CodeSystem/episode-of-care-type"
PACKAGE_SYSTEM = f"{BASE_URI}/CodeSystem/service-package"
CONSENT_URL = f"{BASE_URI}/StructureDefinition/contract-consent"
CONSENT_SYSTEM = f"{BASE_URI}/CodeSystem/contract-consent"
FEE_URL = f"{BASE_URI}/StructureDefinition/contract-fee"
END_REASON_URL = f"{BASE_URI}/StructureDefinition/contract-end-reason"
END_REASON_SYSTEM = f"{BASE_URI}/CodeSystem/contract-end-reason"
PREVIOUS_URL = f"{BASE_URI}/StructureDefinition/contract-previous"
EPISODE_STATUS = "http://hl7.org/fhir/episode-of-care-status"
CONTRACT_TYPE = "family-doctor-contract"
CONTRACT_LABEL = Contract._meta.label
PLANNED, ACTIVE, FINISHED, CANCELLED = "planned", "active", "finished", "cancelled"


def _today() -> dt.date:
    return timezone.localdate(timezone.now(), CHINA)


def last_day(c: Contract) -> dt.date:
    """The last day the contract covered: the day it ended early, else its end date."""
    return c.ended_on if c.ended_on is not None else c.end_date


def episode_status(c: Contract, today: dt.date) -> str:
    if c.status == Contract.Status.ENDED:
        return CANCELLED if c.ended_on is not None and c.ended_on < c.start_date else FINISHED
    if c.start_date > today:
        return PLANNED
    return FINISHED if c.end_date < today else ACTIVE


def _status_q(code: str, today: dt.date) -> Q:
    """The rows of one ``episode_status`` (the same rules, as a filter)."""
    running = Q(status=Contract.Status.ACTIVE)
    ended = Q(status=Contract.Status.ENDED)
    cancelled = ended & Q(ended_on__lt=F("start_date"))
    return {
        PLANNED: running & Q(start_date__gt=today),
        ACTIVE: running & Q(start_date__lte=today, end_date__gte=today),
        FINISHED: (running & Q(end_date__lt=today)) | (ended & ~cancelled),
        CANCELLED: cancelled,
    }.get(code, NOTHING)


def _status_filter(value: str, modifier: str) -> Q:
    token = parse_token(value)
    if token.system not in (None, "", EPISODE_STATUS):
        return NOTHING
    return _status_q(token.code or "", _today())


def _type_filter(value: str, modifier: str) -> Q:
    """``type``: ``family-doctor-contract`` (every contract) or a package's code."""
    token = parse_token(value)
    code = token.code or ""
    if token.system in (None, TYPE_SYSTEM) and code == CONTRACT_TYPE:
        return Q()
    if token.system == TYPE_SYSTEM:
        return Q() if not code else NOTHING
    if token.system in (None, PACKAGE_SYSTEM):
        if not code:
            return Q() if token.system else NOTHING
        return Q(pk__in=Contract.packages.through.objects.filter(
            servicepackage__code=code).values("contract_id"))
    return NOTHING


def _identifier_filter(value: str, modifier: str) -> Q:
    token = parse_token(value)
    if token.system not in (None, CONTRACT_SYSTEM):
        return NOTHING
    if not token.code:
        return Q()
    return Q(pk=int(token.code)) if token.code.isdigit() and len(token.code) <= 18 \
        else NOTHING


def _organization_filter(value: str, modifier: str) -> Q:
    named = referenced(value, "Organization")
    if named is None or named[0] is not Institution:
        return NOTHING
    return Q(team__institution_id=named[1])


def _date_filter(value: str, modifier: str) -> Q:
    """``date``: the contract's period (start to its last day) against the value, as FHIR
    compares a Period: eq overlaps it, ne does not, lt/gt began before / goes on after it,
    le/ge overlaps or began before / goes on after."""
    period = parse_date("date", value)
    first = timezone.localtime(period.start, CHINA).date()
    end = timezone.localtime(period.end, CHINA)
    after = end.date()
    if end.time() != dt.time(0) and after < dt.date.max:
        after += dt.timedelta(days=1)
    early = Q(ended_on__isnull=False)
    last_ge = (early & Q(ended_on__gte=first)) | (~early & Q(end_date__gte=first))
    last_ge_after = (early & Q(ended_on__gte=after)) | (~early & Q(end_date__gte=after))
    overlaps = Q(start_date__lt=after) & last_ge
    return {
        "eq": overlaps,
        "ne": ~overlaps,
        "lt": Q(start_date__lt=first),
        "le": Q(start_date__lt=after),
        "gt": last_ge_after,
        "ge": last_ge,
    }[period.prefix]


def _team_ids(c: Contract) -> list[str]:
    return [str(c.team_id)]


@register
class EpisodeOfCareMapper(ResourceMapper):
    resource_type = "EpisodeOfCare"
    model = Contract
    search_params = {
        "identifier": SearchParam("token", f"The contract's number ({CONTRACT_SYSTEM}|N)",
                                  _identifier_filter),
        "patient": SearchParam("reference", "The resident (Patient/N)",
                               reference_filter("patient_id", "Patient", Patient)),
        "status": SearchParam("token", "planned | active | finished | cancelled",
                              _status_filter),
        "type": SearchParam("token", f"{CONTRACT_TYPE} ({TYPE_SYSTEM}), or a service "
                            f"package's code ({PACKAGE_SYSTEM})", _type_filter),
        "care-team": SearchParam("reference", "The family-doctor team (CareTeam/N)",
                                 reference_filter("team_id", "CareTeam", FamilyDoctorTeam)),
        "organization": SearchParam(
            "reference", "The team's base institution (Organization/institution-N)",
            _organization_filter),
        "care-manager": SearchParam("reference", "The family doctor (Practitioner/N)",
                                    reference_filter("doctor_id", "Practitioner",
                                                     Practitioner)),
        "date": SearchParam("date", "The contract's period (eq: in force then; prefixes "
                            "eq, ne, gt, lt, ge, le)", _date_filter),
    }
    sorts = {"date": "start_date"}
    includes = {
        "EpisodeOfCare:patient": Include("Patient", lambda c: [str(c.patient_id)]),
        "EpisodeOfCare:care-team": Include("CareTeam", _team_ids),
    }

    def queryset(self, client: Client) -> QuerySet[Any]:
        rows = Contract.objects.select_related("team__institution", "doctor") \
            .prefetch_related("packages")
        return client.residents_only(rows)

    def to_resource(self, obj: Any, client: Client) -> dict[str, Any]:
        c: Contract = obj
        team = c.team
        types = [{"coding": [{"system": TYPE_SYSTEM, "code": CONTRACT_TYPE,
                              "display": str(_("Family-doctor contract"))}],
                  "text": str(_("Family-doctor contract"))}]
        for package in sorted(c.packages.all(), key=lambda p: (p.kind != "basic", p.code)):
            types.append({"coding": [{"system": PACKAGE_SYSTEM, "code": package.code,
                                      "display": package.name}], "text": package.name})
        extensions: list[dict[str, Any]] = [
            {"url": CONSENT_URL, "valueCoding": {
                "system": CONSENT_SYSTEM, "code": c.consent,
                "display": str(Contract.Consent(c.consent).label)}},
            {"url": FEE_URL, "valueMoney": money(c.fee_resident)},
        ]
        if c.end_reason:
            extensions.append({"url": END_REASON_URL, "valueCoding": {
                "system": END_REASON_SYSTEM, "code": c.end_reason,
                "display": str(Contract.EndReason(c.end_reason).label)}})
        if c.previous_id is not None:
            extensions.append({"url": PREVIOUS_URL, "valueReference": {
                "reference": f"EpisodeOfCare/{c.previous_id}"}})
        resource: dict[str, Any] = {
            "resourceType": "EpisodeOfCare",
            "id": str(c.pk),
            "meta": {"lastUpdated": c.updated_at.isoformat()},
            "extension": extensions,
            "identifier": [{"system": CONTRACT_SYSTEM, "value": str(c.pk)}],
            "status": episode_status(c, _today()),
            "type": types,
            "patient": {"reference": f"Patient/{c.patient_id}"},
            "managingOrganization": mapper_for("Organization").reference(
                Institution, team.institution_id, team.institution.name),
            "period": {"start": c.start_date.isoformat(),
                       "end": max(last_day(c), c.start_date).isoformat()},
        }
        if c.doctor is not None:
            resource["careManager"] = mapper_for("Practitioner").reference(
                Practitioner, c.doctor.pk, c.doctor.name)
        resource["team"] = [team_reference(team.pk, team.name)]
        return resource

    def audit_read(self, objs: list[Any], client: Client, *, search: str = "") -> None:
        """A contract is part of the resident's record: one VIEW per contract read, one
        SEARCH per search (rules.md §11)."""
        if search:
            self.audit_search(CONTRACT_LABEL, search, len(objs), client)
            return
        audit.record_reads(CONTRACT_LABEL,
                           [(c.pk, c.patient_id, f"FHIR EpisodeOfCare {c.pk}") for c in objs],
                           user=client.audit_user, username=client.audit_username)
