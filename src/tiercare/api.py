"""The JSON API (Django Ninja): one router per app, OpenAPI schema at ``/api/openapi.json``.

Errors are problem+json (RFC 9457) documents; see ``tiercare.api_problems``.
"""

from __future__ import annotations

from django.http import HttpRequest
from ninja import NinjaAPI
from ninja.security import django_auth

from tiercare.api_problems import register as register_problems

api = NinjaAPI(
    title="TierCare API",
    version="1",
    description=(
        "JSON API of TierCare. Authentication: the web session "
        "(django_auth checks the CSRF token on unsafe methods)."
    ),
    auth=django_auth,
    urls_namespace="api",
)


@api.get("/health", auth=None, summary="Liveness check")
def health(request: HttpRequest) -> dict[str, str]:
    return {"status": "ok"}


api.add_router("/encounters", "tiercare.encounters.api.router")

api.add_router("/registry", "tiercare.registry.api.router")
api.add_router("/patients", "tiercare.patients.api.router")
register_problems(api)
