"""Use cases of the tiered disease catalogue: the only place that changes catalogue rows.

One function per use case, one transaction each; every change is in the audit trail
(``tiercare.accounts.audit``). Bad input raises
:class:`django.core.exceptions.ValidationError` keyed by field, with stable codes and
messages in the user's language. Rules: ``referrals.rules`` (rules.md §2, seed 001 §21).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext_lazy as _

from tiercare.accounts import audit
from tiercare.accounts.models import AuditEvent, User
from tiercare.referrals import rules
from tiercare.referrals.models import CatalogueEntry, DiseaseCatalogue
from tiercare.registry.models import Alliance

DEFAULT_FILE = Path(__file__).resolve().parent / "data" / "default_catalogue.csv"
DEFAULT_NAME = "县乡两级疾病诊疗目录（TierCare 默认）"
ENTRY_FIELDS = ("code_first", "code_last", "name_zh", "level", "up_criteria", "down_criteria",
                "source")
TEXT_LIMITS = {"name_zh": 200, "source": 300}


def _invalid(err: rules.CatalogueRuleError) -> ValidationError:
    return ValidationError({err.field: [ValidationError(str(err), code=err.code)]})


def _audit(action: str, obj: Any, *, user: User | None, summary: str = "",
           changes: dict[str, Any] | None = None) -> None:
    audit.record(action, user=user, object_type=obj._meta.label, object_id=obj.pk,
                 summary=summary or str(obj), changes=changes)


@dataclass
class EntryInput:
    """The fields of an entry as given (codes not yet normalised)."""

    code_first: str
    level: str
    name_zh: str = ""
    code_last: str = ""
    up_criteria: str = ""
    down_criteria: str = ""
    source: str = ""

    @classmethod
    def of(cls, entry: CatalogueEntry) -> EntryInput:
        return cls(**{name: getattr(entry, name) for name in ENTRY_FIELDS})


def clean_entry(data: EntryInput, others: Iterable[rules.EntryLike]) -> rules.Entry:
    """The entry normalised and checked against the catalogue's other entries: codes exist in
    ICD-10, a range is ordered and joins categories, the level is valid, the Chinese name is
    given (the curated ICD-10 name when left empty), ranges nest, no duplicate."""
    errors: dict[str, list[ValidationError]] = {}

    def add(err: rules.CatalogueRuleError) -> None:
        errors.setdefault(err.field, []).append(ValidationError(str(err), code=err.code))

    code_first = code_last = level = ""
    try:
        code_first, code_last = rules.parse_range(data.code_first, data.code_last)
    except rules.CatalogueRuleError as err:
        add(err)
    try:
        level = rules.parse_level(data.level)
    except rules.CatalogueRuleError as err:
        add(err)
    name = (data.name_zh or "").strip()
    if not name and code_first and not code_last:
        from tiercare.kernel import icd10

        name = icd10.name_zh(code_first) or ""
    if not name:
        add(rules.CatalogueRuleError("name_zh", "required", _("The condition's name is "
                                                              "required.")))
    texts = {k: (getattr(data, k) or "").strip() for k in ("up_criteria", "down_criteria",
                                                           "source")}
    for key, limit in TEXT_LIMITS.items():
        value = name if key == "name_zh" else texts[key]
        if len(value) > limit:
            add(rules.CatalogueRuleError(key, "too_long", _("At most %(limit)d characters."),
                                         limit=limit))
    entry = rules.Entry(code_first=code_first, code_last=code_last, level=level, name_zh=name,
                        **texts)
    if code_first and "code_first" not in errors and "code_last" not in errors:
        try:
            rules.check_nesting(entry, others)
        except rules.CatalogueRuleError as err:
            add(err)
    if errors:
        raise ValidationError(errors)
    return entry


# --- catalogues ---------------------------------------------------------------------------------


def default_catalogue() -> DiseaseCatalogue | None:
    return DiseaseCatalogue.objects.filter(alliance__isnull=True).first()


def catalogue_for(alliance: Alliance | None) -> DiseaseCatalogue | None:
    """The alliance's own catalogue, else the county default (rules.md §2)."""
    if alliance is not None:
        own = DiseaseCatalogue.objects.filter(alliance=alliance).first()
        if own is not None:
            return own
    return default_catalogue()


def rules_catalogue(catalogue: DiseaseCatalogue) -> rules.Catalogue:
    """The pure look-up structure of a stored catalogue (one query)."""
    return rules.Catalogue(list(catalogue.entries.all()))


