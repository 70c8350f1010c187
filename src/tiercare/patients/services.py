"""Use cases of the resident record and the master patient index: the only place that changes
patient rows. One function per use case, one transaction each; every read and write of a
record is audited (rules.md §11).

Bad input raises :class:`django.core.exceptions.ValidationError` keyed by field (codes are
stable, messages in the user's language: kernel errors are translated here with
``err.translated(gettext)``); a conflict with existing records raises
:class:`~tiercare.patients.errors.PatientConflict` (``DuplicatePatient``, ``MergeConflict``).
"""

from __future__ import annotations

import contextlib
import logging
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from datetime import date
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, F, Max, Q
from django.db.models.functions import Collate, Greatest
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from tiercare.accounts import audit
from tiercare.accounts.models import AuditEvent, User
from tiercare.errors import BatchItemError
from tiercare.kernel.errors import KernelError
from tiercare.patients import rules, statuses
from tiercare.patients.access import can_view, scope_parts
from tiercare.patients.errors import DuplicatePatient, MergeConflict, PatientConflict
from tiercare.patients.models import (
    HealthRecordCounter,
    Identifier,
    IdentifierType,
    MatchCandidate,
    Merge,
    Patient,
    Scheme,
    Sex,
)
from tiercare.patients.signals import patients_merged, patients_unmerged

log = logging.getLogger(__name__)

PATIENT_LABEL = Patient._meta.label
#: Document types a resident can be registered with (the health record and hospital record
#: numbers are minted by the system or member HIS and live in ``Identifier`` rows).
REGISTRABLE_ID_TYPES = (IdentifierType.ID_CARD, IdentifierType.PASSPORT,
                        IdentifierType.HK_MACAO_PERMIT, IdentifierType.TAIWAN_PERMIT)
#: Fields ``update_patient`` may change; the health record number never changes.
UPDATABLE_FIELDS = ("name", "sex", "birth_date", "id_type", "id_number", "ethnicity", "phone",
                    "address_code", "address", "scheme", "insured_county", "deceased_date")
#: Audit values of these fields are masked: the auditor's role sees identifiers masked.
MASKED_IN_AUDIT = {"id_number": rules.mask_id_number, "phone": rules.mask_phone}
EARLIEST_BIRTH = date(1880, 1, 1)
ALLOCATION_ATTEMPTS = 5


@dataclass
class PatientInput:
    """What registering a resident takes. For a resident ID card, ``birth_date`` and ``sex``
    may be left out: they are read from the number (GB 11643, rules.md §10)."""

    name: str
    address_code: str
    id_type: str = IdentifierType.ID_CARD
    id_number: str = ""
    birth_date: date | None = None
    sex: str = ""
    phone: str = ""
    ethnicity: str = ""
    address: str = ""
    scheme: str = Scheme.RESIDENT
    insured_county: str = ""
    deceased_date: date | None = None


class _Errors:
    """Collects field errors so that one response lists every problem of the input."""

    def __init__(self) -> None:
        self.by_field: dict[str, list[ValidationError]] = defaultdict(list)

    def add(self, field_name: str, code: str, message: str | Promise, /,
            **params: Any) -> None:
        text = str(message) % params if params else str(message)
        self.by_field[field_name].append(ValidationError(text, code=code))

    def rule(self, field_name: str, err: rules.RuleError) -> None:
        self.add(field_name, err.code, err.message, **err.params)

    def kernel(self, field_name: str, err: KernelError) -> None:
        self.by_field[field_name].append(ValidationError(err.translated(gettext), code=err.code))

    def raise_if_any(self) -> None:
        if self.by_field:
            raise ValidationError(dict(self.by_field))


def _county_exists(county: str) -> bool:
    from tiercare.kernel import divisions

    try:
        return bool(divisions.exists(county))
    except KernelError:
        return False


