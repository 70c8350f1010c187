"""The FHIR interactions, apart from HTTP: read, search, create (also conditional), update
(also conditional). The views call them for one request; ``bundles`` calls them for each
entry of a batch or transaction. Scopes are checked here, so both paths obey them."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django.db import IntegrityError, transaction
from django.http import QueryDict
from django.utils.translation import gettext_lazy as _

from tiercare.accounts import audit
from tiercare.fhir import query
from tiercare.fhir.auth import Client
from tiercare.fhir.errors import FhirError, outcome
from tiercare.fhir.mapping import ResourceMapper, mapper_for

DEFAULT_COUNT = 20
MAX_COUNT = 200


@dataclass
class Result:
    """What an interaction answers: status, the record, and where it lives (``Patient/12``,
    relative to the base) for 200/201 on a write. The resource is built only when the
    answer includes it (not under ``Prefer: return=minimal``)."""

    status: int
    mapper: ResourceMapper
    client: Client
    obj: Any
    location: str = ""

    @functools.cached_property
    def resource(self) -> dict[str, Any]:
        return self.mapper.to_resource(self.obj, self.client)

    @property
    def last_modified(self) -> str:
        return self.mapper.last_updated(self.obj)


def _answer(mapper: ResourceMapper, client: Client, obj: Any, status: int) -> Result:
    return Result(status, mapper, client, obj, f"{mapper.resource_type}/{mapper.id_of(obj)}")


def read(client: Client, mapper: ResourceMapper, resource_id: str) -> Result:
    client.require(mapper.resource_type, "read")
    obj = query.get(mapper, client, resource_id)
    mapper.audit_read([obj], client)
    return Result(200, mapper, client, obj)


def search(client: Client, mapper: ResourceMapper, params: QueryDict, base: str, *,
           strict: bool) -> dict[str, Any]:
    """A searchset Bundle with ``self``/``next``/``previous`` links under ``base`` (the
    absolute ``/fhir`` address)."""
    client.require(mapper.resource_type, "search")
    count = _int_param(params, "_count", DEFAULT_COUNT, 0, MAX_COUNT)
    offset = _int_param(params, "_offset", 0, 0, 10**9)
    found = query.search(mapper, client, params, strict=strict, offset=offset, count=count)
    address = f"{base}/{mapper.resource_type}"
    kept = [(k, v) for k, values in params.lists() if k != "_offset" for v in values]
    links = [{"relation": "self", "url": f"{address}?{urlencode([*kept, ('_offset', offset)])}"}]
    if found.more:
        links.append({"relation": "next",
                      "url": f"{address}?{urlencode([*kept, ('_offset', offset + count)])}"})
    if offset:
        previous = urlencode([*kept, ("_offset", max(0, offset - count))])
        links.append({"relation": "previous", "url": f"{address}?{previous}"})
    entries = [{"fullUrl": f"{address}/{mapper.id_of(obj)}",
                "resource": mapper.to_resource(obj, client),
                "search": {"mode": "match"}} for obj in found.page]
    entries.extend(_included(base, mapper, client, found.page, params))
    if found.issues:
        entries.append({"resource": outcome(found.issues), "search": {"mode": "outcome"}})
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset", "link": links,
                              "entry": entries}
    if params.get("_total") == "accurate" or count == 0:
        bundle["total"] = found.total()
    mapper.audit_read(found.page, client, search=urlencode(kept)[:500] or "(all)")
    return bundle


def _int_param(params: QueryDict, name: str, default: int, low: int, high: int) -> int:
    text = params.get(name)
    if text is None or text == "":
        return default
    if not text.isdigit():
        raise FhirError(400, "invalid", _("%(name)s must be a whole number (got “%(value)s”)."),
                        name=name, value=text[:50])
    return max(low, min(high, int(text)))


def _included(base: str, mapper: ResourceMapper, client: Client, page: list[Any],
              params: QueryDict) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    for value in params.getlist("_include"):
        include = mapper.includes.get(value)
        if include is None:
            raise FhirError(400, "not-supported",
                            _("%(type)s has no _include “%(value)s”."),
                            type=mapper.resource_type, value=value[:100])
        other = mapper_for(include.target)
        ids = {ref for obj in page for ref in include.ids(obj)}
        found = query.fetch(other, client, sorted(ids))
        entries.extend({"fullUrl": f"{base}/{include.target}/{other.id_of(obj)}",
                        "resource": other.to_resource(obj, client),
                        "search": {"mode": "include"}} for obj in found)
        other.audit_read(found, client)
    return entries


def create(client: Client, mapper: ResourceMapper, resource: dict[str, Any],
           condition: str | None) -> Result:
    """Create; with ``condition`` (If-None-Exist) answer the one existing match instead
    (200), or 412 when several match."""
    client.require(mapper.resource_type, "create")
    if "create" not in mapper.interactions:
        raise FhirError(405, "not-supported", _("%(type)s cannot be created here."),
                        type=mapper.resource_type)
    conditional = condition is not None and mapper.conditional_create
    atomic = mapper.create_needs_transaction or conditional
    with (transaction.atomic() if atomic else contextlib.nullcontext()), \
            audit.acting_as(client.audit_username):
        if condition is not None and conditional:
            existing = query.matches(mapper, client, condition)
            if len(existing) > 1:
                raise FhirError(412, "multiple-matches",
                                _("If-None-Exist matches %(count)d records; make it "
                                  "specific."), count=len(existing))
            if existing:
                mapper.audit_read(existing, client)
                return _answer(mapper, client, existing[0], 200)
        try:
            # a savepoint only when the transaction goes on after a refusal (the look-up
            # below): otherwise the refusal ends it anyway
            obj = _saved(lambda: mapper.create(resource, client),
                         savepoint=bool(condition), atomic=atomic)
        except FhirError as exc:
            # a concurrent push of the same record committed between the look-up and the
            # insert: the condition now finds it, and the answer is the one a later push gets
            found = (query.matches(mapper, client, condition)
                     if condition and exc.status == 409 else [])
            if len(found) != 1:
                raise
            mapper.audit_read(found, client)
            return _answer(mapper, client, found[0], 200)
    return _answer(mapper, client, obj, 201)


def update(client: Client, mapper: ResourceMapper, resource_id: str,
           resource: dict[str, Any]) -> Result:
    client.require(mapper.resource_type, "update")
    if "update" not in mapper.interactions:
        raise FhirError(405, "not-supported", _("%(type)s cannot be changed here."),
                        type=mapper.resource_type)
    if resource.get("id") != resource_id:
        raise FhirError(400, "invalid",
                        _("The resource's id (%(found)s) must be the id in the address "
                          "(%(id)s)."), found=str(resource.get("id"))[:64], id=resource_id)
    with transaction.atomic(), audit.acting_as(client.audit_username):
        current = query.get(mapper, client, resource_id)
        obj = _saved(lambda: mapper.update(current, resource, client))
    return _answer(mapper, client, obj, 200)


def conditional_update(client: Client, mapper: ResourceMapper, conditions: str,
                       resource: dict[str, Any]) -> Result:
    """``PUT [type]?search``: update the one match, create when none, 412 when several."""
    client.require(mapper.resource_type, "update")
    if not mapper.conditional_update:
        raise FhirError(405, "not-supported", _("%(type)s cannot be changed here."),
                        type=mapper.resource_type)
    with transaction.atomic(), audit.acting_as(client.audit_username):
        existing = query.matches(mapper, client, conditions)
        if len(existing) > 1:
            raise FhirError(412, "multiple-matches",
                            _("The conditions match %(count)d records; make them specific."),
                            count=len(existing))
        if not existing:
            client.require(mapper.resource_type, "create")
            obj = _saved(lambda: mapper.create(resource, client))
            return _answer(mapper, client, obj, 201)
        target = existing[0]
        if resource.get("id") not in (None, mapper.id_of(target)):
            raise FhirError(400, "invalid", _("The resource's id %(id)s is not the id of the "
                                              "record the conditions found (%(found)s)."),
                            id=str(resource.get("id"))[:64], found=mapper.id_of(target))
        obj = _saved(lambda: mapper.update(target, resource, client))
    return _answer(mapper, client, obj, 200)


def _saved(write: Callable[[], Any], *, savepoint: bool = True, atomic: bool = True) -> Any:
    """``write``'s result; a conflict with a record stored meanwhile is a 409. Without
    ``savepoint`` a failed write marks the caller's transaction for rollback (two statements
    fewer on a write that nothing follows when it fails); without ``atomic`` the write opens
    the transactions it needs itself (``create_needs_transaction``)."""
    try:
        with (transaction.atomic(savepoint=savepoint) if atomic
              else contextlib.nullcontext()):
            return write()
    except IntegrityError:
        raise FhirError(409, "conflict",
                        _("The record conflicts with one stored meanwhile; read it and try "
                          "again.")) from None
