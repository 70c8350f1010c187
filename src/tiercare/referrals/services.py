"""Use cases of the tiered disease catalogue: the only place that changes catalogue rows.

One function per use case, one transaction each; every change is in the audit trail
(``tiercare.accounts.audit``). Bad input raises
:class:`django.core.exceptions.ValidationError` keyed by field, with stable codes and
messages in the user's language. Rules: ``referrals.rules`` (rules.md §2, seed 001 §21).
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files import File
from django.db import transaction
from django.db.models import Case, F, IntegerField, Q, QuerySet, Value, When
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from tiercare.accounts import audit
from tiercare.accounts.models import AuditEvent, Role, User
from tiercare.patients import access
from tiercare.patients.models import Patient
from tiercare.referrals import rules, signals, statuses
from tiercare.referrals.errors import ReferralConflict, ReferralInvalid, ReferralRefused
from tiercare.referrals.models import (
    CatalogueEntry,
    Direction,
    DiseaseCatalogue,
    FollowUpTask,
    Outcome,
    Referral,
    ReferralAttachment,
    ReferralEvent,
    ReferralPolicy,
)
from tiercare.referrals.statuses import Side
from tiercare.registry.models import Alliance, Department, Institution, Level
from tiercare.scheduling import services as scheduling
from tiercare.scheduling.models import Appointment, Bed, Slot, Ward

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


# === the referral workflow (issue 4 item 3; rules.md §3) =======================================
# One function per use case, one transaction each; every step goes through the transition
# table (``referrals.statuses``), writes a ``ReferralEvent`` and an audit event, and raises a
# ``referrals.errors`` domain error (stable code, translated message) that changes nothing.
# Who may act is decided by ``sides_of``; the rules are ``referrals.rules`` (pure).

#: roles of the staff who write, answer and receive referrals at an institution
STAFF_ROLES = frozenset({Role.DOCTOR, Role.NURSE})
#: the name recorded for work done by the background task
ESCALATION_ACTOR = "system:escalate_referrals"
REFERRAL_LABEL = Referral._meta.label
#: attachments: the types accepted (recognised by their first bytes) and the size limit
ATTACHMENT_TYPES: dict[str, tuple[bytes, str]] = {
    "application/pdf": (b"%PDF-", ".pdf"),
    "image/jpeg": (b"\xff\xd8\xff", ".jpg"),
    "image/png": (b"\x89PNG\r\n\x1a\n", ".png"),
}
ATTACHMENT_MAX_BYTES = 10 * 1024 * 1024

St = Referral.Status


def deadline_policy(alliance_id: int | None) -> rules.DeadlinePolicy:
    """The alliance's deadlines, or the defaults (routine 24 h, green channel 15 min,
    expiry 7 days, follow-up 14 days) when it has no ``ReferralPolicy``."""
    if alliance_id is None:
        return rules.DeadlinePolicy()
    row = ReferralPolicy.objects.filter(alliance_id=alliance_id).first()
    if row is None:
        return rules.DeadlinePolicy()
    return rules.DeadlinePolicy(row.routine_hours, row.green_channel_minutes, row.expiry_days,
                                row.follow_up_days)


def _policy_of(referral: Referral) -> rules.DeadlinePolicy:
    """Deadlines are those of the sending institution's alliance (it runs the referral; an
    out-of-county receiver has no alliance of ours)."""
    return deadline_policy(referral.sending_institution.alliance_id)


def _active(user: User | None) -> bool:
    return user is not None and user.is_active


def sides_of(user: User | None, referral: Referral) -> frozenset[str]:
    """On which sides ``user`` stands for ``referral`` (``None``: the system). Staff
    (doctors, nurses) of the sending or receiving institution; alliance administrators of the
    sending institution's alliance are the alliance office."""
    if user is None:
        return frozenset({Side.SYSTEM})
    if not _active(user):
        return frozenset()
    sides: set[str] = set()
    if user.role in STAFF_ROLES and user.institution_id is not None:
        if user.institution_id == referral.sending_institution_id:
            sides.add(Side.SENDER)
        if user.institution_id == referral.receiving_institution_id:
            sides.add(Side.RECEIVER)
    if (user.role == Role.ALLIANCE_ADMIN and user.alliance_id is not None
            and user.alliance_id == referral.sending_institution.alliance_id):
        sides.add(Side.OFFICE)
    return frozenset(sides)


def visible_referrals(user: User | None) -> QuerySet[Referral]:
    """The referrals ``user`` may see (rules.md §3 "visible to both sides"): staff see what
    their institution sent and what it received (not the other side's drafts); the alliance
    office sees every referral sent or received by its members; system administrators and
    regulators see all, an auditor held to an alliance sees that alliance's."""
    queryset = Referral.objects.all()
    if not _active(user):
        return queryset.none()
    assert user is not None
    if user.is_superuser or user.role in (Role.SYSTEM_ADMIN, Role.REGULATOR):
        return queryset
    if user.role in (Role.ALLIANCE_ADMIN, Role.AUDITOR):
        if user.alliance_id is None:
            return queryset if user.role == Role.AUDITOR else queryset.none()
        return referrals_seen_from(alliance_id=user.alliance_id)
    if user.role in STAFF_ROLES and user.institution_id is not None:
        return referrals_seen_from(institution_id=user.institution_id)
    return queryset.none()


