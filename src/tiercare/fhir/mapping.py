"""The contract of a resource mapper, and the registry the server and its
CapabilityStatement read.

A mapper is one module in ``tiercare.fhir.mappers`` holding a ``ResourceMapper`` subclass
decorated with ``@register``. It declares its interactions, search parameters, sorts and
includes, and implements the mapping; the views do the HTTP, paging, errors and auditing.
Adding a resource type is one mapper module and its tests.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, ClassVar

from django.db import models
from django.db.models import Q, QuerySet
from django.utils.translation import gettext_lazy as _

from tiercare.accounts import audit
from tiercare.accounts.models import AuditEvent
from tiercare.fhir.auth import Client
from tiercare.fhir.errors import FhirError
from tiercare.fhir.search import SearchParam, date_q, parse_date, parse_token

#: A filter that matches nothing (a value that cannot name a record here).
NOTHING = Q(pk__in=[])
#: Base of every identifier system and extension TierCare mints (docs/fhir.md).
BASE_URI = "https://tiercare.org/fhir"
#: Code systems of the national standards (rules.md §10).
ID_NUMBER_SYSTEM = "urn:oid:2.16.156.10011.1.3"
ICD10_CN_SYSTEM = "urn:oid:2.16.156.10011.2.3.3.11"
ICD10_WHO_SYSTEM = "http://hl7.org/fhir/sid/icd-10"


def _last_updated_param(field_name: str) -> SearchParam:
    return SearchParam("date", "When the resource last changed",
                       lambda value, modifier: date_q(field_name,
                                                      parse_date("_lastUpdated", value)))


@dataclass(frozen=True)
class Include:
    """An ``_include`` a mapper serves: the target resource type and the logical ids of the
    target resources one matched record refers to."""

    target: str
    ids: Callable[[Any], Iterable[str]]


@dataclass(frozen=True)
class Write:
    """One write of a transaction handed to ``write_many``: the (structurally checked)
    resource and its condition — the ``If-None-Exist`` of a create, or the search of a
    conditional update (``conditional_update``)."""

    resource: dict[str, Any]
    condition: str | None
    conditional_update: bool = False


class ResourceMapper:
    """Maps one FHIR resource type onto a model. Subclasses set the class attributes and
    implement ``to_resource`` (and ``create``/``update`` when they declare them).

    Logical ids are the model's primary key, after ``id_prefix`` and a dash when the type
    is served by several models (``Organization/institution-3``, see ``CompositeMapper``)."""

    resource_type: ClassVar[str]
    model: ClassVar[type[models.Model]]
    #: set on the parts of a ``CompositeMapper``: ids are ``<prefix>-<pk>``
    id_prefix: ClassVar[str] = ""
    #: the field that says when the record last changed (``meta.lastUpdated``)
    updated_field: ClassVar[str] = "updated_at"
    profile_doc: ClassVar[str] = ""
    #: ``read``, ``search-type``, ``create``, ``update`` (``vread`` once history exists)
    interactions: ClassVar[tuple[str, ...]] = ("read", "search-type")
    conditional_create: ClassVar[bool] = False
    #: Whether ``create`` runs inside a transaction opened by the interaction. A mapper whose
    #: create opens the transactions it needs itself (the booking: one statement on
    #: PostgreSQL, ADR 0016) says ``False`` and saves the ``BEGIN``/``COMMIT`` round trips.
    create_needs_transaction: ClassVar[bool] = True
    conditional_update: ClassVar[bool] = False
    search_params: ClassVar[dict[str, SearchParam]] = {}
    #: ``_sort`` names → model fields (``_id`` and ``_lastUpdated`` always)
    sorts: ClassVar[dict[str, str]] = {}
    #: ``_include`` values (``Encounter:patient``) → what they include
    includes: ClassVar[dict[str, Include]] = {}
    #: whether Bulk ``$export`` writes this type (every table-backed type; a
    #: ``ComputedMapper`` only when it says so)
    exportable: ClassVar[bool] = True

    # -- identity ---------------------------------------------------------------------------

    def parts(self) -> list[ResourceMapper]:
        """The single-model mappers that serve this type (itself, unless composite)."""
        return [self]

    def part_of(self, obj: Any) -> ResourceMapper:
        return self

    def id_of(self, obj: Any) -> str:
        """The logical id of a record of this type."""
        return self.model_id(type(obj), obj.pk)

    def model_id(self, model: type[models.Model], pk: Any) -> str:
        return f"{self.id_prefix}-{pk}" if self.id_prefix else str(pk)

    def reference(self, model: type[models.Model], pk: Any, display: str = "") -> dict[str, str]:
        """A Reference to the record ``pk`` of ``model`` served as this type."""
        ref = {"reference": f"{self.resource_type}/{self.model_id(model, pk)}"}
        if display:
            ref["display"] = display
        return ref

    def split_id(self, resource_id: str) -> tuple[ResourceMapper, int] | None:
        """The part and primary key a logical id names, or ``None`` for an id this type
        cannot have."""
        for part in self.parts():
            digits = resource_id
            if part.id_prefix:
                head, sep, digits = resource_id.rpartition("-")
                if not sep or head != part.id_prefix:
                    continue
            if digits.isdigit() and len(digits) <= 18:
                return part, int(digits)
        return None

    def all_params(self) -> dict[str, SearchParam]:
        """Every search parameter, the common ones included (built once per mapper)."""
        params: dict[str, SearchParam] | None = self.__dict__.get("_all_params")
        if params is None:
            params = self.__dict__["_all_params"] = {
                "_id": SearchParam("token", "Logical id of the resource", self._id_filter),
                "_lastUpdated": _last_updated_param(self.updated_field), **self.search_params}
        return params

    def _id_filter(self, value: str, modifier: str) -> Q:
        named = self.split_id(value.strip())
        return Q(pk__in=[]) if named is None or named[0] is not self else Q(pk=named[1])

    def all_sorts(self) -> dict[str, str]:
        return {"_id": "pk", "_lastUpdated": self.updated_field, **self.sorts}

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

    def write_many(self, writes: list[Write],
                   client: Client) -> list[tuple[int, Any] | None] | None:
        """Many writes of one transaction at once, with the outcome each would have one at a
        time: ``(201, record)`` created, ``(200, record)`` the existing match of a
        condition, ``None`` for an item to be done the ordinary way. ``None`` altogether:
        this mapper has no batch path for these writes. A refused item raises
        ``tiercare.errors.BatchItemError`` with its position and a ``FhirError``."""
        return None

    def audit_read(self, objs: list[Any], client: Client, *, search: str = "") -> None:
        """Record the reads that the audit trail must hold (residents' records)."""

    def audit_search(self, object_type: str, search: str, results: int,
                     client: Client) -> None:
        """One SEARCH event for a search of residents' records (rules.md §11)."""
        audit.record(AuditEvent.Action.SEARCH, user=client.audit_user,
                     username=client.audit_username, object_type=object_type,
                     summary=f"FHIR {self.resource_type}?{search}"[:300],
                     changes={"query": search[:500], "results": results})

    def last_updated(self, obj: Any) -> str:
        """``meta.lastUpdated`` of a record."""
        value: Any = obj
        for name in self.updated_field.split("__"):
            value = getattr(value, name)
        return str(value.isoformat())


class CompositeMapper(ResourceMapper):
    """One resource type served by several models, each by a single-model part with its own
    ``id_prefix`` (Organization: alliances, institutions and departments). Search runs on
    every part that understands all the parameters given; results are merged in the
    requested order. Parts declare the same sort names."""

    part_types: ClassVar[tuple[type[ResourceMapper], ...]]

    def __init__(self) -> None:
        self._parts = [kind() for kind in self.part_types]

    def parts(self) -> list[ResourceMapper]:
        return self._parts

    def part_of(self, obj: Any) -> ResourceMapper:
        for part in self._parts:
            if isinstance(obj, part.model):
                return part
        raise TypeError(f"{type(obj).__name__} is not served as {self.resource_type}")

    def part_for_model(self, model: type[models.Model]) -> ResourceMapper:
        for part in self._parts:
            if issubclass(model, part.model):
                return part
        raise TypeError(f"{model.__name__} is not served as {self.resource_type}")

    def model_id(self, model: type[models.Model], pk: Any) -> str:
        return self.part_for_model(model).model_id(model, pk)

    def all_params(self) -> dict[str, SearchParam]:
        params: dict[str, SearchParam] | None = self.__dict__.get("_all_params")
        if params is None:
            params = self.__dict__["_all_params"] = {}
            for part in self._parts:
                for name, param in part.all_params().items():
                    params.setdefault(name, param)
        return params

    def all_sorts(self) -> dict[str, str]:
        return self._parts[0].all_sorts()

    def queryset(self, client: Client) -> QuerySet[Any]:
        raise TypeError("a composite mapper has one queryset per part")

    def to_resource(self, obj: Any, client: Client) -> dict[str, Any]:
        return self.part_of(obj).to_resource(obj, client)

    def audit_read(self, objs: list[Any], client: Client, *, search: str = "") -> None:
        for part in self._parts:
            part.audit_read([o for o in objs if isinstance(o, part.model)], client,
                            search=search)


@dataclass(frozen=True)
class Criterion:
    """One search parameter of a request as a ``ComputedMapper`` reads it: the name, the
    modifier (may be empty) and the comma-separated values (ORed). Repeated parameters are
    several criteria (ANDed)."""

    name: str
    modifier: str
    values: tuple[str, ...]


def _interpreted(value: str, modifier: str) -> Q:
    raise TypeError("a computed type's parameters are read by its mapper (ComputedMapper)")


def computed_param(kind: str, documentation: str,
                   modifiers: tuple[str, ...] = ()) -> SearchParam:
    """A search parameter of a ``ComputedMapper``: declared (CapabilityStatement, checks of
    unknown names and modifiers) like any other, interpreted by the mapper's ``select``."""
    return SearchParam(kind, documentation, _interpreted, modifiers)


class ComputedMapper(ResourceMapper):
    """A resource type computed on demand rather than read from a table: Measure from the
    indicator catalogue file, MeasureReport from the analytics snapshot (ADR 0019). Ids are
    strings the mapper makes and reads; ``select`` finds every match of a search (in the
    type's natural order) and ``fetch`` the resources of some ids; the search module pages
    the matches, so paging, ``_count``, ``_total``, warnings and errors work as for
    table-backed types. Such types are read-only; ``$export`` writes those that set
    ``exportable`` (``exported``: every resource, or with ``_since`` those changed since),
    not the others."""

    exportable = False

    def split_id(self, resource_id: str) -> tuple[ResourceMapper, int] | None:
        return None  # no table, no primary key: ``fetch`` reads ids

    def id_of(self, obj: Any) -> str:
        raise NotImplementedError

    def all_params(self) -> dict[str, SearchParam]:
        params: dict[str, SearchParam] | None = self.__dict__.get("_all_params")
        if params is None:
            params = self.__dict__["_all_params"] = {
                "_id": computed_param("token", "Logical id of the resource"),
                **self.search_params}
        return params

    def all_sorts(self) -> dict[str, str]:
        return {"_id": "id"}

    def queryset(self, client: Client) -> QuerySet[Any]:
        raise TypeError(f"{self.resource_type} is computed, not kept in a table")

    def select(self, client: Client, criteria: list[Criterion]) -> tuple[list[Any], list[Any]]:
        """Every match of the criteria that this client may see, in order, and the issues
        (``errors.Issue``: warnings, information) to report with them."""
        raise NotImplementedError

    def fetch(self, client: Client, resource_ids: list[str]) -> list[Any]:
        """The visible resources of these ids (unknown ones left out)."""
        raise NotImplementedError

    def exported(self, client: Client, since: Any = None) -> list[Any]:
        """What ``$export`` writes of this type (``exportable`` types only): with ``since``
        (``_since``), only what changed at or after it."""
        raise NotImplementedError


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


def referenced(value: str, target_type: str) -> tuple[type[models.Model], int] | None:
    """The model and primary key a reference search value names (``Organization/
    institution-3``, ``institution-3``, an absolute URL), or ``None`` when it names nothing
    this server could hold."""
    from tiercare.fhir.search import reference_id

    resource_id = reference_id(value, target_type)
    named = mapper_for(target_type).split_id(resource_id) if resource_id else None
    return None if named is None else (named[0].model, named[1])


def reference_filter(field_name: str, target: str,
                     model: type[models.Model]) -> Callable[[str, str], Q]:
    """The filter of a reference search parameter: records whose ``field_name`` holds the
    primary key of the ``model`` record the value names (served as ``target``)."""

    def make(value: str, modifier: str) -> Q:
        named = referenced(value, target)
        if named is None or named[0] is not model:
            return NOTHING
        return Q(**{field_name: named[1]})

    return make


def code_filter(field_name: str, system: str,
                codes: Iterable[str]) -> Callable[[str, str], Q]:
    """The filter of a token parameter over a field holding codes of one code system:
    ``system|code``, ``code``, or ``system|`` (any code); another system or an unknown code
    matches nothing."""
    known = frozenset(codes)

    def make(value: str, modifier: str) -> Q:
        token = parse_token(value)
        if token.system not in (None, system):
            return NOTHING
        if token.code is None:
            return Q()
        return Q(**{field_name: token.code}) if token.code in known else NOTHING

    return make


def money(value: Decimal) -> dict[str, Any]:
    """A FHIR Money in yuan. JSON has no decimal type: the amount travels as a JSON number.
    Amounts are ``Decimal`` with 2 places and at most 12 digits (``encounters.rules
    .MAX_AMOUNT``), which a double holds exactly in its shortest form, so ``85.50`` is written
    ``85.5`` and reads back as the same ``Decimal`` (rules.md §9: money is exact)."""
    return {"value": float(value), "currency": "CNY"}
