"""Patient ↔ the resident record (``patients.Patient``).

Identifiers: the resident ID number under ``urn:oid:2.16.156.10011.1.3`` (rules.md §10), the
17-digit health record number, passports and permits under TierCare's base
(``https://tiercare.org/fhir/identifier/<type>``). Gender from GB/T 2261.1 (1 male, 2 female,
0 unknown). The 12-digit village code of the address travels in an extension
(``…/StructureDefinition/division-code``); ``address.district`` carries the county's code.
A merged record answers with ``active: false`` and a ``replaced-by`` link to its survivor.
Creating and changing go through ``patients.services`` with all their checks.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet
from django.http import QueryDict
from django.utils.translation import gettext_lazy as _

from tiercare.accounts import audit
from tiercare.accounts.models import AuditEvent
from tiercare.errors import BatchItemError
from tiercare.fhir.auth import Client
from tiercare.fhir.errors import FhirError, validation_error
from tiercare.fhir.mapping import BASE_URI, ID_NUMBER_SYSTEM, ResourceMapper, Write, register
from tiercare.fhir.search import SearchParam, date_q, parse_date, parse_token, string_q
from tiercare.patients import access, rules, services
from tiercare.patients.errors import PatientConflict
from tiercare.patients.models import Identifier, IdentifierType, Patient, Sex
from tiercare.patients.rules import mask_id_number, mask_phone

DIVISION_CODE_URL = f"{BASE_URI}/StructureDefinition/division-code"
HEALTH_RECORD_SYSTEM = f"{BASE_URI}/identifier/health-record"
OTHER_SYSTEMS = {t: f"{BASE_URI}/identifier/{t.value.replace('_', '-')}"
                 for t in (IdentifierType.PASSPORT, IdentifierType.HK_MACAO_PERMIT,
                           IdentifierType.TAIWAN_PERMIT)}
SYSTEM_TYPES = {ID_NUMBER_SYSTEM: IdentifierType.ID_CARD,
                **{system: t for t, system in OTHER_SYSTEMS.items()}}
GENDER = {Sex.MALE: "male", Sex.FEMALE: "female", Sex.UNKNOWN: "unknown"}
SEX = {"male": Sex.MALE, "female": Sex.FEMALE, "unknown": Sex.UNKNOWN}
#: Service field → where it sits in a Patient resource (for OperationOutcome.expression).
FIELD_PATHS = {
    "name": "Patient.name[0]", "id_number": "Patient.identifier", "id_type": "Patient.identifier",
    "birth_date": "Patient.birthDate", "sex": "Patient.gender", "phone": "Patient.telecom",
    "address_code": "Patient.address[0].extension", "address": "Patient.address[0].text",
    "deceased_date": "Patient.deceasedDateTime", "insured_county": "Patient.extension",
}


def _identifier_filter(value: str, modifier: str) -> Q:
    token = parse_token(value)
    code = (token.code or "").strip()
    if token.system in (None, ID_NUMBER_SYSTEM) and code:
        # a 15-digit number finds its 18-character form too (GB 11643), as the resident search
        numbers = services.id_number_variants(code.upper())
        if token.system is None:  # any system: an ID number, a record number or a document
            documents = Identifier.objects.filter(value=code).values("patient_id")
            return (Q(id_number__in=numbers) | Q(health_record_no=code)
                    | Q(pk__in=documents))
        return Q(id_type=IdentifierType.ID_CARD, id_number__in=numbers)
    if token.system == HEALTH_RECORD_SYSTEM:
        return Q(health_record_no=code) if code else Q()
    if token.system in SYSTEM_TYPES:
        kind = SYSTEM_TYPES[token.system]
        return Q(id_type=kind, id_number=code) if code else Q(id_type=kind)
    return Q(pk__in=[])  # a system this server does not hold


def _name_filter(value: str, modifier: str) -> Q:
    """Chinese name (starts with) or pinyin initials (starts with either reading), with the
    resident search's indexable filters (``patients.services``)."""
    text = value.strip()
    if not modifier and text.isascii() and text.isalpha():
        return services.initials_q(text.lower())
    if not modifier:
        return services.name_prefix_q(text)
    return string_q("name", text, modifier)