def _validate(data: PatientInput) -> PatientInput:
    """Check and normalise a resident's data (rules.md §10); returns the normalised input or
    raises ``ValidationError`` listing every bad field."""
    from tiercare.kernel import idnumber

    errors = _Errors()
    for field_name in ("name", "address", "id_number", "phone"):
        if any(ord(ch) < 32 for ch in getattr(data, field_name)):
            errors.add(field_name, "text.control_character",
                       _("The text contains a control character."))
    if len(data.address) > 200:
        errors.add("address", "address.too_long", _("An address has at most 200 characters."))
    name = " ".join(data.name.split())
    if not name:
        errors.add("name", "name.required", _("The name is required."))
    elif len(name) > 50:
        errors.add("name", "name.too_long", _("A name has at most 50 characters."))

    id_type, id_number = data.id_type, data.id_number.strip().upper()
    birth_date, sex = data.birth_date, data.sex
    if id_type not in REGISTRABLE_ID_TYPES:
        errors.add("id_type", "id_type.unsupported",
                   _("“%(type)s” is not an identity document type that can be registered."),
                   type=id_type)
    elif id_type == IdentifierType.ID_CARD and id_number:
        try:
            parsed = idnumber.validate(id_number)
        except KernelError as err:
            errors.kernel("id_number", err)
        else:
            id_number = parsed.number
            birth_date = birth_date or parsed.birth_date
            sex = parsed.sex if sex in ("", Sex.UNKNOWN) else sex
            try:
                idnumber.check_consistency(id_number, birth_date, sex)
            except KernelError as err:
                errors.kernel("id_number", err)
    elif id_number:
        try:
            id_number = rules.check_document_number(id_type, id_number)
        except rules.RuleError as err:
            errors.rule("id_number", err)

    id_failed = id_type == IdentifierType.ID_CARD and "id_number" in errors.by_field
    if birth_date is None and not id_failed:
        errors.add("birth_date", "birth_date.required",
                   _("The birth date is required when no resident ID number gives it."))
    elif birth_date is not None and not EARLIEST_BIRTH <= birth_date <= timezone.localdate():
        errors.add("birth_date", "birth_date.range",
                   _("The birth date %(date)s is impossible."), date=birth_date.isoformat())
    if not sex and not id_failed:
        errors.add("sex", "sex.required",
                   _("The sex is required when no resident ID number gives it."))
    elif sex and sex not in Sex.values:
        errors.add("sex", "choice.invalid", _("“%(value)s” is not a valid choice."), value=sex)
    if data.deceased_date is not None and birth_date and data.deceased_date < birth_date:
        errors.add("deceased_date", "deceased_date.before_birth",
                   _("The date of death is before the birth date."))

    address_code = data.address_code
    try:
        address_code = rules.check_address_code(address_code)
    except rules.RuleError as err:
        errors.rule("address_code", err)
    else:
        if not _county_exists(address_code[:6]):
            errors.add("address_code", "address_code.unknown_county",
                       _("The county %(county)s of address code %(code)s is not in the GB/T "
                         "2260 division table."), county=address_code[:6], code=address_code)

    phone = data.phone
    try:
        phone = rules.normalise_phone(phone)
    except rules.RuleError as err:
        errors.rule("phone", err)
    if data.scheme not in Scheme.values:
        errors.add("scheme", "choice.invalid", _("“%(value)s” is not a valid choice."),
                   value=data.scheme)
    insured_county = data.insured_county.strip()
    if insured_county and (len(insured_county) != 6 or not insured_county.isdigit()
                           or not _county_exists(insured_county)):
        errors.add("insured_county", "insured_county.unknown",
                   _("The insured county %(code)s is not a 6-digit county code of the GB/T 2260 "
                     "table."), code=insured_county)
    if data.ethnicity and (len(data.ethnicity) != 2 or not data.ethnicity.isdigit()):
        errors.add("ethnicity", "ethnicity.format",
                   _("The ethnicity is a 2-digit GB 3304 code."))
    errors.raise_if_any()
    return replace(data, name=name, id_number=id_number, birth_date=birth_date, sex=sex,
                   address_code=address_code, phone=phone, insured_county=insured_county)


def _initials(name: str) -> tuple[str, str]:
    """Pinyin initials of the name (张三 → ``zs``) and the reading of a polyphone surname
    (单 → ``dtf``/``stf``), both kept so that every reading finds the resident (issue 2 §4)."""
    from tiercare.kernel import names

    readings = [r for r in names.initials(name) if r]
    main = readings[0][:20] if readings else ""
    alt = next((r[:20] for r in readings[1:] if r != main), "")
    return main, alt


def _active_duplicate(id_type: str, id_number: str, exclude: int | None = None) -> Patient | None:
    if not id_number:
        return None
    queryset = Patient.objects.filter(id_type=id_type, id_number=id_number, is_active=True)
    if exclude is not None:
        queryset = queryset.exclude(pk=exclude)
    return queryset.first()


def _duplicate_error(existing: Patient) -> DuplicatePatient:
    return DuplicatePatient(
        existing,
        _("A resident with this identity document is already registered: health record "
          "%(record)s."),
        record=existing.health_record_no,
    )


def _village_max_serial(village_code: str) -> int:
    """The highest serial already used in a village (rows written by bulk loaders included),
    read from the unique index on ``health_record_no``."""
    top = Patient.objects.filter(
        health_record_no__gte=f"{village_code}00000", health_record_no__lte=f"{village_code}99999"
    ).aggregate(top=Max("health_record_no"))["top"]
    return int(top[12:]) if top else 0


def allocate_health_record_number(village_code: str) -> str:
    """The next health record number of a village (rules.md §10); see
    :func:`allocate_health_record_numbers`."""
    return allocate_health_record_numbers(village_code, 1)[0]


