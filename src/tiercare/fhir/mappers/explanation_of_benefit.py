"""ExplanationOfBenefit ↔ ``encounters.Settlement``: an insurance settlement (医保结算) as the
insurance bureau sends it, for care in or outside the county (issue 2 §5, issue 3; why
ExplanationOfBenefit and not Claim: ADR 0007).

* ``identifier``: the bureau's settlement number. Its system is the settlement's source
  system: a URI as the sender gives it, or TierCare's
  ``https://tiercare.org/fhir/identifier/settlement/<source system>`` for records that came
  by CSV import. Pushes are idempotent on it (``If-None-Exist: identifier=…``,
  ``PUT ExplanationOfBenefit?identifier=…``).
* ``status`` active, ``use`` claim, ``outcome`` complete: a settlement is the payer's
  adjudicated result; other values are refused on write.
* ``type`` institutional (inpatient) or professional (other classes) from the HL7 claim-type
  code system; ``subType`` the class of care (v3 ActCode AMB / EMER / IMP / HH, as
  ``Encounter.class``), repeated as ``item[0].productOrService``.
* ``patient``; ``billablePeriod`` the first and last day of care (dates); ``created`` when
  the settlement was made, else when TierCare recorded it.
* ``insurer`` the insurance bureau and ``insurance[0].coverage`` the scheme, display only;
  the scheme code in the extension ``…/StructureDefinition/insurance-scheme`` (``valueCode``)
  and the in-county flag in ``…/StructureDefinition/in-county`` (``valueBoolean``;
  indicators.md, "in-county").
* ``provider``: ``Organization/institution-N`` for a registry institution, else a
  display-only reference with the hospital's name; both carry the institution's division
  code (``…/StructureDefinition/division-code``) and level
  (``…/StructureDefinition/institution-level``) in extensions.
* ``diagnosis[0]``: sequence 1, type principal, the ICD-10 code (rules.md §10).
* ``item[0]``: the care event; ``item[0].encounter[0]`` names the encounter paid for:
  ``reference`` once TierCare has linked it, ``identifier.value`` the hospital system's
  encounter number as the bureau gave it (indicators.md "one care event, counted once").
* ``total``: ``submitted`` (the total) and ``benefit`` (fund paid) from the HL7 adjudication
  code system, and ``self-paid`` (the resident's share) from TierCare's
  ``…/CodeSystem/adjudication``; Money in CNY (rules.md §9).

Writes go through ``encounters.services.save_settlement`` with all its checks (amounts add
up, dates not in the future, in-county flag against the division code …). A system held to
an institution records the settlements of that institution's care only; care at a hospital
outside the registry, only a whole-county system (``Client.records_at``).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet
from django.db.models.functions import Coalesce
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from tiercare.accounts import audit
from tiercare.encounters import rules as encounter_rules
from tiercare.encounters import services
from tiercare.encounters.models import Encounter, Settlement
from tiercare.fhir import query
from tiercare.fhir.auth import Client
from tiercare.fhir.errors import FhirError, validation_error
from tiercare.fhir.mappers.condition import code_concept
from tiercare.fhir.mappers.encounter import (
    CLASS_CODES,
    CLASS_SYSTEM,
    icd10_code,
    identifier_of,
    moment,
    parse_datetime,
    parse_money,
    referenced_pk,
    source_system_of,
)
from tiercare.fhir.mappers.organization import DIVISION_CODE_URL
from tiercare.fhir.mapping import (
    BASE_URI,
    NOTHING,
    Include,
    ResourceMapper,
    mapper_for,
    money,
    reference_filter,
    register,
)
from tiercare.fhir.search import CHINA, SearchParam, date_q, parse_date, parse_token, reference_id
from tiercare.patients.models import Patient
from tiercare.registry.models import Institution

SOURCE_BASE = f"{BASE_URI}/identifier/settlement/"
IN_COUNTY_URL = f"{BASE_URI}/StructureDefinition/in-county"
SCHEME_URL = f"{BASE_URI}/StructureDefinition/insurance-scheme"
LEVEL_URL = f"{BASE_URI}/StructureDefinition/institution-level"
CLAIM_TYPE_SYSTEM = "http://terminology.hl7.org/CodeSystem/claim-type"
ADJUDICATION_SYSTEM = "http://terminology.hl7.org/CodeSystem/adjudication"
TIERCARE_ADJUDICATION_SYSTEM = f"{BASE_URI}/CodeSystem/adjudication"
DIAGNOSIS_TYPE_SYSTEM = "http://terminology.hl7.org/CodeSystem/ex-diagnosistype"
STATUS_SYSTEM = "http://hl7.org/fhir/fm-status"
#: settlement field → the category of its ``total`` entry (system, code, display)
TOTALS = {
    "total": (ADJUDICATION_SYSTEM, "submitted", "Submitted Amount"),
    "fund_paid": (ADJUDICATION_SYSTEM, "benefit", "Benefit Amount"),
    "self_paid": (TIERCARE_ADJUDICATION_SYSTEM, "self-paid", "Self-paid Amount"),
}
PRINCIPAL = {"coding": [{"system": DIAGNOSIS_TYPE_SYSTEM, "code": "principal",
                         "display": "Principal Diagnosis"}]}
EOB = "ExplanationOfBenefit"
#: service field → where it sits in an ExplanationOfBenefit (the diagnosis and the amounts
#: are placed at the entry the push used, see ``_Parsed.paths``)
FIELD_PATHS = {
    "patient": f"{EOB}.patient", "encounter_class": f"{EOB}.subType",
    "institution": f"{EOB}.provider", "institution_name": f"{EOB}.provider.display",
    "institution_level": f"{EOB}.provider.extension",
    "division_code": f"{EOB}.provider.extension", "scheme": f"{EOB}.extension",
    "in_county": f"{EOB}.extension", "diagnosis": f"{EOB}.diagnosis",
    "total": f"{EOB}.total", "fund_paid": f"{EOB}.total", "self_paid": f"{EOB}.total",
    "start_date": f"{EOB}.billablePeriod.start", "end_date": f"{EOB}.billablePeriod.end",
    "settled_at": f"{EOB}.created", "source_id": f"{EOB}.identifier",
}


def _claim_type(encounter_class: str) -> dict[str, Any]:
    """Institutional for a stay in hospital, professional for the other classes (the HL7
    claim-type codes; CARIN Blue Button uses the same split)."""
    code, display = (("institutional", "Institutional")
                     if encounter_class == encounter_rules.INPATIENT
                     else ("professional", "Professional"))
    return {"coding": [{"system": CLAIM_TYPE_SYSTEM, "code": code, "display": display}]}


# -- search parameters ----------------------------------------------------------------------

def _identifier_filter(value: str, modifier: str) -> Q:
    token = parse_token(value)
    condition = Q(source_id=token.code) if token.code else Q()
    if token.system:
        condition &= Q(source_system=source_system_of(token.system, SOURCE_BASE))
    return condition


def _status_filter(value: str, modifier: str) -> Q:
    """Every settlement is ``active``."""
    token = parse_token(value)
    if token.system not in (None, STATUS_SYSTEM):
        return NOTHING
    return Q() if token.code in (None, "active") else NOTHING


def _created_filter(value: str, modifier: str) -> Q:
    return date_q("created_moment", parse_date("created", value))


# -- writing ----------------------------------------------------------------------------------

def _refuse(where: str, value: object, expected: str) -> FhirError:
    return FhirError(422, "not-supported", _("%(where)s: TierCare records settlements as the "
                                             "insurance bureau made them; “%(value)s” is not "
                                             "taken here (expected %(expected)s)."),
                     [where], where=where, value=str(value)[:40], expected=expected)


def _too_long(where: str, limit: int) -> FhirError:
    return FhirError(422, "value", _("%(where)s: at most %(max)d characters."), [where],
                     where=where, max=limit)


def _extension_value(ext: dict[str, Any], key: str, kind: type, where: str) -> Any:
    value = ext.get(key)
    if not isinstance(value, kind):
        raise FhirError(422, "value", _("%(where)s: the extension %(url)s needs a %(type)s."),
                        [where], where=where, url=str(ext.get("url"))[:100], type=key)
    return value


def _day(value: object, where: str) -> dt.date:
    """The local (China) day of a FHIR date or dateTime."""
    return parse_datetime(value, where).astimezone(CHINA).date()


def _class_code(concept: object) -> str:
    """The v3 ActCode class in a CodeableConcept (a coding without a system counts too)."""
    codings = concept.get("coding") or [] if isinstance(concept, dict) else []
    for coding in codings:
        if coding.get("system") in (None, CLASS_SYSTEM) and coding.get("code"):
            return str(coding["code"])
    return ""


def _records_outside_registry(client: Client) -> bool:
    """Whether the client may record care at a hospital outside the registry: as for care
    at any institution, whole-county systems and system administrators (no registry
    institution has id 0, so a system held to one institution or alliance may not)."""
    return client.records_at(0, None)


class _Parsed:
    """A pushed resource as the service's input, and where each field came from."""

    def __init__(self, data: services.SettlementInput, paths: dict[str, str]) -> None:
        self.data = data
        self.paths = paths