def referrals_seen_from(*, institution_id: int | None = None,
                        alliance_id: int | None = None) -> QuerySet[Referral]:
    """The referrals seen from an institution (its staff, an integrating system held to it):
    what it sent and what it received once sent (not the other side's drafts, nor those
    awaiting the alliance office's approval); or from an alliance (its office, a system held
    to it): every referral sent or received by its members (rules.md §3 "visible to both
    sides")."""
    queryset = Referral.objects.all()
    if institution_id is not None:
        return queryset.filter(Q(sending_institution_id=institution_id)
                               | (Q(receiving_institution_id=institution_id)
                                  & ~Q(status__in=[St.DRAFT, St.AWAITING_APPROVAL])))
    if alliance_id is not None:
        return queryset.filter(Q(sending_institution__alliance_id=alliance_id)
                               | Q(receiving_institution__alliance_id=alliance_id))
    return queryset.none()


def visible_referral(user: User | None, pk: int, *, related: Iterable[str] = ()) -> Referral:
    """The referral ``pk`` if ``user`` sees it (``visible_referrals``), read with the
    ``related`` rows joined. Raises ``Referral.DoesNotExist`` when there is no such referral
    and ``PermissionDenied`` when it exists but is not the user's to see: the pages and the
    API answer 404 and 403."""
    found = visible_referrals(user).select_related(*related).filter(pk=pk).first()
    if found is not None:
        return found
    if Referral.objects.filter(pk=pk).exists():
        raise PermissionDenied(_("This referral is not one your institution sent or "
                                 "received."))
    raise Referral.DoesNotExist(_("No referral with this number."))


def incoming(user: User) -> QuerySet[Referral]:
    """The receiving institution's open queue by urgency: those waiting for an answer first
    (green channel first, then by deadline), then the accepted and arrived ones (in the same
    order)."""
    if not (_active(user) and user.role in STAFF_ROLES and user.institution_id):
        return Referral.objects.none()
    waiting = Case(When(status__in=sorted(statuses.AWAITING_ANSWER), then=Value(0)),
                   default=Value(1), output_field=IntegerField())
    return Referral.objects.filter(
        receiving_institution_id=user.institution_id,
        status__in=[St.SUBMITTED, St.RECEIVED, St.ACCEPTED, St.ARRIVED],
    ).order_by(waiting, "-green_channel", F("deadline").asc(nulls_last=True), "pk")


def _name(by: User | None, by_name: str = "") -> str:
    return (by.get_username() if by is not None else by_name)[:150]


def _event(referral: Referral, action: str, source: str, target: str, *, by: User | None,
           side: str, reason: str = "", at: dt.datetime, by_name: str = "") -> ReferralEvent:
    event = ReferralEvent.objects.create(
        referral=referral, at=at, by=by, by_name=_name(by, by_name), side=side, action=action,
        from_status=source, to_status=target, reason=reason)
    signals.referral_event.send(sender=Referral, referral=referral, event=event)
    return event


def _audit_step(referral: Referral, action: str, source: str, target: str, *,
                by: User | None, reason: str = "", by_name: str = "",
                extra: dict[str, Any] | None = None) -> None:
    audit.record(AuditEvent.Action.CREATE if not source else AuditEvent.Action.UPDATE,
                 user=by, username="" if by else by_name, object_type=REFERRAL_LABEL,
                 object_id=referral.pk, patient_id=referral.patient_id,
                 summary=f"{action}: {source or '∅'} → {target}",
                 changes={"action": action, "status": {"from": source, "to": target},
                          "reason": reason[:500], **(extra or {})})


def _lock(referral: Referral | int) -> Referral:
    """The referral's row, locked for the rest of the transaction (SQLite: the IMMEDIATE
    transaction already holds the write lock)."""
    pk = referral if isinstance(referral, int) else referral.pk
    return Referral.objects.select_for_update().get(pk=pk)


def _side_for(source: str, target: str, sides: frozenset[str]) -> str:
    allowed = statuses.TRANSITIONS.get((source, target), frozenset()) & sides
    return sorted(allowed)[0] if allowed else ""


def _move(referral: Referral, target: str, action: str, *, by: User | None, now: dt.datetime,
          reason: str = "", by_name: str = "", extra: dict[str, Any] | None = None,
          **fields: Any) -> Referral:
    """Check and make one move of the table on a locked row; event and audit."""
    source = referral.status
    sides = sides_of(by, referral)
    rules.check_move(source, target, sides)
    moved = Referral.objects.filter(pk=referral.pk, status=source).update(
        status=target, updated_at=now, **fields)
    if not moved:
        raise ReferralConflict("referral.changed",
                               _("The referral was changed meanwhile; reload it."))
    referral.status = target
    for key, value in fields.items():
        setattr(referral, key, value)
    _event(referral, action, source, target, by=by, side=_side_for(source, target, sides),
           reason=reason, at=now, by_name=by_name)
    _audit_step(referral, action, source, target, by=by, reason=reason, by_name=by_name,
                extra=extra)
    return referral


