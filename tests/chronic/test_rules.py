"""Pure rules of chronic-disease management and family-doctor contracts (rules.md §7–§8),
given/when/then: explicit boundary tables at the thresholds of rules.md §8 (139/140, 149/150,
179/180, 89/90, 109/110 mmHg; 3.9, 7.0, 16.7 mmol/L; heart rate 100/101; 39.0/39.1 °C; age
64/65) and Hypothesis properties checked against an independent reading of rules.md §8 written
out in this file (:func:`spec_urgent`, :func:`spec_classification`).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from tiercare.chronic import rules
from tiercare.chronic.rules import (
    DIABETES,
    HYPERTENSION,
    Classification,
    Reading,
    ReadingError,
    ScreeningValue,
    ServiceLine,
    Sign,
)

DAY = dt.date(2026, 3, 10)
SEVERITY = {Classification.CONTROLLED: 0, Classification.RECHECK: 1,
            Classification.REFER_UP: 2, Classification.URGENT: 3}

# --- rules.md §8 written out independently (the oracle of the properties) ---------------------

#: rules.md §8, hypertension: "altered consciousness, severe headache or dizziness,
#: nausea/vomiting, blurred vision or eye pain, palpitations or chest tightness, breathlessness
#: lying flat, … or anything the institution cannot handle".
SPEC_HTN_SIGNS = {"altered_consciousness", "severe_headache_or_dizziness", "nausea_vomiting",
                  "blurred_vision_eye_pain", "palpitations_chest_tightness",
                  "breathless_lying_flat", "beyond_capacity"}
#: rules.md §8, diabetes: "altered consciousness or ketoacidosis signs, sudden vision loss";
#: "anything the institution cannot handle" is the national specification's catch-all for
#: both diseases (rules.md lists it under hypertension).
SPEC_T2D_SIGNS = {"altered_consciousness", "ketoacidosis_signs", "sudden_vision_loss",
                  "beyond_capacity"}


def spec_at_target(disease: str, r: Reading, age: int) -> bool:
    if disease == HYPERTENSION:
        limit = 150 if age >= 65 else 140
        return r.sbp is not None and r.dbp is not None and r.sbp < limit and r.dbp < 90
    return r.fasting_glucose is not None and r.fasting_glucose < Decimal("7.0")


def spec_urgent(disease: str, r: Reading, age: int) -> bool:
    signs = {str(s) for s in r.signs}
    pressure = (r.sbp or 0) >= 180 or (r.dbp or 0) >= 110
    pregnant_raised = "pregnant_or_breastfeeding" in signs and not spec_at_target(disease, r,
                                                                                   age)
    if disease == HYPERTENSION:
        return pressure or bool(signs & SPEC_HTN_SIGNS) or pregnant_raised
    glucose = r.fasting_glucose
    return (pressure or bool(signs & SPEC_T2D_SIGNS) or pregnant_raised
            or (glucose is not None and (glucose >= Decimal("16.7")
                                         or glucose <= Decimal("3.9")))
            or (r.heart_rate is not None and r.heart_rate > 100)
            or (r.temperature is not None and r.temperature > Decimal("39.0")))


def spec_classification(disease: str, r: Reading, age: int,
                        previous_uncontrolled: bool) -> Classification:
    controlled = spec_at_target(disease, r, age)
    if spec_urgent(disease, r, age):
        return Classification.URGENT
    if (not controlled and previous_uncontrolled) or r.adverse_intolerable or \
            r.new_complication:
        return Classification.REFER_UP
    if not controlled or r.adverse_reaction:
        return Classification.RECHECK
    return Classification.CONTROLLED


# --- strategies ---------------------------------------------------------------------------------

ages = st.integers(min_value=35, max_value=100)
diseases = st.sampled_from(rules.DISEASES)
signs = st.frozensets(st.sampled_from([s.value for s in Sign]), max_size=3)
glucoses = st.decimals(min_value=Decimal("0.5"), max_value=Decimal("50.0"), places=1)
temperatures = st.decimals(min_value=Decimal("30.0"), max_value=Decimal("45.0"), places=1)


@st.composite
def pressures(draw: st.DrawFn) -> tuple[int, int]:
    """A plausible pressure (diastolic below systolic), mostly near the thresholds."""
    sbp = draw(st.one_of(st.integers(50, 300), st.sampled_from([139, 140, 149, 150, 179, 180])))
    dbp = draw(st.one_of(st.integers(20, min(200, sbp - 1)),
                         st.sampled_from([d for d in (89, 90, 109, 110) if d < sbp] or [20])))
    return sbp, dbp


@st.composite
def readings(draw: st.DrawFn, disease: str) -> Reading:
    """A reading that passes ``check_reading`` for ``disease``."""
    with_pressure = disease == HYPERTENSION or draw(st.booleans())
    sbp, dbp = draw(pressures()) if with_pressure else (None, None)
    glucose = draw(glucoses) if disease == DIABETES else draw(st.none() | glucoses)
    return Reading(
        sbp=sbp, dbp=dbp, fasting_glucose=glucose,
        heart_rate=draw(st.none() | st.integers(20, 250) | st.sampled_from([100, 101])),
        temperature=draw(st.none() | temperatures
                         | st.sampled_from([Decimal("39.0"), Decimal("39.1")])),
        signs=draw(signs), adverse_reaction=draw(st.booleans()),
        adverse_intolerable=draw(st.booleans()), new_complication=draw(st.booleans()))


@st.composite
def cases(draw: st.DrawFn) -> tuple[str, Reading, int, bool]:
    disease = draw(diseases)
    return disease, draw(readings(disease)), draw(ages), draw(st.booleans())


def htn(sbp: int, dbp: int, **extra: object) -> Reading:
    return Reading(sbp=sbp, dbp=dbp, **extra)  # type: ignore[arg-type]


def t2d(glucose: str, **extra: object) -> Reading:
    return Reading(fasting_glucose=Decimal(glucose), **extra)  # type: ignore[arg-type]


def classify(disease: str, reading: Reading, *, age: int = 50,
             previous_uncontrolled: bool = False) -> rules.Finding:
    return rules.classify(disease, reading, age=age, day=DAY,
                          previous_uncontrolled=previous_uncontrolled)


# --- at target: the boundaries ------------------------------------------------------------------


@pytest.mark.parametrize(("sbp", "dbp", "age", "expected"), [
    (139, 89, 64, True), (140, 89, 64, False), (139, 90, 64, False),
    (149, 89, 64, False), (149, 89, 65, True), (150, 89, 65, False), (149, 90, 65, False),
    (139, 89, 65, True), (140, 80, 65, True), (145, 85, 35, False), (145, 85, 90, True),
])
def test_given_a_hypertensive_resident_when_pressure_is_at_a_boundary_then_target_is_140_90_below_65_and_150_90_from_65(  # noqa: E501
        sbp: int, dbp: int, age: int, expected: bool) -> None:
    assert rules.at_target(HYPERTENSION, htn(sbp, dbp), age) is expected
    assert rules.pressure_target(age) == ((150, 90) if age >= 65 else (140, 90))


@pytest.mark.parametrize(("glucose", "expected"), [
    ("6.9", True), ("7.0", False), ("7.1", False), ("3.9", True), ("12.0", False),
])
def test_given_a_diabetic_resident_when_fasting_glucose_is_at_7_0_then_it_is_not_at_target(
        glucose: str, expected: bool) -> None:
    assert rules.at_target(DIABETES, t2d(glucose), 50) is expected


def test_given_no_measurement_then_nothing_is_at_target() -> None:
    assert not rules.at_target(HYPERTENSION, Reading(), 50)
    assert not rules.at_target(DIABETES, Reading(sbp=120, dbp=80), 50)


def test_given_a_diabetic_with_high_pressure_when_glucose_is_at_target_then_it_is_controlled(
) -> None:
    assert rules.at_target(DIABETES, t2d("6.0", sbp=165, dbp=95), 50)


# --- urgent: the boundaries ---------------------------------------------------------------------


@pytest.mark.parametrize("disease", rules.DISEASES)
@pytest.mark.parametrize(("sbp", "dbp", "expected"), [
    (179, 109, ()), (180, 109, ("sbp_high",)), (179, 110, ("dbp_high",)),
    (180, 110, ("sbp_high", "dbp_high")), (250, 60, ("sbp_high",)),
])
def test_given_either_disease_when_pressure_reaches_180_or_110_then_it_is_urgent(
        disease: str, sbp: int, dbp: int, expected: tuple[str, ...]) -> None:
    reading = Reading(sbp=sbp, dbp=dbp, fasting_glucose=Decimal("6.0"))
    assert rules.urgent_reasons(disease, reading, 50) == expected


@pytest.mark.parametrize(("glucose", "expected"), [
    ("16.6", ()), ("16.7", ("glucose_high",)), ("30.0", ("glucose_high",)),
    ("4.0", ()), ("3.9", ("glucose_low",)), ("0.5", ("glucose_low",)),
])
def test_given_a_diabetic_when_glucose_reaches_16_7_or_falls_to_3_9_then_it_is_urgent(
        glucose: str, expected: tuple[str, ...]) -> None:
    assert rules.urgent_reasons(DIABETES, t2d(glucose), 50) == expected


@pytest.mark.parametrize(("heart_rate", "temperature", "expected"), [
    (100, "39.0", ()), (101, "39.0", ("heart_rate_high",)), (100, "39.1", ("fever",)),
    (101, "39.1", ("heart_rate_high", "fever")),
])
def test_given_a_diabetic_when_heart_rate_is_above_100_or_temperature_above_39_then_it_is_urgent(
        heart_rate: int, temperature: str, expected: tuple[str, ...]) -> None:
    reading = t2d("6.0", heart_rate=heart_rate, temperature=Decimal(temperature))
    assert rules.urgent_reasons(DIABETES, reading, 50) == expected
    assert classify(DIABETES, reading).classification == (
        Classification.URGENT if expected else Classification.CONTROLLED)


def test_given_a_hypertensive_when_heart_rate_and_temperature_are_high_then_it_is_not_urgent(
) -> None:
    reading = htn(130, 80, heart_rate=140, temperature=Decimal("40.0"))
    assert rules.urgent_reasons(HYPERTENSION, reading, 50) == ()


@pytest.mark.parametrize(("disease", "sign", "urgent"), [
    *[(HYPERTENSION, s, s in SPEC_HTN_SIGNS) for s in sorted(s.value for s in Sign)
      if s != "pregnant_or_breastfeeding"],
    *[(DIABETES, s, s in SPEC_T2D_SIGNS) for s in sorted(s.value for s in Sign)
      if s != "pregnant_or_breastfeeding"],
])
def test_given_a_controlled_resident_when_a_danger_sign_is_present_then_urgent_depends_on_the_disease(  # noqa: E501
        disease: str, sign: str, urgent: bool) -> None:
    reading = Reading(sbp=125, dbp=80, fasting_glucose=Decimal("6.0"), signs=frozenset({sign}))
    assert rules.urgent_reasons(disease, reading, 50) == ((sign,) if urgent else ())


@pytest.mark.parametrize(("disease", "reading", "urgent"), [
    (HYPERTENSION, htn(139, 89), False), (HYPERTENSION, htn(140, 89), True),
    (HYPERTENSION, htn(145, 85), True),
    (DIABETES, t2d("6.9", sbp=150, dbp=95), False), (DIABETES, t2d("7.0"), True),
])
def test_given_a_pregnant_resident_when_pressure_or_glucose_is_raised_then_it_is_urgent(
        disease: str, reading: Reading, urgent: bool) -> None:
    pregnant = Reading(**{**reading.__dict__, "signs": frozenset({"pregnant_or_breastfeeding"})})
    assert rules.urgent_reasons(disease, pregnant, 30) == (
        ("pregnant_or_breastfeeding",) if urgent else ())


def test_given_many_danger_signs_then_the_reasons_come_in_a_fixed_order() -> None:
    reading = Reading(sbp=200, dbp=120, fasting_glucose=Decimal("20.0"), heart_rate=120,
                      temperature=Decimal("39.5"),
                      signs=frozenset({"sudden_vision_loss", "altered_consciousness"}))
    assert rules.urgent_reasons(DIABETES, reading, 50) == (
        "sbp_high", "dbp_high", "glucose_high", "heart_rate_high", "fever",
        "altered_consciousness", "sudden_vision_loss")


# --- classification: tables ---------------------------------------------------------------------


@pytest.mark.parametrize(("disease", "reading", "age", "previous", "classification", "reasons"), [
    (HYPERTENSION, htn(139, 89), 64, False, "controlled", ()),
    (HYPERTENSION, htn(140, 89), 64, False, "recheck", ("uncontrolled",)),
    (HYPERTENSION, htn(140, 89), 64, True, "refer_up", ("two_uncontrolled",)),
    (HYPERTENSION, htn(149, 89), 65, True, "controlled", ()),
    (HYPERTENSION, htn(149, 89), 64, True, "refer_up", ("two_uncontrolled",)),
    (HYPERTENSION, htn(179, 109), 50, True, "refer_up", ("two_uncontrolled",)),
    (HYPERTENSION, htn(180, 100), 50, False, "urgent", ("sbp_high",)),
    (HYPERTENSION, htn(130, 80, adverse_reaction=True), 50, True, "recheck",
     ("adverse_reaction",)),
    (HYPERTENSION, htn(130, 80, adverse_intolerable=True), 50, False, "refer_up",
     ("adverse_intolerable",)),
    (HYPERTENSION, htn(150, 95, new_complication=True), 50, False, "refer_up",
     ("new_complication",)),
    (HYPERTENSION, htn(150, 95, adverse_reaction=True), 50, False, "recheck",
     ("uncontrolled", "adverse_reaction")),
    (DIABETES, t2d("6.9"), 50, True, "controlled", ()),
    (DIABETES, t2d("7.0"), 50, False, "recheck", ("uncontrolled",)),
    (DIABETES, t2d("7.0"), 50, True, "refer_up", ("two_uncontrolled",)),
    (DIABETES, t2d("16.6"), 50, True, "refer_up", ("two_uncontrolled",)),
    (DIABETES, t2d("16.7"), 50, False, "urgent", ("glucose_high",)),
    (DIABETES, t2d("4.0"), 50, False, "controlled", ()),
    (DIABETES, t2d("3.9"), 50, False, "urgent", ("glucose_low",)),
])
def test_given_a_follow_up_when_it_is_classified_then_the_table_of_rules_md_8_holds(
        disease: str, reading: Reading, age: int, previous: bool, classification: str,
        reasons: tuple[str, ...]) -> None:
    finding = classify(disease, reading, age=age, previous_uncontrolled=previous)
    assert (finding.classification, finding.reasons) == (classification, reasons)
    assert finding.needs_referral is (classification in ("refer_up", "urgent"))


def test_given_an_unknown_disease_then_classification_is_refused() -> None:
    with pytest.raises(ValueError):
        rules.classify("asthma", htn(130, 80), age=50, day=DAY, previous_uncontrolled=False)


# --- classification: properties -----------------------------------------------------------------


@given(cases())
@example((DIABETES, t2d("6.0", heart_rate=100), 50, False))
@example((DIABETES, t2d("6.0", heart_rate=101), 50, False))
@example((HYPERTENSION, htn(149, 89), 65, True))
def test_property_urgent_iff_a_danger_threshold_or_sign_of_the_disease(
        case: tuple[str, Reading, int, bool]) -> None:
    # given any plausible reading of either disease
    disease, reading, age, previous = case
    # when it is classified
    finding = classify(disease, reading, age=age, previous_uncontrolled=previous)
    # then it is urgent exactly when rules.md §8 names a danger threshold or sign
    assert (finding.classification == Classification.URGENT) is spec_urgent(disease, reading,
                                                                              age)
    assert bool(rules.urgent_reasons(disease, reading, age)) is spec_urgent(disease, reading, age)


@given(cases())
def test_property_classification_is_what_rules_md_8_says(
        case: tuple[str, Reading, int, bool]) -> None:
    disease, reading, age, previous = case
    finding = classify(disease, reading, age=age, previous_uncontrolled=previous)
    assert finding.classification == spec_classification(disease, reading, age, previous)
    assert finding.controlled is spec_at_target(disease, reading, age)
    # every finding but "controlled" says why
    assert (finding.reasons == ()) is (finding.classification == Classification.CONTROLLED)


@given(cases())
def test_property_refer_up_iff_two_uncontrolled_intolerable_or_complication_when_not_urgent(
        case: tuple[str, Reading, int, bool]) -> None:
    disease, reading, age, previous = case
    finding = classify(disease, reading, age=age, previous_uncontrolled=previous)
    if spec_urgent(disease, reading, age):
        # urgent wins (the urgent properties above); returning instead of ``assume`` keeps
        # Hypothesis from rejecting the many urgent cases as "filtered too much"
        assert finding.classification == Classification.URGENT
        return
    uncontrolled = not rules.at_target(disease, reading, age)
    expected = (uncontrolled and previous) or reading.adverse_intolerable or \
        reading.new_complication
    assert (finding.classification == Classification.REFER_UP) is expected


@given(cases())
def test_property_next_due_is_14_days_unless_controlled_then_90(
        case: tuple[str, Reading, int, bool]) -> None:
    disease, reading, age, previous = case
    finding = classify(disease, reading, age=age, previous_uncontrolled=previous)
    days = 90 if finding.classification == Classification.CONTROLLED else 14
    assert finding.next_due == DAY + dt.timedelta(days=days)


@given(cases(), st.data())
def test_property_classification_is_monotone_in_severity(
        case: tuple[str, Reading, int, bool], data: st.DataObject) -> None:
    # given a reading and a worse one (higher pressure, more signs, a previous uncontrolled
    # follow-up, adverse reactions or complications added; glucose higher above 3.9)
    disease, reading, age, previous = case
    worse_signs = reading.signs | data.draw(signs)
    sbp, dbp = reading.sbp, reading.dbp
    if sbp is not None and dbp is not None:
        sbp = data.draw(st.integers(sbp, 300))
        dbp = data.draw(st.integers(dbp, min(200, sbp - 1)))
    glucose = reading.fasting_glucose
    if glucose is not None and glucose > Decimal("3.9"):
        glucose = data.draw(st.decimals(min_value=glucose, max_value=Decimal("50.0"), places=1))
    heart_rate = reading.heart_rate
    if heart_rate is not None:
        heart_rate = data.draw(st.integers(heart_rate, 250))
    worse = Reading(sbp=sbp, dbp=dbp, fasting_glucose=glucose, heart_rate=heart_rate,
                    temperature=reading.temperature, signs=worse_signs,
                    adverse_reaction=reading.adverse_reaction or data.draw(st.booleans()),
                    adverse_intolerable=reading.adverse_intolerable or data.draw(st.booleans()),
                    new_complication=reading.new_complication or data.draw(st.booleans()))
    worse_previous = previous or data.draw(st.booleans())
    # when both are classified
    before = classify(disease, reading, age=age, previous_uncontrolled=previous)
    after = classify(disease, worse, age=age, previous_uncontrolled=worse_previous)
    # then the worse one is never classified less severe
    assert SEVERITY[after.classification] >= SEVERITY[before.classification]


@given(pressures(), st.booleans())
def test_property_the_elderly_target_applies_from_65_not_at_64(
        pressure: tuple[int, int], previous: bool) -> None:
    sbp, dbp = pressure
    reading = htn(sbp, dbp)
    at_64 = classify(HYPERTENSION, reading, age=64, previous_uncontrolled=previous)
    at_65 = classify(HYPERTENSION, reading, age=65, previous_uncontrolled=previous)
    assert at_64.controlled is (sbp < 140 and dbp < 90)
    assert at_65.controlled is (sbp < 150 and dbp < 90)
    assert SEVERITY[at_65.classification] <= SEVERITY[at_64.classification]


@given(st.integers(35, 100), st.sampled_from(rules.DISEASES), glucoses)
def test_property_a_targets_change_moves_the_boundary(age: int, disease: str,
                                                      glucose: Decimal) -> None:
    """The [conv] values are configuration (rules.md: never constants in code): an alliance's
    elderly age of 70 keeps 140/90 for a resident of 65."""
    targets = rules.Targets(elderly_age=70)
    reading = Reading(sbp=145, dbp=85, fasting_glucose=glucose)
    expected = (age >= 70) if disease == HYPERTENSION else glucose < Decimal("7.0")
    assert rules.at_target(disease, reading, age, targets) is expected


# --- check_reading ------------------------------------------------------------------------------


@pytest.mark.parametrize(("reading", "disease", "code", "field"), [
    (htn(400, 20), HYPERTENSION, "reading.implausible", "sbp"),
    (htn(301, 80), HYPERTENSION, "reading.implausible", "sbp"),
    (htn(49, 30), HYPERTENSION, "reading.implausible", "sbp"),
    (htn(120, 19), HYPERTENSION, "reading.implausible", "dbp"),
    (htn(300, 201), HYPERTENSION, "reading.implausible", "dbp"),
    (htn(120, 120), HYPERTENSION, "reading.pressure_order", "dbp"),
    (htn(120, 130), HYPERTENSION, "reading.pressure_order", "dbp"),
    (Reading(sbp=120), HYPERTENSION, "reading.missing", "dbp"),
    (Reading(dbp=80), HYPERTENSION, "reading.missing", "sbp"),
    (Reading(fasting_glucose=Decimal("6.0")), HYPERTENSION, "reading.missing", "sbp"),
    (t2d("90"), DIABETES, "reading.implausible", "fasting_glucose"),
    (t2d("50.1"), DIABETES, "reading.implausible", "fasting_glucose"),
    (t2d("0.4"), DIABETES, "reading.implausible", "fasting_glucose"),
    (t2d("NaN"), DIABETES, "reading.implausible", "fasting_glucose"),
    (t2d("Infinity"), DIABETES, "reading.implausible", "fasting_glucose"),
    (htn(120, 80), DIABETES, "reading.missing", "fasting_glucose"),
    (t2d("6.0", heart_rate=251), DIABETES, "reading.implausible", "heart_rate"),
    (t2d("6.0", heart_rate=19), DIABETES, "reading.implausible", "heart_rate"),
    (t2d("6.0", temperature=Decimal("45.1")), DIABETES, "reading.implausible", "temperature"),
    (t2d("6.0", temperature=Decimal("29.9")), DIABETES, "reading.implausible", "temperature"),
    (t2d("6.0", weight_kg=Decimal("301")), DIABETES, "reading.implausible", "weight_kg"),
    (t2d("6.0", height_cm=Decimal("49")), DIABETES, "reading.implausible", "height_cm"),
    (t2d("6.0", signs=frozenset({"headache"})), DIABETES, "reading.sign", "signs"),
])
def test_given_an_impossible_or_incomplete_reading_then_it_is_refused_naming_the_field(
        reading: Reading, disease: str, code: str, field: str) -> None:
    with pytest.raises(ReadingError) as refused:
        rules.check_reading(reading, disease)
    assert (refused.value.code, refused.value.field_name) == (code, field)


@pytest.mark.parametrize(("reading", "disease"), [
    (htn(300, 200), HYPERTENSION), (htn(50, 20), HYPERTENSION), (htn(51, 50), HYPERTENSION),
    (t2d("0.5"), DIABETES), (t2d("50.0"), DIABETES),
    (t2d("6.0", heart_rate=20, temperature=Decimal("30.0")), DIABETES),
    (t2d("6.0", heart_rate=250, temperature=Decimal("45.0")), DIABETES),
    (Reading(), ""), (Reading(sbp=120, dbp=80), ""),
])
def test_given_the_edges_of_the_plausible_ranges_then_the_reading_is_accepted(
        reading: Reading, disease: str) -> None:
    rules.check_reading(reading, disease)


@given(diseases, st.data())
def test_property_check_reading_accepts_exactly_the_plausible_values(
        disease: str, data: st.DataObject) -> None:
    # given any value, plausible or not, of each measured field (including NaN and infinity)
    values = {name: data.draw(st.none() | st.decimals(min_value=low - 100, max_value=high + 100,
                                                      places=1)
                              | st.sampled_from([Decimal("NaN"), Decimal("-Infinity")]))
              for name, (low, high) in rules.PLAUSIBLE.items()}
    reading = Reading(**values)  # type: ignore[arg-type]
    plausible = all(v is None or (v.is_finite() and low <= v <= high)
                    for v, (low, high) in zip(values.values(), rules.PLAUSIBLE.values(),
                                              strict=True))
    paired = (reading.sbp is None) == (reading.dbp is None)
    needed = reading.sbp is not None if disease == HYPERTENSION else \
        reading.fasting_glucose is not None
    expected = plausible and paired and needed and (
        reading.sbp is None or reading.dbp is None or reading.dbp < reading.sbp)
    # when it is checked, then it passes exactly when every value is plausible, the pressure
    # is complete and ordered and the disease's measurement is there; otherwise a ReadingError
    # (never another exception)
    try:
        rules.check_reading(reading, disease)
        accepted = True
    except ReadingError:
        accepted = False
    assert accepted is expected


# --- the screening rule: three raised readings on different days --------------------------------


def bp(day: int, sbp: int, dbp: int) -> ScreeningValue:
    return ScreeningValue(DAY + dt.timedelta(days=day), sbp=sbp, dbp=dbp)


def fpg(day: int, glucose: str) -> ScreeningValue:
    return ScreeningValue(DAY + dt.timedelta(days=day), fasting_glucose=Decimal(glucose))


@pytest.mark.parametrize(("values", "met_on_day"), [
    ([bp(0, 140, 80), bp(5, 130, 90), bp(9, 150, 95)], 9),
    ([bp(0, 139, 89), bp(5, 150, 95), bp(9, 150, 95)], None),
    ([bp(0, 150, 95), bp(0, 152, 96), bp(0, 155, 99), bp(3, 150, 95)], None),
    ([bp(0, 150, 95), bp(0, 152, 96), bp(3, 150, 95), bp(7, 145, 92)], 7),
    ([bp(9, 150, 95), bp(0, 150, 95), bp(5, 150, 95), bp(12, 150, 95)], 9),
    ([bp(0, 150, 95), bp(2, 120, 80), bp(5, 150, 95)], None),
])
def test_given_blood_pressures_on_several_days_then_three_raised_days_make_a_provisional_hypertension(  # noqa: E501
        values: list[ScreeningValue], met_on_day: int | None) -> None:
    expected = None if met_on_day is None else DAY + dt.timedelta(days=met_on_day)
    assert rules.provisional_diagnosis(HYPERTENSION, values) == expected


@pytest.mark.parametrize(("values", "met_on_day"), [
    ([fpg(0, "7.0"), fpg(1, "7.5"), fpg(2, "8.0")], 2),
    ([fpg(0, "6.9"), fpg(1, "7.5"), fpg(2, "8.0")], None),
    ([fpg(0, "7.0"), fpg(0, "7.5"), fpg(2, "8.0")], None),
    ([bp(0, 150, 95), bp(1, 150, 95), fpg(2, "8.0")], None),
])
def test_given_fasting_glucoses_on_several_days_then_three_raised_days_make_a_provisional_diabetes(
        values: list[ScreeningValue], met_on_day: int | None) -> None:
    expected = None if met_on_day is None else DAY + dt.timedelta(days=met_on_day)
    assert rules.provisional_diagnosis(DIABETES, values) == expected


screening_values = st.builds(
    ScreeningValue, day=st.dates(DAY, DAY + dt.timedelta(days=20)),
    sbp=st.none() | st.integers(100, 200), dbp=st.none() | st.integers(60, 120),
    fasting_glucose=st.none() | st.decimals(Decimal("4.0"), Decimal("12.0"), places=1))


@given(diseases, st.lists(screening_values, max_size=12), st.integers(0, 3))
def test_property_the_screening_rule_counts_raised_days_not_readings(
        disease: str, values: list[ScreeningValue], repeats: int) -> None:
    # given screening readings, some repeated on the same day
    raised_days = sorted({v.day for v in values if rules.raised(disease, v)})
    repeated = values + values[:repeats]
    # when the rule is applied
    met = rules.provisional_diagnosis(disease, repeated)
    # then it is met on the third different day with a raised reading, whatever the order
    # and the same-day repeats
    assert met == (raised_days[2] if len(raised_days) >= 3 else None)
    assert rules.provisional_diagnosis(disease, list(reversed(repeated))) == met


@pytest.mark.parametrize(("value", "disease", "expected"), [
    (bp(0, 139, 89), HYPERTENSION, False), (bp(0, 140, 60), HYPERTENSION, True),
    (bp(0, 120, 90), HYPERTENSION, True), (fpg(0, "6.9"), DIABETES, False),
    (fpg(0, "7.0"), DIABETES, True), (bp(0, 200, 120), DIABETES, False),
    (fpg(0, "20.0"), HYPERTENSION, False),
])
def test_given_a_screening_reading_then_raised_means_140_90_or_glucose_7_0_whatever_the_age(
        value: ScreeningValue, disease: str, expected: bool) -> None:
    assert rules.raised(disease, value) is expected


# --- standard management ------------------------------------------------------------------------


@pytest.mark.parametrize(("face_to_face", "check", "needs_check", "expected"), [
    (3, True, False, False), (4, False, False, True), (4, True, False, True),
    (9, False, False, True), (4, False, True, False), (4, True, True, True),
    (3, True, True, False), (0, False, False, False),
])
def test_given_a_years_follow_ups_then_standard_management_needs_4_face_to_face_and_the_check_if_configured(  # noqa: E501
        face_to_face: int, check: bool, needs_check: bool, expected: bool) -> None:
    targets = rules.Targets(standard_needs_annual_check=needs_check)
    assert rules.is_standard(face_to_face, check, targets) is expected


@given(st.integers(0, 20), st.booleans(), st.integers(1, 12), st.booleans())
def test_property_standard_iff_enough_follow_ups_and_the_check_when_required(
        count: int, check: bool, needed: int, needs_check: bool) -> None:
    targets = rules.Targets(standard_follow_ups=needed, standard_needs_annual_check=needs_check)
    assert rules.is_standard(count, check, targets) is (
        count >= needed and (check or not needs_check))
    # one more follow-up never loses the standard
    assert rules.is_standard(count + 1, check, targets) >= rules.is_standard(count, check,
                                                                              targets)


# --- contract period ----------------------------------------------------------------------------


@pytest.mark.parametrize(("start", "years", "end"), [
    (dt.date(2026, 1, 1), 1, dt.date(2026, 12, 31)),
    (dt.date(2026, 3, 10), 1, dt.date(2027, 3, 9)),
    (dt.date(2026, 3, 10), 3, dt.date(2029, 3, 9)),
    (dt.date(2024, 3, 1), 1, dt.date(2025, 2, 28)),
    (dt.date(2023, 3, 1), 1, dt.date(2024, 2, 29)),
    (dt.date(2024, 2, 28), 1, dt.date(2025, 2, 27)),
    # 29 February: the anniversary in a common year is 28 February (rules.add_years)
    (dt.date(2024, 2, 29), 1, dt.date(2025, 2, 27)),
    (dt.date(2024, 2, 29), 3, dt.date(2027, 2, 27)),
    (dt.date(2024, 12, 31), 2, dt.date(2026, 12, 30)),
])
def test_given_a_start_and_years_then_the_contract_ends_the_day_before_the_anniversary(
        start: dt.date, years: int, end: dt.date) -> None:
    assert rules.contract_end(start, years) == end


@pytest.mark.parametrize("years", [0, 4, -1])
def test_given_a_period_outside_1_to_3_years_then_it_is_refused(years: int) -> None:
    with pytest.raises(ValueError):
        rules.contract_end(DAY, years)


def test_given_an_alliance_allowing_5_years_then_5_years_are_accepted() -> None:
    terms = rules.ContractTerms(max_years=5)
    assert rules.contract_end(dt.date(2024, 2, 29), 5, terms) == dt.date(2029, 2, 27)


@given(st.dates(dt.date(2000, 1, 1), dt.date(2095, 12, 31)), st.integers(1, 3))
@example(dt.date(2024, 2, 29), 1)
@example(dt.date(2023, 3, 1), 1)
def test_property_a_contract_lasts_whole_years_and_a_renewal_follows_without_gap(
        start: dt.date, years: int) -> None:
    end = rules.contract_end(start, years)
    # the contract lasts the years' days (365 each, plus the 29 Februaries it holds; one day
    # less when it starts on a 29 February)
    days = (end - start).days + 1
    assert 365 * years - 1 <= days <= 365 * years + (years + 3) // 4
    # the renewal (from the day after) covers the next years without gap or overlap
    renewal_end = rules.contract_end(end + dt.timedelta(days=1), years)
    assert renewal_end > end
    # a later start never ends earlier
    assert rules.contract_end(start + dt.timedelta(days=1), years) >= end
    # and the whole term owes exactly ``years`` times each yearly count
    assert rules.owed_in_span(4, days) == 4 * years


# --- fulfilment: capping and pro rata -----------------------------------------------------------


@pytest.mark.parametrize(("count", "days", "owed"), [
    (4, 0, "0"), (4, -3, "0"), (4, 1, "0.01"), (4, 91, "1.00"), (4, 182, "1.99"),
    (4, 364, "3.99"), (4, 365, "4.00"), (4, 366, "4.00"), (4, 367, "4.02"),
    (4, 730, "8.00"), (4, 731, "8.00"), (4, 1095, "12.00"), (4, 1096, "12.00"),
    (1, 365, "1.00"), (1, 100, "0.27"), (0, 365, "0"),
])
def test_given_a_yearly_count_then_a_span_owes_it_pro_rata_and_a_whole_year_owes_it_whole(
        count: int, days: int, owed: str) -> None:
    assert rules.owed_in_span(count, days) == Decimal(owed)


@given(st.integers(0, 12), st.integers(-5, 1200))
def test_property_owed_grows_with_the_span_and_never_exceeds_the_years_it_touches(
        count: int, days: int) -> None:
    owed = rules.owed_in_span(count, days)
    assert owed >= 0
    assert rules.owed_in_span(count, days + 1) >= owed
    assert owed <= count * (max(days, 0) // 365 + 1)


def test_given_more_deliveries_than_owed_then_a_service_counts_only_what_was_owed() -> None:
    lines = [ServiceLine("htn_follow_up", 4, "hypertension_follow_up"),
             ServiceLine("elderly_check", 1, "elderly_check")]
    result = rules.fulfilment(lines, {"htn_follow_up": 7}, 365)
    assert [(line.code, line.owed, line.delivered, line.counted) for line in result.lines] == [
        ("htn_follow_up", Decimal("4.00"), 7, Decimal("4.00")),
        ("elderly_check", Decimal("1.00"), 0, Decimal("0"))]
    # an extra follow-up does not make up for the missing check
    assert result.owed == Decimal("5.00") and result.counted == Decimal("4.00")
    assert result.rate == Decimal("0.8")


def test_given_a_leap_year_contract_with_every_service_given_then_fulfilment_is_whole() -> None:
    start = dt.date(2024, 1, 1)
    days = (rules.contract_end(start, 1) - start).days + 1
    result = rules.fulfilment([ServiceLine("htn_follow_up", 4, "hypertension_follow_up")],
                              {"htn_follow_up": 4}, days)
    assert days == 366 and result.rate == 1


def test_given_nothing_owed_then_the_rate_is_none() -> None:
    assert rules.fulfilment([], {}, 365).rate is None
    assert rules.fulfilment([ServiceLine("x", 4, "recorded")], {"x": 2}, 0).rate is None


@given(st.lists(st.tuples(st.integers(0, 6), st.integers(0, 10)), max_size=6),
       st.integers(0, 1100))
def test_property_fulfilment_rate_is_between_0_and_1_and_counts_each_service_up_to_its_owed(
        services: list[tuple[int, int]], days: int) -> None:
    lines = [ServiceLine(f"s{i}", count, "recorded") for i, (count, _) in enumerate(services)]
    delivered = {f"s{i}": given for i, (_, given) in enumerate(services)}
    result = rules.fulfilment(lines, delivered, days)
    assert result.owed == sum((rules.owed_in_span(c, days) for c, _ in services), Decimal(0))
    assert result.counted == sum((min(Decimal(d), rules.owed_in_span(c, days))
                                  for c, d in services), Decimal(0))
    if result.owed == 0:
        assert result.rate is None
    else:
        assert result.rate is not None and 0 <= result.rate <= 1
        all_given = all(d >= rules.owed_in_span(c, days) for c, d in services)
        assert (result.rate == 1) is all_given


@pytest.mark.parametrize(("a", "b", "days"), [
    ((1, 10), (5, 20), 6), ((1, 10), (10, 20), 1), ((1, 10), (11, 20), 0),
    ((5, 6), (1, 30), 2), ((1, 30), (5, 6), 2),
])
def test_given_two_date_ranges_then_their_overlap_counts_shared_days(
        a: tuple[int, int], b: tuple[int, int], days: int) -> None:
    def d(n: int) -> dt.date:
        return DAY + dt.timedelta(days=n)

    assert rules.overlap_days(d(a[0]), d(a[1]), d(b[0]), d(b[1])) == days


# --- small helpers ------------------------------------------------------------------------------


@pytest.mark.parametrize(("birth", "day", "age"), [
    (dt.date(1961, 3, 10), dt.date(2026, 3, 9), 64),
    (dt.date(1961, 3, 10), dt.date(2026, 3, 10), 65),
    (dt.date(1960, 2, 29), dt.date(2025, 2, 28), 64),
    (dt.date(1960, 2, 29), dt.date(2025, 3, 1), 65),
])
def test_given_a_birth_date_then_age_counts_whole_years(birth: dt.date, day: dt.date,
                                                        age: int) -> None:
    assert rules.age_on(birth, day) == age


def test_given_weight_and_height_then_bmi_has_one_decimal() -> None:
    assert rules.bmi(Decimal("70"), Decimal("175")) == Decimal("22.9")
    assert rules.bmi(None, Decimal("175")) is None
