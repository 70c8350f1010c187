"""Merging two resident records moves encounters and settlements to the survivor; undoing
the merge moves back exactly those rows (issue 2 §4, patients.signals protocol)."""

from __future__ import annotations

import pytest

from tests.encounters.factories import encounter_input
from tests.encounters.test_services import settlement_input
from tiercare.encounters import services
from tiercare.encounters.models import Encounter, Settlement
from tiercare.patients import services as patient_services

pytestmark = pytest.mark.django_db


def test_merge_moves_rows_and_undo_moves_back_exactly_them(county):
    survivor, merged = county["patient"], county["other"]
    # given the duplicate record has two encounters and a settlement, the survivor one
    mine = services.record_encounter(encounter_input(survivor, county["hospital"], "S-1"))
    theirs = [services.record_encounter(encounter_input(merged, county["village"], f"M-{i}"))
              for i in range(2)]
    paid = services.record_settlement(settlement_input(merged, "P-1"))
    # when the records are merged
    merge = patient_services.merge_patients(survivor, merged, reason="same person")
    # then the duplicate's rows belong to the survivor and the merge lists them
    assert sorted(merge.moved["encounters.Encounter"]) == sorted(e.pk for e in theirs)
    assert merge.moved["encounters.Settlement"] == [paid.pk]
    assert Encounter.objects.filter(patient=survivor).count() == 3
    assert {e.pk for e in services.timeline(survivor)} == {mine.pk, *(e.pk for e in theirs)}
    assert Settlement.objects.get().patient_id == survivor.pk
    # and a visit recorded for the survivor after the merge
    later = services.record_encounter(encounter_input(survivor, county["township"], "S-2"))
    # when the merge is undone
    patient_services.undo_merge(merge)
    # then exactly the moved rows go back; the later visit stays with the survivor
    assert set(Encounter.objects.filter(patient=merged).values_list("pk", flat=True)) == {
        e.pk for e in theirs}
    assert set(Encounter.objects.filter(patient=survivor).values_list("pk", flat=True)) == {
        mine.pk, later.pk}
    assert Settlement.objects.get().patient_id == merged.pk


def test_merge_of_a_record_without_rows_reports_empty_lists(county):
    merge = patient_services.merge_patients(county["patient"], county["other"])
    assert merge.moved.get("encounters.Encounter", []) == []
    assert merge.moved.get("encounters.Settlement", []) == []
