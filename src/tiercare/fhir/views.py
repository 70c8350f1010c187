"""HTTP of the FHIR interface: routing, content negotiation, authentication, paging,
conditional interactions and errors. What each resource type means is its mapper's."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse, QueryDict
from django.middleware.csrf import CsrfViewMiddleware
from django.utils.translation import gettext_lazy as _
from django.views.decorators.csrf import csrf_exempt

from tiercare.fhir import capability, query, structure
from tiercare.fhir.auth import Client, client_for
from tiercare.fhir.errors import FhirError, outcome
from tiercare.fhir.mapping import ResourceMapper, mapper_for

CONTENT_TYPE = "application/fhir+json; charset=utf-8"
ACCEPTED = ("application/fhir+json", "application/json", "application/json+fhir", "*/*",
            "application/*")
DEFAULT_COUNT = 20
MAX_COUNT = 200



def respond(body: dict[str, Any], status: int = 200, **headers: str) -> HttpResponse:
    response = HttpResponse(json.dumps(body, ensure_ascii=False), status=status,
                            content_type=CONTENT_TYPE)
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response


def error_response(exc: FhirError) -> HttpResponse:
    response = respond(outcome(exc.issues), exc.status)
    if exc.status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="tiercare-fhir"'
    return response


def fhir_view(handler: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Errors as OperationOutcome, content negotiation, CSRF for session writes."""

    @csrf_exempt
    def view(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            _negotiate(request)
            return handler(request, *args, **kwargs)
        except FhirError as exc:
            return error_response(exc)

    view.__name__ = handler.__name__
    view.__doc__ = handler.__doc__
    return view


def _negotiate(request: HttpRequest) -> None:
    wanted = request.GET.get("_format") or request.headers.get("Accept", "")
    if wanted and not any(kind in wanted for kind in (*ACCEPTED, "json")):
        raise FhirError(406, "not-supported",
                        _("This server speaks FHIR JSON only (application/fhir+json)."))


def _client(request: HttpRequest) -> Client:
    client = client_for(request)
    if client.user is not None and request.method not in ("GET", "HEAD", "OPTIONS"):
        # a browser session writing: the same CSRF protection as every other form
        def nothing(r: HttpRequest) -> HttpResponse:
            return HttpResponse()

        rejected = CsrfViewMiddleware(nothing).process_view(request, nothing, (), {})
        if rejected is not None:
            raise FhirError(403, "security", _("The request lacks the CSRF token of your "
                                               "session."))
    return client


def _body(request: HttpRequest, resource_type: str | None) -> dict[str, Any]:
    """The submitted resource: JSON, an object, of the expected type, structurally valid FHIR
    R4 (``structure.check``)."""
    kind = request.content_type or ""
    if kind and "json" not in kind:
        raise FhirError(415, "not-supported",
                        _("Send the resource as application/fhir+json (got %(type)s)."),
                        type=kind[:100])
    try:
        raw = request.body
    except RequestDataTooBig:
        raise FhirError(413, "too-costly", _("The body is larger than this server takes "
                                             "(%(limit)d bytes)."),
                        limit=settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 0) from None
    try:
        data = json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError):
        raise FhirError(400, "structure", _("The body is not valid JSON.")) from None
    if "\\u0000" in raw.decode("utf-8", "replace"):
        raise FhirError(400, "invalid", _("Text in a resource cannot contain the NUL "
                                          "character (\\u0000)."))
    if not isinstance(data, dict) or not isinstance(data.get("resourceType"), str):
        raise FhirError(400, "structure",
                        _("The body must be a FHIR resource: a JSON object with resourceType."))
    if resource_type is not None and data["resourceType"] != resource_type:
        raise FhirError(400, "invalid",
                        _("The body is a %(found)s; this address takes a %(type)s."),
                        found=data["resourceType"][:64], type=resource_type)
    structure.check(data)
    return data


# -- metadata ---------------------------------------------------------------------------------

@fhir_view
def metadata(request: HttpRequest) -> HttpResponse:
    """The CapabilityStatement (no login needed, as the specification expects)."""
    if request.method != "GET":
        raise FhirError(405, "not-supported", _("Use GET for metadata."))
    return respond(capability.statement(request.build_absolute_uri("/fhir")))


