"""``batch`` and ``transaction`` Bundles (FHIR R4 §3.1.0.11 "Batch/Transaction").

* **transaction**: all or nothing. The entries run inside one database transaction in the
  order the specification gives (POST before PUT before GET), with writes reordered so that
  an entry runs after the entries whose ``fullUrl`` (``urn:uuid:…``) it refers to. Each such
  reference is rewritten to the stored record (``Patient/12``). The first entry that fails
  rolls everything back and the answer is its error (same status), naming the entry.
* **batch**: each entry on its own; a failed entry answers its status and OperationOutcome in
  the response Bundle and the others stand.
* In both, a reference may be conditional (``Patient?identifier=urn:oid:…|…``): it is
  resolved to the one record it matches (no match: 404; several: 412).

An entry does what the same request to ``/fhir/…`` does (``interactions``): the same scopes,
checks, audit trail and errors. DELETE and PATCH are not served.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import transaction
from django.http import QueryDict
from django.utils.translation import gettext_lazy as _

from tiercare.accounts import audit
from tiercare.errors import BatchItemError
from tiercare.fhir import interactions, query, structure
from tiercare.fhir.auth import Client
from tiercare.fhir.errors import FhirError, Issue, outcome
from tiercare.fhir.interactions import Result
from tiercare.fhir.mapping import Write, mapper_for
from tiercare.registry import lookups

#: order of the interactions in a transaction (FHIR R4 §3.1.0.11.2)
METHOD_ORDER = {"POST": 0, "PUT": 1, "GET": 2}
REASONS = {200: "OK", 201: "Created", 400: "Bad Request", 401: "Unauthorized",
           403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed", 409: "Conflict",
           412: "Precondition Failed", 413: "Payload Too Large", 415: "Unsupported Media Type",
           422: "Unprocessable Entity"}


@dataclass
class Entry:
    index: int
    method: str
    url: str
    full_url: str
    resource: dict[str, Any] | None
    if_none_exist: str | None
    needs: set[str] = field(default_factory=set)


def process(client: Client, data: Any, base: str, *, minimal: bool = False) -> dict[str, Any]:
    """The response Bundle of a ``batch`` or ``transaction`` Bundle; ``minimal``
    (``Prefer: return=minimal``): the entries' responses without the resources."""
    if not isinstance(data, dict) or data.get("resourceType") != "Bundle":
        raise FhirError(400, "structure", _("Post a Bundle of type batch or transaction to "
                                            "the base address."))
    kind = data.get("type")
    if kind not in ("batch", "transaction"):
        raise FhirError(400, "invalid", _("The base address takes Bundles of type batch or "
                                          "transaction (got “%(type)s”)."),
                        ["Bundle.type"], type=str(kind)[:40])
    raw = data.get("entry") or []
    if not isinstance(raw, list):
        raise FhirError(400, "structure", _("Bundle.entry must be a list."), ["Bundle.entry"])
    limit = settings.TIERCARE_FHIR_MAX_BUNDLE_ENTRIES
    if len(raw) > limit:
        raise FhirError(413, "too-costly", _("A Bundle may hold at most %(limit)d entries "
                                             "(this one has %(count)d)."),
                        limit=limit, count=len(raw))
    if kind == "transaction":
        entries = [_entry(i, e, base) for i, e in enumerate(raw)]
        responses = _transaction(client, entries, base, minimal)
    else:
        responses = [_batch_entry(client, i, e, base, minimal) for i, e in enumerate(raw)]
    return {"resourceType": "Bundle", "type": f"{kind}-response", "entry": responses}


def _entry(index: int, raw: Any, base: str) -> Entry:
    where = f"Bundle.entry[{index}]"
    if not isinstance(raw, dict) or not isinstance(raw.get("request"), dict):
        raise _at(index, FhirError(400, "structure", _("The entry needs a request (method and "
                                                       "url)."), [f"{where}.request"]))
    request = raw["request"]
    method = str(request.get("method", "")).upper()
    url = str(request.get("url", "")).strip()
    if url.startswith(base):
        url = url[len(base):]
    url = url.lstrip("/")
    if method not in METHOD_ORDER:
        raise _at(index, FhirError(405, "not-supported",
                                   _("%(method)s is not supported in a Bundle (GET, POST and "
                                     "PUT are)."), [f"{where}.request.method"],
                                   method=method[:10] or "?"))
    if not url:
        raise _at(index, FhirError(400, "required", _("The entry's request needs a url."),
                                   [f"{where}.request.url"]))
    resource = raw.get("resource")
    if method in ("POST", "PUT") and not isinstance(resource, dict):
        raise _at(index, FhirError(400, "required", _("A %(method)s entry needs a resource."),
                                   [f"{where}.resource"], method=method))
    entry = Entry(index, method, url, str(raw.get("fullUrl") or ""),
                  resource if method in ("POST", "PUT") else None,
                  request.get("ifNoneExist"))
    if entry.resource is not None:
        entry.needs = {ref for ref in _references(entry.resource) if ref.startswith("urn:")}
    return entry


