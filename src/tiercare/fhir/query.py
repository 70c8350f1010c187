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
from tiercare.fhir.mapping import ComputedMapper, Criterion, ResourceMapper

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
    #: the number of matches when it is known without counting rows (computed types)
    counted: int | None = None

    def total(self) -> int:
        if self.counted is not None:
            return self.counted
        return sum(rows.count() for rows in self.selections)


def search(mapper: ResourceMapper, client: Client, params: QueryDict, *, strict: bool,
           offset: int, count: int) -> Found:
    """The page ``[offset, offset + count)`` of the records matching ``params``. A composite
    type searches each part that knows every parameter given and merges the parts' pages in
    the requested order (each part gives at most ``offset + count + 1`` rows, so the merge
    stays bounded)."""
    issues = check_params(mapper, params, strict=strict)
    specs = _sort_specs(mapper, params)
    if isinstance(mapper, ComputedMapper):
        return _computed(mapper, client, params, specs, issues, offset=offset, count=count)
    every = mapper.all_params()
    chosen = [(part, rows) for part in mapper.parts()
              if (rows := _filtered(part, client, params, every)) is not None]
    selections = [rows for _part, rows in chosen]
    if not count:
        return Found([], False, issues, selections)
    if len(chosen) == 1:
        part, rows = chosen[0]
        page = list(rows.order_by(*_order_by(part, specs))[offset:offset + count + 1])
    else:
        merged: list[Any] = []
        paths: list[list[str]] = []
        for index, (part, rows) in enumerate(chosen):
            ordering = _order_by(part, specs)
            paths.append([field.lstrip("-") for field in ordering])
            for obj in rows.order_by(*ordering)[:offset + count + 1]:
                obj._fhir_part = index
                merged.append(obj)
        merged.sort(key=functools.cmp_to_key(_comparator(specs, paths)))
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


def _computed(mapper: ComputedMapper, client: Client, params: QueryDict,
              specs: list[tuple[str, bool]], issues: list[Issue], *, offset: int,
              count: int) -> Found:
    """A search of a computed type (ADR 0019): the mapper finds every match of the known
    parameters (unknown ones were reported by ``check_params``), this pages them."""
    known = mapper.all_params()
    criteria = []
    for key, values in params.lists():
        name, _sep, modifier = key.partition(":")
        if key in RESULT_PARAMS or name not in known:
            continue
        for value in values:
            alternatives = tuple(v for v in value.split(",") if v != "")
            if alternatives:
                criteria.append(Criterion(name, modifier, alternatives))
    rows, more_issues = mapper.select(client, criteria)
    for name, descending in reversed(specs):  # ``_id`` is the one sort a computed type has
        if name == "_id":
            rows.sort(key=mapper.id_of, reverse=descending)
    page = rows[offset:offset + count] if count else []
    return Found(page, offset + count < len(rows) and bool(count), [*issues, *more_issues],
                 [], counted=len(rows))


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


def _sort_specs(mapper: ResourceMapper, params: QueryDict) -> list[tuple[str, bool]]:
    """The ``_sort`` names with their direction (``True``: descending)."""
    specs: list[tuple[str, bool]] = []
    sorts = mapper.all_sorts()
    for raw in (params.get("_sort") or "").split(","):
        name = raw.strip()
        if not name:
            continue
        if name.lstrip("-") not in sorts:
            raise FhirError(400, "not-supported",
                            _("%(type)s cannot be sorted by “%(name)s” (possible: %(names)s)."),
                            type=mapper.resource_type, name=name[:64],
                            names=", ".join(sorted(sorts)))
        specs.append((name.lstrip("-"), name.startswith("-")))
    return specs


def _order_by(part: ResourceMapper, specs: list[tuple[str, bool]]) -> list[str]:
    """The part's ``order_by`` for the sort names, the primary key last (pages of a stable
    order do not overlap)."""
    sorts = part.all_sorts()
    fields = [f"-{sorts[name]}" if descending else sorts[name] for name, descending in specs]
    if not any(field.lstrip("-") == "pk" for field in fields):
        fields.append("pk")
    return fields


def _value(obj: Any, path: str) -> Any:
    value = obj
    for name in path.split("__"):
        value = value.pk if name == "pk" else getattr(value, name)
    return value


def _comparator(specs: list[tuple[str, bool]], paths: list[list[str]]) -> Any:
    """Order records of several parts as the databases order each: by the sort values in
    turn (missing values first), then by part and primary key. ``paths[part]`` are the
    part's field paths for ``specs``."""

    def compare(a: Any, b: Any) -> int:
        for index, (_name, descending) in enumerate(specs):
            x = _value(a, paths[a._fhir_part][index])
            y = _value(b, paths[b._fhir_part][index])
            result = _cmp((x is not None, x), (y is not None, y))
            if result:
                return -result if descending else result
        return _cmp((True, (a._fhir_part, a.pk)), (True, (b._fhir_part, b.pk)))

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
    if isinstance(mapper, ComputedMapper):
        return mapper.fetch(client, list(resource_ids))
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
