"""The contract of a resource mapper, and the registry the server and its
CapabilityStatement read.

A mapper is one module in ``tiercare.fhir.mappers`` holding a ``ResourceMapper`` subclass
decorated with ``@register``. It declares its interactions, search parameters, sorts and
includes, and implements the mapping; the views do the HTTP, paging, errors and auditing.
Adding a resource type is one mapper module and its tests.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.db import models
from django.db.models import Q, QuerySet
from django.utils.translation import gettext_lazy as _

from tiercare.fhir.auth import Client
from tiercare.fhir.errors import FhirError
from tiercare.fhir.search import SearchParam, date_q, parse_date

#: Base of every identifier system and extension TierCare mints (docs/fhir.md).
BASE_URI = "https://tiercare.org/fhir"
#: Code systems of the national standards (rules.md §10).
ID_NUMBER_SYSTEM = "urn:oid:2.16.156.10011.1.3"
ICD10_CN_SYSTEM = "urn:oid:2.16.156.10011.2.3.3.11"
ICD10_WHO_SYSTEM = "http://hl7.org/fhir/sid/icd-10"


def _id_filter(value: str, modifier: str) -> Q:
    if not value.isdigit() or len(value) > 18:
        return Q(pk__in=[])  # no such record: ids are numbers
    return Q(pk=int(value))


def _last_updated_filter(value: str, modifier: str) -> Q:
    return date_q("updated_at", parse_date("_lastUpdated", value))


COMMON_PARAMS: dict[str, SearchParam] = {
    "_id": SearchParam("token", "Logical id of the resource", _id_filter),
    "_lastUpdated": SearchParam("date", "When the resource last changed",
                                _last_updated_filter),
}


class ResourceMapper:
    """Maps one FHIR resource type onto a model. Subclasses set the class attributes and
    implement ``to_resource`` (and ``create``/``update`` when they declare them)."""

    resource_type: ClassVar[str]
    model: ClassVar[type[models.Model]]
    profile_doc: ClassVar[str] = ""
    #: ``read``, ``search-type``, ``create``, ``update`` (``vread`` once history exists)
    interactions: ClassVar[tuple[str, ...]] = ("read", "search-type")
    conditional_create: ClassVar[bool] = False
    conditional_update: ClassVar[bool] = False
    search_params: ClassVar[dict[str, SearchParam]] = {}
    #: ``_sort`` names → model fields (``_id`` and ``_lastUpdated`` always)
    sorts: ClassVar[dict[str, str]] = {}
    #: ``_include`` values (``Encounter:patient``) → (model field, target resource type)
    includes: ClassVar[dict[str, tuple[str, str]]] = {}

    def all_params(self) -> dict[str, SearchParam]:
        return {**COMMON_PARAMS, **self.search_params}

    def all_sorts(self) -> dict[str, str]:
        return {"_id": "pk", "_lastUpdated": "updated_at", **self.sorts}

    def queryset(self, client: Client) -> QuerySet[Any]:
        """The records this client may see (scope applied)."""
        return self.model._default_manager.all()

    def to_resource(self, obj: Any, client: Client) -> dict[str, Any]:
        raise NotImplementedError

    def create(self, resource: dict[str, Any], client: Client) -> Any:
        raise FhirError(405, "not-supported", _("%(type)s cannot be created here."),
                        type=self.resource_type)

    def update(self, obj: Any, resource: dict[str, Any], client: Client) -> Any:
        raise FhirError(405, "not-supported", _("%(type)s cannot be changed here."),
                        type=self.resource_type)

    def audit_read(self, objs: list[Any], client: Client, *, search: str = "") -> None:
        """Record the reads that the audit trail must hold (residents' records)."""

    def last_updated(self, obj: Any) -> Any:
        return getattr(obj, "updated_at", None)


_REGISTRY: dict[str, ResourceMapper] = {}


def register(cls: type[ResourceMapper]) -> type[ResourceMapper]:
    _REGISTRY[cls.resource_type] = cls()
    return cls


def mapper_for(resource_type: str) -> ResourceMapper:
    mapper = _REGISTRY.get(resource_type)
    if mapper is None:
        raise FhirError(404, "not-supported",
                        _("This server has no resource type “%(type)s”."),
                        type=resource_type[:64])
    return mapper


def all_mappers() -> list[ResourceMapper]:
    return [_REGISTRY[name] for name in sorted(_REGISTRY)]
