"""Guards of the resident record.

A resident's record is never deleted: duplicates are merged, and the merged record stays,
marked inactive, so that the merge can be undone (issue 2 §4, "merge with audit trail and
undo"); residents who leave or die keep their history (a date of death, not a deletion).
The back office already refuses deletion; this receiver refuses it for code too, so that
other parts can rely on the rule (the encounter import trusts a resident it found once,
ADR 0004).
"""

from __future__ import annotations

from typing import Any

from django.db.models.signals import pre_delete
from django.dispatch import receiver
from django.utils.translation import gettext_lazy as _

from tiercare.patients.errors import PatientConflict
from tiercare.patients.models import Patient


class ResidentDeletionRefused(PatientConflict):
    def __init__(self) -> None:
        super().__init__("patient.never_deleted",
                         _("A resident's record is never deleted; merge duplicates instead."))


@receiver(pre_delete, sender=Patient, dispatch_uid="patients.refuse_resident_deletion")
def refuse_resident_deletion(sender: Any, instance: Patient, **kwargs: Any) -> None:
    raise ResidentDeletionRefused()