def _references(value: Any) -> list[str]:
    found: list[str] = []
    if isinstance(value, dict):
        ref = value.get("reference")
        if isinstance(ref, str):
            found.append(ref)
        for item in value.values():
            if isinstance(item, dict | list):
                found.extend(_references(item))
    elif isinstance(value, list):
        for item in value:
            found.extend(_references(item))
    return found


def _rewrite(value: Any, resolved: dict[str, str], client: Client) -> Any:
    """The resource with ``urn:`` references replaced by the records they became, and
    conditional references (``Patient?identifier=…``) by the record they match."""
    if isinstance(value, list):
        return [_rewrite(item, resolved, client) for item in value]
    if not isinstance(value, dict):
        return value
    out = {key: _rewrite(item, resolved, client) if isinstance(item, dict | list) else item
           for key, item in value.items()}
    ref = out.get("reference")
    if isinstance(ref, str):
        if ref in resolved:
            out["reference"] = resolved[ref]
        elif "?" in ref and not ref.startswith(("#", "urn:", "http")):
            out["reference"] = _conditional_reference(ref, client)
    return out


def _conditional_reference(ref: str, client: Client) -> str:
    resource_type, _sep, conditions = ref.partition("?")
    mapper = mapper_for(resource_type)
    client.require(resource_type, "search")
    found = query.matches(mapper, client, conditions)
    if len(found) != 1:
        raise FhirError(412 if found else 404, "not-found" if not found else "multiple-matches",
                        _("The conditional reference %(ref)s matches %(count)s records; it "
                          "must match exactly one."), ref=ref[:200],
                        count="0" if not found else _("several"))
    return f"{resource_type}/{mapper.id_of(found[0])}"


def _run(client: Client, entry: Entry, base: str) -> Result | dict[str, Any]:
    """One entry as the same request to ``/fhir`` (a Bundle for a search)."""
    path, _sep, conditions = entry.url.partition("?")
    parts = path.strip("/").split("/")
    if len(parts) > 2 or not parts[0]:
        raise FhirError(400, "invalid", _("“%(url)s” is not an address this server serves in "
                                          "a Bundle."), url=entry.url[:200])
    mapper = mapper_for(parts[0])
    if entry.method == "GET":
        if len(parts) == 2:
            return interactions.read(client, mapper, parts[1])
        return interactions.search(client, mapper, QueryDict(conditions), base, strict=False)
    resource = structure.checked(entry.resource, mapper.resource_type)
    if entry.method == "POST":
        if len(parts) != 1:
            raise FhirError(400, "invalid", _("POST an entry to the type's address "
                                              "(%(type)s)."), type=mapper.resource_type)
        return interactions.create(client, mapper, resource, entry.if_none_exist or None)
    if len(parts) == 2:
        return interactions.update(client, mapper, parts[1], resource)
    if not conditions:
        raise FhirError(400, "invalid", _("PUT an entry to %(type)s/[id] or to %(type)s?"
                                          "[conditions]."), type=mapper.resource_type)
    return interactions.conditional_update(client, mapper, conditions, resource)


def _response(result: Result | dict[str, Any], minimal: bool) -> dict[str, Any]:
    if isinstance(result, dict):  # a search: its Bundle is the answer whatever the Prefer
        return {"resource": result, "response": {"status": "200 OK"}}
    response: dict[str, Any] = {"status": f"{result.status} {REASONS[result.status]}",
                                "lastModified": result.last_modified}
    if result.location:
        response["location"] = result.location
    return {"response": response} if minimal else {"resource": result.resource,
                                                   "response": response}


def _at(index: int, exc: FhirError, entry: Entry | None = None) -> FhirError:
    """The error of an entry, saying which entry (and placing its paths in the Bundle)."""
    what = f"{entry.method} {entry.url[:120]}" if entry is not None else ""
    issues = []
    for issue in exc.issues:
        text = str(_("Entry %(index)d (%(what)s): %(problem)s")) % {
            "index": index + 1, "what": what or "-", "problem": issue.diagnostics}
        paths = [f"Bundle.entry[{index}].resource.{p.split('.', 1)[1]}" if "." in p
                 and not p.startswith("Bundle") else p for p in issue.expression]
        issues.append(Issue(issue.code, text, paths, issue.severity))
    return FhirError(exc.status, issues[0].code, issues[0].diagnostics, issues=issues)