def _required(text: str, code: str, message: Any) -> str:
    value = (text or "").strip()
    if not value:
        raise ReferralInvalid(code, message)
    return value


def _reason_required(text: str) -> str:
    return _required(text, "referral.reason_required", _("A reason is required."))


def _staff(by: User | None) -> User:
    if by is None or not _active(by) or by.role not in STAFF_ROLES or by.institution is None:
        raise ReferralRefused("referral.not_staff",
                              _("Only doctors and nurses of a member institution may write "
                                "referrals."))
    return by


def _diagnosis(code: str) -> str:
    from tiercare.kernel import icd10
    from tiercare.kernel.errors import KernelError

    try:
        return icd10.validate(code).code
    except KernelError as err:
        raise ReferralInvalid("referral.diagnosis", _(err.template), **err.params) from err


def _in_county(referral: Referral, institution: Institution) -> bool:
    county = referral.sending_institution.division_code[:6]
    alliance = referral.sending_institution.alliance
    if alliance is not None and alliance.county_code:
        county = alliance.county_code
    return institution.division_code[:6] == county


def _check_direction(referral: Referral, receiving: Institution) -> None:
    problem = rules.direction_problem(
        referral.direction, referral.sending_institution.level, receiving.level,
        out_of_county=not _in_county(referral, receiving),
        same_institution=receiving.pk == referral.sending_institution_id)
    if problem == "referral.same_institution":
        raise ReferralInvalid(problem, _("An institution cannot refer a resident to itself."))
    if problem is not None:
        raise ReferralInvalid(
            problem, _("A referral from %(sending)s (%(from_level)s) to %(receiving)s "
                       "(%(to_level)s) is not a “%(direction)s”."),
            sending=referral.sending_institution.name,
            from_level=Level(referral.sending_institution.level).label,
            receiving=receiving.name, to_level=Level(receiving.level).label,
            direction=Direction(referral.direction).label)


@transaction.atomic
def create_referral(*, patient: Patient, direction: str, diagnosis: str, reason: str,
                    by: User, receiving_institution: Institution | None = None,
                    receiving_department: Department | None = None,
                    sending_department: Department | None = None,
                    secondary_diagnoses: Iterable[str] = (), clinical_summary: str = "",
                    care_plan: str = "", green_channel: bool = False,
                    source_referral: Referral | None = None,
                    now: dt.datetime | None = None) -> Referral:
    """Write a referral slip as a draft at ``by``'s institution (rules.md §3: patient,
    sending and receiving institution, department, responsible clinician, diagnosis, reason,
    clinical summary). The receiving institution may be chosen later, before submitting."""
    now = now or timezone.now()
    staff = _staff(by)
    if direction not in Direction.values:
        raise ReferralInvalid("referral.direction", _("“%(value)s” is not a valid choice."),
                              value=direction)
    current = Patient.objects.only("pk", "is_active", "health_record_no").get(pk=patient.pk)
    if not current.is_active:
        raise ReferralInvalid("patient.inactive",
                              _("Record %(record)s is merged or closed; refer the resident's "
                                "active record."), record=current.health_record_no)
    if not access.can_view(staff, current):
        raise ReferralRefused("patient.out_of_scope",
                              _("Record %(record)s is outside the residents you care for."),
                              record=current.health_record_no)
    code = _diagnosis(diagnosis)
    secondary = [_diagnosis(c) for c in secondary_diagnoses if (c or "").strip()]
    sending = staff.institution
    assert sending is not None
    for department, institution in ((sending_department, sending),
                                     (receiving_department, receiving_institution)):
        if department is not None and (institution is None
                                       or department.institution_id != institution.pk):
            raise ReferralInvalid("referral.department",
                                  _("The department %(department)s is not part of the "
                                    "institution."), department=department.name)
    referral = Referral.objects.create(
        patient=current, direction=direction, green_channel=green_channel,
        sending_institution=sending, sending_department=sending_department,
        sending_practitioner=staff.practitioner, sending_user=staff,
        receiving_institution=receiving_institution,
        receiving_department=receiving_department, diagnosis=code,
        secondary_diagnoses=secondary, reason=_reason_required(reason),
        clinical_summary=clinical_summary.strip(), care_plan=care_plan.strip(),
        source_referral=source_referral)
    _event(referral, "create", "", St.DRAFT, by=staff, side=Side.SENDER, at=now)
    _audit_step(referral, "create", "", St.DRAFT, by=staff,
                extra={"direction": direction, "diagnosis": code,
                       "green_channel": green_channel})
    return referral


#: the slip fields a draft's sender may change (``update_draft``)
DRAFT_FIELDS = ("direction", "green_channel", "receiving_institution", "receiving_department",
                "sending_department", "diagnosis", "secondary_diagnoses", "reason",
                "clinical_summary", "care_plan")


