"""Errors of the FHIR interface as OperationOutcome resources (FHIR R4 §3.1.0.5, "Handling
errors"): every failure answers with the right HTTP status and an OperationOutcome whose
``diagnostics`` says, in the request's language, what was wrong and where (``expression``,
a FHIRPath into the submitted resource). Never a 500 for bad input (DESIGN.md)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.utils.functional import Promise


@dataclass
class Issue:
    """One problem: FHIR issue type (``invalid``, ``not-found``, ``conflict`` …), the text
    and where in the resource it is."""

    code: str
    diagnostics: str | Promise
    expression: list[str] = field(default_factory=list)
    severity: str = "error"

    def as_fhir(self) -> dict[str, Any]:
        issue: dict[str, Any] = {"severity": self.severity, "code": self.code,
                                 "diagnostics": str(self.diagnostics)}
        if self.expression:
            issue["expression"] = self.expression
        return issue


class FhirError(Exception):
    """A request the server refuses: HTTP ``status`` and the issues that explain why."""

    def __init__(self, status: int, code: str, diagnostics: str | Promise, /,
                 expression: list[str] | None = None, *, issues: list[Issue] | None = None,
                 **params: object) -> None:
        text: str | Promise = diagnostics
        if params:
            text = str(diagnostics) % params
        self.status = status
        self.issues = issues or [Issue(code, text, expression or [])]
        super().__init__(str(self.issues[0].diagnostics))


def outcome(issues: list[Issue]) -> dict[str, Any]:
    return {"resourceType": "OperationOutcome", "issue": [i.as_fhir() for i in issues]}


def validation_error(exc: Any, paths: dict[str, str]) -> FhirError:
    """A service's ``ValidationError`` as a 422: one issue per message, placed in the
    resource by ``paths`` (service field → FHIRPath)."""
    issues: list[Issue] = []
    by_field = exc.message_dict if hasattr(exc, "error_dict") else {"": exc.messages}
    for name, messages in by_field.items():
        path = [paths[name]] if name in paths else []
        issues.extend(Issue("invariant" if name else "invalid", m, path) for m in messages)
    return FhirError(422, "invalid", issues[0].diagnostics, issues=issues)
