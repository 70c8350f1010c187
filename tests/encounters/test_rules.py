"""Pure rules of encounters and settlements (rules.py): given/when/then, with Hypothesis
properties for the money rules."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

from tiercare.encounters import rules

UTC = dt.UTC
NOW = dt.datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
amounts = st.decimals(min_value=0, max_value=Decimal("99999999.99"), places=2,
                      allow_nan=False, allow_infinity=False)


def codes(found: list[rules.Violation]) -> set[str]:
    return {v.code for v in found}


# --------------------------------------------------------------------------- costs


@given(amounts, amounts, amounts, amounts, st.data())
def test_a_breakdown_that_adds_up_is_accepted(drugs, consumables, examinations, services, data):
    # given a total that is the sum of its parts and insurance paying part of it
    total = drugs + consumables + examinations + services
    paid = data.draw(st.decimals(min_value=0, max_value=total, places=2))
    # then no rule is broken
    assert rules.check_costs(total, drugs, consumables, examinations, services, paid) == []


@given(amounts, amounts, st.decimals(min_value=Decimal("0.01"), max_value=1000, places=2))
def test_a_total_off_by_any_amount_is_refused(drugs, services, delta):
    total = drugs + services + delta
    found = rules.check_costs(total, drugs, Decimal(0), Decimal(0), services, Decimal(0))
    assert codes(found) == {"costs_do_not_add_up"}
    assert found[0].field == "total"


def test_negative_parts_and_overpaying_insurance_are_refused():
    found = rules.check_costs(Decimal("10"), Decimal("-5"), Decimal("15"), Decimal(0),
                              Decimal(0), Decimal(0))
    assert [(v.field, v.code) for v in found] == [("drugs", "negative_amount")]
    found = rules.check_costs(Decimal("10"), Decimal("10"), Decimal(0), Decimal(0), Decimal(0),
                              Decimal("10.01"))
    assert [(v.field, v.code) for v in found] == [("insurance_paid", "insurance_exceeds_total")]


# --------------------------------------------------------------------------- dates


def test_open_admission_is_allowed_and_end_before_start_is_not():
    start = NOW - dt.timedelta(days=3)
    assert rules.check_encounter_dates(rules.INPATIENT, start, None, NOW) == []
    found = rules.check_encounter_dates(rules.INPATIENT, start, start - dt.timedelta(hours=1),
                                        NOW)
    assert [(v.field, v.code) for v in found] == [("end", "end_before_start")]


def test_future_start_or_end_is_refused():
    later = NOW + dt.timedelta(minutes=1)
    assert codes(rules.check_encounter_dates(rules.OUTPATIENT, later, None, NOW)) == {
        "future_date"}
    found = rules.check_encounter_dates(rules.INPATIENT, NOW - dt.timedelta(days=1), later, NOW)
    assert [(v.field, v.code) for v in found] == [("end", "future_date")]


def test_inpatient_settlement_needs_the_discharge_date_but_a_visit_does_not():
    day = dt.date(2025, 3, 1)
    today = dt.date(2025, 6, 1)
    assert codes(rules.check_settlement_dates(rules.INPATIENT, day, None, today)) == {
        "discharge_date_required"}
    assert rules.check_settlement_dates(rules.OUTPATIENT, day, None, today) == []
    assert codes(rules.check_settlement_dates(rules.OUTPATIENT, day, day - dt.timedelta(1),
                                              today)) == {"end_before_start"}
    assert codes(rules.check_settlement_dates(rules.OUTPATIENT, today + dt.timedelta(1), None,
                                              today)) == {"future_date"}


# --------------------------------------------------------------------------- settlements


@given(amounts, amounts)
def test_settlement_total_must_be_fund_plus_self(fund, own):
    assert rules.check_settlement_amounts(fund + own, fund, own) == []
    found = rules.check_settlement_amounts(fund + own + Decimal("0.01"), fund, own)
    assert codes(found) == {"settlement_does_not_add_up"}


def test_in_county_flag_must_agree_with_the_division_code():
    # given 怀宁县 340822: a township inside it, another district outside it
    assert rules.is_in_county("340822101", "340822")
    assert not rules.is_in_county("340802", "340822")
    assert rules.check_in_county(True, "340822101", "340822") == []
    assert rules.check_in_county(False, "340802", "340822") == []
    assert codes(rules.check_in_county(False, "340822", "340822")) == {
        "in_county_contradicts_division"}
    assert codes(rules.check_in_county(True, "340802", "340822")) == {
        "in_county_contradicts_division"}


def test_class_spellings():
    assert rules.parse_class("IMP") == rules.INPATIENT
    assert rules.parse_class(" 门诊 ") == rules.OUTPATIENT
    assert rules.parse_class("home_visit") == rules.HOME_VISIT
    assert rules.parse_class("ward") is None


# --------------------------------------------------------------------------- matching

DAY = dt.date(2025, 3, 4)


def enc(pk, *, patient=1, inst=10, klass="outpatient", day=DAY, sid="", total=None):
    return rules.EncounterFacts(pk, patient, inst, klass, day, sid or f"E{pk}", total)


def test_matching_by_reference_wins_over_the_key():
    settlement = rules.SettlementFacts(1, 10, "outpatient", DAY, encounter_ref="E2")
    assert rules.match_encounter(settlement, [enc(1), enc(2, day=DAY - dt.timedelta(3))]) == 2


def test_reference_of_another_residents_encounter_is_not_followed():
    settlement = rules.SettlementFacts(1, None, "outpatient", DAY, encounter_ref="E7")
    assert rules.match_encounter(settlement, [enc(7, patient=2)]) is None


def test_without_reference_patient_institution_class_and_day_must_agree():
    settlement = rules.SettlementFacts(1, 10, "outpatient", DAY)
    assert rules.match_encounter(settlement, [enc(1)]) == 1
    assert rules.match_encounter(settlement, [enc(1, inst=11)]) is None
    assert rules.match_encounter(settlement, [enc(1, klass="emergency")]) is None
    assert rules.match_encounter(settlement, [enc(1, day=DAY + dt.timedelta(1))]) is None
    assert rules.match_encounter(settlement, [enc(1, patient=2)]) is None


def test_two_visits_on_the_same_day_are_told_apart_by_total_or_left_unmatched():
    settlement = rules.SettlementFacts(1, 10, "outpatient", DAY, total=Decimal("30.00"))
    both = [enc(1, total=Decimal("30.00")), enc(2, total=Decimal("80.00"))]
    assert rules.match_encounter(settlement, both) == 2 - 1
    same = [enc(1, total=Decimal("30.00")), enc(2, total=Decimal("30.00"))]
    assert rules.match_encounter(settlement, same) is None


def test_out_of_county_settlement_never_matches():
    settlement = rules.SettlementFacts(1, None, "inpatient", DAY)
    assert rules.match_encounter(settlement, [enc(1, klass="inpatient")]) is None


@given(st.lists(st.text(min_size=0, max_size=5), max_size=6))
def test_digest_is_stable_and_sensitive(values):
    assert rules.content_digest(values) == rules.content_digest(list(values))
    assert rules.content_digest([*values, "x"]) != rules.content_digest(values)
    assert len(rules.content_digest(values)) == 32


def test_violation_messages_follow_the_active_language():
    from django.utils import translation

    with translation.override("en"):
        en = rules.check_costs(Decimal(5), Decimal(1), Decimal(0), Decimal(0), Decimal(0),
                               Decimal(0))[0].message
    with translation.override("zh-hans"):
        zh = rules.check_costs(Decimal(5), Decimal(1), Decimal(0), Decimal(0), Decimal(0),
                               Decimal(0))[0].message
    assert "does not equal" in en
    assert "不等于" in zh
    assert timezone.is_aware(NOW)
