"""Errors of the JSON API as problem+json documents (RFC 9457).

Every error answer has the content type ``application/problem+json`` and the body::

    {"type": "https://tiercare.org/problems/validation", "title": "…", "status": 422,
     "detail": "…", "errors": [{"field": "id_number", "code": "id_number.check_digit",
                                "message": "…"}]}

``title`` and ``detail`` are in the request's language (Simplified Chinese by default).
:func:`register` installs the handlers on a :class:`ninja.NinjaAPI`: request validation
(Ninja) → 422, domain validation (Django ``ValidationError``, kernel errors) → 422, a conflict
with the data → 409, ``PermissionDenied`` → 403, missing login → 401, ``DoesNotExist`` /
``Http404`` → 404, an unreadable body (bad JSON, broken multipart) → 400, other Ninja
``HttpError`` → its status with a translated detail, another ``DomainError`` → its own
``status``. :func:`problem_for_not_allowed` turns
Ninja's plain-text 405 (a method the address does not take) into a problem too. DESIGN.md:
never a 500 for bad input (checked by the schemathesis fuzz test, ``tests/api``).
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Callable, Iterable
from typing import Annotated, Any

from django.core.exceptions import (
    ObjectDoesNotExist,
    PermissionDenied,
    RequestDataTooBig,
    SuspiciousOperation,
    ValidationError,
)
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.http.multipartparser import MultiPartParserError
from django.http.response import HttpResponseBase
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from ninja import Field, NinjaAPI
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError
from pydantic import AfterValidator

from tiercare.errors import DomainError
from tiercare.kernel.errors import KernelError
from tiercare.patients.errors import PatientConflict

PROBLEM_CONTENT_TYPE = "application/problem+json"

#: Largest primary key the databases hold (``BigAutoField``: signed 64 bits).
MAX_RECORD_ID = 2**63 - 1
#: A record id in a path, query or body. Ids out of range are answered 422 by Ninja's
#: validation instead of reaching a query, where SQLite cannot bind an integer beyond 64 bits
#: (``OverflowError``, a 500; found by the schemathesis fuzz test).
RecordId = Annotated[int, Field(ge=1, le=MAX_RECORD_ID)]


def _representable(value: dt.datetime) -> dt.datetime:
    """A time is stored in UTC and shown in China Standard Time; both must fall in the years
    1–9999 that Python and the databases hold (``9999-12-31T23:59-12:00`` does not: an
    ``OverflowError``, a 500, found by the schemathesis fuzz test). Naive times are China
    Standard Time, as the API reads them."""
    aware = value if timezone.is_aware(value) else timezone.make_aware(value)
    try:
        aware.astimezone(dt.UTC)
        timezone.localtime(aware)
    except OverflowError:
        raise ValueError("the time is outside the years 1-9999 in UTC or China Standard "
                         "Time") from None
    return value


#: A date and time in a request body: :func:`_representable` (422 otherwise).
ApiDateTime = Annotated[dt.datetime, AfterValidator(_representable)]
#: Base of the problem type URIs (one documented base for identifiers TierCare mints,
#: rules.md §10).
PROBLEM_BASE = "https://tiercare.org/problems/"

TITLES = {
    400: _("Bad request"),
    401: _("Login required"),
    403: _("Not allowed"),
    404: _("Not found"),
    405: _("Method not allowed"),
    409: _("Conflict with existing records"),
    413: _("Request too large"),
    422: _("Invalid input"),
}


def problem(status: int, title: str | None = None, detail: str = "",
            errors: Iterable[dict[str, Any]] = (), *, type_: str = "",
            extra: dict[str, Any] | None = None) -> HttpResponse:
    """A problem+json response. ``type_`` is the last part of the problem type URI."""
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + (type_ or str(status)),
        "title": str(title if title is not None else TITLES.get(status, _("Error"))),
        "status": status,
        "detail": str(detail),
    }
    errors = list(errors)
    if errors:
        body["errors"] = errors
    if extra:
        body.update(extra)
    return HttpResponse(json.dumps(body, ensure_ascii=False, default=str), status=status,
                        content_type=PROBLEM_CONTENT_TYPE)


def validation_errors(err: ValidationError) -> list[dict[str, Any]]:
    """Flatten a Django ``ValidationError`` into ``[{"field", "code", "message"}]``."""
    out: list[dict[str, Any]] = []
    if hasattr(err, "error_dict"):
        for field_name, errors in err.error_dict.items():
            for e in errors:
                for message in e.messages:
                    out.append({"field": None if field_name == "__all__" else field_name,
                                "code": e.code or "invalid", "message": message})
    else:
        for e in err.error_list:
            for message in e.messages:
                out.append({"field": None, "code": e.code or "invalid", "message": message})
    return out


def _ninja_validation(request: HttpRequest, exc: NinjaValidationError) -> HttpResponse:
    errors = []
    for e in exc.errors:
        loc = [str(p) for p in e.get("loc", ()) if p not in ("body", "query", "path", "payload")]
        errors.append({"field": ".".join(loc) or None, "code": e.get("type", "invalid"),
                       "message": e.get("msg", "")})
    return problem(422, detail=gettext("The request does not match the expected form."),
                   errors=errors, type_="validation")


def _django_validation(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    errors = validation_errors(exc)
    detail = errors[0]["message"] if len(errors) == 1 else gettext(
        "%(count)s fields are invalid.") % {"count": len(errors)}
    return problem(422, detail=detail, errors=errors, type_="validation")


def _kernel(request: HttpRequest, exc: KernelError) -> HttpResponse:
    message = exc.translated(gettext)
    return problem(422, detail=message,
                   errors=[{"field": None, "code": exc.code, "message": message}],
                   type_="validation")


def _conflict(request: HttpRequest, exc: PatientConflict) -> HttpResponse:
    extra: dict[str, Any] = {"code": exc.code}
    existing = getattr(exc, "existing", None)
    if existing is not None:
        extra["existing"] = {"id": existing.pk, "health_record_no": existing.health_record_no}
    return problem(exc.status, detail=str(exc), type_=exc.code, extra=extra)


def _domain(request: HttpRequest, exc: DomainError) -> HttpResponse:
    """A refused business step (``tiercare.errors.DomainError``): the error's own ``status``
    (409 conflict with the record's state, 403 not this actor's step, 400 an incomplete
    request; 409 when it has none), its stable ``code`` and its translated message."""
    status = getattr(exc, "status", 409)
    return problem(status, detail=str(exc), type_=exc.code, extra={"code": exc.code})


def _forbidden(request: HttpRequest, exc: PermissionDenied) -> HttpResponse:
    detail = str(exc) or gettext("You are not allowed to do this.")
    return problem(403, detail=detail, type_="forbidden")


def _not_found(request: HttpRequest, exc: Exception) -> HttpResponse:
    return problem(404, detail=gettext("The requested record does not exist."),
                   type_="not-found")


def _unreadable(request: HttpRequest, exc: Exception) -> HttpResponse:
    """A body that cannot be parsed at all (not JSON, a multipart body without boundary, a
    suspicious request Django refuses): 400, or 413 when it is larger than Django accepts."""
    if isinstance(exc, RequestDataTooBig):
        return problem(413, detail=gettext("The request is larger than the server accepts."),
                       type_="too-large")
    return problem(400, detail=gettext("The request does not match the expected form."),
                   type_="bad-request")


def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    """Ninja raises ``HttpError`` with English messages: 401 (no session), 403 (CSRF check
    failed) and 400 (body not parseable); they are answered with translated details."""
    if isinstance(exc, AuthenticationError) or exc.status_code == 401:
        return problem(401, detail=gettext("Log in to use the API."), type_="unauthorized")
    if exc.status_code == 403:
        return problem(403, detail=gettext("You are not allowed to do this."),
                       type_="forbidden")
    if exc.status_code == 400:  # Ninja wraps whatever stopped it reading the body
        cause = exc.__cause__
        if isinstance(cause, NinjaValidationError):  # the parser refused a value
            return _ninja_validation(request, cause)
        return _unreadable(request, cause if isinstance(cause, Exception) else exc)
    return problem(exc.status_code, detail=str(exc), type_=str(exc.status_code))


def problem_for_not_allowed(view: Callable[..., HttpResponseBase]) -> Callable[..., Any]:
    """Wrap a Ninja path view so that its 405 answer (a method the address does not take) is a
    problem document that keeps the ``Allow`` header."""

    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        response = view(request, *args, **kwargs)
        if isinstance(response, HttpResponseNotAllowed):
            allowed = response["Allow"]
            answer = problem(405, detail=gettext(
                "This address does not take %(method)s requests; it takes %(allowed)s.")
                % {"method": request.method, "allowed": allowed}, type_="method-not-allowed")
            answer["Allow"] = allowed
            return answer
        return response

    return wrapped


def register(api: NinjaAPI) -> None:
    """Install the problem+json handlers on ``api``."""
    handlers: list[tuple[type[Exception], Callable[..., HttpResponse]]] = [
        (NinjaValidationError, _ninja_validation),
        (ValidationError, _django_validation),
        (KernelError, _kernel),
        (PatientConflict, _conflict),
        (DomainError, _domain),
        (PermissionDenied, _forbidden),
        (ObjectDoesNotExist, _not_found),
        (Http404, _not_found),
        (MultiPartParserError, _unreadable),
        (SuspiciousOperation, _unreadable),
        (HttpError, _http_error),
    ]
    for exc_class, handler in handlers:
        api.add_exception_handler(exc_class, handler)