def allocate_health_record_numbers(village_code: str, count: int) -> list[str]:
    """The next ``count`` health record numbers of a village (rules.md §10), race-free: one
    atomic ``UPDATE … SET last_serial = last_serial + count … RETURNING`` on the village's
    counter row, whose row lock is held until the registering transaction ends, so
    concurrent registrations queue and never get the same serial. A village's first
    registration creates the row (``INSERT … ON CONFLICT DO NOTHING``, seeded with the
    highest serial in use). Must run inside the caller's transaction."""
    table = connection.ops.quote_name(HealthRecordCounter._meta.db_table)
    sql = (f"UPDATE {table} SET last_serial = last_serial + %s WHERE village_code = %s "
           "RETURNING last_serial")
    with connection.cursor() as cursor:
        cursor.execute(sql, [count, village_code])
        row = cursor.fetchone()
        if row is None:
            HealthRecordCounter.objects.bulk_create(
                [HealthRecordCounter(village_code=village_code,
                                     last_serial=_village_max_serial(village_code))],
                ignore_conflicts=True,
            )
            cursor.execute(sql, [count, village_code])
            row = cursor.fetchone()
    last = int(row[0])
    return [rules.build_health_record_number(village_code, serial)
            for serial in range(last - count + 1, last + 1)]


def _resync_counter(village_code: str) -> None:
    """A bulk loader wrote serials past the counter: move the counter up to the highest one."""
    HealthRecordCounter.objects.filter(village_code=village_code).update(
        last_serial=Greatest(F("last_serial"), _village_max_serial(village_code)))


def _audit_patient(action: str, patient: Patient, *, user: User | None, summary: str = "",
                   changes: dict[str, Any] | None = None) -> None:
    audit.record(action, user=user, object_type=PATIENT_LABEL, object_id=patient.pk,
                 patient_id=patient.pk, summary=summary or str(patient), changes=changes)


def _audit_value(field_name: str, value: Any) -> Any:
    if field_name in MASKED_IN_AUDIT and value:
        return MASKED_IN_AUDIT[field_name](str(value))
    if isinstance(value, date):
        return value.isoformat()
    return value


@transaction.atomic
def register_patient(data: PatientInput, *, user: User | None = None) -> Patient:
    """Register a resident (issue 2 §4): validate (rules.md §10), refuse an exact match on the
    identity document (``DuplicatePatient`` carrying the existing record), allocate the health
    record number, compute the pinyin initials, list probable matches for review and audit
    the creation."""
    data = _validate(data)
    existing = _active_duplicate(data.id_type, data.id_number)
    if existing is not None:
        raise _duplicate_error(existing)
    initials, initials_alt = _initials(data.name)
    values = {f.name: getattr(data, f.name) for f in fields(PatientInput)}
    patient: Patient | None = None
    for _attempt in range(ALLOCATION_ATTEMPTS):
        number = allocate_health_record_number(data.address_code)
        try:
            with transaction.atomic():
                patient = Patient.objects.create(health_record_no=number, name_initials=initials,
                                                 name_initials_alt=initials_alt, **values)
            break
        except IntegrityError as err:
            existing = _active_duplicate(data.id_type, data.id_number)
            if existing is not None:
                raise _duplicate_error(existing) from err
            if not Patient.objects.filter(health_record_no=number).exists():
                raise
            _resync_counter(data.address_code)
    if patient is None:
        raise PatientConflict("health_record_no.busy",
                            _("No free health record number could be allocated; try again."))
    _audit_patient(AuditEvent.Action.CREATE, patient, user=user,
                   changes={f: {"to": _audit_value(f, v)} for f, v in values.items() if v})
    find_probable_matches(patient)
    return patient


@transaction.atomic
def register_patients(inputs: list[PatientInput], *,
                      user: User | None = None) -> list[Patient]:
    """Register many residents in one go with exactly the rules of :func:`register_patient`
    (validation, exact-match refusal, health record numbers, initials, probable matches,
    one CREATE audit event each), in a constant number of queries per batch instead of per
    resident: a FHIR transaction Bundle of a HIS's new residents. All or nothing: the first
    refused item raises :class:`BatchItemError` with its position and the rows are not
    written."""
    validated: list[PatientInput] = []
    for position, data in enumerate(inputs):
        try:
            validated.append(_validate(data))
        except ValidationError as exc:
            raise BatchItemError(position, exc) from exc
    documents: dict[tuple[str, str], int] = {}
    for position, data in enumerate(validated):
        if data.id_number:
            first = documents.setdefault((data.id_type, data.id_number), position)
            if first != position:
                raise BatchItemError(position, PatientConflict(
                    "patient.duplicate", _("The batch registers this identity document twice "
                                           "(items %(first)d and %(again)d)."),
                    first=first + 1, again=position + 1))
    numbers = sorted({number for _kind, number in documents})
    for chunk in (numbers[i:i + 500] for i in range(0, len(numbers), 500)):
        for existing in Patient.objects.filter(id_number__in=chunk, is_active=True):
            clash = documents.get((existing.id_type, existing.id_number))
            if clash is not None:
                raise BatchItemError(clash, _duplicate_error(existing))
    by_village: dict[str, list[int]] = defaultdict(list)
    for position, data in enumerate(validated):
        by_village[data.address_code].append(position)
    patients: list[Patient | None] = [None] * len(validated)
    for village, positions in by_village.items():
        allocated = allocate_health_record_numbers(village, len(positions))
        for position, number in zip(positions, allocated, strict=True):
            data = validated[position]
            initials, initials_alt = _initials(data.name)
            patients[position] = Patient(
                health_record_no=number, name_initials=initials, name_initials_alt=initials_alt,
                **{f.name: getattr(data, f.name) for f in fields(PatientInput)})
    stored = [p for p in patients if p is not None]
    try:
        with transaction.atomic():
            Patient.objects.bulk_create(stored)
    except IntegrityError:  # a bulk loader wrote serials past a counter: resync, allocate again
        for village, positions in by_village.items():
            _resync_counter(village)
            for position, number in zip(positions, allocate_health_record_numbers(
                    village, len(positions)), strict=True):
                stored[position].health_record_no = number
        Patient.objects.bulk_create(stored)
    for patient, data in zip(stored, validated, strict=True):
        _audit_patient(AuditEvent.Action.CREATE, patient, user=user, changes={
            f.name: {"to": _audit_value(f.name, getattr(data, f.name))}
            for f in fields(PatientInput) if getattr(data, f.name)})
    _probable_matches_of(stored)
    return stored


