"""Finding records for the FHIR interface: search parameters to filters, ordering, paging
(also across the parts of a composite type), reads by logical id. The HTTP is in
``views.py``; what a parameter means is the mapper's."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet
from django.http import QueryDict
from django.utils.translation import gettext_lazy as _

from tiercare.fhir.auth import Client
from tiercare.fhir.errors import FhirError, Issue
from tiercare.fhir.mapping import ResourceMapper

#: Parameters about the result, not filters. (``_summary`` and ``_elements`` are not served:
#: they are reported like any unknown parameter.)
RESULT_PARAMS = frozenset({"_count", "_sort", "_include", "_offset", "_total", "_format",
                           "_pretty"})


@dataclass
class Found:
    """One page of a search: the records in order, whether more follow, and the warnings."""

    page: list[Any]
    more: bool
    issues: list[Issue]
    selections: list[QuerySet[Any]]

    def total(self) -> int:
        return sum(rows.count() for rows in self.selections)


def search(mapper: ResourceMapper, client: Client, params: QueryDict, *, strict: bool,
           offset: int, count: int) -> Found:
    """The page ``[offset, offset + count)`` of the records matching ``params``. A composite
    type searches each part that knows every parameter given and merges the parts' pages in
    the requested order (each part gives at most ``offset + count + 1`` rows, so the merge
    stays bounded)."""
    issues = check_params(mapper, params, strict=strict)
    ordering = _ordering(mapper, params)
    every = mapper.all_params()
    selections = [rows for part in mapper.parts()
                  if (rows := _filtered(part, client, params, every)) is not None]
    if not count:
        return Found([], False, issues, selections)
    if len(selections) == 1:
        page = list(selections[0].order_by(*ordering)[offset:offset + count + 1])
    else:
        merged: list[Any] = []
        for index, rows in enumerate(selections):
            for obj in rows.order_by(*ordering)[:offset + count + 1]:
                obj._fhir_part = index
                merged.append(obj)
        merged.sort(key=functools.cmp_to_key(_comparator(ordering)))
        page = merged[offset:offset + count + 1]
    return Found(page[:count], len(page) > count, issues, selections)


def check_params(mapper: ResourceMapper, params: QueryDict, *, strict: bool) -> list[Issue]:
    """Unknown parameters and modifiers: refused under ``Prefer: handling=strict`` (and a
    known parameter with an unknown modifier always), otherwise warnings."""
    known = mapper.all_params()
    issues: list[Issue] = []
    for key, values in params.lists():
        if any("\x00" in text for text in (key, *values)):
            raise FhirError(400, "invalid", _("Search parameters cannot contain the NUL "
                                              "character."))
        if key in RESULT_PARAMS:
            continue
        name, _sep, modifier = key.partition(":")
        param = known.get(name)
        if param is not None and (not modifier or modifier in param.modifiers):
            continue
        text = (_("Unknown search parameter “%(name)s” for %(type)s.") if param is None
                else _("The search parameter %(name)s takes no modifier “%(modifier)s”."))
        issue = Issue("not-supported", str(text) % {
            "name": key[:64], "type": mapper.resource_type, "modifier": modifier[:32]})
        if strict or param is not None:
            raise FhirError(400, "not-supported", issue.diagnostics)
        issue.severity = "warning"
        issues.append(issue)
    return issues


def _filtered(part: ResourceMapper, client: Client, params: QueryDict,
              every: dict[str, Any]) -> QuerySet[Any] | None:
    """The part's visible rows filtered by every known parameter (repeats ANDed, commas
    ORed); ``None`` when the part does not have a parameter the search uses (a department
    has no ``type`` of institution …), so it can match nothing."""
    rows = part.queryset(client)
    known = part.all_params()
    for key, values in params.lists():
        if key in RESULT_PARAMS:
            continue
        name, _sep, modifier = key.partition(":")
        param = known.get(name)
        if param is None:
            if name not in every:
                continue  # unknown to the type: reported by check_params
            return None
        if modifier and modifier not in param.modifiers:
            return None
        for value in values:
            alternatives = [v for v in value.split(",") if v != ""]
            if not alternatives:
                continue
            condition = param.filter(alternatives[0], modifier)
            for alternative in alternatives[1:]:
                condition |= param.filter(alternative, modifier)
            rows = rows.filter(condition)
    return rows


def _ordering(mapper: ResourceMapper, params: QueryDict) -> list[str]:
    fields: list[str] = []
    sorts = mapper.all_sorts()
    for raw in (params.get("_sort") or "").split(","):
        name = raw.strip()
        if not name:
            continue
        descending = name.startswith("-")
        field = sorts.get(name.lstrip("-"))
        if field is None:
            raise FhirError(400, "not-supported",
                            _("%(type)s cannot be sorted by “%(name)s” (possible: %(names)s)."),
                            type=mapper.resource_type, name=name[:64],
                            names=", ".join(sorted(sorts)))
        fields.append(f"-{field}" if descending else field)
    if "pk" not in fields and "-pk" not in fields:
        fields.append("pk")  # a stable order, so that pages do not overlap
    return fields


def _comparator(ordering: list[str]) -> Any:
    """Order records of several models as the databases order each: by the fields in turn
    (missing values first), then by part, then by primary key."""

    def value(obj: Any, field: str) -> Any:
        return obj.pk if field == "pk" else getattr(obj, field)

    def compare(a: Any, b: Any) -> int:
        for spec in ordering:
            field = spec.lstrip("-")
            if field == "pk":
                continue
            x, y = value(a, field), value(b, field)
            result = _cmp((x is not None, x), (y is not None, y))
            if result:
                return -result if spec.startswith("-") else result
        descending_pk = "-pk" in ordering
        result = _cmp((a._fhir_part, a.pk), (b._fhir_part, b.pk))
        return -result if descending_pk else result

    return compare


def _cmp(x: Any, y: Any) -> int:
    if x[0] != y[0]:
        return -1 if x[0] < y[0] else 1
    if not x[0]:
        return 0
    return (x[1] > y[1]) - (x[1] < y[1])


def get(mapper: ResourceMapper, client: Client, resource_id: str) -> Any:
    """The record, or 404 when it does not exist or is outside the client's scope (the
    answer does not tell the two apart)."""
    found = fetch(mapper, client, [resource_id])
    if not found:
        raise FhirError(404, "not-found", _("%(type)s/%(id)s does not exist."),
                        type=mapper.resource_type, id=resource_id[:64])
    return found[0]


def fetch(mapper: ResourceMapper, client: Client, resource_ids: Iterable[str]) -> list[Any]:
    """The visible records of these logical ids (unknown ones left out)."""
    wanted: dict[int, tuple[ResourceMapper, list[int]]] = {}
    for resource_id in resource_ids:
        named = mapper.split_id(resource_id)
        if named is not None:
            part, pk = named
            wanted.setdefault(id(part), (part, []))[1].append(pk)
    found: list[Any] = []
    for part, pks in wanted.values():
        found.extend(part.queryset(client).filter(pk__in=pks).order_by("pk"))
    return found


def matches(mapper: ResourceMapper, client: Client, query: str) -> list[Any]:
    """At most two records matching a conditional request's search (two tell "several")."""
    params = QueryDict(query.lstrip("?"))
    if not [k for k in params if k not in RESULT_PARAMS]:
        raise FhirError(400, "invalid", _("A conditional request needs search parameters."))
    return search(mapper, client, params, strict=True, offset=0, count=2).page
