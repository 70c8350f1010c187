"""Pure policy of chronic-disease management and family-doctor contracts (no ORM; unit-tested
in milliseconds, with Hypothesis properties in ``tests/chronic/test_rules.py``).

Sources: rules.md §8 (national basic public-health service specification, 3rd edition [nat])
for the follow-up classification, the screening rule, the standard-management and control
rates and the elderly check; rules.md §7 ([nat], [local]) for contracts and fulfilment. Values
marked [conv] or [local] there live in :class:`Targets` and :class:`ContractTerms`, which an
alliance can change (``chronic.models.ChronicPolicy``); nothing here hard-codes them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

HYPERTENSION = "hypertension"
DIABETES = "t2d"
DISEASES = (HYPERTENSION, DIABETES)


class Classification(StrEnum):
    """What a follow-up found (rules.md §8), most serious last.

    * controlled: at target, no adverse reaction → the next routine visit;
    * recheck: first uncontrolled reading or an adverse reaction → adjust treatment and see the
      resident again within 2 weeks;
    * refer_up: two consecutive uncontrolled follow-ups, an intolerable adverse reaction or a
      new or worse complication → refer up, follow up within 2 weeks;
    * urgent: a danger sign → emergency (green-channel) referral, follow up within 2 weeks.
    """

    CONTROLLED = "controlled"
    RECHECK = "recheck"
    REFER_UP = "refer_up"
    URGENT = "urgent"


class Sign(StrEnum):
    """Danger signs asked at every follow-up (rules.md §8). Which of them make a follow-up
    urgent depends on the disease (:data:`URGENT_SIGNS`)."""

    ALTERED_CONSCIOUSNESS = "altered_consciousness"
    SEVERE_HEADACHE_OR_DIZZINESS = "severe_headache_or_dizziness"
    NAUSEA_VOMITING = "nausea_vomiting"
    BLURRED_VISION_EYE_PAIN = "blurred_vision_eye_pain"
    PALPITATIONS_CHEST_TIGHTNESS = "palpitations_chest_tightness"
    BREATHLESS_LYING_FLAT = "breathless_lying_flat"
    KETOACIDOSIS_SIGNS = "ketoacidosis_signs"
    SUDDEN_VISION_LOSS = "sudden_vision_loss"
    PREGNANT_OR_BREASTFEEDING = "pregnant_or_breastfeeding"
    BEYOND_CAPACITY = "beyond_capacity"


#: rules.md §8: the signs that make a follow-up urgent, per disease. For hypertension a
#: pregnant or breast-feeding resident is urgent when her pressure is raised; for diabetes
#: when her glucose is raised (both checked in :func:`urgent_reasons`).
URGENT_SIGNS: dict[str, frozenset[Sign]] = {
    HYPERTENSION: frozenset({
        Sign.ALTERED_CONSCIOUSNESS, Sign.SEVERE_HEADACHE_OR_DIZZINESS, Sign.NAUSEA_VOMITING,
        Sign.BLURRED_VISION_EYE_PAIN, Sign.PALPITATIONS_CHEST_TIGHTNESS,
        Sign.BREATHLESS_LYING_FLAT, Sign.BEYOND_CAPACITY}),
    DIABETES: frozenset({
        Sign.ALTERED_CONSCIOUSNESS, Sign.KETOACIDOSIS_SIGNS, Sign.SUDDEN_VISION_LOSS,
        Sign.BEYOND_CAPACITY}),
}


@dataclass(frozen=True)
class Targets:
    """Thresholds of the classification and the visit rhythm. Defaults: rules.md §8 [nat];
    the ≥65 target of 150/90 and the 90-day routine interval are [conv] (configuration)."""

    sbp_below: int = 140
    dbp_below: int = 90
    elderly_age: int = 65
    elderly_sbp_below: int = 150
    elderly_dbp_below: int = 90
    glucose_below: Decimal = Decimal("7.0")
    urgent_sbp_at: int = 180
    urgent_dbp_at: int = 110
    urgent_glucose_at: Decimal = Decimal("16.7")
    urgent_glucose_low_at: Decimal = Decimal("3.9")
    urgent_heart_rate_above: int = 100
    urgent_temperature_above: Decimal = Decimal("39.0")
    routine_interval_days: int = 90
    recheck_days: int = 14
    #: rules.md §8: "standard" = at least this many face-to-face follow-ups in the year …
    standard_follow_ups: int = 4
    #: … and, when the alliance says so, the annual health check as well.
    standard_needs_annual_check: bool = False


DEFAULT_TARGETS = Targets()


@dataclass(frozen=True)
class Reading:
    """What was measured and asked at one follow-up. ``None``: not measured."""

    sbp: int | None = None
    dbp: int | None = None
    heart_rate: int | None = None
    temperature: Decimal | None = None
    fasting_glucose: Decimal | None = None
    weight_kg: Decimal | None = None
    height_cm: Decimal | None = None
    signs: frozenset[str] = frozenset()
    adverse_reaction: bool = False
    adverse_intolerable: bool = False
    new_complication: bool = False


@dataclass(frozen=True)
class Finding:
    """The classification of a follow-up, whether it was at target, why, and when the
    resident is to be seen next."""

    classification: Classification
    controlled: bool
    reasons: tuple[str, ...]
    next_due: dt.date

    @property
    def needs_referral(self) -> bool:
        return self.classification in (Classification.REFER_UP, Classification.URGENT)


class ReadingError(ValueError):
    """A value no living person shows, or a missing measurement: ``code`` names the field."""

    def __init__(self, code: str, field_name: str, value: object = None) -> None:
        self.code = code
        self.field_name = field_name
        self.value = value
        super().__init__(f"{code}: {field_name}={value!r}")


#: Plausible ranges (inclusive) of the values a follow-up form accepts; outside them the
#: value is a typing error (BP 400/20, glucose 90 mmol/L), never a reading. Conventional
#: limits of clinical measuring devices and of survival [conv].
PLAUSIBLE: dict[str, tuple[Decimal, Decimal]] = {
    "sbp": (Decimal(50), Decimal(300)),
    "dbp": (Decimal(20), Decimal(200)),
    "heart_rate": (Decimal(20), Decimal(250)),
    "temperature": (Decimal("30.0"), Decimal("45.0")),
    "fasting_glucose": (Decimal("0.5"), Decimal("50.0")),
    "weight_kg": (Decimal(10), Decimal(300)),
    "height_cm": (Decimal(50), Decimal(250)),
}


def check_reading(reading: Reading, disease: str) -> None:
    """Refuse impossible values and the measurement the disease needs when it is missing
    (hypertension: blood pressure; diabetes: fasting glucose, rules.md §8). Systolic must be
    above diastolic."""
    for name, (low, high) in PLAUSIBLE.items():
        value = getattr(reading, name)
        # not a number ("NaN") is no reading either; comparing it would raise InvalidOperation
        if value is not None and not (Decimal(value).is_finite()
                                      and low <= Decimal(value) <= high):
            raise ReadingError("reading.implausible", name, value)
    if (reading.sbp is None) != (reading.dbp is None):
        raise ReadingError("reading.missing", "dbp" if reading.dbp is None else "sbp")
    if reading.sbp is not None and reading.dbp is not None and reading.dbp >= reading.sbp:
        raise ReadingError("reading.pressure_order", "dbp", reading.dbp)
    if disease == HYPERTENSION and reading.sbp is None:
        raise ReadingError("reading.missing", "sbp")
    if disease == DIABETES and reading.fasting_glucose is None:
        raise ReadingError("reading.missing", "fasting_glucose")
    unknown = set(reading.signs) - {s.value for s in Sign}
    if unknown:
        raise ReadingError("reading.sign", "signs", sorted(unknown)[0])


def bmi(weight_kg: Decimal | None, height_cm: Decimal | None) -> Decimal | None:
    """Body-mass index, kg/m², one decimal; ``None`` unless both are known."""
    if weight_kg is None or height_cm is None:
        return None
    metres = Decimal(height_cm) / 100
    return (Decimal(weight_kg) / (metres * metres)).quantize(Decimal("0.1"))


def age_on(birth: dt.date, day: dt.date) -> int:
    """Whole years of age on ``day``."""
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def pressure_target(age: int, targets: Targets = DEFAULT_TARGETS) -> tuple[int, int]:
    """The (systolic, diastolic) values a hypertensive resident of ``age`` must stay below:
    140/90, and 150/90 from 65 [conv] (rules.md §8)."""
    if age >= targets.elderly_age:
        return targets.elderly_sbp_below, targets.elderly_dbp_below
    return targets.sbp_below, targets.dbp_below


def at_target(disease: str, reading: Reading, age: int,
              targets: Targets = DEFAULT_TARGETS) -> bool:
    """Controlled (rules.md §8): hypertension SBP and DBP below the age's target; diabetes
    fasting glucose below 7.0 mmol/L."""
    if disease == HYPERTENSION:
        if reading.sbp is None or reading.dbp is None:
            return False
        sbp_below, dbp_below = pressure_target(age, targets)
        return reading.sbp < sbp_below and reading.dbp < dbp_below
    if reading.fasting_glucose is None:
        return False
    return Decimal(reading.fasting_glucose) < targets.glucose_below


def urgent_reasons(disease: str, reading: Reading, age: int,
                   targets: Targets = DEFAULT_TARGETS) -> tuple[str, ...]:
    """The danger signs present (rules.md §8), as stable codes in a fixed order.

    Hypertension: SBP ≥180 or DBP ≥110, or one of its signs, or pregnancy/breast-feeding with
    raised pressure. Diabetes: glucose ≥16.7 or ≤3.9 mmol/L, SBP ≥180 or DBP ≥110, heart rate
    >100, temperature >39 °C, one of its signs, or pregnancy/breast-feeding with raised
    glucose."""
    reasons: list[str] = []
    if reading.sbp is not None and reading.sbp >= targets.urgent_sbp_at:
        reasons.append("sbp_high")
    if reading.dbp is not None and reading.dbp >= targets.urgent_dbp_at:
        reasons.append("dbp_high")
    if disease == DIABETES:
        glucose = reading.fasting_glucose
        if glucose is not None and Decimal(glucose) >= targets.urgent_glucose_at:
            reasons.append("glucose_high")
        if glucose is not None and Decimal(glucose) <= targets.urgent_glucose_low_at:
            reasons.append("glucose_low")
        if reading.heart_rate is not None and reading.heart_rate > targets.urgent_heart_rate_above:
            reasons.append("heart_rate_high")
        if reading.temperature is not None and \
                Decimal(reading.temperature) > targets.urgent_temperature_above:
            reasons.append("fever")
    signs = set(reading.signs)
    reasons.extend(sign.value for sign in Sign
                   if sign in signs and sign in URGENT_SIGNS[disease])
    if Sign.PREGNANT_OR_BREASTFEEDING in signs and not at_target(disease, reading, age, targets):
        reasons.append(Sign.PREGNANT_OR_BREASTFEEDING.value)
    return tuple(reasons)


def classify(disease: str, reading: Reading, *, age: int, day: dt.date,
             previous_uncontrolled: bool, targets: Targets = DEFAULT_TARGETS) -> Finding:
    """Classify one follow-up (rules.md §8; a pure function of the reading, the resident's age
    and whether the previous follow-up was uncontrolled):

    1. a danger sign → urgent (green-channel referral), seen again within 2 weeks;
    2. uncontrolled after an uncontrolled follow-up, an intolerable adverse reaction, or a new
       or worse complication → refer up, seen again within 2 weeks;
    3. uncontrolled (the first time) or an adverse reaction → recheck within 2 weeks;
    4. otherwise controlled → the next routine visit (every 90 days: four a year).
    """
    if disease not in DISEASES:
        raise ValueError(disease)
    controlled = at_target(disease, reading, age, targets)
    soon = day + dt.timedelta(days=targets.recheck_days)
    urgent = urgent_reasons(disease, reading, age, targets)
    if urgent:
        return Finding(Classification.URGENT, controlled, urgent, soon)
    refer: list[str] = []
    if not controlled and previous_uncontrolled:
        refer.append("two_uncontrolled")
    if reading.adverse_intolerable:
        refer.append("adverse_intolerable")
    if reading.new_complication:
        refer.append("new_complication")
    if refer:
        return Finding(Classification.REFER_UP, controlled, tuple(refer), soon)
    recheck: list[str] = []
    if not controlled:
        recheck.append("uncontrolled")
    if reading.adverse_reaction:
        recheck.append("adverse_reaction")
    if recheck:
        return Finding(Classification.RECHECK, controlled, tuple(recheck), soon)
    return Finding(Classification.CONTROLLED, True, (),
                   day + dt.timedelta(days=targets.routine_interval_days))


# --- screening: three raised readings on different days -------------------------------------

@dataclass(frozen=True)
class ScreeningValue:
    day: dt.date
    sbp: int | None = None
    dbp: int | None = None
    fasting_glucose: Decimal | None = None


#: rules.md §8: ≥140/90 on three different days → provisional hypertension. For diabetes the
#: product applies the same "three raised readings on different days" rule (issue 6 item 4)
#: with fasting glucose ≥7.0 mmol/L (the diagnostic threshold of the national guideline [nat]).
SCREENING_DAYS = 3


def raised(disease: str, value: ScreeningValue, targets: Targets = DEFAULT_TARGETS) -> bool:
    """A screening reading counts as raised: BP ≥140 systolic or ≥90 diastolic (the
    diagnostic threshold, whatever the age); fasting glucose ≥7.0 mmol/L."""
    if disease == HYPERTENSION:
        return (value.sbp is not None and value.sbp >= targets.sbp_below) or \
            (value.dbp is not None and value.dbp >= targets.dbp_below)
    return value.fasting_glucose is not None and \
        Decimal(value.fasting_glucose) >= targets.glucose_below


def provisional_diagnosis(disease: str, values: Iterable[ScreeningValue],
                          targets: Targets = DEFAULT_TARGETS) -> dt.date | None:
    """The day the screening rule is met (the third different day with a raised reading),
    or ``None``."""
    days = sorted({v.day for v in values if raised(disease, v, targets)})
    return days[SCREENING_DAYS - 1] if len(days) >= SCREENING_DAYS else None


# --- rates ------------------------------------------------------------------------------------

def is_standard(face_to_face: int, had_annual_check: bool,
                targets: Targets = DEFAULT_TARGETS) -> bool:
    """Managed to the standard in a year (rules.md §8): at least ``standard_follow_ups``
    face-to-face follow-ups, and the annual check when the alliance's rule requires it."""
    if face_to_face < targets.standard_follow_ups:
        return False
    return had_annual_check or not targets.standard_needs_annual_check