def _probable_matches_of(patients: list[Patient]) -> None:
    """:func:`find_probable_matches` for many new residents, reading the residents who share
    their names once."""
    wanted = {(p.name, p.birth_date, p.sex) for p in patients}
    names = sorted({name for name, _birth, _sex in wanted})
    others: dict[tuple[str, date, str], list[Patient]] = defaultdict(list)
    for chunk in (names[i:i + 500] for i in range(0, len(names), 500)):
        for other in Patient.objects.filter(name__in=chunk, is_active=True):
            key = (other.name, other.birth_date, other.sex)
            if key in wanted:
                others[key].append(other)
    for patient in patients:
        candidates = [o for o in others[(patient.name, patient.birth_date, patient.sex)]
                      if o.pk != patient.pk]
        if candidates:
            find_probable_matches(patient)


@transaction.atomic
def update_patient(patient: Patient, changes: Mapping[str, Any], *,
                   user: User | None = None) -> Patient:
    """Change a resident's demographics with the same checks as registration; the health
    record number is permanent. Audited as UPDATE with from/to values (identifiers masked).
    A change of name, birth date or sex looks for probable matches again."""
    unknown = sorted(set(changes) - set(UPDATABLE_FIELDS))
    if unknown:
        raise ValidationError({unknown[0]: [ValidationError(
            gettext("The field “%(field)s” cannot be changed.") % {"field": unknown[0]},
            code="field.read_only")]})
    patient = Patient.objects.select_for_update().get(pk=patient.pk)
    if not patient.is_active:
        raise MergeConflict("patient.inactive",
                            _("Record %(record)s was merged into another one and cannot be "
                              "changed."), record=patient.health_record_no)
    current = {f.name: getattr(patient, f.name) for f in fields(PatientInput)}
    # ``None`` clears a text field (an API client sending ``null``); dates stay ``None``.
    text_fields = {f.name for f in fields(PatientInput) if isinstance(current[f.name], str)}
    cleaned = {k: ("" if v is None and k in text_fields else v) for k, v in changes.items()}
    data = _validate(PatientInput(**{**current, **cleaned}))
    duplicate = _active_duplicate(data.id_type, data.id_number, exclude=patient.pk)
    if duplicate is not None:
        raise _duplicate_error(duplicate)
    diff: dict[str, Any] = {}
    for f in fields(PatientInput):
        new = getattr(data, f.name)
        if current[f.name] != new:
            diff[f.name] = {"from": _audit_value(f.name, current[f.name]),
                            "to": _audit_value(f.name, new)}
            setattr(patient, f.name, new)
    if not diff:
        return patient
    if "name" in diff:
        patient.name_initials, patient.name_initials_alt = _initials(patient.name)
    try:
        with transaction.atomic():
            patient.save()
    except IntegrityError as err:
        duplicate = _active_duplicate(data.id_type, data.id_number, exclude=patient.pk)
        if duplicate is not None:
            raise _duplicate_error(duplicate) from err
        raise
    _audit_patient(AuditEvent.Action.UPDATE, patient, user=user, changes=diff)
    if {"name", "birth_date", "sex"} & set(diff):
        find_probable_matches(patient)
    return patient


# --- master patient index ---------------------------------------------------------------------


def _facts(p: Patient) -> rules.MatchFacts:
    return rules.MatchFacts(name=p.name, birth_date=p.birth_date, sex=p.sex, phone=p.phone,
                            address_code=p.address_code, id_type=p.id_type,
                            id_number=p.id_number)


def _pair(a: Patient, b: Patient) -> tuple[Patient, Patient]:
    """A pair is stored once, the newer record first (``patient``) and the older as
    ``candidate``."""
    return (a, b) if a.pk > b.pk else (b, a)


