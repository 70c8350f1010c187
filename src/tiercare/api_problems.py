"""Errors of the JSON API as problem+json documents (RFC 9457).

Every error answer has the content type ``application/problem+json`` and the body::

    {"type": "https://tiercare.org/problems/validation", "title": "…", "status": 422,
     "detail": "…", "errors": [{"field": "id_number", "code": "id_number.check_digit",
                                "message": "…"}]}

``title`` and ``detail`` are in the request's language (Simplified Chinese by default).
:func:`register` installs the handlers on a :class:`ninja.NinjaAPI`: request validation
(Ninja) → 422, domain validation (Django ``ValidationError``, kernel errors) → 422, a conflict
with the data → 409, ``PermissionDenied`` → 403, missing login → 401, ``DoesNotExist`` /
``Http404`` → 404, other Ninja ``HttpError`` → its status. DESIGN.md: never a 500 for bad input.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError

from tiercare.kernel.errors import KernelError
from tiercare.patients.errors import PatientConflict

PROBLEM_CONTENT_TYPE = "application/problem+json"
#: Base of the problem type URIs (one documented base for identifiers TierCare mints,
#: rules.md §10).
PROBLEM_BASE = "https://tiercare.org/problems/"

TITLES = {
    400: _("Bad request"),
    401: _("Login required"),
    403: _("Not allowed"),
    404: _("Not found"),
    409: _("Conflict with existing records"),
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


def _forbidden(request: HttpRequest, exc: PermissionDenied) -> HttpResponse:
    detail = str(exc) or gettext("You are not allowed to do this.")
    return problem(403, detail=detail, type_="forbidden")


def _not_found(request: HttpRequest, exc: Exception) -> HttpResponse:
    return problem(404, detail=gettext("The requested record does not exist."),
                   type_="not-found")


def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    if isinstance(exc, AuthenticationError) or exc.status_code == 401:
        return problem(401, detail=gettext("Log in to use the API."), type_="unauthorized")
    return problem(exc.status_code, detail=str(exc), type_=str(exc.status_code))


def register(api: NinjaAPI) -> None:
    """Install the problem+json handlers on ``api``."""
    handlers: list[tuple[type[Exception], Callable[..., HttpResponse]]] = [
        (NinjaValidationError, _ninja_validation),
        (ValidationError, _django_validation),
        (KernelError, _kernel),
        (PatientConflict, _conflict),
        (PermissionDenied, _forbidden),
        (ObjectDoesNotExist, _not_found),
        (Http404, _not_found),
        (HttpError, _http_error),
    ]
    for exc_class, handler in handlers:
        api.add_exception_handler(exc_class, handler)
