"""Services: idempotent recording of encounters and settlements, matching, the timeline and
the record-page summary."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone, translation

from tests.encounters.factories import OUTSIDE, aware, encounter_input
from tiercare.accounts.models import AuditEvent
from tiercare.encounters import services
from tiercare.encounters.models import Encounter, Settlement

pytestmark = pytest.mark.django_db


def settlement_input(patient, source_id="S1", **overrides):
    values = dict(
        patient_id=patient.pk, encounter_class="inpatient", start_date=dt.date(2025, 2, 1),
        end_date=dt.date(2025, 2, 10), diagnosis="I63.9", total=Decimal("8000.00"),
        fund_paid=Decimal("5000.00"), self_paid=Decimal("3000.00"), source_system="YB",
        source_id=source_id, institution_name="安庆市立医院", institution_level="city",
        division_code=OUTSIDE,
    )
    values.update(overrides)
    return services.SettlementInput(**values)


# --------------------------------------------------------------------------- encounters


def test_recording_twice_returns_the_same_row_and_changes_nothing(county):
    data = encounter_input(county["patient"], county["hospital"],
                           secondary_diagnoses=["E11.9"])
    first = services.save_encounter(data)
    updated_at = first.record.updated_at
    second = services.save_encounter(data)
    assert first.outcome == services.Outcome.INSERTED
    assert second.outcome == services.Outcome.UNCHANGED
    assert second.record.pk == first.record.pk
    assert Encounter.objects.get().updated_at == updated_at
    assert AuditEvent.objects.filter(object_type=services.ENCOUNTER_TYPE).count() == 1


def test_changed_content_updates_and_audits_the_change(county):
    services.record_encounter(encounter_input(county["patient"], county["hospital"]))
    changed = encounter_input(county["patient"], county["hospital"], total=Decimal("110.00"),
                              services=Decimal("20.00"), secondary_diagnoses=["J06.9"])
    recorded = services.save_encounter(changed)
    assert recorded.outcome == services.Outcome.UPDATED
    encounter = Encounter.objects.get()
    assert encounter.total == Decimal("110.00")
    assert [d.code for d in encounter.diagnoses.all()] == ["J06.9"]
    event = AuditEvent.objects.get(action=AuditEvent.Action.UPDATE)
    assert event.changes["total"] == ["100.00", "110.00"]
    assert event.patient_id == county["patient"].pk


@pytest.mark.parametrize("overrides, field, code", [
    ({"total": Decimal("99.00")}, "total", "costs_do_not_add_up"),
    ({"primary_diagnosis": "ZZZ"}, "primary_diagnosis", "icd10.unknown"),
    ({"encounter_class": "ward"}, "encounter_class", "unknown_class"),
    ({"start": timezone.now() + dt.timedelta(hours=2)}, "start", "future_date"),
    ({"end": aware(2025, 3, 4, 8, 0)}, "end", "end_before_start"),
    ({"start": dt.datetime(2025, 3, 4, 9, 30)}, "start", "naive_datetime"),
    ({"drugs": Decimal("60.005")}, "total", "money_places"),
])
def test_bad_encounter_is_refused_with_the_field_and_a_reason(county, overrides, field, code):
    data = encounter_input(county["patient"], county["hospital"], **overrides)
    with pytest.raises(ValidationError) as caught:
        services.record_encounter(data)
    errors = caught.value.error_dict
    assert field in errors
    if code != "icd10.unknown":
        assert code in [e.code for e in errors[field]]
    assert Encounter.objects.count() == 0


def test_department_of_another_institution_is_refused(county):
    data = encounter_input(county["patient"], county["township"],
                           department_id=county["department"].pk)
    with translation.override("zh-hans"), pytest.raises(ValidationError) as caught:
        services.record_encounter(data)
    assert "该科室不属于此机构" in str(caught.value.error_dict["department"][0].message)


def test_merged_resident_is_refused(county):
    merged = county["other"]
    merged.merged_into = county["patient"]
    merged.save()
    with pytest.raises(ValidationError) as caught:
        services.record_encounter(encounter_input(merged, county["hospital"]))
    assert caught.value.error_dict["patient"][0].code == "merged_resident"


# --------------------------------------------------------------------------- settlements


def test_out_of_county_settlement_gets_its_flag_from_the_division_code(county):
    settlement = services.record_settlement(settlement_input(county["patient"]))
    assert settlement.in_county is False
    assert settlement.encounter is None
    assert settlement.scheme == county["patient"].scheme
    assert services.out_of_county_settlements(county["patient"]) == [settlement]


def test_contradicting_in_county_flag_is_refused(county):
    with pytest.raises(ValidationError) as caught:
        services.record_settlement(settlement_input(county["patient"], in_county=True))
    assert caught.value.error_dict["in_county"][0].code == "in_county_contradicts_division"


def test_settlement_is_matched_by_reference_then_by_key(county):
    patient, hospital = county["patient"], county["hospital"]
    by_ref = services.record_encounter(encounter_input(patient, hospital, "E-REF"))
    by_key = services.record_encounter(encounter_input(
        patient, hospital, "E-KEY", start=aware(2025, 3, 5, 23, 30)))
    paid_ref = services.record_settlement(settlement_input(
        patient, "S1", institution_id=hospital.pk, institution_name="", institution_level="",
        division_code="", encounter_class="outpatient", start_date=dt.date(2025, 1, 1),
        end_date=None, total=Decimal("100.00"), fund_paid=Decimal("50.00"),
        self_paid=Decimal("50.00"), encounter_ref="E-REF"))
    # 23:30 local on 5 March is 15:30 UTC: the match uses the local day
    paid_key = services.record_settlement(settlement_input(
        patient, "S2", institution_id=hospital.pk, institution_name="", institution_level="",
        division_code="", encounter_class="outpatient", start_date=dt.date(2025, 3, 5),
        end_date=None, total=Decimal("100.00"), fund_paid=Decimal("50.00"),
        self_paid=Decimal("50.00")))
    assert paid_ref.encounter_id == by_ref.pk and paid_ref.in_county is True
    assert paid_key.encounter_id == by_key.pk


def test_settlement_waiting_for_its_encounter_is_linked_when_it_arrives(county):
    patient, hospital = county["patient"], county["hospital"]
    settlement = services.record_settlement(settlement_input(
        patient, "S1", institution_id=hospital.pk, institution_name="", institution_level="",
        division_code="", encounter_class="outpatient", start_date=dt.date(2025, 3, 4),
        end_date=None, total=Decimal("100.00"), fund_paid=Decimal("50.00"),
        self_paid=Decimal("50.00"), encounter_ref="E1"))
    assert settlement.encounter_id is None
    encounter = services.record_encounter(encounter_input(patient, hospital, "E1"))
    settlement.refresh_from_db()
    assert settlement.encounter_id == encounter.pk


def test_settlement_recorded_twice_is_unchanged(county):
    first = services.save_settlement(settlement_input(county["patient"]))
    second = services.save_settlement(settlement_input(county["patient"]))
    assert (first.outcome, second.outcome) == ("inserted", "unchanged")
    assert Settlement.objects.count() == 1


# --------------------------------------------------------------------------- reading


def test_timeline_is_newest_first_across_institutions_in_two_queries(
        county, django_assert_max_num_queries):
    patient = county["patient"]
    for i, institution in enumerate([county["village"], county["township"], county["hospital"],
                                     county["village"]]):
        services.record_encounter(encounter_input(
            patient, institution, f"E{i}", start=aware(2025, 1, 1 + i * 3, 9, 0),
            secondary_diagnoses=["E11.9", "J06.9"]))
    services.record_encounter(encounter_input(county["other"], county["hospital"], "X"))
    with django_assert_max_num_queries(2):
        rows = services.timeline(patient)
        shown = [(e.source_id, e.institution.level, len(e.diagnoses.all())) for e in rows]
    assert shown == [("E3", "village", 2), ("E2", "county", 2), ("E1", "township", 2),
                     ("E0", "village", 2)]
    assert [e.source_id for e in services.timeline(patient, limit=2)] == ["E3", "E2"]


def test_summary_counts_levels_classes_and_this_years_cost(county):
    patient = county["patient"]
    today = dt.date(2025, 12, 31)
    this_year = aware(2025, 1, 2, 9, 0)
    services.record_encounter(encounter_input(patient, county["village"], "A",
                                              start=this_year))
    services.record_encounter(encounter_input(patient, county["hospital"], "B",
                                              encounter_class="inpatient",
                                              start=this_year + dt.timedelta(hours=1)))
    services.record_encounter(encounter_input(patient, county["hospital"], "C",
                                              start=aware(today.year - 1, 6, 1, 9, 0)))
    summary = services.patient_summary(patient, today=today)
    assert summary.encounters == 3
    assert summary.by_level == {"village": 1, "county": 2}
    assert summary.by_class == {"outpatient": 2, "inpatient": 1}
    assert summary.last_visit == this_year + dt.timedelta(hours=1)
    assert summary.last_institution == county["hospital"].name
    assert summary.total_cost_this_year == Decimal("200.00")