@transaction.atomic
def find_probable_matches(patient: Patient) -> list[MatchCandidate]:
    """Probable duplicates of ``patient``: other active residents with the same name, birth
    date and sex (the ``patient_name_birth`` index), scored by ``rules.score_match``; a
    ``MatchCandidate`` is stored per pair (once) for review. Returns the pair rows."""
    others = Patient.objects.filter(name=patient.name, birth_date=patient.birth_date,
                                    sex=patient.sex, is_active=True).exclude(pk=patient.pk)
    found: list[MatchCandidate] = []
    for other in others[:100]:
        result = rules.score_match(_facts(patient), _facts(other))
        if not result.probable:
            continue
        newer, older = _pair(patient, other)
        candidate, created = MatchCandidate.objects.get_or_create(
            patient=newer, candidate=older,
            defaults={"score": result.score, "reasons": result.reasons},
        )
        if not created and candidate.status == MatchCandidate.Status.OPEN and (
                candidate.score, candidate.reasons) != (result.score, result.reasons):
            candidate.score, candidate.reasons = result.score, result.reasons
            candidate.save(update_fields=["score", "reasons"])
        found.append(candidate)
    return found


@dataclass(frozen=True)
class ScanResult:
    """What a duplicate scan found: groups of records sharing name + birth date + sex, and how
    many new ``MatchCandidate`` pairs were stored."""

    groups: int
    pairs_created: int


def scan_for_duplicates(batch: int = 1000) -> ScanResult:
    """Scan the whole table for probable duplicates: SQL grouping on (name, birth_date, sex)
    of active records finds the groups, then each batch of ``batch`` groups is scored pair by
    pair and stored (one transaction per batch, existing pairs left as they are)."""
    groups = (Patient.objects.filter(is_active=True).values("name", "birth_date", "sex")
              .annotate(n=Count("*")).filter(n__gt=1).order_by("name", "birth_date", "sex"))
    keys = [(g["name"], g["birth_date"], g["sex"]) for g in groups.iterator()]
    created = 0
    for start in range(0, len(keys), batch):
        chunk = set(keys[start:start + batch])
        members: dict[tuple[str, date, str], list[Patient]] = defaultdict(list)
        rows = Patient.objects.filter(is_active=True, name__in={k[0] for k in chunk},
                                      birth_date__in={k[1] for k in chunk}).order_by("pk")
        for p in rows:
            key = (p.name, p.birth_date, p.sex)
            if key in chunk:
                members[key].append(p)
        pairs: list[MatchCandidate] = []
        for group in members.values():
            for i, a in enumerate(group):
                for b in group[i + 1:]:
                    result = rules.score_match(_facts(a), _facts(b))
                    if result.probable:
                        newer, older = _pair(a, b)
                        pairs.append(MatchCandidate(patient=newer, candidate=older,
                                                    score=result.score, reasons=result.reasons))
        with transaction.atomic():
            before = MatchCandidate.objects.count()
            MatchCandidate.objects.bulk_create(pairs, ignore_conflicts=True, batch_size=500)
            created += MatchCandidate.objects.count() - before
    return ScanResult(groups=len(keys), pairs_created=created)


def _merge_receivers_moved(responses: list[tuple[Any, Any]]) -> dict[str, list[int]]:
    moved: dict[str, list[int]] = {}
    for receiver, response in responses:
        if not response:
            continue
        if not isinstance(response, Mapping):
            raise TypeError(f"{receiver!r} must return {{model label: [ids]}}, got {response!r}")
        for label, ids in response.items():
            moved.setdefault(str(label), []).extend(int(i) for i in ids)
    return moved


@transaction.atomic
def merge_patients(survivor: Patient, merged: Patient, *, user: User | None = None,
                   reason: str = "") -> Merge:
    """Merge ``merged`` into ``survivor`` (issue 2 §4): the merged record becomes inactive and
    points at the survivor, its extra identifiers move to the survivor, the receivers of
    ``patients_merged`` re-point their rows and report them; every moved row is recorded in
    ``Merge.moved`` so that ``undo_merge`` restores exactly them. Audited as MERGE on both
    records."""
    if survivor.pk == merged.pk:
        raise MergeConflict("merge.same_record", _("A record cannot be merged into itself."))
    locked = {p.pk: p for p in Patient.objects.select_for_update().filter(
        pk__in=[survivor.pk, merged.pk])}
    survivor, merged = locked[survivor.pk], locked[merged.pk]
    for p in (survivor, merged):
        if not p.is_active:
            raise MergeConflict("merge.inactive",
                                _("Record %(record)s is already merged into another one."),
                                record=p.health_record_no)
    merge = Merge.objects.create(survivor=survivor, merged=merged, reason=reason[:200],
                                 merged_by=user)
    identifier_ids = list(Identifier.objects.filter(patient=merged).values_list("pk", flat=True))
    Identifier.objects.filter(pk__in=identifier_ids).update(patient=survivor)
    merged.is_active = False
    merged.merged_into = survivor
    merged.save(update_fields=["is_active", "merged_into", "updated_at"])
    responses = patients_merged.send(sender=Patient, survivor=survivor, merged=merged,
                                     merge=merge)
    moved = _merge_receivers_moved(responses)
    if identifier_ids:
        moved[Identifier._meta.label] = identifier_ids
    merge.moved = moved
    merge.save(update_fields=["moved"])
    now = timezone.now()
    MatchCandidate.objects.filter(
        Q(patient=survivor, candidate=merged) | Q(patient=merged, candidate=survivor),
        status__in=statuses.sources_of(MatchCandidate.Status.MERGED),
    ).update(status=MatchCandidate.Status.MERGED, reviewed_at=now, reviewed_by=user)
    counts = {label: len(ids) for label, ids in moved.items()}
    for p in (survivor, merged):
        audit.record(AuditEvent.Action.MERGE, user=user, object_type=Merge._meta.label,
                     object_id=merge.pk, patient_id=p.pk,
                     summary=f"{merged.health_record_no} → {survivor.health_record_no}",
                     changes={"survivor": survivor.pk, "merged": merged.pk, "reason": reason,
                              "moved": counts})
    return merge


