"""Practitioner ↔ the registry's health workers (``registry.Practitioner``).

One health worker of a member institution: doctor, nurse, pharmacist, village doctor …
(rules.md §1). The registry code is the identifier (``https://tiercare.org/fhir/identifier/
practitioner``); ``name[0].text`` is the Chinese name (``family`` = first character, as for
Patient); gender from GB/T 2261.1 (1 male, 2 female). ``qualification`` carries the
professional title (职称) under ``…/CodeSystem/professional-title`` and, for a general
practitioner (全科医生, the family-doctor teams of rules.md §1), a second qualification
``general-practitioner`` in the same system. The phone is personal: shown to integrating
systems and to roles that see identifiers, masked for the others (rules.md §11). Where a
practitioner works (the employing institution, postings) is PractitionerRole. Read and search
only: the registry is kept in TierCare's own pages; no audit (not a resident's record).
"""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet
from django.utils.translation import gettext_lazy as _

from tiercare.fhir.auth import Client
from tiercare.fhir.errors import FhirError
from tiercare.fhir.mapping import BASE_URI, NOTHING, ResourceMapper, register
from tiercare.fhir.search import SearchParam, parse_token, string_q
from tiercare.patients.rules import mask_phone
from tiercare.registry.models import Practitioner

PRACTITIONER_SYSTEM = f"{BASE_URI}/identifier/practitioner"
TITLE_SYSTEM = f"{BASE_URI}/CodeSystem/professional-title"
GENERAL_PRACTITIONER = "general-practitioner"
GENDER = {Practitioner.Sex.MALE.value: "male", Practitioner.Sex.FEMALE.value: "female"}
SEX = {gender: sex for sex, gender in GENDER.items()}



def title_coding(title: str) -> dict[str, str]:
    """The professional title (``Practitioner.Title``) as a Coding."""
    return {"system": TITLE_SYSTEM, "code": title,
            "display": str(Practitioner.Title(title).label)}


def parse_boolean(name: str, value: str) -> bool:
    """A token parameter of FHIR type boolean: ``true`` or ``false``, else 400."""
    code = parse_token(value).code or ""
    if code not in ("true", "false"):
        raise FhirError(400, "value", _("%(name)s must be true or false (got “%(value)s”)."),
                        [name], name=name, value=value[:50])
    return code == "true"


def _identifier_filter(value: str, modifier: str) -> Q:
    token = parse_token(value)
    if token.system not in (None, PRACTITIONER_SYSTEM):
        return NOTHING
    return Q(code=token.code.strip()) if token.code else Q()


def _name_filter(value: str, modifier: str) -> Q:
    return string_q("name", value.strip(), modifier)


def _gender_filter(value: str, modifier: str) -> Q:
    """male or female; ``other`` and ``unknown`` are FHIR codes no practitioner has."""
    code = parse_token(value).code or ""
    if code in ("other", "unknown"):
        return NOTHING
    sex = SEX.get(code)
    if sex is None:
        raise FhirError(400, "value", _("%(where)s: “%(value)s” is not male, female, other or "
                                        "unknown."), ["gender"], where="gender",
                        value=code[:50])
    return Q(sex=sex)


def _active_filter(value: str, modifier: str) -> Q:
    return Q(is_active=parse_boolean("active", value))


@register
class PractitionerMapper(ResourceMapper):
    """A health worker: code, name, gender, title and general-practice qualification."""

    resource_type = "Practitioner"
    model = Practitioner
    search_params = {
        "identifier": SearchParam("token", "Practitioner code (system|code)",
                                  _identifier_filter),
        "name": SearchParam("string", "Name (starts with; :exact, :contains)", _name_filter,
                            ("exact", "contains")),
        "gender": SearchParam("token", "male | female", _gender_filter),
        "active": SearchParam("token", "true | false", _active_filter),
    }
    sorts = {"name": "name"}

    def queryset(self, client: Client) -> QuerySet[Any]:
        return Practitioner.objects.all()

    def to_resource(self, obj: Any, client: Client) -> dict[str, Any]:
        p: Practitioner = obj
        name: dict[str, Any] = {"use": "official", "text": p.name, "family": p.name[:1]}
        if len(p.name) > 1:
            name["given"] = [p.name[1:]]
        qualifications = [{"code": {"coding": [title_coding(p.title)]}}]
        if p.is_general_practitioner:
            qualifications.append({"code": {"coding": [{
                "system": TITLE_SYSTEM, "code": GENERAL_PRACTITIONER,
                "display": str(_("General practitioner"))}]}})
        resource: dict[str, Any] = {
            "resourceType": "Practitioner",
            "id": self.id_of(p),
            "meta": {"lastUpdated": p.updated_at.isoformat()},
            "identifier": [{"use": "official", "system": PRACTITIONER_SYSTEM,
                            "value": p.code}],
            "active": p.is_active,
            "name": [name],
            "gender": GENDER.get(p.sex, "unknown"),
            "qualification": qualifications,
        }
        if p.phone:
            resource["telecom"] = [{"system": "phone", "value": p.phone if
                                    client.sees_identifiers else mask_phone(p.phone)}]
        return resource
