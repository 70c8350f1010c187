"""Observation ↔ the measurements of chronic care (glossary: a follow-up is Encounter +
Observation): the readings of a follow-up (``chronic.FollowUp``), of an elderly annual check
(``chronic.ElderlyCheck``) and of screening (``chronic.ScreeningReading``, rules.md §8).

One record holds several measurements, so one record gives several Observations. Their ids
name the source and the measurement (ADR 0006: a type over several tables names its ids by
kind), stable for as long as the record exists: ``<source>-<measurement>-<pk>``, the source
``followup`` | ``check`` | ``screening``, the measurement one of

| measurement | LOINC | category | value | profile |
|---|---|---|---|---|
| ``bp`` | 85354-9 Blood pressure panel | vital-signs | components (``mm[Hg]``) | ``bp`` |
| ``glucose`` | 14771-0 Fasting glucose, serum/plasma | laboratory | ``mmol/L`` | — |
| ``heart-rate`` | 8867-4 Heart rate | vital-signs | ``/min`` | ``heartrate`` |
| ``temperature`` | 8310-5 Body temperature | vital-signs | ``Cel`` | ``bodytemp`` |
| ``weight`` | 29463-7 Body weight | vital-signs | ``kg`` | ``bodyweight`` |
| ``height`` | 8302-2 Body height | vital-signs | ``cm`` | ``bodyheight`` |
| ``bmi`` | 39156-5 Body mass index | vital-signs | ``kg/m2`` | ``bmi`` |

(the panel's components: 8480-6 systolic, 8462-4 diastolic; units UCUM; profiles of the FHIR
R4 vital signs profile, ``http://hl7.org/fhir/StructureDefinition/<profile>``).
``followup-bp-12`` is the blood pressure of follow-up 12; an Observation exists only for a
value that was measured. A follow-up's Observations are ``basedOn`` its CarePlan (the
registration). ``status`` ``final``; ``subject`` the resident; ``effectiveDateTime`` the
day; ``issued`` when it was recorded; ``performer`` the doctor (``Practitioner/N``) and the
institution (``Organization/institution-N``). An elderly check with readings also counts as
a screening day (``chronic.services.record_elderly_check`` copies them into a screening
reading); that copy is not served twice.

Create: a HIS posts a blood-pressure panel (85354-9 with the 8480-6 and 8462-4 components)
or a fasting glucose (14771-0, ``mmol/L``) for a resident with ``effectiveDateTime`` and the
clinician who measured it in ``performer`` (``PractitionerRole/employment-N`` or
``Practitioner/N`` with a TierCare account at an institution the system acts for; a
person's session records in its own name). It is recorded as a screening reading through
``chronic.services.record_screening``, which applies the screening rule (three raised
readings on different days enrol the resident: a CarePlan appears). The service's refusals
keep their status and translated message: an impossible value, a missing diastolic
pressure, a future day → 400; not a doctor or nurse, a resident outside their care → 403.
A resource this server cannot read as a reading (another code, unit or status, no
subject, day or clinician) → 422. ``If-None-Exist`` (``patient=…&code=…&date=…``) makes a
push idempotent.

Reads are scoped to the residents the caller sees, as Encounter, and audited as residents'
records: one VIEW per Observation read (under the source record's label), one SEARCH per
search.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, ClassVar

from django.db.models import CharField, Exists, OuterRef, Q, QuerySet, Value
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from tiercare.accounts import audit
from tiercare.accounts.models import AuditEvent, User
from tiercare.chronic import services
from tiercare.chronic.models import ElderlyCheck, FollowUp, Registration, ScreeningReading
from tiercare.errors import DomainError
from tiercare.fhir import query
from tiercare.fhir.auth import Client
from tiercare.fhir.errors import FhirError
from tiercare.fhir.mappers.encounter import parse_datetime
from tiercare.fhir.mappers.service_request import acting_user
from tiercare.fhir.mapping import (
    NOTHING,
    CompositeMapper,
    Include,
    ResourceMapper,
    mapper_for,
    reference_filter,
    referenced,
    register,
)
from tiercare.fhir.search import CHINA, SearchParam, date_q, parse_date, parse_token
from tiercare.patients.models import Patient
from tiercare.registry.models import Institution, Practitioner

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
CATEGORY_SYSTEM = "http://terminology.hl7.org/CodeSystem/observation-category"
OBSERVATION_STATUS = "http://hl7.org/fhir/observation-status"
PROFILE_BASE = "http://hl7.org/fhir/StructureDefinition/"
VITAL_SIGNS, LABORATORY = "vital-signs", "laboratory"
CATEGORY_DISPLAY = {VITAL_SIGNS: "Vital Signs", LABORATORY: "Laboratory"}
#: the statuses a posted reading may have (a result, as measured or corrected)
WRITABLE_STATUS = ("final", "amended", "corrected")
SEARCH_LABEL = FollowUp._meta.label
#: the name of the annotation that tells which measurement a loaded row stands for
KIND_FIELD = "fhir_observation"


@dataclass(frozen=True)
class Component:
    code: str
    display: str
    field: str


@dataclass(frozen=True)
class Measurement:
    """One kind of Observation: its id part, LOINC code, category, the model field(s) it
    reads, its UCUM unit and the vital signs profile it meets."""

    key: str
    code: str
    display: str
    category: str
    label: str | Promise
    unit: str
    field: str = ""
    components: tuple[Component, ...] = ()
    profile: str = ""

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(c.field for c in self.components) if self.components else (self.field,)


SYSTOLIC = Component("8480-6", "Systolic blood pressure", "sbp")
DIASTOLIC = Component("8462-4", "Diastolic blood pressure", "dbp")
BP = Measurement("bp", "85354-9", "Blood pressure panel with all children optional",
                 VITAL_SIGNS, _("Blood pressure"), "mm[Hg]", components=(SYSTOLIC, DIASTOLIC),
                 profile="bp")
GLUCOSE = Measurement("glucose", "14771-0",
                      "Fasting glucose [Moles/volume] in Serum or Plasma", LABORATORY,
                      _("Fasting glucose"), "mmol/L", field="fasting_glucose")
HEART_RATE = Measurement("heart-rate", "8867-4", "Heart rate", VITAL_SIGNS, _("Heart rate"),
                         "/min", field="heart_rate", profile="heartrate")
TEMPERATURE = Measurement("temperature", "8310-5", "Body temperature", VITAL_SIGNS,
                          _("Body temperature"), "Cel", field="temperature",
                          profile="bodytemp")
WEIGHT = Measurement("weight", "29463-7", "Body weight", VITAL_SIGNS, _("Body weight"), "kg",
                     field="weight_kg", profile="bodyweight")
HEIGHT = Measurement("height", "8302-2", "Body height", VITAL_SIGNS, _("Body height"), "cm",
                     field="height_cm", profile="bodyheight")
BMI = Measurement("bmi", "39156-5", "Body mass index (BMI) [Ratio]", VITAL_SIGNS,
                  _("Body mass index"), "kg/m2", field="bmi", profile="bmi")
#: what a posted Observation may be, by its LOINC code
POSTABLE = {BP.code: BP, GLUCOSE.code: GLUCOSE}
#: unit spellings read as the UCUM unit (a sender's ``unit`` text without a ``code``)
UNIT_SPELLINGS = {"mm[Hg]": ("mm[hg]", "mmhg", "mm hg"), "mmol/L": ("mmol/l",)}


def _category_filter(measurement: Measurement) -> Any:
    def make(value: str, modifier: str) -> Q:
        token = parse_token(value)
        if token.system not in (None, CATEGORY_SYSTEM):
            return NOTHING
        return Q() if token.code in (None, measurement.category) else NOTHING

    return make


def _code_filter(codes: frozenset[str]) -> Any:
    def make(value: str, modifier: str) -> Q:
        token = parse_token(value)
        if token.system not in (None, LOINC):
            return NOTHING
        return Q() if token.code is None or token.code in codes else NOTHING

    return make


def _date_filter(value: str, modifier: str) -> Q:
    return date_q("date", parse_date("date", value), is_date=True)


def _params(measurement: Measurement, *, based_on: bool) -> dict[str, SearchParam]:
    params = {
        "patient": SearchParam("reference", "The resident (Patient/N)",
                               reference_filter("patient_id", "Patient", Patient)),
        "subject": SearchParam("reference", "The resident (Patient/N)",
                               reference_filter("patient_id", "Patient", Patient)),
        "code": SearchParam("token", "LOINC: 85354-9 blood pressure, 14771-0 fasting "
                            "glucose, 8867-4 heart rate, 8310-5 body temperature, 29463-7 "
                            "weight, 8302-2 height, 39156-5 BMI",
                            _code_filter(frozenset({measurement.code}))),
        "component-code": SearchParam(
            "token", "LOINC of a component: 8480-6 systolic, 8462-4 diastolic",
            _code_filter(frozenset(c.code for c in measurement.components))
            if measurement.components else lambda value, modifier: NOTHING),
        "category": SearchParam("token", "vital-signs | laboratory (observation-category)",
                                _category_filter(measurement)),
        "date": SearchParam("date", "The day it was measured (prefixes eq, ne, gt, lt, ge, "
                            "le)", _date_filter),
    }
    if based_on:
        params["based-on"] = SearchParam(
            "reference", "The chronic care plan of a follow-up (CarePlan/N)",
            reference_filter("registration_id", "CarePlan", Registration))
    return params


class _Part(ResourceMapper):
    """One measurement of one kind of record."""

    resource_type = "Observation"
    source: ClassVar[str]
    measurement: ClassVar[Measurement]
    sorts = {"date": "date"}

    def queryset(self, client: Client) -> QuerySet[Any]:
        present = {f"{name}__isnull": False for name in self.measurement.fields}
        rows = self.model._default_manager.filter(**present).annotate(
            **{KIND_FIELD: Value(self.measurement.key, output_field=CharField())})
        return client.residents_only(self._related(rows))

    def _related(self, rows: QuerySet[Any]) -> QuerySet[Any]:
        return rows

    def performers(self, obj: Any) -> list[dict[str, Any]]:
        found = []
        practitioner_id = self.practitioner_id(obj)
        if practitioner_id is not None:
            found.append(mapper_for("Practitioner").reference(Practitioner, practitioner_id))
        found.append(mapper_for("Organization").reference(Institution, obj.institution_id))
        return found

    def practitioner_id(self, obj: Any) -> int | None:
        return getattr(obj, "practitioner_id", None)

    def to_resource(self, obj: Any, client: Client) -> dict[str, Any]:
        m = self.measurement
        resource: dict[str, Any] = {
            "resourceType": "Observation",
            "id": self.id_of(obj),
            "meta": {"lastUpdated": self.last_updated(obj)},
        }
        if m.profile:
            resource["meta"]["profile"] = [f"{PROFILE_BASE}{m.profile}"]
        if isinstance(obj, FollowUp):
            resource["basedOn"] = [{"reference": f"CarePlan/{obj.registration_id}"}]
        resource.update({
            "status": "final",
            "category": [{"coding": [{"system": CATEGORY_SYSTEM, "code": m.category,
                                      "display": CATEGORY_DISPLAY[m.category]}]}],
            "code": {"coding": [{"system": LOINC, "code": m.code, "display": m.display}],
                     "text": str(m.label)},
            "subject": {"reference": f"Patient/{obj.patient_id}"},
            "effectiveDateTime": obj.date.isoformat(),
            "issued": timezone.localtime(obj.created_at, CHINA).isoformat(),
            "performer": self.performers(obj),
        })
        if m.components:
            resource["component"] = [
                {"code": {"coding": [{"system": LOINC, "code": c.code, "display": c.display}]},
                 "valueQuantity": quantity(getattr(obj, c.field), m.unit)}
                for c in m.components]
        else:
            resource["valueQuantity"] = quantity(getattr(obj, m.field), m.unit)
        return resource


def quantity(value: Any, unit: str) -> dict[str, Any]:
    number: int | float = value if isinstance(value, int) else float(Decimal(value))
    return {"value": number, "unit": unit, "system": UCUM, "code": unit}


class _FollowUpPart(_Part):
    model = FollowUp
    source = "followup"


class _CheckPart(_Part):
    model = ElderlyCheck
    source = "check"


class _ScreeningPart(_Part):
    model = ScreeningReading
    source = "screening"
    updated_field = "created_at"

    def _related(self, rows: QuerySet[Any]) -> QuerySet[Any]:
        """Leave out the copy an elderly check makes of its readings (served as the
        check's own Observations)."""
        same = {name: OuterRef(name) for name in self.measurement.fields}
        copies = ElderlyCheck.objects.filter(patient_id=OuterRef("patient_id"),
                                             date=OuterRef("date"),
                                             institution_id=OuterRef("institution_id"),
                                             **same)
        return rows.filter(~Exists(copies)).select_related("recorded_by")

    def practitioner_id(self, obj: Any) -> int | None:
        user = obj.recorded_by
        return user.practitioner_id if user is not None else None


def _part(base: type[_Part], measurement: Measurement) -> type[_Part]:
    name = f"{base.__name__}_{measurement.key.replace('-', '_')}"
    return type(name, (base,), {
        "measurement": measurement, "id_prefix": f"{base.source}-{measurement.key}",
        "search_params": _params(measurement, based_on=base is _FollowUpPart)})


PARTS: tuple[type[_Part], ...] = (
    *(_part(_FollowUpPart, m) for m in (BP, GLUCOSE, HEART_RATE, TEMPERATURE, WEIGHT, HEIGHT,
                                        BMI)),
    *(_part(_CheckPart, m) for m in (BP, GLUCOSE, HEART_RATE, WEIGHT, HEIGHT, BMI)),
    *(_part(_ScreeningPart, m) for m in (BP, GLUCOSE)),
)


def _based_on(obj: Any) -> list[str]:
    return [str(obj.registration_id)] if isinstance(obj, FollowUp) else []


# -- writing ----------------------------------------------------------------------------------

def _unit_ok(value: dict[str, Any], unit: str) -> bool:
    """A Quantity in ``unit``: its UCUM code (with UCUM or no system), else its unit text."""
    code, system, text = value.get("code"), value.get("system"), value.get("unit")
    if code is not None:
        return bool(code == unit and system in (None, UCUM))
    if isinstance(text, str):
        return text.strip().lower() in (unit.lower(), *UNIT_SPELLINGS.get(unit, ()))
    return False


def _value(quantity_: object, unit: str, where: str) -> Any:
    """The number of a posted ``valueQuantity`` in ``unit`` (``None`` when absent); the
    service checks that it is a possible reading."""
    if quantity_ is None:
        return None
    if not isinstance(quantity_, dict) or not _unit_ok(quantity_, unit):
        raise FhirError(422, "value", _("%(where)s: give the value in %(unit)s (UCUM code "
                                        "“%(unit)s”)."), [where], where=where, unit=unit)
    return quantity_.get("value")


def _measurement(resource: dict[str, Any]) -> Measurement:
    codings = (resource.get("code") or {}).get("coding") or []
    found = {str(c.get("code")) for c in codings
             if isinstance(c, dict) and c.get("system") == LOINC} & set(POSTABLE)
    if len(found) != 1:
        raise FhirError(422, "code-invalid", _("Observation.code: a reading is recorded here "
                                               "as a blood-pressure panel (LOINC 85354-9) or "
                                               "a fasting glucose in mmol/L (LOINC 14771-0)."),
                        ["Observation.code"])
    return POSTABLE[found.pop()]


def _values(resource: dict[str, Any], m: Measurement) -> dict[str, Any]:
    if not m.components:
        return {m.field: _value(resource.get("valueQuantity"), m.unit,
                                "Observation.valueQuantity")}
    values: dict[str, Any] = {}
    wanted = {c.code: c for c in m.components}
    for index, component in enumerate(resource.get("component") or []):
        codings = (component.get("code") or {}).get("coding") or [] \
            if isinstance(component, dict) else []
        codes = [str(c.get("code")) for c in codings
                 if isinstance(c, dict) and c.get("system") == LOINC and c.get("code") in wanted]
        if not codes:
            continue
        field = wanted[codes[0]].field
        where = f"Observation.component[{index}].valueQuantity"
        if field in values:
            raise FhirError(422, "value", _("%(where)s: each pressure is given once."),
                            [where], where=where)
        values[field] = _value(component.get("valueQuantity"), m.unit, where)
    return values


def _day(resource: dict[str, Any]) -> dt.date:
    text = resource.get("effectiveDateTime")
    if not isinstance(text, str):
        raise FhirError(422, "required", _("Observation.effectiveDateTime: give the day (and "
                                           "time) the reading was taken."),
                        ["Observation.effectiveDateTime"])
    moment = parse_datetime(text, "Observation.effectiveDateTime")
    return timezone.localtime(moment, CHINA).date()


def refused(err: DomainError) -> FhirError:
    """A chronic-care refusal as the FHIR answer: its own status (400 an impossible or
    incomplete reading, 403 not the caller's to record, 409 a conflict) and translated
    message."""
    status = int(getattr(err, "status", 400))
    code = {403: "forbidden", 409: "conflict"}.get(status, "invalid")
    return FhirError(status, code, str(err))


@register
class ObservationMapper(CompositeMapper):
    resource_type = "Observation"
    part_types = PARTS
    interactions = ("read", "search-type", "create")
    conditional_create = True
    includes = {
        "Observation:patient": Include("Patient", lambda o: [str(o.patient_id)]),
        "Observation:subject": Include("Patient", lambda o: [str(o.patient_id)]),
        "Observation:based-on": Include("CarePlan", _based_on),
    }

    def part_of(self, obj: Any) -> ResourceMapper:
        key = getattr(obj, KIND_FIELD, None)
        for part in self._parts:
            if isinstance(part, _Part) and isinstance(obj, part.model) \
                    and part.measurement.key == key:
                return part
        raise TypeError(f"{type(obj).__name__} ({key}) is not served as Observation")

    def id_of(self, obj: Any) -> str:
        return self.part_of(obj).id_of(obj)

    def last_updated(self, obj: Any) -> str:
        return self.part_of(obj).last_updated(obj)

    def audit_read(self, objs: list[Any], client: Client, *, search: str = "") -> None:
        """A measurement is part of the resident's record: one VIEW per Observation read
        (under its record's label), one SEARCH per search (rules.md §11)."""
        if search:
            self.audit_search(SEARCH_LABEL, search, len(objs), client)
            return
        by_label: dict[str, list[tuple[object, int, str]]] = {}
        for obj in objs:
            by_label.setdefault(obj._meta.label, []).append(
                (obj.pk, obj.patient_id, f"FHIR Observation {self.id_of(obj)}"))
        for label, reads in by_label.items():
            audit.record_reads(label, reads, user=client.audit_user,
                               username=client.audit_username)

    # -- create -----------------------------------------------------------------------------

    def _patient(self, resource: dict[str, Any], client: Client) -> Patient:
        ref = resource.get("subject")
        text = ref.get("reference", "") if isinstance(ref, dict) else ""
        named = referenced(text, "Patient") if isinstance(text, str) and text else None
        found = (query.fetch(mapper_for("Patient"), client, [str(named[1])])
                 if named is not None and named[0] is Patient else [])
        if not found:
            raise FhirError(422, "value", _("Observation.subject: “%(value)s” does not name a "
                                            "resident you can see."), ["Observation.subject"],
                            value=str(text)[:100])
        patient: Patient = found[0]
        return patient

    def _recorder(self, resource: dict[str, Any], client: Client) -> User:
        performers = resource.get("performer") or []
        refs: list[tuple[object, str]] = [(ref, f"Observation.performer[{index}]")
                                          for index, ref in enumerate(performers)]
        if not refs:
            refs = [(None, "Observation.performer")]
        return acting_user(client, refs, fits=lambda user: user.role in services.STAFF_ROLES)

    def create(self, resource: dict[str, Any], client: Client) -> Any:
        if resource.get("status") not in WRITABLE_STATUS:
            raise FhirError(422, "value", _("Observation.status: a reading is recorded as "
                                            "final (or amended, corrected)."),
                            ["Observation.status"])
        measurement = _measurement(resource)
        values = _values(resource, measurement)
        day = _day(resource)
        patient = self._patient(resource, client)
        user = self._recorder(resource, client)
        try:
            result = services.record_screening(patient, by=user, date=day, values=values)
        except DomainError as err:
            raise refused(err) from err
        row = result.reading
        if client.token is not None:
            audit.record(AuditEvent.Action.CREATE, username=client.audit_username,
                         object_type=row._meta.label, object_id=row.pk,
                         patient_id=row.patient_id,
                         summary=f"FHIR Observation create for {user.get_username()}",
                         changes={"acting_user": user.get_username(),
                                  "enrolled": [r.disease for r in result.enrolled]})
        setattr(row, KIND_FIELD, measurement.key)
        return row