@transaction.atomic
def undo_merge(merge: Merge, *, user: User | None = None) -> Merge:
    """Undo a merge: the receivers of ``patients_unmerged`` move back exactly the rows listed
    in ``merge.moved``, the identifiers return, the merged record is active again. A second
    undo is refused. Audited as UNMERGE on both records."""
    merge = Merge.objects.select_for_update().get(pk=merge.pk)
    if merge.undone_at is not None:
        raise MergeConflict("merge.already_undone",
                            _("This merge was already undone on %(date)s."), merge=merge,
                            date=timezone.localtime(merge.undone_at).strftime("%Y-%m-%d %H:%M"))
    merged = Patient.objects.select_for_update().get(pk=merge.merged_id)
    if merged.merged_into_id != merge.survivor_id or merged.is_active:
        raise MergeConflict("merge.changed_since",
                            _("Record %(record)s has changed since the merge; it cannot be "
                              "undone."), merge=merge, record=merged.health_record_no)
    patients_unmerged.send(sender=Patient, merge=merge)
    Identifier.objects.filter(pk__in=merge.moved.get(Identifier._meta.label, [])).update(
        patient=merged)
    merged.is_active = True
    merged.merged_into = None
    try:
        with transaction.atomic():
            merged.save(update_fields=["is_active", "merged_into", "updated_at"])
    except IntegrityError as err:
        raise MergeConflict("merge.id_taken",
                            _("Another active record now has the identity document of "
                              "%(record)s; the merge cannot be undone."),
                            merge=merge, record=merged.health_record_no) from err
    merge.undone_at = timezone.now()
    merge.undone_by = user
    merge.save(update_fields=["undone_at", "undone_by"])
    MatchCandidate.objects.filter(
        Q(patient_id=merge.survivor_id, candidate=merged)
        | Q(patient=merged, candidate_id=merge.survivor_id),
        status__in=statuses.sources_of(MatchCandidate.Status.OPEN),
    ).update(status=MatchCandidate.Status.OPEN, reviewed_at=None, reviewed_by=None)
    for pid in (merge.survivor_id, merged.pk):
        audit.record(AuditEvent.Action.UNMERGE, user=user, object_type=Merge._meta.label,
                     object_id=merge.pk, patient_id=pid,
                     summary=f"{merged.health_record_no} ↛ {merge.survivor_id}",
                     changes={"survivor": merge.survivor_id, "merged": merged.pk,
                              "moved": {k: len(v) for k, v in merge.moved.items()}})
    return merge


@transaction.atomic
def dismiss_match(candidate: MatchCandidate, *, user: User | None = None) -> MatchCandidate:
    """A reviewer decides that a probable match is two different people."""
    if not statuses.can_move(candidate.status, MatchCandidate.Status.DISMISSED):
        raise MergeConflict("match.reviewed", _("This probable match was already reviewed."))
    candidate.status = MatchCandidate.Status.DISMISSED
    candidate.reviewed_at = timezone.now()
    candidate.reviewed_by = user
    candidate.save(update_fields=["status", "reviewed_at", "reviewed_by"])
    audit.record(AuditEvent.Action.UPDATE, user=user, object_type=MatchCandidate._meta.label,
                 object_id=candidate.pk, patient_id=candidate.patient_id,
                 summary=gettext("Probable match dismissed"),
                 changes={"status": {"from": "open", "to": "dismissed"},
                          "candidate": candidate.candidate_id})
    return candidate


# --- search and record view -------------------------------------------------------------------


