"""Encounter ↔ ``encounters.Encounter``: a visit, admission or home visit at a member
institution, as its HIS sends it (issue 2 §5, issue 3).

* ``identifier``: the sending system's own encounter number. The identifier's system is the
  encounter's source system: a URI as the HIS gives it (``http://his.example/encounter``), or
  TierCare's ``https://tiercare.org/fhir/identifier/encounter/<source system>`` for records
  that came by CSV import. Pushes are idempotent on it (``If-None-Exist: identifier=…``).
* ``class``: v3 ActCode AMB / EMER / IMP / HH. ``status``: ``finished`` once it has an end,
  else ``in-progress``. ``period`` in China time.
* ``subject`` Patient, ``serviceProvider`` the institution (``Organization/institution-N``),
  the department in the extension ``…/StructureDefinition/department``, the practitioner as
  the first ``participant``.
* ``diagnosis``: rank 1 is the primary diagnosis (``Condition/primary-N``), then the
  secondary ones (``Condition/diagnosis-N``) — see the Condition mapper. A push sends them as
  contained Conditions (``"condition": {"reference": "#d1"}``) or references to Conditions
  already stored.
* The cost breakdown (total, drugs, consumables, examinations and tests, medical services,
  insurance paid; yuan, rules.md §9) travels in the extension
  ``…/StructureDefinition/encounter-costs`` with one ``valueMoney`` sub-extension each.

Writes go through ``encounters.services.save_encounter`` with all its checks; a system held
to an institution records the care of that institution only (``Client.records_at``).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet
from django.http import QueryDict
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from tiercare.accounts import audit
from tiercare.encounters import rules as encounter_rules
from tiercare.encounters import services
from tiercare.encounters.models import Encounter
from tiercare.errors import BatchItemError
from tiercare.fhir import query
from tiercare.fhir.auth import Client
from tiercare.fhir.errors import FhirError, validation_error
from tiercare.fhir.mapping import (
    BASE_URI,
    ICD10_CN_SYSTEM,
    ICD10_WHO_SYSTEM,
    NOTHING,
    Include,
    ResourceMapper,
    Write,
    mapper_for,
    money,
    reference_filter,
    referenced,
    register,
)
from tiercare.fhir.search import (
    CHINA,
    SearchParam,
    date_q,
    parse_date,
    parse_token,
    reference_id,
)
from tiercare.patients.models import Patient
from tiercare.registry import lookups
from tiercare.registry.models import Department, Institution, Practitioner

CLASS_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
CLASS_CODES = {
    encounter_rules.OUTPATIENT: ("AMB", "ambulatory"),
    encounter_rules.EMERGENCY: ("EMER", "emergency"),
    encounter_rules.INPATIENT: ("IMP", "inpatient encounter"),
    encounter_rules.HOME_VISIT: ("HH", "home health"),
}
SOURCE_BASE = f"{BASE_URI}/identifier/encounter/"
COSTS_URL = f"{BASE_URI}/StructureDefinition/encounter-costs"
DEPARTMENT_URL = f"{BASE_URI}/StructureDefinition/department"
#: sub-extension → field of the cost breakdown
COSTS = {"total": "total", "drugs": "drugs", "consumables": "consumables",
         "examinations": "examinations", "services": "services",
         "insurance-paid": "insurance_paid"}
#: service field → where it sits in an Encounter resource
FIELD_PATHS = {
    "patient": "Encounter.subject", "encounter_class": "Encounter.class",
    "institution": "Encounter.serviceProvider", "department": "Encounter.extension",
    "practitioner": "Encounter.participant", "source_id": "Encounter.identifier",
    "start": "Encounter.period.start", "end": "Encounter.period.end",
    "primary_diagnosis": "Encounter.diagnosis[0]", "secondary_diagnoses": "Encounter.diagnosis",
    **{field: "Encounter.extension" for field in COSTS.values()},
}


def identifier_of(source_system: str, source_id: str, base: str = SOURCE_BASE) -> dict[str, str]:
    system = source_system if ":" in source_system else base + source_system
    return {"system": system, "value": source_id}


def source_system_of(system: str, base: str = SOURCE_BASE) -> str:
    return system[len(base):] if system.startswith(base) else system


def moment(value: dt.datetime) -> str:
    return timezone.localtime(value, CHINA).isoformat()


# -- search parameters ----------------------------------------------------------------------

def _identifier_filter(value: str, modifier: str) -> Q:
    token = parse_token(value)
    condition = Q(source_id=token.code) if token.code else Q()
    if token.system:
        condition &= Q(source_system=source_system_of(token.system))
    return condition


def _class_filter(value: str, modifier: str) -> Q:
    token = parse_token(value)
    if token.system not in (None, CLASS_SYSTEM):
        return NOTHING
    klass = encounter_rules.parse_class(token.code or "")
    return NOTHING if klass is None else Q(encounter_class=klass)


def _date_filter(value: str, modifier: str) -> Q:
    return date_q("start", parse_date("date", value))


# -- writing ----------------------------------------------------------------------------------

def parse_datetime(value: object, where: str) -> dt.datetime:
    """A FHIR dateTime with at least a day. A time must carry its zone (FHIR R4 dateTime);
    a day alone is midnight in China."""
    text = value if isinstance(value, str) else ""
    try:
        if len(text) == 10:
            return dt.datetime.combine(dt.date.fromisoformat(text), dt.time(0), CHINA)
        if len(text) > 10:
            parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
            if parsed.tzinfo is not None:
                return parsed
    except ValueError:
        pass
    raise FhirError(422, "value", _("%(where)s: “%(value)s” is not a date and time with its "
                                    "time zone (2025-03-01T08:30:00+08:00) or a day "
                                    "(2025-03-01)."), [where], where=where,
                    value=str(value)[:40])


def parse_money(value: object, where: str) -> Decimal:
    amount = value.get("value") if isinstance(value, dict) else None
    currency = value.get("currency", "CNY") if isinstance(value, dict) else None
    try:
        if currency != "CNY" or isinstance(amount, bool) or amount is None:
            raise InvalidOperation
        return Decimal(str(amount))
    except InvalidOperation:
        raise FhirError(422, "value", _("%(where)s: amounts are in yuan (a Money with currency "
                                        "CNY)."), [where], where=where) from None


def referenced_pk(resource: dict[str, Any], key: str, target: str, model: type,
                  where: str) -> int | None:
    """The primary key a reference names, ``None`` when the element is absent, 422 when it
    names something this server cannot hold there."""
    ref = resource.get(key)
    if ref is None:
        return None
    text = ref.get("reference", "") if isinstance(ref, dict) else ""
    named = referenced(text, target) if text else None
    if named is None or named[0] is not model:
        raise FhirError(422, "value", _("%(where)s: “%(value)s” does not name a %(kind)s of "
                                        "this server."), [where], where=where,
                        value=text[:100], kind=target)
    return named[1]


def icd10_code(concept: object, where: str) -> str:
    """The ICD-10 code of a Condition.code: the Chinese clinical edition's coding first, then
    the WHO one (rules.md §10)."""
    codings = concept.get("coding", []) if isinstance(concept, dict) else []
    for system in (ICD10_CN_SYSTEM, ICD10_WHO_SYSTEM):
        for coding in codings:
            if coding.get("system") == system and coding.get("code"):
                return str(coding["code"])
    raise FhirError(422, "code-invalid", _("%(where)s: the diagnosis needs an ICD-10 coding "
                                           "(system %(cn)s or %(who)s)."), [where],
                    where=where, cn=ICD10_CN_SYSTEM, who=ICD10_WHO_SYSTEM)


def _diagnoses(resource: dict[str, Any], client: Client) -> list[str]:
    contained = {f"#{c.get('id')}": c for c in resource.get("contained") or []
                 if c.get("resourceType") == "Condition"}
    entries = list(enumerate(resource.get("diagnosis") or []))
    entries.sort(key=lambda pair: (pair[1].get("rank", 10**6), pair[0]))
    codes: list[str] = []
    conditions = mapper_for("Condition")
    for index, entry in entries:
        where = f"Encounter.diagnosis[{index}].condition"
        text = (entry.get("condition") or {}).get("reference", "")
        if text in contained:
            codes.append(icd10_code(contained[text].get("code"), f"{where}.code"))
            continue
        condition_id = reference_id(text, "Condition") if text else None
        hits = query.fetch(conditions, client, [condition_id]) if condition_id else []
        if not hits:
            raise FhirError(422, "value", _("%(where)s: “%(value)s” is neither a contained "
                                            "Condition (#id) nor a stored one."), [where],
                            where=where, value=text[:100])
        codes.append(conditions.code_of(hits[0]))  # type: ignore[attr-defined]
    if not codes:
        raise FhirError(422, "required", _("An encounter needs at least its primary diagnosis "
                                           "(Encounter.diagnosis)."), ["Encounter.diagnosis"])
    return codes


def _identifier_condition(condition: str) -> tuple[str, str] | None:
    """(source system, source id) of a condition that is exactly
    ``identifier=<system>|<value>``, else ``None``."""
    params = QueryDict(condition.lstrip("?"))
    if list(params) != ["identifier"] or len(params.getlist("identifier")) != 1:
        return None
    token = parse_token(params["identifier"])
    if not token.system or not token.code or "," in params["identifier"]:
        return None
    return source_system_of(token.system), token.code


@register
class EncounterMapper(ResourceMapper):
    resource_type = "Encounter"
    model = Encounter
    interactions = ("read", "search-type", "create", "update")
    conditional_create = True
    conditional_update = True
    search_params = {
        "identifier": SearchParam("token", "The sending system's encounter number "
                                  "(system|value)", _identifier_filter),
        "patient": SearchParam("reference", "The resident (Patient/N)",
                               reference_filter("patient_id", "Patient", Patient)),
        "subject": SearchParam("reference", "The resident (Patient/N)",
                               reference_filter("patient_id", "Patient", Patient)),
        "date": SearchParam("date", "Start of the encounter (prefixes eq, ne, gt, lt, ge, le)",
                            _date_filter),
        "class": SearchParam("token", "AMB | EMER | IMP | HH (v3 ActCode)", _class_filter),
        "service-provider": SearchParam(
            "reference", "The institution (Organization/institution-N)",
            reference_filter("institution_id", "Organization", Institution)),
        "practitioner": SearchParam(
            "reference", "The practitioner (Practitioner/N)",
            reference_filter("practitioner_id", "Practitioner", Practitioner)),
    }
    sorts = {"date": "start"}
    includes = {
        "Encounter:patient": Include("Patient", lambda e: [str(e.patient_id)]),
        "Encounter:subject": Include("Patient", lambda e: [str(e.patient_id)]),
        "Encounter:service-provider": Include(
            "Organization",
            lambda e: [mapper_for("Organization").model_id(Institution, e.institution_id)]),
    }

    def queryset(self, client: Client) -> QuerySet[Any]:
        rows = Encounter.objects.prefetch_related("diagnoses")
        return client.residents_only(rows)

    def to_resource(self, obj: Any, client: Client) -> dict[str, Any]:
        e: Encounter = obj
        organizations = mapper_for("Organization")
        code, display = CLASS_CODES[e.encounter_class]
        period = {"start": moment(e.start)}
        if e.end is not None:
            period["end"] = moment(e.end)
        diagnoses = [{"condition": {"reference": f"Condition/primary-{e.pk}"}, "rank": 1}]
        diagnoses += [{"condition": {"reference": f"Condition/diagnosis-{d.pk}"},
                       "rank": d.rank + 1}
                      for d in sorted(e.diagnoses.all(), key=lambda d: d.rank)]
        resource: dict[str, Any] = {
            "resourceType": "Encounter",
            "id": str(e.pk),
            "meta": {"lastUpdated": e.updated_at.isoformat()},
            "identifier": [identifier_of(e.source_system, e.source_id)],
            "status": "finished" if e.end is not None else "in-progress",
            "class": {"system": CLASS_SYSTEM, "code": code, "display": display},
            "subject": {"reference": f"Patient/{e.patient_id}"},
            "period": period,
            "diagnosis": diagnoses,
            "serviceProvider": organizations.reference(Institution, e.institution_id),
        }
        if e.practitioner_id is not None:
            resource["participant"] = [{"individual": {
                "reference": f"Practitioner/{e.practitioner_id}"}}]
        extensions: list[dict[str, Any]] = []
        if e.department_id is not None:
            extensions.append({"url": DEPARTMENT_URL, "valueReference":
                               organizations.reference(Department, e.department_id)})
        extensions.append({"url": COSTS_URL, "extension": [
            {"url": name, "valueMoney": money(getattr(e, field))}
            for name, field in COSTS.items()]})
        resource["extension"] = extensions
        return resource

    def audit_read(self, objs: list[Any], client: Client, *, search: str = "") -> None:
        """One VIEW event per encounter read (rules.md §11), one SEARCH event per search."""
        if search:
            self.audit_search(services.ENCOUNTER_TYPE, search, len(objs), client)
            return
        audit.record_reads(services.ENCOUNTER_TYPE,
                           [(e.pk, e.patient_id, f"FHIR Encounter {e.source_id}") for e in objs],
                           user=client.audit_user, username=client.audit_username)

    # -- writes -----------------------------------------------------------------------------

    def _input(self, resource: dict[str, Any], client: Client) -> services.EncounterInput:
        identifiers = [i for i in resource.get("identifier") or []
                       if i.get("system") and i.get("value")]
        if not identifiers:
            raise FhirError(422, "required", _("An encounter needs the sending system's "
                                               "identifier (system and value), so that pushing "
                                               "it again changes nothing."),
                            ["Encounter.identifier"])
        source_system = source_system_of(identifiers[0]["system"])
        if len(source_system) > 50 or len(identifiers[0]["value"]) > 64:
            raise FhirError(422, "value", _("The identifier's system may have at most 50 "
                                            "characters and its value 64."),
                            ["Encounter.identifier"])
        patient_id = referenced_pk(resource, "subject", "Patient", Patient, "Encounter.subject")
        institution_id = referenced_pk(resource, "serviceProvider", "Organization",
                                       Institution, "Encounter.serviceProvider")
        if patient_id is None or institution_id is None:
            raise FhirError(422, "required", _("An encounter needs its resident (subject) and "
                                               "its institution (serviceProvider)."),
                            ["Encounter.subject" if patient_id is None
                             else "Encounter.serviceProvider"])
        institution = lookups.institution(institution_id)
        if institution is not None and not client.records_at(institution.pk,
                                                             institution.alliance_id):
            raise FhirError(403, "forbidden", _("Your access does not include recording care "
                                                "at %(name)s."), name=institution.name)
        period = resource.get("period") or {}
        if not period.get("start"):
            raise FhirError(422, "required", _("An encounter needs its start "
                                               "(Encounter.period.start)."),
                            ["Encounter.period.start"])
        values: dict[str, Any] = {}
        department = None
        for ext in resource.get("extension") or []:
            if ext.get("url") == DEPARTMENT_URL:
                department = referenced_pk(ext, "valueReference", "Organization", Department,
                                           "Encounter.extension")
            elif ext.get("url") == COSTS_URL:
                for part in ext.get("extension") or []:
                    field = COSTS.get(part.get("url", ""))
                    if field is not None:
                        values[field] = parse_money(part.get("valueMoney"),
                                                    "Encounter.extension")
        practitioner = None
        for participant in resource.get("participant") or []:
            individual = participant.get("individual")
            if isinstance(individual, dict) and "Practitioner/" in individual.get(
                    "reference", ""):
                practitioner = referenced_pk(participant, "individual", "Practitioner",
                                             Practitioner, "Encounter.participant")
                break
        codes = _diagnoses(resource, client)
        klass = (resource.get("class") or {}).get("code", "")
        return services.EncounterInput(
            patient_id=patient_id, institution_id=institution_id, encounter_class=klass,
            start=parse_datetime(period["start"], "Encounter.period.start"),
            end=parse_datetime(period["end"], "Encounter.period.end")
            if period.get("end") else None,
            primary_diagnosis=codes[0], secondary_diagnoses=codes[1:],
            source_system=source_system, source_id=identifiers[0]["value"],
            department_id=department, practitioner_id=practitioner, **values)

    def _save(self, data: services.EncounterInput, client: Client) -> Encounter:
        try:
            return services.save_encounter(data, user=client.audit_user).record
        except ValidationError as exc:
            raise validation_error(exc, FIELD_PATHS) from exc

    def create(self, resource: dict[str, Any], client: Client) -> Any:
        data = self._input(resource, client)
        stored = Encounter.objects.filter(source_system=data.source_system,
                                          source_id=data.source_id).values_list("pk", flat=True)
        if stored:
            raise FhirError(409, "duplicate", _("Encounter/%(id)s already has this identifier; "
                                                "change it with PUT, or push with "
                                                "If-None-Exist."), id=stored[0])
        return self._save(data, client)

    def write_many(self, writes: list[Write],
                   client: Client) -> list[tuple[int, Any] | None] | None:
        """New encounters of a transaction (creates, or conditional creates/updates on the
        sender's identifier that match nothing) in one batch
        (``services.record_new_encounters``); those that match a stored encounter go one by
        one (an update, or the match itself)."""
        keys: list[tuple[str, str] | None] = []
        for write in writes:
            key = _identifier_condition(write.condition) if write.condition else None
            if write.condition and key is None:
                return None
            keys.append(key)
        known: set[tuple[str, str]] = set()
        wanted = sorted({source_id for key in keys if key for _system, source_id in [key]})
        for chunk in (wanted[i:i + 500] for i in range(0, len(wanted), 500)):
            known.update(self.queryset(client).filter(source_id__in=chunk).values_list(
                "source_system", "source_id"))
        fresh = [position for position, key in enumerate(keys) if key not in known]
        inputs = []
        for position in fresh:
            try:
                inputs.append(self._input(writes[position].resource, client))
            except FhirError as exc:
                raise BatchItemError(position, exc) from exc
        try:
            created = services.record_new_encounters(inputs, user=client.audit_user)
        except BatchItemError as exc:
            error = exc.error
            fhir = (validation_error(error, FIELD_PATHS) if isinstance(error, ValidationError)
                    else FhirError(409, "duplicate", str(error)))
            raise BatchItemError(fresh[exc.position], fhir) from exc
        answers: list[tuple[int, Any] | None] = [None] * len(writes)
        for position, encounter in zip(fresh, created, strict=True):
            answers[position] = (201, encounter)
        return answers

    def update(self, obj: Any, resource: dict[str, Any], client: Client) -> Any:
        e: Encounter = obj
        data = self._input(resource, client)
        if (data.source_system, data.source_id) != (e.source_system, e.source_id):
            raise FhirError(422, "invariant", _("An encounter's identifier cannot change "
                                                "(stored: %(value)s)."),
                            ["Encounter.identifier"], value=e.source_id)
        if not client.records_at(e.institution_id, e.institution.alliance_id):
            raise FhirError(403, "forbidden", _("Your access does not include recording care "
                                                "at %(name)s."), name=e.institution.name)
        return self._save(data, client)
