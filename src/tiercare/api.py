"""The JSON API (Django Ninja): one router per app, OpenAPI schema at ``/api/openapi.json``.

Errors are problem+json (RFC 9457) documents; see ``tiercare.api_problems``.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.urls import URLPattern
from django.utils.datastructures import MultiValueDict
from ninja import NinjaAPI
from ninja.errors import ValidationError as NinjaValidationError
from ninja.parser import Parser
from ninja.security import django_auth

from tiercare.api_problems import problem_for_not_allowed
from tiercare.api_problems import register as register_problems

NUL = "\x00"


def _nul_errors(value: Any, loc: tuple[Any, ...]) -> list[dict[str, Any]]:
    if isinstance(value, str):
        return [_nul_error(loc)] if NUL in value else []
    if isinstance(value, dict):
        found: list[dict[str, Any]] = []
        for key, item in value.items():
            if isinstance(key, str) and NUL in key:
                found.append(_nul_error((*loc, key)))
            found.extend(_nul_errors(item, (*loc, key)))
        return found
    if isinstance(value, list):
        return [e for i, item in enumerate(value) for e in _nul_errors(item, (*loc, i))]
    return []


def _nul_error(loc: tuple[Any, ...]) -> dict[str, Any]:
    return {"loc": loc, "type": "string.nul",
            "msg": "Text must not contain the NUL character (U+0000)."}


class NulFreeParser(Parser):
    """The JSON body and the query string of Ninja, refusing text with a NUL character: no
    field takes one and PostgreSQL cannot store or even compare it (``DataError``, a 500;
    found by the schemathesis fuzz test). A body with one is answered 422 by
    ``api_problems``, a query parameter too."""

    def parse_body(self, request: HttpRequest) -> dict[str, Any]:
        data = super().parse_body(request)
        errors = _nul_errors(data, ("body",))
        if errors:
            raise NinjaValidationError(errors)
        return data

    def parse_querydict(self, data: MultiValueDict[str, Any], list_fields: list[str],
                        request: HttpRequest) -> dict[str, Any]:
        parsed = super().parse_querydict(data, list_fields, request)
        errors = _nul_errors(parsed, ("query",))
        if errors:
            raise NinjaValidationError(errors)
        return parsed


class TierCareAPI(NinjaAPI):
    """Ninja API whose every answer is JSON: a method an address does not take gets a
    problem+json 405 (Ninja answers plain text), see ``api_problems.problem_for_not_allowed``."""

    @property
    def urls(self) -> tuple[list[Any], str, str]:
        patterns, app_name, namespace = super().urls
        for pattern in patterns:
            if isinstance(pattern, URLPattern):
                pattern.callback = problem_for_not_allowed(pattern.callback)
        return patterns, app_name, namespace


api = TierCareAPI(
    title="TierCare API",
    version="1",
    description=(
        "JSON API of TierCare. Authentication: the web session "
        "(django_auth checks the CSRF token on unsafe methods)."
    ),
    auth=django_auth,
    parser=NulFreeParser(),
    urls_namespace="api",
)


@api.get("/health", auth=None, summary="Liveness check")
def health(request: HttpRequest) -> dict[str, str]:
    return {"status": "ok"}


api.add_router("/encounters", "tiercare.encounters.api.router")

api.add_router("/registry", "tiercare.registry.api.router")
api.add_router("/patients", "tiercare.patients.api.router")
api.add_router("/referrals", "tiercare.referrals.api.router")
api.add_router("/scheduling", "tiercare.scheduling.api.router")
api.add_router("/notifications", "tiercare.notifications.api.router")
api.add_router("/chronic", "tiercare.chronic.api.router")
register_problems(api)
