"""Error pages in the base layout and the user's language (never a bare 500 page). A
``PermissionDenied`` raised with a message (e.g. a resident outside the user's scope,
rules.md §11) shows that message."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.template import loader
from django.utils.functional import Promise


def _message(exception: Exception | None) -> str:
    """The translated reason carried by the exception, if it carries one."""
    if exception is None or not exception.args:
        return ""
    first = exception.args[0]
    return str(first) if isinstance(first, str | Promise) else ""


def _error(request: HttpRequest, status: int, exception: Exception | None = None) -> HttpResponse:
    return render(request, "web/error.html", {"status": status, "message": _message(exception)},
                  status=status)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _error(request, 400)


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _error(request, 403, exception)


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _error(request, 404)


def server_error(request: HttpRequest) -> HttpResponse:
    """The 500 page: rendered with as little as possible, since something already failed."""
    try:
        return _error(request, 500)
    except Exception:
        template = loader.get_template("web/error_plain.html")
        return HttpResponse(template.render({"status": 500}), status=500)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """A form posted without a valid CSRF token (usually an expired page or cookies off):
    explain it in the user's language instead of Django's English page."""
    from django.utils.translation import gettext

    message = gettext(
        "The form expired or your browser blocked cookies. Reload the page and try again."
    )
    return render(request, "web/error.html", {"status": 403, "message": message}, status=403)