@register
class ExplanationOfBenefitMapper(ResourceMapper):
    resource_type = EOB
    model = Settlement
    interactions = ("read", "search-type", "create", "update")
    conditional_create = True
    conditional_update = True
    search_params = {
        "identifier": SearchParam("token", "The insurance bureau's settlement number "
                                  "(system|value)", _identifier_filter),
        "patient": SearchParam("reference", "The resident (Patient/N)",
                               reference_filter("patient_id", "Patient", Patient)),
        "created": SearchParam("date", "When the settlement was made (else recorded; "
                               "prefixes eq, ne, gt, lt, ge, le)", _created_filter),
        "provider": SearchParam(
            "reference", "The institution of the registry (Organization/institution-N)",
            reference_filter("institution_id", "Organization", Institution)),
        "encounter": SearchParam("reference", "The encounter paid for (Encounter/N)",
                                 reference_filter("encounter_id", "Encounter", Encounter)),
        "status": SearchParam("token", "active (every settlement)", _status_filter),
    }
    sorts = {"created": "created_moment"}
    includes = {
        f"{EOB}:patient": Include("Patient", lambda s: [str(s.patient_id)]),
        f"{EOB}:provider": Include(
            "Organization",
            lambda s: [] if s.institution_id is None
            else [mapper_for("Organization").model_id(Institution, s.institution_id)]),
        f"{EOB}:encounter": Include(
            "Encounter", lambda s: [] if s.encounter_id is None else [str(s.encounter_id)]),
    }

    def queryset(self, client: Client) -> QuerySet[Any]:
        rows = Settlement.objects.annotate(created_moment=Coalesce("settled_at", "created_at"))
        return client.residents_only(rows)

    def to_resource(self, obj: Any, client: Client) -> dict[str, Any]:
        s: Settlement = obj
        code, display = CLASS_CODES[s.encounter_class]
        klass = {"coding": [{"system": CLASS_SYSTEM, "code": code, "display": display}]}
        period = {"start": s.start_date.isoformat()}
        if s.end_date is not None:
            period["end"] = s.end_date.isoformat()
        scheme = s.get_scheme_display()
        item: dict[str, Any] = {
            "sequence": 1, "diagnosisSequence": [1],
            "productOrService": {**klass, "text": s.get_encounter_class_display()},
        }
        encounter: dict[str, Any] = {}
        if s.encounter_id is not None:
            encounter["reference"] = f"Encounter/{s.encounter_id}"
        if s.encounter_ref:
            encounter["identifier"] = {"value": s.encounter_ref}
        if encounter:
            item["encounter"] = [encounter]
        return {
            "resourceType": EOB,
            "id": str(s.pk),
            "meta": {"lastUpdated": s.updated_at.isoformat()},
            "extension": [{"url": IN_COUNTY_URL, "valueBoolean": s.in_county},
                          {"url": SCHEME_URL, "valueCode": s.scheme}],
            "identifier": [identifier_of(s.source_system, s.source_id, SOURCE_BASE)],
            "status": "active",
            "type": _claim_type(s.encounter_class),
            "subType": klass,
            "use": "claim",
            "patient": {"reference": f"Patient/{s.patient_id}"},
            "billablePeriod": period,
            "created": moment(s.settled_at or s.created_at),
            "insurer": {"display": gettext("Medical insurance bureau (%(scheme)s)")
                        % {"scheme": scheme}},
            "provider": self._provider(s),
            "outcome": "complete",
            "diagnosis": [{"sequence": 1, "diagnosisCodeableConcept": code_concept(s.diagnosis),
                           "type": [PRINCIPAL]}],
            "insurance": [{"focal": True, "coverage": {"display": scheme}}],
            "item": [item],
            "total": [{"category": {"coding": [{"system": system, "code": code,
                                                "display": display}]},
                       "amount": money(getattr(s, field))}
                      for field, (system, code, display) in TOTALS.items()],
        }

    def _provider(self, s: Settlement) -> dict[str, Any]:
        provider: dict[str, Any]
        if s.institution_id is not None:
            provider = dict(mapper_for("Organization").reference(
                Institution, s.institution_id, s.institution_name))
        else:
            provider = {"display": s.institution_name}
        extensions: list[dict[str, Any]] = []
        if s.division_code:
            extensions.append({"url": DIVISION_CODE_URL, "valueCode": s.division_code})
        if s.institution_level:
            extensions.append({"url": LEVEL_URL, "valueCode": s.institution_level})
        if extensions:
            provider["extension"] = extensions
        return provider

    def audit_read(self, objs: list[Any], client: Client, *, search: str = "") -> None:
        """A settlement is part of the resident's record: one VIEW event per settlement read,
        one SEARCH event per search (rules.md §11)."""
        if search:
            self.audit_search(services.SETTLEMENT_TYPE, search, len(objs), client)
            return
        audit.record_reads(services.SETTLEMENT_TYPE,
                           [(s.pk, s.patient_id, f"FHIR {EOB} {s.source_id}") for s in objs],
                           user=client.audit_user, username=client.audit_username)

    # -- writes -----------------------------------------------------------------------------

    def _input(self, resource: dict[str, Any], client: Client,
               current: Settlement | None = None) -> _Parsed:
        paths = dict(FIELD_PATHS)
        source_system, source_id = self._identifier(resource)
        for key, expected in (("status", "active"), ("use", "claim"),
                              ("outcome", "complete")):
            if resource.get(key) != expected:
                raise _refuse(f"{EOB}.{key}", resource.get(key), expected)
        patient_id = referenced_pk(resource, "patient", "Patient", Patient, f"{EOB}.patient")
        if patient_id is None:
            raise FhirError(422, "required", _("A settlement needs its resident "
                                               "(ExplanationOfBenefit.patient)."),
                            [f"{EOB}.patient"])
        institution = self._institution(resource, client)
        scheme, in_county = "", None
        for ext in resource.get("extension") or []:
            if ext.get("url") == SCHEME_URL:
                scheme = _extension_value(ext, "valueCode", str, f"{EOB}.extension")
            elif ext.get("url") == IN_COUNTY_URL:
                in_county = _extension_value(ext, "valueBoolean", bool, f"{EOB}.extension")
        klass = self._class(resource)
        period = resource.get("billablePeriod") or {}
        if not period.get("start"):
            raise FhirError(422, "required", _("A settlement needs the first day of care "
                                               "(ExplanationOfBenefit.billablePeriod.start)."),
                            [f"{EOB}.billablePeriod.start"])
        settled_at = None
        if resource.get("created"):
            settled_at = parse_datetime(resource["created"], f"{EOB}.created")
            if (current is not None and current.settled_at is None
                    and settled_at == current.created_at):
                settled_at = None  # the server's own filler, read back: not a settlement time
        diagnosis, paths["diagnosis"] = self._diagnosis(resource, client)
        amounts = self._totals(resource, paths)
        encounter_ref = self._encounter_ref(resource, client, patient_id, current)
        return _Parsed(services.SettlementInput(
            patient_id=patient_id, encounter_class=klass,
            start_date=_day(period["start"], f"{EOB}.billablePeriod.start"),
            end_date=_day(period["end"], f"{EOB}.billablePeriod.end")
            if period.get("end") else None,
            diagnosis=diagnosis, source_system=source_system, source_id=source_id,
            scheme=scheme, in_county=in_county, encounter_ref=encounter_ref,
            settled_at=settled_at, total=amounts["total"], fund_paid=amounts["fund_paid"],
            self_paid=amounts["self_paid"], **institution), paths)

    def _identifier(self, resource: dict[str, Any]) -> tuple[str, str]:
        identifiers = [i for i in resource.get("identifier") or []
                       if i.get("system") and i.get("value")]
        if not identifiers:
            raise FhirError(422, "required", _("A settlement needs the insurance bureau's "
                                               "identifier (system and value), so that pushing "
                                               "it again changes nothing."),
                            [f"{EOB}.identifier"])
        source_system = source_system_of(identifiers[0]["system"], SOURCE_BASE)
        if len(source_system) > 50 or len(identifiers[0]["value"]) > 64:
            raise FhirError(422, "value", _("The identifier's system may have at most 50 "
                                            "characters and its value 64."),
                            [f"{EOB}.identifier"])
        return source_system, str(identifiers[0]["value"])

    def _institution(self, resource: dict[str, Any], client: Client) -> dict[str, Any]:
        """Where the care was: a registry institution (``Organization/institution-N``) or a
        hospital outside it named by ``display``; level and division code from the
        extensions (else the registry's). The client must be allowed to record care there."""
        provider = resource.get("provider") or {}
        institution_id = None
        if provider.get("reference"):
            institution_id = referenced_pk(resource, "provider", "Organization", Institution,
                                           f"{EOB}.provider")
        name = str(provider.get("display") or "")
        if len(name) > 200:
            raise _too_long(f"{EOB}.provider.display", 200)
        level = division = ""
        for ext in provider.get("extension") or []:
            if ext.get("url") == DIVISION_CODE_URL:
                division = _extension_value(ext, "valueCode", str, f"{EOB}.provider.extension")
            elif ext.get("url") == LEVEL_URL:
                level = _extension_value(ext, "valueCode", str, f"{EOB}.provider.extension")
        stored = (Institution.objects.filter(pk=institution_id).first()
                  if institution_id is not None else None)
        allowed = (client.records_at(stored.pk, stored.alliance_id) if stored is not None
                   else institution_id is not None or _records_outside_registry(client))
        if not allowed:
            raise FhirError(403, "forbidden", _("Your access does not include recording care "
                                                "at %(name)s."),
                            name=stored.name if stored is not None else name)
        return {"institution_id": institution_id, "institution_name": name,
                "institution_level": level, "division_code": division}

    def _class(self, resource: dict[str, Any]) -> str:
        """The class of care: ``subType``, or ``item[0].productOrService`` when that is
        absent; the two must agree."""
        klass = _class_code(resource.get("subType"))
        items = resource.get("item") or []
        of_item = _class_code(items[0].get("productOrService")) if items else ""
        if klass and of_item and (encounter_rules.parse_class(klass)
                                  != encounter_rules.parse_class(of_item)):
            raise FhirError(422, "invariant", _("The class of care in subType (%(value)s) and "
                                                "in item[0].productOrService (%(other)s) "
                                                "differ."),
                            [f"{EOB}.subType"], value=klass[:20], other=of_item[:20])
        if not (klass or of_item):
            raise FhirError(422, "required", _("A settlement needs the class of care "
                                               "(ExplanationOfBenefit.subType: v3 ActCode AMB, "
                                               "EMER, IMP or HH)."), [f"{EOB}.subType"])
        return klass or of_item

    def _diagnosis(self, resource: dict[str, Any], client: Client) -> tuple[str, str]:
        """The ICD-10 code of the principal diagnosis (else the lowest sequence) and its
        path. A settlement keeps one diagnosis; further ones are not stored."""
        entries = list(enumerate(resource.get("diagnosis") or []))
        if not entries:
            raise FhirError(422, "required", _("A settlement needs its primary diagnosis "
                                               "(ExplanationOfBenefit.diagnosis, ICD-10)."),
                            [f"{EOB}.diagnosis"])
        principal = [(i, d) for i, d in entries
                     if any(c.get("code") == "principal" for t in d.get("type") or []
                            for c in t.get("coding") or [])]
        index, entry = min(principal or entries,
                           key=lambda pair: (pair[1].get("sequence", 10**9), pair[0]))
        concept = entry.get("diagnosisCodeableConcept")
        if concept is not None:
            where = f"{EOB}.diagnosis[{index}].diagnosisCodeableConcept"
            return icd10_code(concept, where), where
        where = f"{EOB}.diagnosis[{index}].diagnosisReference"
        text = (entry.get("diagnosisReference") or {}).get("reference", "")
        condition_id = reference_id(text, "Condition") if text else None
        conditions = mapper_for("Condition")
        hits = query.fetch(conditions, client, [condition_id]) if condition_id else []
        if not hits:
            raise FhirError(422, "value", _("%(where)s: “%(value)s” does not name a %(kind)s of "
                                            "this server."), [where], where=where,
                            value=text[:100], kind="Condition")
        return conditions.code_of(hits[0]), where  # type: ignore[attr-defined]

    def _totals(self, resource: dict[str, Any], paths: dict[str, str]) -> dict[str, Decimal]:
        """The total, fund paid and self paid from ``total`` by category."""
        amounts: dict[str, Decimal] = {}
        for index, entry in enumerate(resource.get("total") or []):
            where = f"{EOB}.total[{index}]"
            codings = (entry.get("category") or {}).get("coding") or []
            field = next((name for name, (system, code, _display) in TOTALS.items()
                          for c in codings if (c.get("system"), c.get("code")) == (system, code)),
                         None)
            if field is None:
                raise FhirError(422, "code-invalid", _(
                    "%(where)s: TierCare takes the totals submitted and benefit (%(hl7)s) and "
                    "self-paid (%(own)s)."), [f"{where}.category"], where=where,
                    hl7=ADJUDICATION_SYSTEM, own=TIERCARE_ADJUDICATION_SYSTEM)
            if field in amounts:
                raise FhirError(422, "value", _("%(where)s: this category is already given "
                                                "above."), [f"{where}.category"], where=where)
            amounts[field] = parse_money(entry.get("amount"), f"{where}.amount")
            paths[field] = f"{where}.amount"
        if len(amounts) < len(TOTALS):
            raise FhirError(422, "required", _("A settlement needs three totals: submitted (the "
                                               "total cost), benefit (paid by the fund) and "
                                               "self-paid (paid by the resident)."),
                            [f"{EOB}.total"])
        return amounts

    def _encounter_ref(self, resource: dict[str, Any], client: Client, patient_id: int,
                       current: Settlement | None) -> str:
        """The hospital system's number of the encounter paid for, from
        ``item[].encounter[]``: its ``identifier.value``, else the number of the encounter
        its ``reference`` names (the resident's, visible to the client). A reference to the
        encounter the settlement is already linked to keeps what is stored."""
        named = [(f"{EOB}.item[{i}].encounter[{j}]", ref)
                 for i, item in enumerate(resource.get("item") or [])
                 for j, ref in enumerate(item.get("encounter") or [])]
        distinct = {(ref.get("reference"), (ref.get("identifier") or {}).get("value"))
                    for _where, ref in named}
        if len(distinct) > 1:
            raise FhirError(422, "invariant", _("A settlement pays for one encounter; the items "
                                                "name several."), [f"{EOB}.item"])
        if not named:
            return ""
        where, ref = named[0]
        number = str((ref.get("identifier") or {}).get("value") or "")
        text = ref.get("reference") or ""
        if text:
            encounter_id = reference_id(text, "Encounter")
            found = query.fetch(mapper_for("Encounter"), client,
                                [encounter_id]) if encounter_id else []
            if not found:
                raise FhirError(422, "value", _("%(where)s: “%(value)s” does not name a "
                                                "%(kind)s of this server."), [where],
                                where=where, value=text[:100], kind="Encounter")
            encounter: Encounter = found[0]
            if encounter.patient_id != patient_id:
                raise FhirError(422, "invariant", _("%(where)s: the encounter is another "
                                                    "resident's."), [where], where=where)
            if number and number != encounter.source_id:
                raise FhirError(422, "invariant", _("%(where)s: %(value)s is not the number of "
                                                    "the referenced encounter (%(other)s)."),
                                [where], where=where, value=number[:64],
                                other=encounter.source_id)
            if not number:
                linked = current is not None and current.encounter_id == encounter.pk
                number = current.encounter_ref if linked and current else encounter.source_id
        if len(number) > 64:
            raise _too_long(f"{where}.identifier.value", 64)
        return number

    def _save(self, parsed: _Parsed, client: Client) -> Settlement:
        try:
            return services.save_settlement(parsed.data, user=client.audit_user).record
        except ValidationError as exc:
            raise validation_error(exc, parsed.paths) from exc

    def create(self, resource: dict[str, Any], client: Client) -> Any:
        parsed = self._input(resource, client)
        stored = Settlement.objects.filter(
            source_system=parsed.data.source_system,
            source_id=parsed.data.source_id).values_list("pk", flat=True)
        if stored:
            raise FhirError(409, "duplicate", _("ExplanationOfBenefit/%(id)s already has this "
                                                "identifier; change it with PUT, or push with "
                                                "If-None-Exist."), id=stored[0])
        return self._save(parsed, client)

    def update(self, obj: Any, resource: dict[str, Any], client: Client) -> Any:
        s: Settlement = obj
        parsed = self._input(resource, client, current=s)
        if (parsed.data.source_system, parsed.data.source_id) != (s.source_system,
                                                                  s.source_id):
            raise FhirError(422, "invariant", _("A settlement's identifier cannot change "
                                                "(stored: %(value)s)."),
                            [f"{EOB}.identifier"], value=s.source_id)
        allowed = (client.records_at(s.institution.pk, s.institution.alliance_id)
                   if s.institution is not None else _records_outside_registry(client))
        if not allowed:
            raise FhirError(403, "forbidden", _("Your access does not include recording care "
                                                "at %(name)s."), name=s.institution_name)
        return self._save(parsed, client)
