"""Use cases of the encounters app: record an encounter or a settlement (idempotent on source
system + source id), read a resident's shared timeline and summary.

Every function that changes state runs in one transaction and writes the audit trail
(rules.md §11). Validation follows ``rules.py``; bad input raises
:class:`django.core.exceptions.ValidationError` whose ``error_dict`` maps the field to its
translated messages (the JSON API turns it into problem+json, RFC 9457).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, Max, Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from tiercare.accounts import audit
from tiercare.accounts.models import AuditEvent, User
from tiercare.encounters import rules
from tiercare.encounters.models import Diagnosis, Encounter, Settlement
from tiercare.errors import BatchItemError, DomainError
from tiercare.kernel import divisions, icd10
from tiercare.kernel.errors import KernelError
from tiercare.patients.models import Patient, Scheme
from tiercare.registry import lookups
from tiercare.registry.models import Institution, Level

ENCOUNTER_TYPE = "encounters.Encounter"
SETTLEMENT_TYPE = "encounters.Settlement"
CENT = Decimal("0.01")


# --------------------------------------------------------------------------- inputs


@dataclass
class EncounterInput:
    """One encounter as a member system sends it (issue 2 §5). Datetimes must be aware."""

    patient_id: int
    institution_id: int
    encounter_class: str
    start: dt.datetime
    primary_diagnosis: str
    source_system: str
    source_id: str
    end: dt.datetime | None = None
    department_id: int | None = None
    practitioner_id: int | None = None
    secondary_diagnoses: list[str] = field(default_factory=list)
    total: Decimal = rules.ZERO
    drugs: Decimal = rules.ZERO
    consumables: Decimal = rules.ZERO
    examinations: Decimal = rules.ZERO
    services: Decimal = rules.ZERO
    insurance_paid: Decimal = rules.ZERO


@dataclass
class SettlementInput:
    """One insurance settlement as the insurance bureau sends it (issue 2 §5). For care at a
    registry institution give ``institution_id``; for care elsewhere (out of county) give the
    institution's name, level and division code. ``in_county`` is derived from the division
    code when omitted and checked against it when given."""

    patient_id: int
    encounter_class: str
    start_date: dt.date
    diagnosis: str
    total: Decimal
    fund_paid: Decimal
    self_paid: Decimal
    source_system: str
    source_id: str
    end_date: dt.date | None = None
    scheme: str = ""
    in_county: bool | None = None
    institution_id: int | None = None
    institution_name: str = ""
    institution_level: str = ""
    division_code: str = ""
    encounter_ref: str = ""
    settled_at: dt.datetime | None = None


class Outcome:
    """What recording a record did: inserted, updated (content changed), unchanged."""

    INSERTED = "inserted"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


@dataclass(frozen=True)
class Recorded:
    record: Any
    outcome: str


# --------------------------------------------------------------------------- digests


def money_text(value: Decimal) -> str:
    return str(value.quantize(CENT))


def utc_text(value: dt.datetime | None) -> str:
    """Naive UTC ISO text (``2025-03-04 00:30:00``), as SQLite stores it."""
    return "" if value is None else value.astimezone(dt.UTC).replace(tzinfo=None).isoformat(" ")


def encounter_digest(
    patient_id: int, encounter_class: str, institution_id: int, department_id: int | None,
    practitioner_id: int | None, start: dt.datetime, end: dt.datetime | None,
    primary_diagnosis: str, secondary: Sequence[str], money: Sequence[Decimal],
) -> str:
    """Digest of an encounter's content; the CSV importer computes the same one."""
    return rules.content_digest([
        patient_id, encounter_class, institution_id, department_id, practitioner_id,
        utc_text(start), utc_text(end), primary_diagnosis, ";".join(secondary),
        *(money_text(m) for m in money),
    ])