def _prefix_q(field_name: str, prefix: str, upper: Keyset | None = None) -> Q:
    """``field`` starts with ``prefix`` as a range (``prefix <= x < bound``) that a plain
    b-tree index answers in its own order, so ``ORDER BY field LIMIT n`` stops early. Only for
    fields whose values are lower-case ASCII letters (pinyin initials): their order is the same
    in every collation (SQLite's LIKE is case-insensitive and cannot use a BINARY index;
    PostgreSQL's LIKE needs a pattern-ops index that cannot give the order).

    ``upper``: the (key, id) of the last row already found in the order (key, id); rows after
    it cannot enter the first ``limit`` and are left out before anything else is checked
    (``x <= key`` narrows the index range; the id decides among equal keys)."""
    condition = Q(**{f"{field_name}__gte": prefix,
                     f"{field_name}__lt": rules.prefix_upper_bound(prefix)})
    if upper is not None:
        key, pk = upper
        condition &= Q(**{f"{field_name}__lte": key}) & (
            Q(**{f"{field_name}__lt": key}) | Q(pk__lte=pk))
    return condition


#: A keyset bound: the sort key and id of the last row of a first page.
Keyset = tuple[str, int]


def initials_q(text: str) -> Q:
    """Residents whose pinyin initials start with ``text`` by either reading of the name (a
    polyphone surname has two), as index ranges."""
    return _prefix_q("name_initials", text) | _prefix_q("name_initials_alt", text)


def name_prefix_q(prefix: str) -> Q:
    """Residents whose name starts with ``prefix``, as a filter an index answers: PostgreSQL's
    ``LIKE 'prefix%'`` on the ``varchar_pattern_ops`` index ``patient_name_like``; SQLite's
    range on ``patient_name_birth`` (BINARY collation: code-point order, so a range is a prefix
    test). For callers that choose their own order; ``_name_prefix`` gives the name order."""
    if connection.vendor == "postgresql":
        return Q(name__startswith=prefix)
    return Q(name__gte=prefix, name__lt=rules.prefix_upper_bound(prefix))


def _name_prefix(base: Any, prefix: str, upper: Keyset | None = None) -> Any:
    """Residents whose name starts with ``prefix``, ordered by name, birth date and id, from
    an index that gives that order: on SQLite the (name, birth_date) index (BINARY collation,
    code-point order); on PostgreSQL the index on (name COLLATE "C", birth_date, id) of
    migration 0002, because the database collation may order Chinese differently from code
    points (e.g. by pinyin) and a range test is only a prefix test in code-point order.
    ``upper``: names after the last one already found are left out (the few residents who
    share that name are sorted out by the caller)."""
    bound = rules.prefix_upper_bound(prefix)
    if connection.vendor != "postgresql":
        rows = base.filter(name__gte=prefix, name__lt=bound)
        if upper is not None:
            rows = rows.filter(name__lte=upper[0])
        return rows.order_by("name", "birth_date", "pk")
    rows = base.annotate(name_c=Collate("name", "C")).filter(name_c__gte=prefix, name_c__lt=bound)
    if upper is not None:
        rows = rows.filter(name_c__lte=upper[0])
    return rows.order_by("name_c", "birth_date", "pk")


def id_number_variants(text: str) -> list[str]:
    """An ID number as typed and, for a 15-digit or otherwise valid number, its 18-character
    form (GB 11643)."""
    from tiercare.kernel import idnumber

    variants = [text]
    with contextlib.suppress(KernelError):
        variants.append(idnumber.validate(text).number)
    return sorted(set(variants))


def search_queryset(query: str, base: Any, *, limit: int,
                    upper: Keyset | None = None) -> tuple[str, list[Patient]]:
    """Run a classified search over ``base`` (a Patient queryset already held to a scope) with
    indexed lookups only. Returns ``(kind, residents)``; raises ``rules.RuleError`` for a
    query that is none of the searchable kinds."""
    kind, text = rules.classify_query(query)
    if kind == rules.QueryKind.EMPTY:
        return kind, []
    if kind == rules.QueryKind.ID_NUMBER:
        rows = base.filter(id_number__in=id_number_variants(text)).order_by("name", "pk")
    elif kind == rules.QueryKind.PHONE:
        rows = base.filter(phone=text).order_by("name", "pk")
    elif kind == rules.QueryKind.HEALTH_RECORD:
        rows = base.filter(health_record_no=text)
    elif kind == rules.QueryKind.NAME:
        rows = _name_prefix(base, text, upper)
    elif kind == rules.QueryKind.DOCUMENT:
        by_number = list(base.filter(id_number=text).order_by("pk")[:limit])
        linked = Identifier.objects.filter(value=text).values("patient_id")
        by_identifier = list(base.filter(pk__in=linked).order_by("pk")[:limit])
        merged = {p.pk: p for p in [*by_number, *by_identifier]}
        return kind, sorted(merged.values(), key=lambda p: p.pk)[:limit]
    else:  # pinyin initials: main reading and polyphone surname reading, one index each
        main = list(base.filter(_prefix_q("name_initials", text, upper))
                    .order_by("name_initials", "pk")[:limit])
        alt = list(base.filter(_prefix_q("name_initials_alt", text, upper))
                   .order_by("name_initials_alt", "pk")[:limit])
        found = {p.pk: p for p in [*main, *alt]}

        def matched(p: Patient) -> tuple[str, int]:
            key = p.name_initials if p.name_initials.startswith(text) else p.name_initials_alt
            return key, p.pk

        return kind, sorted(found.values(), key=matched)[:limit]
    return kind, list(rows[:limit])


