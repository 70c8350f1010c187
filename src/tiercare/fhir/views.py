"""HTTP of the FHIR interface: routing, content negotiation, authentication, paging,
conditional interactions and errors. What each resource type means is its mapper's."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, QueryDict
from django.middleware.csrf import CsrfViewMiddleware
from django.utils.translation import gettext_lazy as _
from django.views.decorators.csrf import csrf_exempt

from tiercare.fhir import bundles, capability, interactions, structure, traffic
from tiercare.fhir.auth import Client, client_for
from tiercare.fhir.errors import FhirError, outcome
from tiercare.fhir.interactions import Result
from tiercare.fhir.mapping import mapper_for

CONTENT_TYPE = "application/fhir+json; charset=utf-8"
ACCEPTED = ("application/fhir+json", "application/json", "application/json+fhir", "*/*",
            "application/*")



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
            response = handler(request, *args, **kwargs)
        except FhirError as exc:
            response = error_response(exc)
        token_id = getattr(request, "fhir_token_id", None)
        if token_id is not None:
            traffic.count(token_id, response.status_code)
        return response

    view.__name__ = handler.__name__
    view.__doc__ = handler.__doc__
    return view


def _negotiate(request: HttpRequest) -> None:
    wanted = request.GET.get("_format") or _header(request, "Accept")
    if wanted and not any(kind in wanted for kind in (*ACCEPTED, "json")):
        raise FhirError(406, "not-supported",
                        _("This server speaks FHIR JSON only (application/fhir+json)."))


def _header(request: HttpRequest, name: str) -> str:
    """A request header read from ``META`` (``request.headers`` builds a mapping of every
    header first: a measurable share of a booking's CPU in the storm)."""
    return str(request.META.get("HTTP_" + name.upper().replace("-", "_"), ""))


def client_of(request: HttpRequest) -> Client:
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


def _raw(request: HttpRequest, limit: int) -> bytes:
    """The request body, 415 unless JSON, 413 above ``limit`` bytes."""
    kind = request.content_type or ""
    if kind and "json" not in kind:
        raise FhirError(415, "not-supported",
                        _("Send the resource as application/fhir+json (got %(type)s)."),
                        type=kind[:100])
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > limit:
        raise _too_big(limit)
    if limit > (settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 2**31):  # Bundles: read it ourselves
        raw = request.read(limit + 1)
        if len(raw) > limit:
            raise _too_big(limit)
        return raw
    try:
        return request.body
    except RequestDataTooBig:
        raise _too_big(limit) from None


def _too_big(limit: int) -> FhirError:
    return FhirError(413, "too-costly", _("The body is larger than this server takes "
                                          "(%(limit)d bytes)."), limit=limit)


def parse_json(raw: bytes) -> Any:
    try:
        data = json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError):
        raise FhirError(400, "structure", _("The body is not valid JSON.")) from None
    if b"\\u0000" in raw:
        raise FhirError(400, "invalid", _("Text in a resource cannot contain the NUL "
                                          "character (\\u0000)."))
    return data


def _body(request: HttpRequest, resource_type: str) -> dict[str, Any]:
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 2**31
    return structure.checked(parse_json(_raw(request, limit)), resource_type)


def _base(request: HttpRequest) -> str:
    return request.build_absolute_uri("/fhir")


def _answer(request: HttpRequest, result: Result) -> HttpResponse:
    """A write's answer: the resource, or only the headers under ``Prefer: return=minimal``
    (FHIR R4 §3.1.0.8.2)."""
    headers = {"Last_Modified": result.last_modified}
    if result.location:
        headers["Location"] = f"{_base(request)}/{result.location}"
    if _minimal(request):
        response = HttpResponse(status=result.status)
        for name, value in headers.items():
            response[name.replace("_", "-")] = value
        return response
    return respond(result.resource, result.status, **headers)


def _minimal(request: HttpRequest) -> bool:
    return "return=minimal" in _header(request, "Prefer").replace(" ", "")


# -- metadata ---------------------------------------------------------------------------------

@fhir_view
def metadata(request: HttpRequest) -> HttpResponse:
    """The CapabilityStatement (no login needed, as the specification expects)."""
    if request.method != "GET":
        raise FhirError(405, "not-supported", _("Use GET for metadata."))
    return respond(capability.statement(_base(request)))


# -- system level: batch and transaction Bundles ------------------------------------------------

@fhir_view
def system_level(request: HttpRequest) -> HttpResponse:
    """``POST /fhir`` with a ``batch`` or ``transaction`` Bundle (``bundles``)."""
    if request.method != "POST":
        raise FhirError(405, "not-supported", _("Send batch and transaction Bundles with "
                                                "POST."))
    client = client_of(request)
    data = parse_json(_raw(request, settings.TIERCARE_FHIR_MAX_BUNDLE_BYTES))
    return respond(bundles.process(client, data, _base(request), minimal=_minimal(request)))


# -- type level: search, create, conditional update --------------------------------------------

@fhir_view
def type_level(request: HttpRequest, resource_type: str) -> HttpResponse:
    mapper = mapper_for(resource_type)
    if request.method == "GET":
        return _search(request, resource_type, request.GET)
    if request.method == "POST":
        client = client_of(request)
        client.require(resource_type, "create")
        resource = _body(request, resource_type)
        condition = request.META.get("HTTP_IF_NONE_EXIST")
        if condition is None and any(k not in ("_format", "_pretty") for k in request.GET):
            # ``POST [type]?search`` means the same to several clients (fhirpy, Aidbox)
            condition = request.META.get("QUERY_STRING", "")
        return _answer(request, interactions.create(client, mapper, resource, condition))
    if request.method == "PUT" and mapper.conditional_update:
        client = client_of(request)
        client.require(resource_type, "update")
        resource = _body(request, resource_type)
        return _answer(request, interactions.conditional_update(
            client, mapper, request.META.get("QUERY_STRING", ""), resource))
    raise FhirError(405, "not-supported", _("%(method)s is not supported on %(type)s."),
                    method=request.method, type=resource_type)


@fhir_view
def search_post(request: HttpRequest, resource_type: str) -> HttpResponse:
    """``POST [type]/_search`` with the parameters in a form body."""
    mapper_for(resource_type)
    if request.method != "POST":
        raise FhirError(405, "not-supported", _("Use POST for _search."))
    params = request.GET.copy()
    for key, values in request.POST.lists():
        params.setlist(key, params.getlist(key) + values)
    return _search(request, resource_type, params)


def _search(request: HttpRequest, resource_type: str, params: QueryDict) -> HttpResponse:
    client = client_of(request)
    return respond(interactions.search(client, mapper_for(resource_type), params,
                                       _base(request), strict=_strict(request)))


def _strict(request: HttpRequest) -> bool:
    return "handling=strict" in _header(request, "Prefer").replace(" ", "")


# -- instance level: read, update ----------------------------------------------------------

@fhir_view
def instance(request: HttpRequest, resource_type: str, resource_id: str) -> HttpResponse:
    mapper = mapper_for(resource_type)
    client = client_of(request)
    if request.method == "GET":
        return respond(interactions.read(client, mapper, resource_id).resource)
    if request.method == "PUT" and "update" in mapper.interactions:
        client.require(resource_type, "update")
        resource = _body(request, resource_type)
        return _answer(request, interactions.update(client, mapper, resource_id, resource))
    raise FhirError(405, "not-supported", _("%(method)s is not supported on %(type)s/[id]."),
                    method=request.method, type=resource_type)
