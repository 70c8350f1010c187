"""Structural validation of submitted resources with ``fhir.resources`` (R4B models, which
for the resources this server takes are the same as R4 4.0.1): unknown elements, wrong
types, bad dates and codes are refused with 400 and an issue per problem, each with the
FHIRPath of the element (e.g. ``Patient.birthDate``)."""

from __future__ import annotations

import importlib
from typing import Any

from django.utils.translation import gettext_lazy as _
from pydantic import ValidationError

from tiercare.fhir.errors import FhirError, Issue

_MODULES = {"Bundle": "bundle"}


def _model(resource_type: str) -> Any:
    name = _MODULES.get(resource_type, resource_type.lower())
    try:
        module = importlib.import_module(f"fhir.resources.R4B.{name}")
    except ImportError:
        raise FhirError(400, "not-supported", _("“%(type)s” is not a FHIR R4 resource type."),
                        type=resource_type[:64]) from None
    return getattr(module, resource_type)


def _path(resource_type: str, loc: tuple[Any, ...]) -> str:
    path = resource_type
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif not str(part).startswith("function-") and str(part) != "__root__":
            path += f".{part}"
    return path


def check(data: dict[str, Any]) -> None:
    resource_type = data["resourceType"]
    model = _model(resource_type)
    try:
        model.model_validate(data)
    except ValidationError as exc:
        issues = [Issue("structure", str(_("%(path)s: %(problem)s")) % {
            "path": _path(resource_type, tuple(err["loc"])), "problem": err["msg"]},
            [_path(resource_type, tuple(err["loc"]))]) for err in exc.errors()[:20]]
        raise FhirError(400, "structure", issues[0].diagnostics, issues=issues) from None
    except (ValueError, TypeError) as exc:
        raise FhirError(400, "structure", _("The resource is not valid FHIR: %(problem)s"),
                        problem=str(exc)[:300]) from None


def checked(data: Any, resource_type: str | None) -> dict[str, Any]:
    """A submitted resource: a JSON object with ``resourceType``, of the expected type,
    structurally valid FHIR R4 (``structure.check``)."""
    if not isinstance(data, dict) or not isinstance(data.get("resourceType"), str):
        raise FhirError(400, "structure",
                        _("The body must be a FHIR resource: a JSON object with resourceType."))
    if resource_type is not None and data["resourceType"] != resource_type:
        raise FhirError(400, "invalid",
                        _("The body is a %(found)s; this address takes a %(type)s."),
                        found=data["resourceType"][:64], type=resource_type)
    check(data)
    return data