# -- type level: search, create, conditional update --------------------------------------------

@fhir_view
def type_level(request: HttpRequest, resource_type: str) -> HttpResponse:
    mapper = mapper_for(resource_type)
    if request.method == "GET":
        return _search(request, mapper, request.GET)
    if request.method == "POST":
        return _create(request, mapper)
    if request.method == "PUT" and mapper.conditional_update:
        return _conditional_update(request, mapper)
    raise FhirError(405, "not-supported", _("%(method)s is not supported on %(type)s."),
                    method=request.method, type=resource_type)


@fhir_view
def search_post(request: HttpRequest, resource_type: str) -> HttpResponse:
    """``POST [type]/_search`` with the parameters in a form body."""
    mapper = mapper_for(resource_type)
    if request.method != "POST":
        raise FhirError(405, "not-supported", _("Use POST for _search."))
    params = request.GET.copy()
    for key, values in request.POST.lists():
        params.setlist(key, params.getlist(key) + values)
    return _search(request, mapper, params)


def _search(request: HttpRequest, mapper: ResourceMapper, params: QueryDict) -> HttpResponse:
    client = _client(request)
    client.require(mapper.resource_type, "search")
    count = _int_param(params, "_count", DEFAULT_COUNT, 0, MAX_COUNT)
    offset = _int_param(params, "_offset", 0, 0, 10**9)
    found = query.search(mapper, client, params, strict=_strict(request), offset=offset,
                         count=count)
    base = request.build_absolute_uri(f"/fhir/{mapper.resource_type}")
    kept = [(k, v) for k, values in params.lists() if k != "_offset" for v in values]
    links = [{"relation": "self", "url": f"{base}?{urlencode([*kept, ('_offset', offset)])}"}]
    if found.more:
        links.append({"relation": "next",
                      "url": f"{base}?{urlencode([*kept, ('_offset', offset + count)])}"})
    if offset:
        previous = urlencode([*kept, ("_offset", max(0, offset - count))])
        links.append({"relation": "previous", "url": f"{base}?{previous}"})
    entries = [{"fullUrl": f"{base}/{mapper.id_of(obj)}",
                "resource": mapper.to_resource(obj, client),
                "search": {"mode": "match"}} for obj in found.page]
    entries.extend(_included(request, mapper, client, found.page, params))
    if found.issues:
        entries.append({"resource": outcome(found.issues), "search": {"mode": "outcome"}})
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset", "link": links,
                              "entry": entries}
    if params.get("_total") == "accurate" or count == 0:
        bundle["total"] = found.total()
    mapper.audit_read(found.page, client, search=urlencode(kept)[:500] or "(all)")
    return respond(bundle)


def _strict(request: HttpRequest) -> bool:
    return "handling=strict" in request.headers.get("Prefer", "").replace(" ", "")


def _int_param(params: QueryDict, name: str, default: int, low: int, high: int) -> int:
    text = params.get(name)
    if text is None or text == "":
        return default
    if not text.isdigit():
        raise FhirError(400, "invalid", _("%(name)s must be a whole number (got “%(value)s”)."),
                        name=name, value=text[:50])
    return max(low, min(high, int(text)))