@transaction.atomic
def update_draft(referral: Referral, changes: Mapping[str, Any], *, by: User,
                 now: dt.datetime | None = None) -> Referral:
    """Change the slip of a draft (the sender only, before it is sent): choose the receiving
    institution and department, correct the diagnosis, edit the care plan of a proposed
    down-referral. Checked like ``create_referral``; an ``edit`` event and an audit event
    hold what changed."""
    current = _lock(referral)
    now = now or timezone.now()
    if current.status != St.DRAFT:
        raise ReferralConflict("referral.transition",
                               _("Only a draft can be edited; this referral is “%(state)s”."),
                               state=St(current.status).label)
    if Side.SENDER not in sides_of(by, current):
        raise ReferralRefused("referral.not_allowed",
                              _("Only the sending institution may edit a draft."))
    unknown = sorted(set(changes) - set(DRAFT_FIELDS))
    if unknown:
        raise ReferralInvalid("referral.field", _("These fields cannot be changed: %(fields)s."),
                              fields=", ".join(unknown))
    values = dict(changes)
    if "direction" in values and values["direction"] not in Direction.values:
        raise ReferralInvalid("referral.direction", _("“%(value)s” is not a valid choice."),
                              value=values["direction"])
    if "diagnosis" in values:
        values["diagnosis"] = _diagnosis(values["diagnosis"])
    if "secondary_diagnoses" in values:
        values["secondary_diagnoses"] = [_diagnosis(c) for c in values["secondary_diagnoses"]
                                         if (c or "").strip()]
    if "reason" in values:
        values["reason"] = _reason_required(values["reason"])
    for key in ("clinical_summary", "care_plan"):
        if key in values:
            values[key] = (values[key] or "").strip()
    receiving = values.get("receiving_institution", current.receiving_institution)
    if "receiving_institution" in values and "receiving_department" not in values:
        values["receiving_department"] = None  # a department of the former receiver
    for key, institution in (("sending_department", current.sending_institution),
                             ("receiving_department", receiving)):
        department = values.get(key)
        if department is not None and (institution is None
                                       or department.institution_id != institution.pk):
            raise ReferralInvalid("referral.department",
                                  _("The department %(department)s is not part of the "
                                    "institution."), department=department.name)
    diff: dict[str, Any] = {}
    for key, value in values.items():
        old = getattr(current, key)
        if old != value:
            diff[key] = {"from": str(getattr(old, "pk", old)),
                         "to": str(getattr(value, "pk", value))}
            setattr(current, key, value)
    if not diff:
        return current
    current.updated_at = now
    current.save(update_fields=[*values.keys(), "updated_at"])
    _event(current, "edit", St.DRAFT, St.DRAFT, by=by, side=Side.SENDER,
           reason=", ".join(sorted(diff)), at=now)
    _audit_step(current, "edit", St.DRAFT, St.DRAFT, by=by, extra={"changes": diff})
    return current


@dataclass
class SubmitResult:
    referral: Referral
    warning: rules.ReferralAdvice | None = None
    follow_up: FollowUpTask | None = None


def _catalogue_rules(alliance: Alliance | None) -> rules.Catalogue | None:
    catalogue = catalogue_for(alliance)
    return rules_catalogue(catalogue) if catalogue is not None else None


def _open_for_answer(referral: Referral, now: dt.datetime, *,
                     follow_up: bool = True) -> FollowUpTask | None:
    """The referral reaches the receiving side: the deadline starts; after an up-referral the
    sending institution gets its follow-up task (rules.md §3: within 2 weeks)."""
    policy = _policy_of(referral)
    referral.deadline = rules.response_deadline(now, referral.green_channel, policy)
    Referral.objects.filter(pk=referral.pk).update(deadline=referral.deadline)
    if not (follow_up and rules.needs_follow_up(referral.direction)):
        return None
    task, _created = FollowUpTask.objects.get_or_create(
        referral=referral, defaults={
            "institution_id": referral.sending_institution_id,
            "patient_id": referral.patient_id,
            "due_date": rules.follow_up_due(timezone.localdate(now), policy)})
    return task


@transaction.atomic
def submit(referral: Referral, *, by: User, now: dt.datetime | None = None) -> SubmitResult:
    """Send a draft. The receiving institution must be chosen and fit the direction. The
    catalogue's warning (the sending level should treat the condition) is returned and kept
    on the slip, it does not refuse. An out-of-county referral waits for the alliance
    office's approval unless it goes through the green channel; otherwise the response
    deadline starts now, and an up-referral opens the follow-up task."""
    current = _lock(referral)
    now = now or timezone.now()  # after the lock: events in commit order
    rules.check_move(current.status, St.SUBMITTED, sides_of(by, current))
    receiving = current.receiving_institution
    if receiving is None:
        raise ReferralInvalid("referral.receiver_required",
                              _("Choose the receiving institution before sending the "
                                "referral."))
    _check_direction(current, receiving)
    sending = current.sending_institution
    advice = rules.catalogue_warning(_catalogue_rules(sending.alliance), current.direction,
                                     current.diagnosis, sending.level, receiving.level)
    target = (St.AWAITING_APPROVAL if rules.needs_approval(current.direction,
                                                           current.green_channel)
              else St.SUBMITTED)
    _move(current, target, "submit", by=by, now=now, submitted_at=now,
          catalogue_warning=str(advice) if advice else "",
          extra={"warning": advice.code if advice else ""})
    task = _open_for_answer(current, now) if target == St.SUBMITTED else None
    return SubmitResult(current, advice, task)


