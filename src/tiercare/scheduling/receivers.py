"""Receivers of the master patient index's merge signals (tiercare.patients.signals).

When two resident records are merged, the merged record's appointments and the bed it holds
move to the survivor, so that bookings follow the person (issue 2 §4); undoing the merge
moves back exactly the rows the merge moved. An active booking of the merged record in a slot
where the survivor already has one stays with the merged record (the two would break "one
active booking per resident and slot"); the survivor's booking is the one that counts, and
staff cancel the other. Only non-empty lists are returned, so merges that touch no
scheduling row record nothing for this app.
"""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from tiercare.patients.signals import patients_merged, patients_unmerged
from tiercare.scheduling.models import Appointment, Bed
from tiercare.scheduling.statuses import ACTIVE

APPOINTMENT_LABEL = Appointment._meta.label  # "scheduling.Appointment"
BED_LABEL = Bed._meta.label  # "scheduling.Bed"


@receiver(patients_merged, dispatch_uid="scheduling.move_to_survivor")
def move_to_survivor(sender: Any, survivor: Any, merged: Any, merge: Any = None,
                     **kwargs: Any) -> dict[str, list[int]]:
    taken_slots = set(Appointment.objects.filter(patient_id=survivor.pk, status__in=ACTIVE)
                      .values_list("slot_id", flat=True))
    appointment_ids = sorted(
        pk for pk, slot_id, status in Appointment.objects.filter(patient_id=merged.pk)
        .values_list("id", "slot_id", "status")
        if not (status in ACTIVE and slot_id in taken_slots))
    if appointment_ids:
        Appointment.objects.filter(pk__in=appointment_ids).update(patient_id=survivor.pk)
    bed_ids = sorted(Bed.objects.filter(patient_id=merged.pk).values_list("id", flat=True))
    if bed_ids:
        Bed.objects.filter(pk__in=bed_ids).update(patient_id=survivor.pk)
    moved: dict[str, list[int]] = {}
    if appointment_ids:
        moved[APPOINTMENT_LABEL] = appointment_ids
    if bed_ids:
        moved[BED_LABEL] = bed_ids
    return moved


@receiver(patients_unmerged, dispatch_uid="scheduling.move_back")
def move_back(sender: Any, merge: Any, **kwargs: Any) -> dict[str, list[int]]:
    """Move back to the merged record exactly the rows the merge moved (those still with the
    survivor)."""
    recorded = merge.moved or {}
    moved_back: dict[str, list[int]] = {}
    for label, model in ((APPOINTMENT_LABEL, Appointment), (BED_LABEL, Bed)):
        ids = [int(i) for i in recorded.get(label, [])]
        if ids:
            model.objects.filter(pk__in=ids, patient_id=merge.survivor_id).update(
                patient_id=merge.merged_id)
            moved_back[label] = ids
    return moved_back