def search_patients(user: Any, query: str, *, limit: int = 50) -> list[Patient]:
    """Find active residents in ``user``'s scope (rules.md §11) by what the query is (issue 2
    §4): ID number (exact, 15 or 18 characters), mobile phone (exact), health record number,
    Chinese name (prefix) or pinyin initials (prefix of either reading: 单田芳 is found by
    ``stf`` and ``dtf``), or a passport/permit number. Indexed lookups only, at most
    ``limit`` rows; audited as one SEARCH event with the query text."""
    limit = max(1, min(int(limit), 200))
    active = Patient.objects.filter(is_active=True)
    parts = scope_parts(user)
    try:
        if parts is None:
            kind, found = search_queryset(query, active, limit=limit)
        elif len(parts) == 1:
            kind, found = search_queryset(query, active.filter(parts[0]), limit=limit)
        else:
            kind, found = _search_union(query, active, parts, limit=limit)
    except rules.RuleError as err:
        raise ValidationError({"q": [ValidationError(str(err), code=err.code)]}) from err
    audit.record(AuditEvent.Action.SEARCH, user=user if _is_user(user) else None,
                 object_type=PATIENT_LABEL, summary=query[:300],
                 changes={"query": query, "kind": kind, "results": len(found)})
    return found


def _search_union(query: str, active: Any, parts: list[Q], *,
                  limit: int) -> tuple[str, list[Patient]]:
    """The first ``limit`` residents of a scope made of several parts, in the order of the
    query kind: each part is searched on its own (indexable) and the results merged. A later
    part leaves out the residents of the earlier ones (already searched; a test on the row
    itself, so the costly check of a later part, such as an encounter at the doctor's
    institution, is not made for them) and, once the first part fills ``limit``, every
    resident after the last one it found (a keyset bound on the sort key and id)."""
    kind, found = search_queryset(query, active.filter(parts[0]), limit=limit)
    text = rules.classify_query(query)[1]
    merged = {p.pk: p for p in found}
    upper: Keyset | None = None
    if len(found) >= limit and kind in (rules.QueryKind.NAME, rules.QueryKind.INITIALS):
        last = found[-1]
        upper = (last.name if kind == rules.QueryKind.NAME else _initials_key(last, text),
                 last.pk)
    for index, part in enumerate(parts[1:], 1):
        rest = active.filter(part)
        for earlier in parts[:index]:
            rest = rest.exclude(earlier)
        _kind, more = search_queryset(query, rest, limit=limit, upper=upper)
        merged.update((p.pk, p) for p in more)
    return kind, sorted(merged.values(), key=_sort_key(kind, text))[:limit]


def _initials_key(patient: Patient, text: str) -> str:
    """The reading of the name that matched the initials ``text`` (main or polyphone)."""
    if patient.name_initials.startswith(text):
        return patient.name_initials
    return patient.name_initials_alt


def _sort_key(kind: str, text: str) -> Any:
    """The order ``search_queryset`` returns for a query kind (code-point order of names)."""
    if kind == rules.QueryKind.NAME:
        return lambda p: (p.name, p.birth_date, p.pk)
    if kind == rules.QueryKind.INITIALS:
        return lambda p: (_initials_key(p, text), p.pk)
    if kind in (rules.QueryKind.ID_NUMBER, rules.QueryKind.PHONE):
        return lambda p: (p.name, p.pk)
    return lambda p: p.pk


def _is_user(user: Any) -> bool:
    return isinstance(user, User) and user.is_authenticated


def resolve_survivor(patient: Patient) -> Patient:
    """Follow ``merged_into`` to the record that now stands for the resident."""
    seen = {patient.pk}
    while patient.merged_into_id is not None:
        patient = Patient.objects.get(pk=patient.merged_into_id)
        if patient.pk in seen:  # a cycle cannot be created by the services; stop anyway
            break
        seen.add(patient.pk)
    return patient


def get_record(user: Any, patient_id: int) -> Patient:
    """Open a resident's record: a merged record resolves to its survivor; outside the user's
    scope → ``PermissionDenied`` (rules.md §11); unknown → ``Patient.DoesNotExist``. Audited as
    VIEW with the resident's id."""
    requested = Patient.objects.get(pk=patient_id)
    patient = resolve_survivor(requested)
    if not can_view(user, patient):
        raise PermissionDenied(gettext("This resident is outside your care scope."))
    summary = str(patient)
    if requested.pk != patient.pk:
        summary = f"{requested.health_record_no} → {patient}"
    audit.record(AuditEvent.Action.VIEW, user=user if _is_user(user) else None,
                 object_type=PATIENT_LABEL, object_id=patient.pk, patient_id=patient.pk,
                 summary=summary)
    return patient


def require_view(user: Any, patient: Patient) -> None:
    """Raise ``PermissionDenied`` when ``patient`` is outside ``user``'s scope."""
    if not can_view(user, patient):
        raise PermissionDenied(gettext("This resident is outside your care scope."))