@transaction.atomic
def approve(referral: Referral, *, by: User, reason: str = "",
            now: dt.datetime | None = None) -> SubmitResult:
    """The alliance office approves an out-of-county referral (rules.md §3): it is sent, the
    deadline starts and the follow-up task opens."""
    current = _lock(referral)
    now = now or timezone.now()  # after the lock: events in commit order
    _move(current, St.SUBMITTED, "approve", by=by, now=now, reason=reason.strip(),
          approved_by=by, approved_at=now)
    return SubmitResult(current, None, _open_for_answer(current, now))


@transaction.atomic
def refuse(referral: Referral, *, by: User, reason: str,
           now: dt.datetime | None = None) -> Referral:
    """The alliance office does not approve an out-of-county referral (reason required)."""
    current = _lock(referral)
    now = now or timezone.now()  # after the lock: events in commit order
    rules.check_move(current.status, St.REJECTED, sides_of(by, current))
    text = _reason_required(reason)
    return _move(current, St.REJECTED, "refuse", by=by, now=now, reason=text,
                 response_note=text, closed_at=now)


def _receive(current: Referral, by: User, now: dt.datetime) -> None:
    _move(current, St.RECEIVED, "receive", by=by, now=now, received_at=now)


@transaction.atomic
def receive(referral: Referral, *, by: User, now: dt.datetime | None = None) -> Referral:
    """The receiving department opens the referral (the deadline runs until it answers)."""
    current = _lock(referral)
    _receive(current, by, now or timezone.now())
    return current


def _answerable(current: Referral, target: str, by: User, now: dt.datetime) -> None:
    """Check the answer, and record the receipt first when it is answered straight from
    ``submitted`` (one transaction: both or neither)."""
    if current.status == St.SUBMITTED:
        rules.check_move(St.RECEIVED, target, sides_of(by, current))
        _receive(current, by, now)
    else:
        rules.check_move(current.status, target, sides_of(by, current))


@transaction.atomic
def accept(referral: Referral, *, by: User, slot: Slot | None = None,
           ward: Ward | None = None, bed: Bed | None = None,
           receiving_department: Department | None = None, note: str = "",
           now: dt.datetime | None = None) -> Referral:
    """Accept with a clinic slot (``scheduling.services.book``) or a bed (a named ``bed``,
    or any free referral bed of ``ward``) of the receiving institution, booked in this
    transaction with ``source_referral_id``: if the booking fails (slot full, no bed left)
    the acceptance fails with the scheduling error and nothing changes."""
    if sum(x is not None for x in (slot, ward, bed)) != 1:
        raise ReferralInvalid("referral.capacity_required",
                              _("Accept with one clinic slot or one bed."))
    current = _lock(referral)
    now = now or timezone.now()  # after the lock: events in commit order
    _answerable(current, St.ACCEPTED, by, now)
    receiving_id = current.receiving_institution_id
    fields: dict[str, Any] = {"responded_at": now, "receiving_user": by}
    department_id: int | None
    if slot is not None:
        slot = Slot.objects.select_related("schedule").get(pk=slot.pk)
        if slot.schedule.institution_id != receiving_id:
            raise _elsewhere()
        appointment = scheduling.book(slot, current.patient, by=by,
                                      source_referral_id=current.pk, note=note, now=now)
        fields["appointment"] = appointment
        department_id = slot.schedule.department_id
    else:
        if bed is not None:
            bed = Bed.objects.select_related("ward").get(pk=bed.pk)
            if bed.ward.institution_id != receiving_id:
                raise _elsewhere()
            held = scheduling.reserve_bed(bed, current.patient, by=by,
                                          source_referral_id=current.pk, reason=note)
            department_id = bed.ward.department_id
        else:
            assert ward is not None
            ward = Ward.objects.get(pk=ward.pk)
            if ward.institution_id != receiving_id:
                raise _elsewhere()
            held = scheduling.reserve_free_bed(ward, current.patient, by=by,
                                               source_referral_id=current.pk, reason=note)
            department_id = ward.department_id
        fields["bed"] = held
    if receiving_department is not None:
        if receiving_department.institution_id != receiving_id:
            raise _elsewhere()
        department_id = receiving_department.pk
    if department_id is not None:
        fields["receiving_department_id"] = department_id
    if by.practitioner_id is not None:
        fields["receiving_practitioner_id"] = by.practitioner_id
    return _move(current, St.ACCEPTED, "accept", by=by, now=now, reason=note, **fields,
                 extra={"appointment": getattr(fields.get("appointment"), "pk", None),
                        "bed": getattr(fields.get("bed"), "pk", None)})


