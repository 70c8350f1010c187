"""Domain errors of the resident record that are not about one bad field: a conflict with the
state of the data (HTTP 409 in the JSON API, a message in the UI)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.utils.functional import Promise

from tiercare.errors import DomainError

if TYPE_CHECKING:
    from tiercare.patients.models import Merge, Patient


class PatientConflict(DomainError):
    """The request contradicts the current records. ``code`` is stable; ``message`` is in the
    active language when the error is shown (lazy translation)."""

    status = 409


class DuplicatePatient(PatientConflict):
    """Exact match in the master patient index: an active resident already has this identity
    document (issue 2 §4). ``existing`` is that record."""

    def __init__(self, existing: Patient, message: str | Promise, /,
                 **params: object) -> None:
        self.existing = existing
        super().__init__("patient.duplicate", message, **params)


class MergeConflict(PatientConflict):
    """A merge or its undo cannot be done in the records' present state."""

    def __init__(self, code: str, message: str | Promise, /, merge: Merge | None = None,
                 **params: object) -> None:
        self.merge = merge
        super().__init__(code, message, **params)