@transaction.atomic
def create_catalogue(alliance: Alliance | None, *, name: str = "", edition: str = "",
                     source_note: str = "", copy_from: DiseaseCatalogue | None = None,
                     copy_default: bool = True, user: User | None = None) -> DiseaseCatalogue:
    """A catalogue for an alliance (or the default when ``alliance`` is None), starting as a
    copy of ``copy_from`` or of the county default (rules.md §2: the alliance edits its own)."""
    if DiseaseCatalogue.objects.filter(alliance=alliance).exists():
        raise ValidationError({"alliance": [ValidationError(
            _("This alliance already has a catalogue."), code="catalogue.exists")]})
    source = copy_from or (default_catalogue() if copy_default and alliance else None)
    catalogue = DiseaseCatalogue(
        alliance=alliance,
        name=name or (f"{alliance.name} 疾病诊疗目录" if alliance else DEFAULT_NAME),
        edition=edition or (source.edition if source else ""),
        source_note=source_note or (source.source_note if source else ""))
    catalogue.full_clean()
    catalogue.save()
    copied = 0
    if source is not None:
        rows = [CatalogueEntry(catalogue=catalogue,
                               **{k: getattr(e, k) for k in ENTRY_FIELDS})
                for e in source.entries.all()]
        CatalogueEntry.objects.bulk_create(rows)
        copied = len(rows)
    _audit(AuditEvent.Action.CREATE, catalogue, user=user,
           changes={"copied_from": source.pk if source else None, "entries": copied})
    return catalogue


@transaction.atomic
def update_catalogue(catalogue: DiseaseCatalogue, changes: Mapping[str, Any], *,
                     user: User | None = None) -> DiseaseCatalogue:
    """Change a catalogue's name, edition or source note (audited with from/to)."""
    allowed = {"name", "edition", "source_note"}
    unknown = sorted(set(changes) - allowed)
    if unknown:
        raise ValidationError({unknown[0]: [ValidationError(
            _("The field “%(field)s” cannot be changed here.") % {"field": unknown[0]},
            code="field.read_only")]})
    diff = {}
    for key, value in changes.items():
        if getattr(catalogue, key) != value:
            diff[key] = {"from": getattr(catalogue, key), "to": value}
            setattr(catalogue, key, value)
    if diff:
        catalogue.full_clean()
        catalogue.save()
        _audit(AuditEvent.Action.UPDATE, catalogue, user=user, changes=diff)
    return catalogue


@transaction.atomic
def delete_catalogue(catalogue: DiseaseCatalogue, *, user: User | None = None) -> None:
    """Delete a catalogue and its entries (the alliance falls back to the county default)."""
    pk, summary, count = catalogue.pk, str(catalogue), catalogue.entries.count()
    catalogue.delete()
    audit.record(AuditEvent.Action.DELETE, user=user, object_type=DiseaseCatalogue._meta.label,
                 object_id=pk, summary=summary, changes={"entries": count})


# --- entries ------------------------------------------------------------------------------------


def _others(catalogue: DiseaseCatalogue, exclude_pk: int | None = None) -> list[CatalogueEntry]:
    qs = catalogue.entries.all() if catalogue.pk else CatalogueEntry.objects.none()
    return [e for e in qs if e.pk != exclude_pk]


@transaction.atomic
def add_entry(catalogue: DiseaseCatalogue, data: EntryInput, *,
              user: User | None = None) -> CatalogueEntry:
    """Add a code or range to a catalogue (validated by :func:`clean_entry`)."""
    clean = clean_entry(data, _others(catalogue))
    entry = CatalogueEntry(catalogue=catalogue, **vars(clean))
    entry.full_clean()
    entry.save()
    _touch(catalogue)
    _audit(AuditEvent.Action.CREATE, entry, user=user,
           changes={k: getattr(entry, k) for k in ENTRY_FIELDS})
    return entry


@transaction.atomic
def update_entry(entry: CatalogueEntry, changes: Mapping[str, Any], *,
                 user: User | None = None) -> CatalogueEntry:
    """Change an entry's fields (audited with from/to); the whole entry is checked again."""
    unknown = sorted(set(changes) - set(ENTRY_FIELDS))
    if unknown:
        raise ValidationError({unknown[0]: [ValidationError(
            _("The field “%(field)s” cannot be changed here.") % {"field": unknown[0]},
            code="field.read_only")]})
    data = EntryInput.of(entry)
    for key, value in changes.items():
        setattr(data, key, value)
    clean = clean_entry(data, _others(entry.catalogue, entry.pk))
    diff = {}
    for key in ENTRY_FIELDS:
        new = getattr(clean, key)
        if getattr(entry, key) != new:
            diff[key] = {"from": getattr(entry, key), "to": new}
            setattr(entry, key, new)
    if diff:
        entry.full_clean()
        entry.save()
        _touch(entry.catalogue)
        _audit(AuditEvent.Action.UPDATE, entry, user=user, changes=diff)
    return entry