def _elsewhere() -> ReferralInvalid:
    return ReferralInvalid("referral.capacity_elsewhere",
                           _("The slot or bed belongs to another institution than the "
                             "receiving one."))


@transaction.atomic
def reject(referral: Referral, *, by: User, reason: str,
           now: dt.datetime | None = None) -> Referral:
    """The receiving side refuses the referral; a reason is required (rules.md §3)."""
    current = _lock(referral)
    now = now or timezone.now()  # after the lock: events in commit order
    text = _reason_required(reason)
    _answerable(current, St.REJECTED, by, now)
    return _move(current, St.REJECTED, "reject", by=by, now=now, reason=text,
                 response_note=text, responded_at=now, receiving_user=by, closed_at=now)


@transaction.atomic
def redirect(referral: Referral, *, by: User, to: Institution, reason: str,
             department: Department | None = None,
             now: dt.datetime | None = None) -> Referral:
    """The receiving side sends the referral on to another member institution of its
    alliance (reason required). This referral ends as ``redirected``; a successor with the
    same slip, sent by the same sending institution, is submitted to ``to`` with a fresh
    deadline (ADR 0012). The follow-up task stays with the first referral. Returns the
    successor."""
    current = _lock(referral)
    now = now or timezone.now()  # after the lock: events in commit order
    text = _reason_required(reason)
    _answerable(current, St.REDIRECTED, by, now)
    receiving = current.receiving_institution
    assert receiving is not None
    if (not to.is_active or to.alliance_id is None or to.alliance_id != receiving.alliance_id
            or to.pk in (receiving.pk, current.sending_institution_id)):
        raise ReferralInvalid("referral.redirect_target",
                              _("A referral can be redirected only to another active member "
                                "institution of the alliance."))
    if department is not None and department.institution_id != to.pk:
        raise ReferralInvalid("referral.department",
                              _("The department %(department)s is not part of the "
                                "institution."), department=department.name)
    _check_direction(current, to)
    successor = Referral.objects.create(
        patient_id=current.patient_id, direction=current.direction,
        green_channel=current.green_channel, status=St.SUBMITTED,
        sending_institution_id=current.sending_institution_id,
        sending_department_id=current.sending_department_id,
        sending_practitioner_id=current.sending_practitioner_id,
        sending_user_id=current.sending_user_id, receiving_institution=to,
        receiving_department=department, diagnosis=current.diagnosis,
        secondary_diagnoses=current.secondary_diagnoses, reason=current.reason,
        clinical_summary=current.clinical_summary, care_plan=current.care_plan,
        catalogue_warning=current.catalogue_warning, source_referral=current.source_referral,
        submitted_at=now, approved_at=current.approved_at,
        approved_by_id=current.approved_by_id)
    _event(successor, "redirect", "", St.SUBMITTED, by=by, side=Side.RECEIVER, reason=text,
           at=now)
    _audit_step(successor, "redirect", "", St.SUBMITTED, by=by, reason=text,
                extra={"from_referral": current.pk})
    _open_for_answer(successor, now, follow_up=False)
    _move(current, St.REDIRECTED, "redirect", by=by, now=now, reason=text,
          response_note=text, responded_at=now, receiving_user=by, closed_at=now,
          redirected_to=successor, extra={"to_referral": successor.pk, "to": to.pk})
    return successor


@transaction.atomic
def arrive(referral: Referral, *, by: User, now: dt.datetime | None = None) -> Referral:
    """The resident came: the appointment is checked in, or the reserved bed occupied."""
    current = _lock(referral)
    now = now or timezone.now()  # after the lock: events in commit order
    rules.check_move(current.status, St.ARRIVED, sides_of(by, current))
    if current.appointment_id is not None:
        scheduling.check_in(Appointment.objects.get(pk=current.appointment_id), by=by,
                            reason=f"referral {current.pk}")
    elif current.bed_id is not None:
        scheduling.occupy_bed(Bed.objects.get(pk=current.bed_id), current.patient, by=by,
                              source_referral_id=current.pk, reason=f"referral {current.pk}")
    return _move(current, St.ARRIVED, "arrive", by=by, now=now, arrived_at=now)


@dataclass
class CompleteResult:
    referral: Referral
    down_referral: Referral | None = None
    suggestion: rules.ReferralAdvice | None = None


def down_referral_target(patient: Patient, current: Institution) -> Institution | None:
    """Where a down-referral from ``current`` goes (rules.md §3: back to the resident's
    primary care): the township health centre of the resident's address (the first 9 digits
    of the 12-digit village code), or, when ``current`` is that centre or no higher than it,
    the village clinic of the address. The alliance's own members first; ``None`` when
    nothing fits (the draft then waits for the doctor to choose)."""
    for level, code in ((Level.TOWNSHIP, patient.address_code[:9]),
                        (Level.VILLAGE, patient.address_code)):
        if rules.RANK[level] >= rules.RANK[current.level]:
            continue
        candidates = Institution.objects.filter(level=level, is_active=True,
                                                division_code=code).exclude(pk=current.pk)
        candidates = candidates.order_by("pk")
        own = (candidates.filter(alliance_id=current.alliance_id).first()
               if current.alliance_id else None)
        found = own or candidates.first()
        if found is not None:
            return found
    return None