def settlement_digest(values: Sequence[object]) -> str:
    """Digest of a settlement's content, fields in :data:`SETTLEMENT_DIGEST_FIELDS` order."""
    return rules.content_digest(values)


SETTLEMENT_DIGEST_FIELDS = (
    "patient_id", "scheme", "in_county", "institution_id", "institution_name",
    "institution_level", "division_code", "encounter_class", "start_date", "end_date",
    "diagnosis", "total", "fund_paid", "self_paid", "encounter_ref", "settled_at",
)


def _settlement_values(fields: dict[str, Any]) -> list[object]:
    out: list[object] = []
    for name in SETTLEMENT_DIGEST_FIELDS:
        value = fields[name]
        if isinstance(value, Decimal):
            value = money_text(value)
        elif isinstance(value, dt.datetime):
            value = utc_text(value)
        elif isinstance(value, dt.date):
            value = value.isoformat()
        elif isinstance(value, bool):
            value = int(value)
        out.append(value)
    return out


# --------------------------------------------------------------------------- helpers


class _Errors:
    """Collects translated messages per field and raises them as one ValidationError."""

    def __init__(self) -> None:
        self.by_field: dict[str, list[ValidationError]] = {}

    def add(self, field_name: str, message: str, code: str) -> None:
        self.by_field.setdefault(field_name, []).append(ValidationError(message, code=code))

    def extend(self, violations: Sequence[rules.Violation]) -> None:
        for v in violations:
            self.add(v.field, v.message, v.code)

    def raise_if_any(self) -> None:
        if self.by_field:
            raise ValidationError(self.by_field)


def _diagnosis(code: str, field_name: str, errors: _Errors) -> str:
    """The normalised ICD-10 code (rules.md §10: 3–6 characters of the Chinese clinical
    edition accepted), or the error recorded."""
    try:
        return str(icd10.validate(code).code)
    except KernelError as exc:
        errors.add(field_name, exc.translated(_), exc.code)
        return code


def _active_patient(patient_id: int, errors: _Errors,
                    known: dict[int, Patient] | None = None) -> Patient | None:
    """The resident (from ``known`` when given: a batch reads its residents at once)."""
    patient = (known.get(patient_id) if known is not None
               else Patient.objects.filter(pk=patient_id).first())
    if patient is None:
        errors.add("patient", _("No resident with id %(id)s.") % {"id": patient_id},
                   "unknown_resident")
        return None
    if patient.merged_into_id is not None:
        errors.add("patient", _("The resident record %(id)s was merged into record %(to)s; "
                                "use that record.") % {"id": patient_id,
                                                       "to": patient.merged_into_id},
                   "merged_resident")
        return None
    return patient


def county_of(patient: Patient) -> str:
    """The county whose residents' care counts as in-county for this resident: the insured
    county, else the county of the home address (indicators.md, "county residents")."""
    return patient.insured_county or (patient.address_code or "")[:6]