# --- contracts --------------------------------------------------------------------------------

@dataclass(frozen=True)
class ContractTerms:
    """Contract period limits: at least 1 year [nat], locally 1–3 years [local]."""

    min_years: int = 1
    max_years: int = 3
    default_years: int = 1
    #: contracts ending within this many days are on the team's "expiring" list [conv]
    expiring_within_days: int = 30


DEFAULT_TERMS = ContractTerms()


def add_years(day: dt.date, years: int) -> dt.date:
    """``day`` moved ``years`` on; 29 February becomes 28 February in a common year."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def contract_end(start: dt.date, years: int, terms: ContractTerms = DEFAULT_TERMS) -> dt.date:
    """The last day of a contract of ``years`` starting ``start`` (rules.md §7: ≥1 year,
    locally up to 3). Raises ``ValueError`` outside the alliance's limits."""
    if not terms.min_years <= years <= terms.max_years:
        raise ValueError(years)
    return add_years(start, years) - dt.timedelta(days=1)


@dataclass(frozen=True)
class ServiceLine:
    """One service of a contract's packages: yearly count owed and how it is delivered."""

    code: str
    yearly_count: int
    delivered_by: str


@dataclass
class FulfilmentLine:
    code: str
    owed: Decimal
    delivered: int

    @property
    def counted(self) -> Decimal:
        """Delivered services count up to what was owed (an extra visit does not make up for
        a missing check)."""
        return min(Decimal(self.delivered), self.owed)