def _included(request: HttpRequest, mapper: ResourceMapper, client: Client, page: list[Any],
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
        base = request.build_absolute_uri(f"/fhir/{include.target}")
        entries.extend({"fullUrl": f"{base}/{other.id_of(obj)}",
                        "resource": other.to_resource(obj, client),
                        "search": {"mode": "include"}} for obj in found)
        other.audit_read(found, client)
    return entries


def _create(request: HttpRequest, mapper: ResourceMapper) -> HttpResponse:
    client = _client(request)
    client.require(mapper.resource_type, "create")
    if "create" not in mapper.interactions:
        raise FhirError(405, "not-supported", _("%(type)s cannot be created here."),
                        type=mapper.resource_type)
    resource = _body(request, mapper.resource_type)
    condition = request.headers.get("If-None-Exist")
    if condition is None and any(k not in ("_format", "_pretty") for k in request.GET):
        # ``POST [type]?search`` means the same to several clients (fhirpy, Aidbox)
        condition = request.META.get("QUERY_STRING", "")
    with transaction.atomic():
        if condition is not None and mapper.conditional_create:
            existing = query.matches(mapper, client, condition)
            if len(existing) > 1:
                raise FhirError(412, "multiple-matches",
                                _("If-None-Exist matches %(count)d records; make it "
                                  "specific."), count=len(existing))
            if existing:
                mapper.audit_read(existing, client)
                obj = existing[0]
                return respond(mapper.to_resource(obj, client), 200,
                               Location=_location(request, mapper, obj))
        try:
            obj = _saved(lambda: mapper.create(resource, client))
        except FhirError as exc:
            # a concurrent push of the same record committed between the look-up and the
            # insert: the condition now finds it, and the answer is the one a later push gets
            found = query.matches(mapper, client, condition) if condition and exc.status == 409 \
                else []
            if len(found) != 1:
                raise
            mapper.audit_read(found, client)
            return respond(mapper.to_resource(found[0], client), 200,
                           Location=_location(request, mapper, found[0]))
    return respond(mapper.to_resource(obj, client), 201,
                   Location=_location(request, mapper, obj))


def _saved(write: Callable[[], Any]) -> Any:
    try:
        with transaction.atomic():
            return write()
    except IntegrityError:
        raise FhirError(409, "conflict",
                        _("The record conflicts with one stored meanwhile; read it and try "
                          "again.")) from None


def _location(request: HttpRequest, mapper: ResourceMapper, obj: Any) -> str:
    return request.build_absolute_uri(f"/fhir/{mapper.resource_type}/{mapper.id_of(obj)}")


def _conditional_update(request: HttpRequest, mapper: ResourceMapper) -> HttpResponse:
    client = _client(request)
    client.require(mapper.resource_type, "update")
    resource = _body(request, mapper.resource_type)
    with transaction.atomic():
        existing = query.matches(mapper, client, request.META.get("QUERY_STRING", ""))
        if len(existing) > 1:
            raise FhirError(412, "multiple-matches",
                            _("The conditions match %(count)d records; make them specific."),
                            count=len(existing))
        if not existing:
            client.require(mapper.resource_type, "create")
            obj = _saved(lambda: mapper.create(resource, client))
            return respond(mapper.to_resource(obj, client), 201,
                           Location=_location(request, mapper, obj))
        target = existing[0]
        if resource.get("id") not in (None, mapper.id_of(target)):
            raise FhirError(400, "invalid", _("The resource's id %(id)s is not the id of the "
                                              "record the conditions found (%(found)s)."),
                            id=str(resource.get("id"))[:64], found=mapper.id_of(target))
        obj = _saved(lambda: mapper.update(target, resource, client))
    return respond(mapper.to_resource(obj, client), 200)


# -- instance level: read, update ----------------------------------------------------------

@fhir_view
def instance(request: HttpRequest, resource_type: str, resource_id: str) -> HttpResponse:
    mapper = mapper_for(resource_type)
    client = _client(request)
    if request.method == "GET":
        client.require(resource_type, "read")
        obj = query.get(mapper, client, resource_id)
        mapper.audit_read([obj], client)
        return respond(mapper.to_resource(obj, client))
    if request.method == "PUT" and "update" in mapper.interactions:
        client.require(resource_type, "update")
        resource = _body(request, resource_type)
        if resource.get("id") != resource_id:
            raise FhirError(400, "invalid",
                            _("The resource's id (%(found)s) must be the id in the address "
                              "(%(id)s)."), found=str(resource.get("id"))[:64], id=resource_id)
        with transaction.atomic():
            obj = query.get(mapper, client, resource_id)
            obj = _saved(lambda: mapper.update(obj, resource, client))
        return respond(mapper.to_resource(obj, client))
    raise FhirError(405, "not-supported", _("%(method)s is not supported on %(type)s/[id]."),
                    method=request.method, type=resource_type)
