"""The CapabilityStatement, built from the registered mappers: it lists exactly the resource
types, interactions, search parameters, sorts and includes the code implements (a test walks
it and calls each declared interaction)."""

from __future__ import annotations

import functools
from importlib import metadata
from typing import Any

from django.conf import settings
from django.utils import timezone, translation

from tiercare.fhir.mapping import all_mappers

#: FHIR Bulk Data ``$export`` (Bulk Data Access IG v2, ``fhir.export_views``): the system
#: level operation and the Group level one, each under its OperationDefinition's canonical
EXPORT = {"name": "export",
          "definition": "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export"}
GROUP_EXPORT = {"name": "export",
                "definition": "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/group-export"}


def _version() -> str:
    try:
        return metadata.version("tiercare")
    except metadata.PackageNotFoundError:  # run from a source tree that is not installed
        return "unknown"


def statement(base_url: str) -> dict[str, Any]:
    """The CapabilityStatement for this base address (built once a day per address and
    process: it depends only on the code, the day and the address)."""
    return _statement(base_url, timezone.localdate().isoformat(), translation.get_language())


@functools.lru_cache(maxsize=16)
def _statement(base_url: str, day: str, language: str | None) -> dict[str, Any]:
    resources = []
    for mapper in all_mappers():
        entry: dict[str, Any] = {
            "type": mapper.resource_type,
            "interaction": [{"code": code} for code in mapper.interactions],
            "versioning": "no-version",
            "readHistory": False,
            "updateCreate": False,
            "conditionalCreate": mapper.conditional_create,
            "conditionalUpdate": mapper.conditional_update,
            "conditionalRead": "not-supported",
            "conditionalDelete": "not-supported",
            "searchParam": [{"name": name, "type": param.type,
                             "documentation": param.documentation}
                            for name, param in sorted(mapper.all_params().items())],
        }
        if mapper.includes:
            entry["searchInclude"] = sorted(mapper.includes)
        if mapper.resource_type == "Group":  # Group/[id]/$export
            entry["operation"] = [GROUP_EXPORT]
        resources.append(entry)
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": day,
        "publisher": "TierCare",
        "kind": "instance",
        "software": {"name": "TierCare", "version": _version()},
        "implementation": {"description": "TierCare county medical community", "url": base_url},
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json", "json"],
        "rest": [{
            "mode": "server",
            "security": {
                "cors": False,
                "service": [{"coding": [{
                    "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                    "code": "SMART-on-FHIR"}]}],
                "description": "Bearer tokens of integrating systems (tiercare token create) "
                               "with SMART system scopes, or a logged-in session.",
            },
            "resource": resources,
            "searchParam": [
                {"name": "_count", "type": "number"},
                {"name": "_sort", "type": "string"},
                {"name": "_total", "type": "token"},
            ],
            "operation": [EXPORT],  # $export (Bulk Data Access IG v2)
        }],
        "language": settings.LANGUAGE_CODE,
    }
