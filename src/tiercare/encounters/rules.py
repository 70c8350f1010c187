"""Pure rules for encounters and insurance settlements: no ORM, no I/O.

Sources: issue 2 §5 (cost breakdown, dates, settlements in and outside the county),
rules.md §9 (money is exact decimal, yuan with 2 places) and §10 (ICD-10 codes),
indicators.md "common definitions" (in-county = the institution's division code is inside the
county; one care event is counted once: a settlement is matched to the encounter it pays for by
the encounter reference, else by patient + institution + class + start date).

Every check returns a list of :class:`Violation` (empty when the input obeys the rule) so that
an importer can report every problem of a row at once; messages are translated with the active
language at the time of the check.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from django.utils import timezone
from django.utils.translation import gettext as _

from tiercare.kernel import divisions

ZERO = Decimal("0.00")
#: Largest amount a money column holds (DecimalField max_digits=12, decimal_places=2).
MAX_AMOUNT = Decimal("9999999999.99")

OUTPATIENT = "outpatient"
EMERGENCY = "emergency"
INPATIENT = "inpatient"
HOME_VISIT = "home_visit"
CLASSES = (OUTPATIENT, EMERGENCY, INPATIENT, HOME_VISIT)

#: Spellings accepted for the encounter class: the identifier, the FHIR v3 ActCode code and
#: the Chinese label used by hospital systems (门诊/急诊/住院/家庭访视).
CLASS_ALIASES: dict[str, str] = {
    **{c: c for c in CLASSES},
    "amb": OUTPATIENT, "emer": EMERGENCY, "imp": INPATIENT, "hh": HOME_VISIT,
    "门诊": OUTPATIENT, "急诊": EMERGENCY, "住院": INPATIENT,
    "家庭访视": HOME_VISIT, "出诊": HOME_VISIT, "上门": HOME_VISIT,
    "home visit": HOME_VISIT, "home-visit": HOME_VISIT,
}


@dataclass(frozen=True)
class Violation:
    """One broken rule: the field (CSV column / API field) it concerns, a stable code for
    programs, and a message in the active language for people."""

    field: str
    code: str
    message: str


def parse_class(value: str) -> str | None:
    """The encounter class for ``value`` (any accepted spelling, case-insensitive), or None."""
    return CLASS_ALIASES.get(value.strip().lower())


def check_costs(
    total: Decimal,
    drugs: Decimal,
    consumables: Decimal,
    examinations: Decimal,
    services: Decimal,
    insurance_paid: Decimal,
) -> list[Violation]:
    """Cost breakdown of an encounter (issue 2 §5): every amount is ≥ 0, the total equals
    drugs + consumables + examinations and tests + medical services, and insurance never pays
    more than the total."""
    found = _out_of_bounds({
        "total": total, "drugs": drugs, "consumables": consumables,
        "examinations": examinations, "services": services, "insurance_paid": insurance_paid,
    })
    if found:
        return found
    breakdown = drugs + consumables + examinations + services
    if breakdown != total:
        found.append(Violation(
            "total", "costs_do_not_add_up",
            _("The total %(total)s does not equal drugs + consumables + examinations + "
              "services = %(sum)s.") % {"total": total, "sum": breakdown},
        ))
    if insurance_paid > total:
        found.append(Violation(
            "insurance_paid", "insurance_exceeds_total",
            _("Insurance paid %(paid)s is more than the total %(total)s.")
            % {"paid": insurance_paid, "total": total},
        ))
    return found


def check_encounter_dates(
    encounter_class: str, start: datetime, end: datetime | None, now: datetime
) -> list[Violation]:
    """Dates of an encounter (issue 2 §5): nothing in the future, the end not before the
    start. An inpatient encounter without an end date is an open admission (the resident is
    still in the ward) and is allowed; a discharge is recorded by sending the same encounter
    again with its end date. Visits without an end are point events."""
    found: list[Violation] = []
    if start > now:
        found.append(Violation("start", "future_date",
                               _("The start %(value)s is in the future.")
                               % {"value": _show(start)}))
    if end is not None:
        if end < start:
            found.append(Violation("end", "end_before_start",
                                   _("The end %(end)s is before the start %(start)s.")
                                   % {"end": _show(end), "start": _show(start)}))
        if end > now:
            found.append(Violation("end", "future_date",
                                   _("The end %(value)s is in the future.")
                                   % {"value": _show(end)}))
    return found


def _out_of_bounds(amounts: dict[str, Decimal]) -> list[Violation]:
    """Every amount lies between 0 and ``MAX_AMOUNT`` (the money columns' 10 integer digits)."""
    found: list[Violation] = []
    for name, amount in amounts.items():
        if amount < ZERO:
            found.append(Violation(name, "negative_amount",
                                   _("The amount must not be negative (got %(amount)s).")
                                   % {"amount": amount}))
        elif amount > MAX_AMOUNT:
            found.append(Violation(name, "amount_too_large",
                                   _("The amount %(amount)s is too large.") % {"amount": amount}))
    return found


def check_settlement_amounts(total: Decimal, fund_paid: Decimal,
                             self_paid: Decimal) -> list[Violation]:
    """A settlement splits its total between the insurance fund and the resident
    (rules.md §9): every amount ≥ 0 and total = fund paid + self paid, to the fen."""
    found = _out_of_bounds({"total": total, "fund_paid": fund_paid, "self_paid": self_paid})
    if not found and fund_paid + self_paid != total:
        found.append(Violation(
            "total", "settlement_does_not_add_up",
            _("The total %(total)s does not equal fund paid + self paid = %(sum)s.")
            % {"total": total, "sum": fund_paid + self_paid},
        ))
    return found


def check_settlement_dates(encounter_class: str, start_date: date, end_date: date | None,
                           today: date) -> list[Violation]:
    """Dates of a settlement: nothing in the future, the end not before the start, and an
    inpatient stay is settled at discharge, so an inpatient settlement needs its end date."""
    found: list[Violation] = []
    if start_date > today:
        found.append(Violation("start_date", "future_date",
                               _("The start %(value)s is in the future.")
                               % {"value": start_date.isoformat()}))
    if end_date is None:
        if encounter_class == INPATIENT:
            found.append(Violation("end_date", "discharge_date_required",
                                   _("An inpatient settlement needs the discharge date.")))
    else:
        if end_date < start_date:
            found.append(Violation("end_date", "end_before_start",
                                   _("The end %(end)s is before the start %(start)s.")
                                   % {"end": end_date.isoformat(),
                                      "start": start_date.isoformat()}))
        if end_date > today:
            found.append(Violation("end_date", "future_date",
                                   _("The end %(value)s is in the future.")
                                   % {"value": end_date.isoformat()}))
    return found


def is_in_county(division_code: str, county_code: str) -> bool:
    """In-county care: the institution's division code lies inside the county
    (indicators.md, common definitions; GB/T 2260 codes)."""
    return bool(divisions.is_inside_county(division_code, county_code))


def check_in_county(in_county: bool, division_code: str, county_code: str) -> list[Violation]:
    """The settlement's in-county flag must agree with where the institution is: a flag that
    contradicts the division code would move the event between the in-county and the
    out-of-county counts of every indicator (indicators.md, common definitions)."""
    expected = is_in_county(division_code, county_code)
    if in_county == expected:
        return []
    if expected:
        message = _("The institution's division code %(division)s is inside the county "
                    "%(county)s, but the settlement says out of county.")
    else:
        message = _("The institution's division code %(division)s is outside the county "
                    "%(county)s, but the settlement says in county.")
    return [Violation("in_county", "in_county_contradicts_division",
                      message % {"division": division_code, "county": county_code})]


@dataclass(frozen=True)
class EncounterFacts:
    """What the matching rule needs to know about a candidate encounter."""

    id: int
    patient_id: int
    institution_id: int
    encounter_class: str
    start_date: date
    source_id: str
    total: Decimal | None = None


@dataclass(frozen=True)
class SettlementFacts:
    """What the matching rule needs to know about a settlement."""

    patient_id: int
    institution_id: int | None
    encounter_class: str
    start_date: date
    encounter_ref: str = ""
    total: Decimal | None = None


def match_key(patient_id: int, institution_id: int, encounter_class: str,
              start_date: date) -> tuple[int, int, str, date]:
    """The fallback identity of one care event: patient + institution + class + start date
    (local date, Asia/Shanghai) — indicators.md "one care event, counted once"."""
    return (patient_id, institution_id, encounter_class, start_date)


def match_encounter(settlement: SettlementFacts,
                    candidates: Iterable[EncounterFacts]) -> int | None:
    """The id of the encounter a settlement pays for, or None.

    1. With an encounter reference: the candidate of the same patient whose source id is the
       reference (and, when the settlement names an institution, at that institution).
    2. Otherwise (or when the reference is not known yet): the candidate with the same
       patient, institution, class and start date. When several visits share that key, the
       one with the same total wins; if that still leaves several, none is chosen: a wrong
       link would hide a care event, an unlinked one is only counted from one side.
    Out-of-county settlements have no institution of the registry and never match.
    """
    pool = [c for c in candidates if c.patient_id == settlement.patient_id]
    if settlement.encounter_ref:
        by_ref = [c for c in pool if c.source_id == settlement.encounter_ref
                  and (settlement.institution_id is None
                       or c.institution_id == settlement.institution_id)]
        if len(by_ref) == 1:
            return by_ref[0].id
    if settlement.institution_id is None:
        return None
    key = match_key(settlement.patient_id, settlement.institution_id,
                    settlement.encounter_class, settlement.start_date)
    same = [c for c in pool
            if match_key(c.patient_id, c.institution_id, c.encounter_class, c.start_date) == key]
    if len(same) > 1 and settlement.total is not None:
        same = [c for c in same if c.total == settlement.total] or same
    return same[0].id if len(same) == 1 else None


def content_digest(values: Sequence[object]) -> str:
    """A 32-character digest of a record's normalised content: the importers and the services
    compare it with the stored one to tell an unchanged re-sent record from a corrected one."""
    text = "\x1f".join("" if v is None else str(v) for v in values)
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def _show(value: datetime) -> str:
    """A time for a message, in local time; times at the edge of the calendar (year 1 or
    9999) that cannot be shifted to local time are shown as given."""
    if timezone.is_aware(value):
        with contextlib.suppress(OverflowError):
            value = timezone.localtime(value)
    return value.strftime("%Y-%m-%d %H:%M")