def _birthdate_filter(value: str, modifier: str) -> Q:
    return date_q("birth_date", parse_date("birthdate", value), is_date=True)


def _sex(gender: object, where: str) -> str:
    """GB/T 2261.1 code of a FHIR gender; ``other`` has no code there and is kept as 0
    (unknown)."""
    if gender == "other":
        return Sex.UNKNOWN
    sex = SEX.get(gender) if isinstance(gender, str) else None
    if sex is None:
        raise FhirError(400, "value", _("%(where)s: “%(value)s” is not male, female, other or "
                                        "unknown."), [where], where=where,
                        value=str(gender)[:50])
    return sex


def _full_date(value: object, where: str) -> dt.date:
    """The day of a FHIR date or dateTime. FHIR allows a year or a month alone; the resident
    record needs the day (GB 11643 ID numbers carry it), so a partial date is refused."""
    try:
        if isinstance(value, str) and len(value) >= 10 and value[4] == "-":
            return dt.date.fromisoformat(value[:10])
    except ValueError:
        pass
    raise FhirError(422, "value", _("%(where)s: “%(value)s” is not a full date (YYYY-MM-DD)."),
                    [where], where=where, value=str(value)[:40])


def _gender_filter(value: str, modifier: str) -> Q:
    return Q(sex=_sex(parse_token(value).code or "", "gender"))


def _phone_filter(value: str, modifier: str) -> Q:
    text = parse_token(value).code or ""
    try:
        return Q(phone=rules.normalise_phone(text))
    except rules.RuleError as err:
        raise FhirError(400, "value", str(err), ["phone"]) from None


def _district_filter(value: str, modifier: str) -> Q:
    """A division code (county, township or village: its residents) or the name of a county,
    township or village."""
    text = value.strip()
    if text.isascii() and text.isdigit():
        return access.address_prefix_q([text])
    from tiercare.kernel import divisions
    from tiercare.registry.models import Division

    codes = [d.code for d in divisions.find_by_name(text)]
    codes += Division.objects.filter(name=text).values_list("code", flat=True)
    return access.address_prefix_q(codes)


