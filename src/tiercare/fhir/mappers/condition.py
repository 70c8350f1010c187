"""Condition ↔ the diagnoses of an encounter (``encounters.Encounter.primary_diagnosis`` and
``encounters.Diagnosis``), category ``encounter-diagnosis``.

Ids (ADR 0006): ``primary-N`` is the primary diagnosis of Encounter/N; ``diagnosis-N`` a
secondary diagnosis (its row keeps its id while the encounter is updated,
``encounters.services.keep_diagnoses``). ``code`` carries the stored code under the Chinese
clinical edition's system ``urn:oid:2.16.156.10011.2.3.3.11`` with its Chinese name, and the
WHO ICD-10 2019 code it falls under with the WHO title (rules.md §10). Conditions are
written with their encounter (contained in an Encounter push), so this type is read and
search only. Every read is a read of the resident's record and is audited.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet

from tiercare.accounts import audit
from tiercare.encounters import services
from tiercare.encounters.models import Diagnosis, Encounter
from tiercare.fhir.auth import Client
from tiercare.fhir.mappers.encounter import moment
from tiercare.fhir.mapping import (
    ICD10_CN_SYSTEM,
    ICD10_WHO_SYSTEM,
    NOTHING,
    CompositeMapper,
    Include,
    ResourceMapper,
    reference_filter,
    register,
)
from tiercare.fhir.search import SearchParam, date_q, parse_date, parse_token
from tiercare.kernel import icd10
from tiercare.patients.models import Patient

CATEGORY = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-category",
                        "code": "encounter-diagnosis", "display": "Encounter Diagnosis"}]}


def code_concept(code: str) -> dict[str, Any]:
    codings = [{"system": ICD10_CN_SYSTEM, "code": code}]
    name = icd10.name_zh(code)
    if name:
        codings[0]["display"] = name
    if icd10.exists(code):
        who = icd10.validate(code).who_code
        codings.append({"system": ICD10_WHO_SYSTEM, "code": who,
                        "display": icd10.name_en(code) or who})
    return {"coding": codings, "text": name or code}


def _params(encounter: str, patient: str, code_field: str,
            start: str) -> dict[str, SearchParam]:
    """The parameters of one part, given the paths to the encounter's id, the resident's id,
    the code and the encounter's start."""

    def by_code(value: str, modifier: str) -> Q:
        token = parse_token(value)
        code = (token.code or "").strip().upper()
        if token.system not in (None, ICD10_CN_SYSTEM, ICD10_WHO_SYSTEM):
            return NOTHING
        if not code:
            return Q()
        if token.system == ICD10_WHO_SYSTEM:  # the WHO code and the codes under it
            return Q(**{code_field: code}) | Q(**{f"{code_field}__startswith": code})
        return Q(**{code_field: code})

    return {
        "patient": SearchParam("reference", "The resident (Patient/N)",
                               reference_filter(patient, "Patient", Patient)),
        "subject": SearchParam("reference", "The resident (Patient/N)",
                               reference_filter(patient, "Patient", Patient)),
        "encounter": SearchParam("reference", "The encounter (Encounter/N)",
                                 reference_filter(encounter, "Encounter", Encounter)),
        "code": SearchParam("token", "ICD-10 code (a WHO code also finds the Chinese clinical "
                            "codes under it)", by_code),
        "recorded-date": SearchParam(
            "date", "Start of the encounter",
            lambda value, modifier: date_q(start, parse_date("recorded-date", value))),
    }


class _ConditionPart(ResourceMapper):
    resource_type = "Condition"

    def _resource(self, obj: Any, encounter: Encounter, code: str) -> dict[str, Any]:
        return {
            "resourceType": "Condition", "id": self.id_of(obj),
            "meta": {"lastUpdated": encounter.updated_at.isoformat()},
            "verificationStatus": {"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                "code": "confirmed"}]},
            "category": [CATEGORY], "code": code_concept(code),
            "subject": {"reference": f"Patient/{encounter.patient_id}"},
            "encounter": {"reference": f"Encounter/{encounter.pk}"},
            "recordedDate": moment(encounter.start),
        }

class PrimaryCondition(_ConditionPart):
    """The primary diagnosis, stored on the encounter (ADR 0001)."""

    model = Encounter
    id_prefix = "primary"
    search_params = _params("pk", "patient_id", "primary_diagnosis", "start")
    sorts = {"recorded-date": "start"}

    def queryset(self, client: Client) -> QuerySet[Any]:
        return client.residents_only(Encounter.objects.all())

    def to_resource(self, obj: Any, client: Client) -> dict[str, Any]:
        return self._resource(obj, obj, obj.primary_diagnosis)


class SecondaryCondition(_ConditionPart):
    """A secondary diagnosis (``encounters.Diagnosis``, rank 1, 2 …)."""

    model = Diagnosis
    id_prefix = "diagnosis"
    updated_field = "encounter__updated_at"
    search_params = _params("encounter_id", "encounter__patient_id", "code", "encounter__start")
    sorts = {"recorded-date": "encounter__start"}

    def queryset(self, client: Client) -> QuerySet[Any]:
        return client.residents_only(Diagnosis.objects.select_related("encounter"),
                                     "encounter__patient_id")

    def to_resource(self, obj: Any, client: Client) -> dict[str, Any]:
        return self._resource(obj, obj.encounter, obj.code)


@register
class ConditionMapper(CompositeMapper):
    resource_type = "Condition"
    part_types = (PrimaryCondition, SecondaryCondition)
    includes = {
        "Condition:encounter": Include("Encounter", lambda c: [str(_encounter(c).pk)]),
        "Condition:patient": Include("Patient", lambda c: [str(_encounter(c).patient_id)]),
    }

    def code_of(self, obj: Any) -> str:
        return str(obj.primary_diagnosis if isinstance(obj, Encounter) else obj.code)

    def audit_read(self, objs: list[Any], client: Client, *, search: str = "") -> None:
        """A diagnosis is part of the resident's record: one VIEW per condition read, one
        SEARCH per search (rules.md §11)."""
        if search:
            self.audit_search(services.ENCOUNTER_TYPE, search, len(objs), client)
            return
        audit.record_reads(services.ENCOUNTER_TYPE,
                           [(_encounter(c).pk, _encounter(c).patient_id,
                             f"FHIR Condition {self.id_of(c)}") for c in objs],
                           user=client.audit_user, username=client.audit_username)


def _encounter(obj: Any) -> Encounter:
    return obj if isinstance(obj, Encounter) else obj.encounter