@dataclass
class Fulfilment:
    """Services owed vs delivered for one contract over a span (rules.md §7)."""

    lines: list[FulfilmentLine] = field(default_factory=list)

    @property
    def owed(self) -> Decimal:
        return sum((line.owed for line in self.lines), Decimal(0))

    @property
    def counted(self) -> Decimal:
        return sum((line.counted for line in self.lines), Decimal(0))

    @property
    def rate(self) -> Decimal | None:
        """Delivered ÷ owed (each service capped at what it owed), or ``None`` when nothing
        was owed."""
        owed = self.owed
        return None if owed == 0 else (self.counted / owed)


def owed_in_span(yearly_count: int, days: int) -> Decimal:
    """Services of a yearly count owed over ``days`` days of a contract: the count pro rata
    (``yearly_count × days ÷ 365``, two decimals). A whole contract year owes the whole count,
    also when it holds a 29 February (366 days): a span of ``n`` years of 365 days plus at
    most the leap days ``n`` years can hold owes exactly ``n`` times the count."""
    if days <= 0:
        return Decimal(0)
    years, rest = divmod(days, 365)
    if years and rest <= (years + 3) // 4:
        return Decimal(yearly_count * years).quantize(Decimal("0.01"))
    return (Decimal(yearly_count * days) / 365).quantize(Decimal("0.01"))


def fulfilment(services: Iterable[ServiceLine], delivered: Mapping[str, int],
               days: int) -> Fulfilment:
    """Owed vs delivered for a contract's services over ``days`` days of its term."""
    result = Fulfilment()
    for service in services:
        result.lines.append(FulfilmentLine(service.code, owed_in_span(service.yearly_count, days),
                                           int(delivered.get(service.code, 0))))
    return result


def overlap_days(start: dt.date, end: dt.date, span_start: dt.date, span_end: dt.date) -> int:
    """Days (inclusive) two date ranges share; 0 when they do not meet."""
    first, last = max(start, span_start), min(end, span_end)
    return (last - first).days + 1 if last >= first else 0