def _transaction(client: Client, entries: list[Entry], base: str,
                 minimal: bool) -> list[dict[str, Any]]:
    by_url = {e.full_url: e for e in entries if e.full_url}
    for entry in entries:
        for ref in entry.needs:
            if ref not in by_url:
                raise _at(entry.index, FhirError(
                    400, "not-found", _("The reference %(ref)s names no entry of this "
                                        "Bundle."), ref=ref[:200]), entry)
    responses: list[dict[str, Any] | None] = [None] * len(entries)
    resolved: dict[str, str] = {}
    with transaction.atomic(), audit.buffered(), lookups.remembered():
        for run in _runs(_ordered(entries, by_url)):
            results = _write_run(client, run, resolved, base) if len(run) > 1 else [None]
            for entry, done in zip(run, results, strict=True):
                result: Result | dict[str, Any]
                try:
                    if done is not None:
                        result = done
                    else:
                        if entry.resource is not None:
                            entry.resource = _rewrite(entry.resource, resolved, client)
                        result = _run(client, entry, base)
                except FhirError as exc:
                    raise _at(entry.index, exc, entry) from None
                if isinstance(result, Result) and entry.full_url and result.location:
                    resolved[entry.full_url] = result.location
                responses[entry.index] = _response(result, minimal)
    return [r for r in responses if r is not None]


def _kind(entry: Entry) -> tuple[str, str] | None:
    """(resource type, method) of a write that may go in a batch: a create at the type's
    address or a conditional update (``PUT Type?…``)."""
    path, _sep, conditions = entry.url.partition("?")
    if "/" in path.strip("/") or entry.resource is None:
        return None
    if entry.method == "POST" or (entry.method == "PUT" and conditions):
        return path.strip("/"), entry.method
    return None


def _runs(order: list[Entry]) -> list[list[Entry]]:
    """The ordered entries cut into runs of consecutive writes of one type and method that
    do not refer to each other (a HIS's new residents, then their encounters); every other
    entry is a run of its own."""
    runs: list[list[Entry]] = []
    for entry in order:
        kind = _kind(entry)
        last = runs[-1] if runs else []
        if (kind is not None and last and _kind(last[0]) == kind
                and not entry.needs & {e.full_url for e in last if e.full_url}):
            last.append(entry)
        else:
            runs.append([entry])
    return runs


def _write_run(client: Client, run: list[Entry], resolved: dict[str, str],
               base: str) -> list[Result | None]:
    """A run through its mapper's ``write_many`` (one registration for all the new
    residents …); an item it leaves (``None``) is done the ordinary way by the caller."""
    kind = _kind(run[0])
    assert kind is not None
    mapper = mapper_for(kind[0])
    client.require(mapper.resource_type, "create")
    if kind[1] == "PUT":
        client.require(mapper.resource_type, "update")
    writes: list[Write] = []
    for entry in run:
        try:
            entry.resource = _rewrite(entry.resource, resolved, client)
            resource = structure.checked(entry.resource, mapper.resource_type)
        except FhirError as exc:
            raise _at(entry.index, exc, entry) from None
        condition = (entry.url.partition("?")[2] if entry.method == "PUT"
                     else entry.if_none_exist)
        writes.append(Write(resource, condition or None, entry.method == "PUT"))
    try:
        with audit.acting_as(client.audit_username):
            answers = mapper.write_many(writes, client)
    except BatchItemError as exc:
        error = exc.error if isinstance(exc.error, FhirError) else FhirError(
            422, "invalid", str(exc.error))
        raise _at(run[exc.position].index, error, run[exc.position]) from None
    if answers is None:
        return [None] * len(run)
    return [None if answer is None else Result(
        answer[0], mapper, client, answer[1],
        f"{mapper.resource_type}/{mapper.id_of(answer[1])}") for answer in answers]


def _ordered(entries: list[Entry], by_url: dict[str, Entry]) -> list[Entry]:
    """The entries in the specification's order (POST, PUT, GET; in Bundle order within
    each), except that an entry waits for the entries it refers to. A cycle is a 400."""
    waiting = {e.index: {by_url[ref].index for ref in e.needs} - {e.index} for e in entries}
    users: dict[int, list[int]] = {}
    for index, needs in waiting.items():
        for need in needs:
            users.setdefault(need, []).append(index)
    ready = [(METHOD_ORDER[e.method], e.index) for e in entries if not waiting[e.index]]
    heapq.heapify(ready)
    order: list[Entry] = []
    while ready:
        _rank, index = heapq.heappop(ready)
        order.append(entries[index])
        for user in users.get(index, []):
            waiting[user].discard(index)
            if not waiting[user]:
                heapq.heappush(ready, (METHOD_ORDER[entries[user].method], user))
    if len(order) < len(entries):
        stuck = min(i for i, needs in waiting.items() if needs)
        raise _at(stuck, FhirError(400, "invalid", _("The entries refer to each other in a "
                                                     "circle; none can be stored first.")),
                  entries[stuck])
    return order


def _batch_entry(client: Client, index: int, raw: Any, base: str,
                 minimal: bool) -> dict[str, Any]:
    try:
        entry = _entry(index, raw, base)
        with transaction.atomic(), audit.buffered(), lookups.remembered():
            if entry.resource is not None:
                entry.resource = _rewrite(entry.resource, {}, client)
            return _response(_run(client, entry, base), minimal)
    except FhirError as exc:
        return {"response": {"status": f"{exc.status} {REASONS.get(exc.status, '')}".strip(),
                             "outcome": outcome(exc.issues)}}