@transaction.atomic
def complete(referral: Referral, *, by: User, outcome: str, outcome_note: str = "",
             care_plan: str = "", now: dt.datetime | None = None) -> CompleteResult:
    """Treated, with an outcome (rules.md §3). The visit is fulfilled, or the bed freed at
    discharge. For an admission, when the catalogue suggests a lower level can continue
    (``down_referral_suggestion``) or a care plan is given, a down-referral **draft** to the
    resident's township health centre is proposed, carrying the care plan; the discharging
    doctor reviews and submits it."""
    current = _lock(referral)
    now = now or timezone.now()  # after the lock: events in commit order
    rules.check_move(current.status, St.COMPLETED, sides_of(by, current))
    if outcome not in Outcome.values:
        raise ReferralInvalid("referral.outcome_required",
                              _("Choose the outcome of the referral."))
    if current.appointment_id is not None:
        scheduling.fulfil(Appointment.objects.get(pk=current.appointment_id), by=by,
                          reason=f"referral {current.pk}")
    elif current.bed_id is not None:
        scheduling.free_bed(Bed.objects.get(pk=current.bed_id), by=by,
                            reason=f"discharge, referral {current.pk}")
    _move(current, St.COMPLETED, "complete", by=by, now=now, reason=outcome_note.strip(),
          outcome=outcome, outcome_note=outcome_note.strip(), closed_at=now,
          extra={"outcome": outcome})
    result = CompleteResult(current)
    if not current.is_admission or outcome == Outcome.DIED:
        return result
    receiving = current.receiving_institution
    assert receiving is not None
    catalogue = _catalogue_rules(receiving.alliance)
    suggestion = (catalogue.down_referral_suggestion(current.diagnosis, receiving.level)
                  if catalogue is not None else None)
    plan = care_plan.strip()
    if suggestion is None and not plan:
        return result
    result.suggestion = suggestion
    entry = suggestion.entry if suggestion is not None else None
    result.down_referral = create_referral(
        patient=current.patient, direction=Direction.DOWN, diagnosis=current.diagnosis,
        secondary_diagnoses=current.secondary_diagnoses,
        reason=str(suggestion) if suggestion is not None else plan,
        by=by, receiving_institution=down_referral_target(current.patient, receiving),
        sending_department=current.receiving_department,
        clinical_summary=outcome_note.strip(),
        care_plan=plan or getattr(entry, "down_criteria", ""), source_referral=current,
        now=now)
    return result


@transaction.atomic
def cancel(referral: Referral, *, by: User, reason: str = "",
           now: dt.datetime | None = None) -> Referral:
    """Withdraw a referral (the sender; after acceptance also the receiver, when the resident
    will not come). A held slot place or bed is given back in the same transaction."""
    current = _lock(referral)
    now = now or timezone.now()  # after the lock: events in commit order
    rules.check_move(current.status, St.CANCELLED, sides_of(by, current))
    if current.status == St.ACCEPTED:
        if current.appointment_id is not None:
            scheduling.cancel(Appointment.objects.get(pk=current.appointment_id), by=by,
                              reason=f"referral {current.pk} cancelled")
        elif current.bed_id is not None:
            scheduling.free_bed(Bed.objects.get(pk=current.bed_id), by=by,
                                reason=f"referral {current.pk} cancelled")
    return _move(current, St.CANCELLED, "cancel", by=by, now=now, reason=reason.strip(),
                 closed_at=now)


# --- deadlines: escalation and expiry (background task ``escalate_referrals``) ----------------


@dataclass(frozen=True)
class EscalationResult:
    escalated: int
    expired: int


def escalate_overdue(now: dt.datetime | None = None) -> EscalationResult:
    """Tell the alliance office about every referral whose response deadline has passed
    unanswered (an ``escalate`` event, ``escalated_at`` set: once per referral), and expire
    those unanswered longer than the alliance's expiry limit (default 7 days). Each referral
    in its own short transaction under its row lock; idempotent."""
    now = now or timezone.now()
    escalated = expired = 0
    due = Referral.objects.filter(status__in=statuses.AWAITING_ANSWER,
                                  escalated_at__isnull=True, deadline__lte=now)
    for pk in list(due.values_list("pk", flat=True)):
        with transaction.atomic():
            current = _lock(pk)
            if not rules.is_overdue(current.status, current.deadline, current.escalated_at,
                                    now):
                continue
            moment = max(now, timezone.now())  # the timeline follows the row lock
            Referral.objects.filter(pk=pk).update(escalated_at=moment)
            assert current.deadline is not None
            text = f"deadline {timezone.localtime(current.deadline):%Y-%m-%d %H:%M} missed"
            _event(current, "escalate", current.status, current.status, by=None,
                   side=Side.SYSTEM, reason=text, at=moment, by_name=ESCALATION_ACTOR)
            _audit_step(current, "escalate", current.status, current.status, by=None,
                        reason=text, by_name=ESCALATION_ACTOR,
                        extra={"office_alliance": current.sending_institution.alliance_id})
            escalated += 1
    candidates = Referral.objects.filter(status__in=statuses.AWAITING_ANSWER,
                                         submitted_at__lte=now - dt.timedelta(days=1))
    policies: dict[int | None, rules.DeadlinePolicy] = {}
    for pk, alliance_id in list(candidates.values_list(
            "pk", "sending_institution__alliance_id")):
        policy = policies.setdefault(alliance_id, deadline_policy(alliance_id))
        with transaction.atomic():
            current = _lock(pk)
            sent = current.approved_at or current.submitted_at
            if not rules.is_expired(current.status, sent, now, policy):
                continue
            moment = max(now, timezone.now())
            _move(current, St.EXPIRED, "expire", by=None, now=moment,
                  by_name=ESCALATION_ACTOR, reason=f"unanswered for {policy.expiry_days} days",
                  closed_at=moment)
            expired += 1
    return EscalationResult(escalated, expired)


