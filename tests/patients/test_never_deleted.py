"""A resident's record is never deleted: duplicates are merged, and the merged record stays
so that the merge can be undone (issue 2 §4). Other parts rely on it (ADR 0004)."""

from __future__ import annotations

import pytest
from django.db import transaction

from tests.encounters.factories import make_patient
from tiercare.patients.models import Patient
from tiercare.patients.receivers import ResidentDeletionRefused

pytestmark = pytest.mark.django_db


def test_deleting_a_resident_is_refused_one_by_one_and_in_bulk():
    patient = make_patient(1)
    with pytest.raises(ResidentDeletionRefused) as refused, transaction.atomic():
        patient.delete()
    assert refused.value.code == "patient.never_deleted"
    with pytest.raises(ResidentDeletionRefused), transaction.atomic():
        Patient.objects.filter(pk=patient.pk).delete()
    assert Patient.objects.filter(pk=patient.pk).exists()