def local_day_bounds(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """The aware UTC interval of a local (Asia/Shanghai) calendar day."""
    tz = timezone.get_default_timezone()
    start = dt.datetime.combine(day, dt.time.min, tzinfo=tz)
    return start, start + dt.timedelta(days=1)


# --------------------------------------------------------------------------- encounters


def _encounter_class(value: str | None, errors: _Errors) -> str | None:
    """The encounter class (outpatient / emergency / inpatient / home visit) or an error."""
    klass = rules.parse_class(value or "")
    if klass is None:
        errors.add("encounter_class", _("Unknown encounter class “%(value)s”.")
                   % {"value": value}, "unknown_class")
    return klass


def _validate_encounter(data: EncounterInput, patients: dict[int, Patient] | None = None,
                        ) -> tuple[Patient, str, list[str]]:
    errors = _Errors()
    patient = _active_patient(data.patient_id, errors, patients)
    klass = _encounter_class(data.encounter_class, errors)
    institution = lookups.institution(data.institution_id)
    if institution is None:
        errors.add("institution", _("No institution with id %(id)s.")
                   % {"id": data.institution_id}, "unknown_institution")
    if data.department_id is not None and not lookups.department_in(data.department_id,
                                                                    data.institution_id):
        errors.add("department", _("The department does not belong to this institution."),
                   "unknown_department")
    if data.practitioner_id is not None and not lookups.practitioner_exists(
            data.practitioner_id):
        errors.add("practitioner", _("No practitioner with id %(id)s.")
                   % {"id": data.practitioner_id}, "unknown_practitioner")
    if not data.source_system.strip() or not data.source_id.strip():
        errors.add("source_id", _("The source system and the source id are required."),
                   "source_required")
    for name in ("start", "end"):
        value = getattr(data, name)
        if value is not None and timezone.is_naive(value):
            errors.add(name, _("The time must carry a time zone."), "naive_datetime")
    primary = _diagnosis(data.primary_diagnosis, "primary_diagnosis", errors)
    secondary = [_diagnosis(c, "secondary_diagnoses", errors)
                 for c in data.secondary_diagnoses if c.strip()]
    money = [data.total, data.drugs, data.consumables, data.examinations, data.services,
             data.insurance_paid]
    if any(m.as_tuple().exponent < -2 for m in money  # type: ignore[operator]
           if m.is_finite()):
        errors.add("total", _("Amounts are yuan with at most 2 decimal places."), "money_places")
    else:
        errors.extend(rules.check_costs(*money))
    if "start" not in errors.by_field and "end" not in errors.by_field:
        errors.extend(rules.check_encounter_dates(klass or "", data.start, data.end,
                                                  timezone.now()))
    errors.raise_if_any()
    assert patient is not None and klass is not None
    return patient, klass, [primary, *secondary]


def _encounter_values(data: EncounterInput, patient: Patient, klass: str,
                      codes: list[str]) -> dict[str, Any]:
    """The row of a validated encounter, with the digest of its content."""
    primary, secondary = codes[0], codes[1:]
    money = [m.quantize(CENT) for m in (data.total, data.drugs, data.consumables,
                                        data.examinations, data.services, data.insurance_paid)]
    digest = encounter_digest(patient.pk, klass, data.institution_id, data.department_id,
                              data.practitioner_id, data.start, data.end, primary, secondary,
                              money)
    return {
        "patient_id": patient.pk, "encounter_class": klass,
        "institution_id": data.institution_id, "department_id": data.department_id,
        "practitioner_id": data.practitioner_id, "start": data.start, "end": data.end,
        "primary_diagnosis": primary, "total": money[0], "drugs": money[1],
        "consumables": money[2], "examinations": money[3], "services": money[4],
        "insurance_paid": money[5], "source_hash": digest,
    }


def save_encounter(data: EncounterInput, *, user: User | None = None) -> Recorded:
    """Record an encounter; see :func:`record_encounter`. Also says what happened."""
    patient, klass, codes = _validate_encounter(data)
    primary, secondary = codes[0], codes[1:]
    values = _encounter_values(data, patient, klass, codes)
    digest = values["source_hash"]
    with transaction.atomic():
        existing = (Encounter.objects.select_for_update()
                    .filter(source_system=data.source_system, source_id=data.source_id).first())
        if existing is not None and existing.source_hash == digest:
            return Recorded(existing, Outcome.UNCHANGED)
        if existing is None:
            encounter = Encounter.objects.create(source_system=data.source_system,
                                                 source_id=data.source_id, **values)
            outcome = Outcome.INSERTED
            changes: dict[str, Any] = {}
        else:
            encounter = existing
            changes = _changes(existing, values)
            for name, value in values.items():
                setattr(encounter, name, value)
            encounter.save()
            outcome = Outcome.UPDATED
        keep_diagnoses(encounter, secondary, new=outcome == Outcome.INSERTED)
        _link_waiting(encounter)
        audit.record(
            AuditEvent.Action.CREATE if outcome == Outcome.INSERTED else AuditEvent.Action.UPDATE,
            user=user, object_type=ENCOUNTER_TYPE, object_id=encounter.pk,
            patient_id=patient.pk,
            summary=f"{data.source_system}:{data.source_id} {klass} {primary}",
            changes=changes,
        )
    return Recorded(encounter, outcome)


def keep_diagnoses(encounter: Encounter, codes: list[str], *, new: bool) -> None:
    """Store the secondary diagnoses by rank, changing a row only where its code changed, so
    that a diagnosis keeps its id across updates (FHIR ``Condition`` ids, ADR 0006)."""
    stored = {} if new else {d.rank: d for d in encounter.diagnoses.all()}
    wanted = dict(enumerate(codes, start=1))
    Diagnosis.objects.filter(pk__in=[d.pk for rank, d in stored.items()
                                     if rank not in wanted]).delete()
    changed = [d for rank, d in stored.items() if rank in wanted and d.code != wanted[rank]]
    for d in changed:
        d.code = wanted[d.rank]
    Diagnosis.objects.bulk_update(changed, ["code"])
    Diagnosis.objects.bulk_create([Diagnosis(encounter=encounter, rank=rank, code=code)
                                   for rank, code in wanted.items() if rank not in stored])


@transaction.atomic
def record_new_encounters(inputs: list[EncounterInput], *,
                          user: User | None = None) -> list[Encounter]:
    """Record many encounters that are not stored yet, with exactly the checks of
    :func:`save_encounter` (one CREATE audit event each, waiting settlements linked), in a
    constant number of queries per batch: a FHIR transaction Bundle of a HIS's new
    encounters. All or nothing: the first refused item raises ``BatchItemError`` with its
    position; an encounter already stored under its source is refused (409), as a plain
    create is (update it one at a time)."""
    patients = {p.pk: p for p in Patient.objects.filter(
        pk__in={data.patient_id for data in inputs})}
    rows: list[Encounter] = []
    secondary: list[list[str]] = []
    sources: dict[tuple[str, str], int] = {}
    for position, data in enumerate(inputs):
        try:
            patient, klass, codes = _validate_encounter(data, patients)
        except ValidationError as exc:
            raise BatchItemError(position, exc) from exc
        key = (data.source_system, data.source_id)
        if sources.setdefault(key, position) != position:
            raise BatchItemError(position, ValidationError({"source_id": [
                _("The batch holds this source id twice (items %(first)d and %(again)d).")
                % {"first": sources[key] + 1, "again": position + 1}]}))
        rows.append(Encounter(source_system=data.source_system, source_id=data.source_id,
                              **_encounter_values(data, patient, klass, codes)))
        secondary.append(codes[1:])
    ids = sorted({source_id for _system, source_id in sources})
    for chunk in (ids[i:i + 500] for i in range(0, len(ids), 500)):
        for system, source_id in Encounter.objects.filter(source_id__in=chunk).values_list(
                "source_system", "source_id"):
            clash = sources.get((system, source_id))
            if clash is not None:
                raise BatchItemError(clash, DomainError(
                    "encounter.duplicate",
                    _("An encounter from %(system)s with source id %(id)s is stored already.")
                    % {"system": system, "id": source_id}))
    Encounter.objects.bulk_create(rows)
    Diagnosis.objects.bulk_create([Diagnosis(encounter=encounter, rank=rank, code=code)
                                   for encounter, codes in zip(rows, secondary, strict=True)
                                   for rank, code in enumerate(codes, start=1)])
    by_source = {(e.source_id, e.patient_id): e for e in rows}
    for chunk in (ids[i:i + 500] for i in range(0, len(ids), 500)):
        for settlement in Settlement.objects.filter(encounter__isnull=True,
                                                    encounter_ref__in=chunk):
            encounter = by_source.get((settlement.encounter_ref, settlement.patient_id))
            if encounter is not None and settlement.institution_id in (
                    None, encounter.institution_id):
                Settlement.objects.filter(pk=settlement.pk).update(encounter_id=encounter.pk)
    for encounter in rows:
        audit.record(AuditEvent.Action.CREATE, user=user, object_type=ENCOUNTER_TYPE,
                     object_id=encounter.pk, patient_id=encounter.patient_id,
                     summary=f"{encounter.source_system}:{encounter.source_id} "
                             f"{encounter.encounter_class} {encounter.primary_diagnosis}")
    return rows


def record_encounter(data: EncounterInput, *, user: User | None = None) -> Encounter:
    """Record one encounter of a member system, idempotent on source system + source id
    (DESIGN.md "Imports are idempotent"): the same content again changes nothing and returns
    the stored row; changed content updates the row (diagnoses included) and is audited.
    Settlements waiting for this encounter are linked to it (indicators.md "one care event,
    counted once")."""
    return save_encounter(data, user=user).record


def _changes(instance: Any, values: dict[str, Any]) -> dict[str, Any]:
    changed: dict[str, Any] = {}
    for name, new in values.items():
        if name == "source_hash":
            continue
        old = getattr(instance, name)
        if old != new:
            changed[name] = [_jsonable(old), _jsonable(new)]
    return changed


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    return value


# --------------------------------------------------------------------------- settlements


def _validate_settlement(data: SettlementInput) -> dict[str, Any]:
    errors = _Errors()
    patient = _active_patient(data.patient_id, errors)
    klass = _encounter_class(data.encounter_class, errors)
    name, level, division = data.institution_name, data.institution_level, data.division_code
    if data.institution_id is not None:
        institution = Institution.objects.filter(pk=data.institution_id).first()
        if institution is None:
            errors.add("institution", _("No institution with id %(id)s.")
                       % {"id": data.institution_id}, "unknown_institution")
        else:
            name = name or institution.name
            level = level or institution.level
            division = division or institution.division_code
    if not name.strip():
        errors.add("institution_name", _("The institution name is required."), "required")
    if level not in Level.values:
        errors.add("institution_level", _("Unknown institution level “%(value)s”.")
                   % {"value": level}, "unknown_level")
    scheme = data.scheme or (patient.scheme if patient else "")
    if scheme not in Scheme.values:
        errors.add("scheme", _("Unknown insurance scheme “%(value)s”.") % {"value": scheme},
                   "unknown_scheme")
    diagnosis = _diagnosis(data.diagnosis, "diagnosis", errors)
    money = [data.total, data.fund_paid, data.self_paid]
    if any(m.as_tuple().exponent < -2 for m in money if m.is_finite()):  # type: ignore[operator]
        errors.add("total", _("Amounts are yuan with at most 2 decimal places."), "money_places")
    else:
        errors.extend(rules.check_settlement_amounts(*money))
    errors.extend(rules.check_settlement_dates(klass or "", data.start_date, data.end_date,
                                               timezone.localdate()))
    if data.settled_at is not None and timezone.is_naive(data.settled_at):
        errors.add("settled_at", _("The time must carry a time zone."), "naive_datetime")
    if not data.source_system.strip() or not data.source_id.strip():
        errors.add("source_id", _("The source system and the source id are required."),
                   "source_required")
    in_county = data.in_county
    county = county_of(patient) if patient else ""
    if division and not _division_known(division):
        errors.add("division_code", _("Unknown division code “%(value)s”.")
                   % {"value": division}, "unknown_division")
    elif division and county:
        if in_county is None:
            in_county = rules.is_in_county(division, county)
        else:
            errors.extend(rules.check_in_county(in_county, division, county))
    elif in_county is None:
        errors.add("in_county", _("Say whether the care was in the county: the division code "
                                  "or the resident's county is missing."), "in_county_unknown")
    errors.raise_if_any()
    assert patient is not None and klass is not None and in_county is not None
    return {
        "patient_id": patient.pk, "scheme": scheme, "in_county": in_county,
        "institution_id": data.institution_id, "institution_name": name.strip(),
        "institution_level": level, "division_code": division, "encounter_class": klass,
        "start_date": data.start_date, "end_date": data.end_date, "diagnosis": diagnosis,
        "total": money[0].quantize(CENT), "fund_paid": money[1].quantize(CENT),
        "self_paid": money[2].quantize(CENT), "encounter_ref": data.encounter_ref.strip(),
        "settled_at": data.settled_at,
    }


def _division_known(code: str) -> bool:
    """A 6-, 9- or 12-digit code whose county part is in the GB/T 2260 table."""
    return divisions.lookup(code) is not None


def find_encounter_for(values: dict[str, Any]) -> int | None:
    """The encounter a settlement pays for (rules.match_encounter over the candidates of the
    same patient: the referenced one and those at the same institution on the same day)."""
    if not values["in_county"] and values["institution_id"] is None:
        return None
    query = Q(source_id=values["encounter_ref"]) if values["encounter_ref"] else Q(pk__in=[])
    if values["institution_id"] is not None:
        lo, hi = local_day_bounds(values["start_date"])
        query |= Q(institution_id=values["institution_id"],
                   encounter_class=values["encounter_class"], start__gte=lo, start__lt=hi)
    rows = Encounter.objects.filter(query, patient_id=values["patient_id"]).values_list(
        "id", "patient_id", "institution_id", "encounter_class", "start", "source_id", "total")
    candidates = [
        rules.EncounterFacts(id=r[0], patient_id=r[1], institution_id=r[2],
                             encounter_class=r[3], start_date=timezone.localdate(r[4]),
                             source_id=r[5], total=r[6])
        for r in rows
    ]
    facts = rules.SettlementFacts(
        patient_id=values["patient_id"], institution_id=values["institution_id"],
        encounter_class=values["encounter_class"], start_date=values["start_date"],
        encounter_ref=values["encounter_ref"], total=values["total"],
    )
    return rules.match_encounter(facts, candidates)


def save_settlement(data: SettlementInput, *, user: User | None = None) -> Recorded:
    """Record a settlement; see :func:`record_settlement`. Also says what happened."""
    values = _validate_settlement(data)
    digest = settlement_digest(_settlement_values(values))
    with transaction.atomic():
        existing = (Settlement.objects.select_for_update()
                    .filter(source_system=data.source_system, source_id=data.source_id).first())
        if existing is not None and existing.source_hash == digest:
            return Recorded(existing, Outcome.UNCHANGED)
        values["encounter_id"] = find_encounter_for(values)
        values["source_hash"] = digest
        if existing is None:
            settlement = Settlement.objects.create(source_system=data.source_system,
                                                   source_id=data.source_id, **values)
            outcome, changes = Outcome.INSERTED, {}
        else:
            settlement = existing
            changes = _changes(existing, values)
            for name, value in values.items():
                setattr(settlement, name, value)
            settlement.save()
            outcome = Outcome.UPDATED
        audit.record(
            AuditEvent.Action.CREATE if outcome == Outcome.INSERTED else AuditEvent.Action.UPDATE,
            user=user, object_type=SETTLEMENT_TYPE, object_id=settlement.pk,
            patient_id=values["patient_id"],
            summary=f"{data.source_system}:{data.source_id} {values['institution_name']} "
                    f"{values['total']}",
            changes=changes,
        )
    return Recorded(settlement, outcome)


def record_settlement(data: SettlementInput, *, user: User | None = None) -> Settlement:
    """Record one insurance settlement, idempotent on source system + source id like
    :func:`record_encounter`, and link it to the encounter it pays for when that can be
    matched (indicators.md "one care event, counted once"; rule in
    ``rules.match_encounter``). The in-county flag must agree with the institution's division
    code and the resident's county."""
    return save_settlement(data, user=user).record


def _link_waiting(encounter: Encounter) -> int:
    return Settlement.objects.filter(
        Q(institution_id__isnull=True) | Q(institution_id=encounter.institution_id),
        encounter__isnull=True, encounter_ref=encounter.source_id,
        patient_id=encounter.patient_id,
    ).update(encounter_id=encounter.pk)


def link_waiting_settlements(encounter_ids: Sequence[int]) -> int:
    """Link settlements that arrived before their encounter: an unlinked settlement whose
    encounter reference is the encounter's source id (same resident, same institution when it
    names one). Returns how many were linked."""
    return sum(_link_waiting(encounter) for encounter in Encounter.objects.filter(
        pk__in=list(encounter_ids)).only("id", "patient_id", "institution_id", "source_id"))


# --------------------------------------------------------------------------- reading


def timeline(patient: Patient | int, *, limit: int | None = None) -> list[Encounter]:
    """The resident's encounters at every member institution, newest first: the shared
    record (issue 2 §7). Institution, department and practitioner are joined and the
    secondary diagnoses prefetched, so the page costs two queries whatever its length. The
    caller (the record page) writes the audit event of the view."""
    patient_id = patient if isinstance(patient, int) else patient.pk
    qs = (Encounter.objects.filter(patient_id=patient_id)
          .select_related("institution", "department", "practitioner")
          .prefetch_related("diagnoses")
          .order_by("-start", "-id"))
    return list(qs[:limit] if limit is not None else qs)


def out_of_county_settlements(patient: Patient | int) -> list[Settlement]:
    """The resident's care outside the county, known only from settlements (indicators.md,
    common definitions), newest first."""
    patient_id = patient if isinstance(patient, int) else patient.pk
    return list(Settlement.objects.filter(patient_id=patient_id, in_county=False)
                .order_by("-start_date", "-id"))


@dataclass(frozen=True)
class PatientSummary:
    """Headline numbers of a resident's record page."""

    encounters: int
    by_level: dict[str, int]
    by_class: dict[str, int]
    last_visit: dt.datetime | None
    last_institution: str
    year: int
    total_cost_this_year: Decimal
    out_of_county_this_year: int


def patient_summary(patient: Patient | int, *, today: dt.date | None = None) -> PatientSummary:
    """Counts of encounters by institution level and by class, the last visit, the total cost
    of this calendar year (local time) and the out-of-county settlements of the year."""
    patient_id = patient if isinstance(patient, int) else patient.pk
    today = today or timezone.localdate()
    qs = Encounter.objects.filter(patient_id=patient_id)
    by_level = {r["institution__level"]: r["n"] for r in
                qs.order_by().values("institution__level").annotate(n=Count("id"))}
    by_class = {r["encounter_class"]: r["n"] for r in
                qs.order_by().values("encounter_class").annotate(n=Count("id"))}
    year_start, _end = local_day_bounds(dt.date(today.year, 1, 1))
    year_end, _end = local_day_bounds(dt.date(today.year + 1, 1, 1))
    total = qs.filter(start__gte=year_start, start__lt=year_end).aggregate(
        s=Sum("total"), last=Max("start"))["s"]
    last = qs.order_by("-start", "-id").select_related("institution").first()
    out = Settlement.objects.filter(
        patient_id=patient_id, in_county=False,
        start_date__gte=dt.date(today.year, 1, 1), start_date__lte=dt.date(today.year, 12, 31),
    ).count()
    return PatientSummary(
        encounters=sum(by_class.values()), by_level=by_level, by_class=by_class,
        last_visit=last.start if last else None,
        last_institution=last.institution.name if last else "",
        year=today.year, total_cost_this_year=(total or rules.ZERO).quantize(CENT),
        out_of_county_this_year=out,
    )