def overdue(alliance: Alliance) -> QuerySet[Referral]:
    """The alliance office's list of missed deadlines: escalated referrals still unanswered."""
    return Referral.objects.filter(
        Q(sending_institution__alliance=alliance) | Q(receiving_institution__alliance=alliance),
        status__in=statuses.AWAITING_ANSWER, escalated_at__isnull=False,
    ).order_by("deadline", "pk")


# --- follow-up tasks and attachments -------------------------------------------------------------


@transaction.atomic
def complete_follow_up(task: FollowUpTask, *, by: User, note: str = "",
                       now: dt.datetime | None = None) -> FollowUpTask:
    """The sending institution followed the resident up."""
    now = now or timezone.now()
    current = FollowUpTask.objects.select_for_update().get(pk=task.pk)
    if not (_active(by) and by.role in STAFF_ROLES
            and by.institution_id == current.institution_id):
        raise ReferralRefused("referral.not_allowed",
                              _("Only staff of %(institution)s may close this follow-up."),
                              institution=current.institution.name)
    if current.status == FollowUpTask.Status.DONE:
        raise ReferralConflict("follow_up.done", _("This follow-up is already done."))
    FollowUpTask.objects.filter(pk=current.pk).update(
        status=FollowUpTask.Status.DONE, done_at=now, done_by=by, note=note[:200])
    current.refresh_from_db()
    audit.record(AuditEvent.Action.UPDATE, user=by, object_type=FollowUpTask._meta.label,
                 object_id=current.pk, patient_id=current.patient_id,
                 summary=f"follow-up of referral {current.referral_id} done",
                 changes={"status": {"from": "open", "to": "done"}, "note": note[:200]})
    return current


def sniff_type(head: bytes) -> str | None:
    """The accepted content type whose signature starts ``head``, or ``None``."""
    for content_type, (magic, _suffix) in ATTACHMENT_TYPES.items():
        if head.startswith(magic):
            return content_type
    return None


@transaction.atomic
def attach(referral: Referral, upload: File, *, by: User, name: str = "",
           now: dt.datetime | None = None) -> ReferralAttachment:
    """Attach results to a referral slip (either side, while the referral is open). Only
    PDF, JPEG and PNG, recognised by their content (not by the name or the browser's claim),
    and at most 10 MB. The file is stored under ``DATA_DIR/attachments`` with a name chosen
    by the server."""
    current = _lock(referral)
    now = now or timezone.now()  # after the lock: events in commit order
    sides = sides_of(by, current)
    if not sides & {Side.SENDER, Side.RECEIVER} or current.status in statuses.FINAL:
        raise ReferralRefused("referral.not_allowed",
                              _("Only the sending or receiving institution may attach files "
                                "to an open referral."))
    size = upload.size or 0
    if size <= 0:
        raise ReferralInvalid("attachment.empty", _("The file is empty."))
    if size > ATTACHMENT_MAX_BYTES:
        raise ReferralInvalid("attachment.size",
                              _("The file is larger than %(limit)s MB."),
                              limit=ATTACHMENT_MAX_BYTES // (1024 * 1024))
    upload.seek(0)
    head = upload.read(16)
    upload.seek(0)
    content_type = sniff_type(head)
    if content_type is None:
        raise ReferralInvalid("attachment.type",
                              _("Only PDF, JPEG and PNG files can be attached."))
    display = Path(name or upload.name or "attachment").name[:200]
    row = ReferralAttachment(referral=current, name=display, content_type=content_type,
                             size=size, uploaded_by=by)
    row.file.save(f"upload{ATTACHMENT_TYPES[content_type][1]}", upload, save=False)
    row.save()
    _event(current, "attach", current.status, current.status, by=by,
           side=sorted(sides & {Side.SENDER, Side.RECEIVER})[0], reason=display, at=now)
    _audit_step(current, "attach", current.status, current.status, by=by, reason=display,
                extra={"attachment": row.pk, "content_type": content_type, "size": size})
    return row