@register
class PatientMapper(ResourceMapper):
    resource_type = "Patient"
    model = Patient
    interactions = ("read", "search-type", "create", "update")
    conditional_create = True
    conditional_update = True
    search_params = {
        "identifier": SearchParam(
            "token", "Resident ID number (urn:oid:2.16.156.10011.1.3), health record number, "
            "passport or permit; system|value", _identifier_filter),
        "name": SearchParam("string", "Name (starts with) or pinyin initials (zs finds 张三; "
                            "either reading of a polyphone surname)", _name_filter,
                            ("exact", "contains")),
        "birthdate": SearchParam("date", "Birth date (prefixes eq, ne, gt, lt, ge, le)",
                                 _birthdate_filter),
        "gender": SearchParam("token", "male | female | unknown", _gender_filter),
        "phone": SearchParam("token", "Mobile phone number (exact)", _phone_filter),
        "address-district": SearchParam(
            "string", "Division code of the address (county, township or village) or a county "
            "name", _district_filter),
    }
    sorts = {"name": "name", "birthdate": "birth_date"}

    def queryset(self, client: Client) -> QuerySet[Any]:
        condition = client.resident_q()
        rows = Patient.objects.all()
        return rows if condition is None else rows.filter(condition)

    def to_resource(self, obj: Any, client: Client) -> dict[str, Any]:
        p: Patient = obj
        show = client.sees_identifiers
        identifiers: list[dict[str, Any]] = []
        if p.id_number:
            system = ID_NUMBER_SYSTEM if p.id_type == IdentifierType.ID_CARD else \
                OTHER_SYSTEMS.get(IdentifierType(p.id_type), f"{BASE_URI}/identifier/other")
            identifiers.append({"use": "official", "system": system,
                                "value": p.id_number if show else mask_id_number(p.id_number)})
        identifiers.append({"use": "usual", "system": HEALTH_RECORD_SYSTEM,
                            "value": p.health_record_no})
        resource: dict[str, Any] = {
            "resourceType": "Patient",
            "id": str(p.pk),
            "meta": {"lastUpdated": p.updated_at.isoformat()},
            "identifier": identifiers,
            "active": p.is_active,
            "name": [{"use": "official", "text": p.name, "family": p.name[:1],
                      "given": [p.name[1:]] if len(p.name) > 1 else []}],
            "gender": GENDER.get(Sex(p.sex), "unknown"),
            "birthDate": p.birth_date.isoformat(),
            "address": [{
                "use": "home",
                "text": p.address or p.address_code,
                "district": p.address_code[:6],
                "country": "CN",
                "extension": [{"url": DIVISION_CODE_URL, "valueCode": p.address_code}],
            }],
        }
        if not resource["name"][0]["given"]:
            del resource["name"][0]["given"]
        if p.phone:
            resource["telecom"] = [{"system": "phone", "use": "mobile",
                                    "value": p.phone if show else mask_phone(p.phone)}]
        if p.deceased_date is not None:
            resource["deceasedDateTime"] = p.deceased_date.isoformat()
        if p.merged_into_id is not None:
            resource["link"] = [{"other": {"reference": f"Patient/{p.merged_into_id}"},
                                 "type": "replaced-by"}]
        return resource

    def audit_read(self, objs: list[Any], client: Client, *, search: str = "") -> None:
        """One VIEW event per resident read (rules.md §11), one SEARCH event per search."""
        if search:
            self.audit_search("patients.Patient", search, len(objs), client)
            return
        for p in objs:
            audit.record(AuditEvent.Action.VIEW, user=client.audit_user,
                         username=client.audit_username, object_type="patients.Patient",
                         object_id=p.pk, patient_id=p.pk, summary=f"FHIR {p}")

    # -- writes -----------------------------------------------------------------------------

    def _input(self, resource: dict[str, Any]) -> dict[str, Any]:
        """The service's fields from a (structurally valid) Patient resource."""
        values: dict[str, Any] = {}
        names = resource.get("name") or []
        if names:
            first = names[0]
            values["name"] = (first.get("text") or (first.get("family", "")
                              + "".join(first.get("given") or []))).strip()
        else:
            values["name"] = ""
        for ident in resource.get("identifier") or []:
            kind = SYSTEM_TYPES.get(ident.get("system", ""))
            if kind is not None:
                values["id_type"] = kind
                values["id_number"] = (ident.get("value") or "").strip()
                break
        if "gender" in resource:
            values["sex"] = _sex(resource["gender"], "Patient.gender")
        if resource.get("birthDate"):
            values["birth_date"] = _full_date(resource["birthDate"], "Patient.birthDate")
        for telecom in resource.get("telecom") or []:
            if telecom.get("system") == "phone":
                values["phone"] = (telecom.get("value") or "").strip()
                break
        addresses = resource.get("address") or []
        if addresses:
            address = addresses[0]
            values["address"] = (address.get("text") or "").strip()
            for ext in address.get("extension") or []:
                if ext.get("url") == DIVISION_CODE_URL:
                    values["address_code"] = (ext.get("valueCode") or "").strip()
        deceased = resource.get("deceasedDateTime")
        if deceased:
            values["deceased_date"] = _full_date(deceased, "Patient.deceasedDateTime")
        return values

    def _new(self, resource: dict[str, Any]) -> services.PatientInput:
        """The registration input of a new resident (the village code is required)."""
        values = self._input(resource)
        if not values.get("address_code"):
            raise FhirError(422, "required",
                            _("The address needs the 12-digit village code in the extension "
                              "%(url)s."), ["Patient.address[0].extension"],
                            url=DIVISION_CODE_URL)
        return services.PatientInput(**values)

    def create(self, resource: dict[str, Any], client: Client) -> Any:
        data = self._new(resource)
        with _domain_errors():
            return services.register_patient(data, user=client.audit_user)

    def write_many(self, writes: list[Write],
                   client: Client) -> list[tuple[int, Any] | None] | None:
        """New residents of a transaction (creates, with or without ``If-None-Exist`` on the
        ID number) in one registration (``services.register_patients``); other shapes go
        one by one."""
        if any(w.conditional_update for w in writes):
            return None
        numbers: list[str | None] = []
        for write in writes:
            number = _id_number_condition(write.condition) if write.condition else None
            if write.condition and number is None:
                return None
            numbers.append(number)
        variants = {v: n for n in numbers if n for v in services.id_number_variants(n)}
        matches: dict[str, list[Patient]] = {}
        if variants:
            for p in self.queryset(client).filter(id_type=IdentifierType.ID_CARD,
                                                  id_number__in=list(variants)):
                matches.setdefault(variants[p.id_number], []).append(p)
        answers: list[tuple[int, Any] | None] = [None] * len(writes)
        fresh: list[int] = []
        first_of: dict[str, int] = {}
        for position, number in enumerate(numbers):
            if number is not None and number in matches:
                if len(matches[number]) > 1:
                    raise BatchItemError(position, FhirError(
                        412, "multiple-matches", _("If-None-Exist matches %(count)d records; "
                                                   "make it specific."),
                        count=len(matches[number])))
                answers[position] = (200, matches[number][0])
            elif number is not None and number in first_of:
                continue  # the same resident again: answered with the first one below
            else:
                if number is not None:
                    first_of[number] = position
                fresh.append(position)
        self.audit_read([answer[1] for answer in answers if answer is not None], client)
        inputs = []
        for position in fresh:
            try:
                inputs.append(self._new(writes[position].resource))
            except FhirError as exc:
                raise BatchItemError(position, exc) from exc
        try:
            created = services.register_patients(inputs, user=client.audit_user)
        except BatchItemError as exc:
            raise BatchItemError(fresh[exc.position], _as_fhir(exc.error)) from exc
        for position, patient in zip(fresh, created, strict=True):
            answers[position] = (201, patient)
        for position, number in enumerate(numbers):
            if answers[position] is None and number is not None:
                answers[position] = (200, answers[first_of[number]][1])  # type: ignore[index]
        return answers

    def update(self, obj: Any, resource: dict[str, Any], client: Client) -> Any:
        values = self._input(resource)
        if not values.get("address_code"):
            values.pop("address_code", None)
        with _domain_errors():
            return services.update_patient(obj, values, user=client.audit_user)


def _as_fhir(exc: Exception) -> FhirError:
    """A service's refusal as a FHIR error: field errors → 422 with one issue per message
    and its place in the resource; a conflict with the records (a duplicate ID number, a
    merged record) → 409."""
    if isinstance(exc, ValidationError):
        return validation_error(exc, FIELD_PATHS)
    if isinstance(exc, PatientConflict):
        code = "duplicate" if exc.code == "patient.duplicate" else "conflict"
        return FhirError(409, code, str(exc))
    if isinstance(exc, FhirError):
        return exc
    raise exc


@contextmanager
def _domain_errors() -> Iterator[None]:
    try:
        yield
    except (ValidationError, PatientConflict) as exc:
        raise _as_fhir(exc) from exc


def _id_number_condition(condition: str) -> str | None:
    """The ID number of a condition that is exactly ``identifier=<ID number system>|<n>``
    (what a HIS sends with a new resident), else ``None``."""
    params = QueryDict(condition.lstrip("?"))
    if list(params) != ["identifier"] or len(params.getlist("identifier")) != 1:
        return None
    token = parse_token(params["identifier"])
    code = (token.code or "").strip().upper()
    if token.system != ID_NUMBER_SYSTEM or not code or "," in code:
        return None
    return code