@transaction.atomic
def remove_entry(entry: CatalogueEntry, *, user: User | None = None) -> None:
    """Remove an entry; the audit event keeps what it said."""
    pk, catalogue = entry.pk, entry.catalogue
    snapshot = {k: getattr(entry, k) for k in ENTRY_FIELDS}
    summary = str(entry)
    entry.delete()
    _touch(catalogue)
    audit.record(AuditEvent.Action.DELETE, user=user, object_type=CatalogueEntry._meta.label,
                 object_id=pk, summary=summary, changes=snapshot)


def _touch(catalogue: DiseaseCatalogue) -> None:
    catalogue.save(update_fields=["updated_at"])


# --- upserts (the default file and spreadsheets) --------------------------------------------------


@dataclass
class UpsertResult:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    changed: list[dict[str, Any]] = field(default_factory=list)


def upsert_entries(catalogue: DiseaseCatalogue, entries: list[rules.Entry]) -> UpsertResult:
    """Insert or update clean entries keyed by their code range (call inside a transaction;
    the caller audits). Idempotent: an entry with the same content is left alone."""
    existing = {(e.code_first, e.code_last): e for e in catalogue.entries.all()}
    result = UpsertResult()
    new_rows = []
    for clean in entries:
        row = existing.get((clean.code_first, clean.code_last))
        if row is None:
            new_rows.append(CatalogueEntry(catalogue=catalogue, **vars(clean)))
            result.inserted += 1
            continue
        diff = {k: {"from": getattr(row, k), "to": getattr(clean, k)} for k in ENTRY_FIELDS
                if getattr(row, k) != getattr(clean, k)}
        if not diff:
            result.unchanged += 1
            continue
        for key, change in diff.items():
            setattr(row, key, change["to"])
        row.save()
        result.updated += 1
        result.changed.append({"range": rules.display_range(clean), **diff})
    CatalogueEntry.objects.bulk_create(new_rows)
    if result.inserted or result.updated:
        _touch(catalogue)
    return result


def read_default_file(path: Path = DEFAULT_FILE) -> tuple[dict[str, str], list[dict[str, str]]]:
    """The ``# key: value`` header lines and the rows of the default catalogue file."""
    meta: dict[str, str] = {}
    lines = []
    with path.open(encoding="utf-8", newline="") as handle:
        for line in handle:
            if line.startswith("#"):
                key, sep, value = line[1:].partition(":")
                if sep and key.strip() in {"edition", "name", "source"}:
                    meta[key.strip()] = value.strip()
            elif line.strip():
                lines.append(line)
    return meta, list(csv.DictReader(lines))


@transaction.atomic
def load_default_catalogue(path: Path = DEFAULT_FILE, *,
                           user: User | None = None) -> tuple[DiseaseCatalogue, UpsertResult]:
    """Load the shipped default catalogue (``data/default_catalogue.csv``) into the county
    default catalogue, creating it when missing. Idempotent: loading the same file twice
    changes nothing. A bad row in the file is a programming error (the tests check the file),
    reported with its line."""
    meta, rows = read_default_file(path)
    catalogue = default_catalogue()
    if catalogue is None:
        catalogue = create_catalogue(None, name=meta.get("name", DEFAULT_NAME),
                                     edition=meta.get("edition", ""),
                                     source_note=meta.get("source", ""), user=user)
    elif meta:
        update_catalogue(catalogue, {"edition": meta.get("edition", catalogue.edition),
                                     "source_note": meta.get("source", catalogue.source_note)},
                         user=user)
    others = [e for e in catalogue.entries.all()]
    current = {(e.code_first, e.code_last): e for e in others}
    cleaned: list[rules.Entry] = []
    for number, row in enumerate(rows, start=1):
        data = EntryInput(**{k: row.get(k) or "" for k in ENTRY_FIELDS})
        try:
            first, last = rules.parse_range(data.code_first, data.code_last)
            peers: list[rules.EntryLike] = [
                *(e for key, e in current.items() if key != (first, last)), *cleaned]
            cleaned.append(clean_entry(data, peers))
        except (ValidationError, rules.CatalogueRuleError) as err:
            raise ValueError(f"{path.name} row {number}: {err}") from err
    result = upsert_entries(catalogue, cleaned)
    if result.inserted or result.updated:
        audit.record(AuditEvent.Action.IMPORT, user=user,
                     object_type=DiseaseCatalogue._meta.label, object_id=catalogue.pk,
                     summary=f"{path.name}: +{result.inserted} ~{result.updated}",
                     changes={"file": path.name, "inserted": result.inserted,
                              "updated": result.updated, "changed": result.changed[:50]})
    return catalogue, result


def ensure_default_catalogue(*, user: User | None = None) -> DiseaseCatalogue:
    """The county default catalogue, loaded from the shipped file when there is none yet
    (``tiercare synth`` and the demo; an existing catalogue and its edits are kept)."""
    catalogue = default_catalogue()
    if catalogue is None:
        catalogue, _result = load_default_catalogue(user=user)
    return catalogue
