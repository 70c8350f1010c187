"""Receivers of the master patient index's merge signals (tiercare.patients.signals).

When two resident records are merged, the merged record's encounters and settlements move to
the survivor so that the shared record shows one history; undoing the merge moves back
exactly the rows that the merge moved (issue 2 §4, "merge with audit trail and undo"). The
ids moved are returned to the patients service, which keeps them in ``Merge.moved``.
"""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from tiercare.encounters.models import Encounter, Settlement
from tiercare.patients.signals import patients_merged, patients_unmerged

ENCOUNTER_LABEL = Encounter._meta.label  # "encounters.Encounter"
SETTLEMENT_LABEL = Settlement._meta.label  # "encounters.Settlement"


@receiver(patients_merged, dispatch_uid="encounters.move_to_survivor")
def move_to_survivor(sender: Any, survivor: Any, merged: Any, merge: Any = None,
                     **kwargs: Any) -> dict[str, list[int]]:
    """Re-point the merged record's encounters and settlements to the survivor; returns
    ``{"encounters.Encounter": [ids], "encounters.Settlement": [ids]}``."""
    moved: dict[str, list[int]] = {}
    for label, model in ((ENCOUNTER_LABEL, Encounter), (SETTLEMENT_LABEL, Settlement)):
        ids = sorted(model.objects.filter(patient_id=merged.pk).values_list("id", flat=True))
        if ids:
            model.objects.filter(pk__in=ids).update(patient_id=survivor.pk)
        moved[label] = ids
    return moved


@receiver(patients_unmerged, dispatch_uid="encounters.move_back")
def move_back(sender: Any, merge: Any, **kwargs: Any) -> dict[str, list[int]]:
    """Move back to the merged record exactly the rows the merge moved (rows the survivor
    received after the merge stay with it); returns the ids moved back."""
    moved_back: dict[str, list[int]] = {}
    recorded = merge.moved or {}
    for label, model in ((ENCOUNTER_LABEL, Encounter), (SETTLEMENT_LABEL, Settlement)):
        ids = [int(i) for i in recorded.get(label, [])]
        if ids:
            model.objects.filter(pk__in=ids, patient_id=merge.survivor_id).update(
                patient_id=merge.merged_id)
        moved_back[label] = ids
    return moved_back
