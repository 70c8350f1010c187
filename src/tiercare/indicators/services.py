"""Use cases of an alliance's indicator targets: the only place that changes
:class:`~tiercare.indicators.models.IndicatorPolicy` and
:class:`~tiercare.indicators.models.TargetOverride` rows.

One function per use case, one transaction each; every change is in the audit trail
(``tiercare.accounts.audit``) with what it was and what it became. Bad input raises
:class:`~tiercare.indicators.errors.IndicatorInvalid` (an unknown pack or indicator, a target
that cannot be judged, a value out of range for its unit, no reason given) and changes
nothing; a user who may not configure the alliance gets
:class:`~tiercare.indicators.errors.IndicatorRefused`.

Rules: rules.md ("the product ships policy packs and lets an alliance pick and edit one";
[local] and [conv] values are configuration) and DESIGN.md (the alliance management office
configures policy packs). An alliance without a chosen pack follows the national defaults
(``catalogue.DEFAULT_PACK``).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_noop as N_

from tiercare.accounts import audit
from tiercare.accounts.models import AuditEvent, Role, User
from tiercare.indicators import catalogue, rules
from tiercare.indicators.errors import IndicatorInvalid, IndicatorNotFound, IndicatorRefused
from tiercare.indicators.models import IndicatorPolicy, TargetOverride
from tiercare.registry.models import Alliance

#: The database keeps target values with 4 decimal places.
DECIMAL_PLACES = 4
NOTE_LIMIT = 1000


@dataclass(frozen=True)
class OverrideInput:
    """An override as checked by :func:`clean_override` (the note stripped)."""

    indicator: str
    comparison: rules.Comparison
    value: Decimal | None
    tolerance: Decimal | None
    note: str


def may_configure(user: User | None, alliance: Alliance) -> bool:
    """Who may choose an alliance's pack and set its targets: the system (``None``: commands,
    the generator), superusers and system administrators, and the alliance's own
    administrators (DESIGN.md: the alliance management office)."""
    if user is None:
        return True
    if not user.is_active:
        return False
    if user.is_superuser or user.role == Role.SYSTEM_ADMIN:
        return True
    return user.role == Role.ALLIANCE_ADMIN and user.alliance_id == alliance.pk


def _check_and_lock(user: User | None, alliance: Alliance) -> None:
    """Refuse a user who may not configure the alliance; then lock the alliance's row, so that
    changes of one alliance's policy run one after the other (two first choices at once make
    one row, not a unique-constraint error)."""
    if not may_configure(user, alliance):
        raise IndicatorRefused("alliance", "indicators.not_allowed", N_(
            "Only a system administrator or an administrator of %(alliance)s may change "
            "its indicator targets."), alliance=alliance.name)
    Alliance.objects.select_for_update().only("pk").get(pk=alliance.pk)


def known_pack(pack_id: str) -> catalogue.Pack:
    """The shipped pack with this id, or :class:`IndicatorInvalid`."""
    try:
        return catalogue.pack(pack_id)
    except catalogue.UnknownPack:
        raise IndicatorInvalid("pack", "indicators.unknown_pack", N_(
            "There is no policy pack “%(pack)s”; choose one of: %(packs)s."),
            pack=pack_id, packs=", ".join(catalogue.load_packs())) from None


def known_indicator(indicator_id: str) -> catalogue.Indicator:
    """The catalogue's indicator with this id, or :class:`IndicatorInvalid`."""
    try:
        return catalogue.indicator(indicator_id)
    except catalogue.UnknownIndicator:
        raise IndicatorInvalid("indicator", "indicators.unknown_indicator", N_(
            "There is no indicator “%(indicator)s” in the catalogue."),
            indicator=indicator_id) from None


# --- reading ----------------------------------------------------------------------------------


def pack_for(alliance: Alliance) -> catalogue.Pack:
    """The pack the alliance has chosen, else the national defaults."""
    policy = IndicatorPolicy.objects.filter(alliance=alliance).only("pack").first()
    pack_id = policy.pack if policy is not None else catalogue.DEFAULT_PACK
    try:
        return catalogue.pack(pack_id)
    except catalogue.UnknownPack:
        # A pack file removed after it was chosen: fall back rather than fail every page.
        return catalogue.pack(catalogue.DEFAULT_PACK)


def targets_for(alliance: Alliance) -> dict[str, rules.Target]:
    """The alliance's target of each indicator that has one: its pack's (with the packs it
    extends), replaced by the alliance's overrides (``origin = "override"``)."""
    targets = dict(pack_for(alliance).targets)
    rows = TargetOverride.objects.filter(alliance=alliance).select_related("set_by")
    for row in rows:
        if row.indicator not in catalogue.load_catalogue():
            continue  # an indicator dropped from the catalogue since
        targets[row.indicator] = rules.Target(
            indicator=row.indicator, comparison=rules.Comparison(row.comparison),
            value=row.value, tolerance=row.tolerance, origin="override", note=row.note,
            set_by=row.set_by.get_username() if row.set_by else "", set_at=row.set_at)
    return targets


# --- the pack ---------------------------------------------------------------------------------


@transaction.atomic
def choose_pack(alliance: Alliance, pack_id: str, *,
                user: User | None = None) -> IndicatorPolicy:
    """Set the alliance's policy pack (audited from → to); choosing the present pack changes
    nothing and records nothing."""
    _check_and_lock(user, alliance)
    pack = known_pack((pack_id or "").strip())
    policy = IndicatorPolicy.objects.filter(alliance=alliance).first()
    previous = policy.pack if policy is not None else None
    if previous == pack.id:
        assert policy is not None
        return policy
    if policy is None:
        policy = IndicatorPolicy(alliance=alliance)
    policy.pack = pack.id
    policy.chosen_by = user
    policy.chosen_at = timezone.now()
    policy.save()
    audit.record(AuditEvent.Action.CREATE if previous is None else AuditEvent.Action.UPDATE,
                 user=user, object_type=IndicatorPolicy._meta.label, object_id=policy.pk,
                 summary=str(policy), changes={"alliance": alliance.code,
                                               "pack": {"from": previous, "to": pack.id}})
    return policy


@transaction.atomic
def clear_pack(alliance: Alliance, *, user: User | None = None) -> None:
    """Forget the alliance's choice: the national defaults hold again (audited). Nothing to
    forget changes nothing."""
    _check_and_lock(user, alliance)
    policy = IndicatorPolicy.objects.filter(alliance=alliance).first()
    if policy is None:
        return
    pk, summary, previous = policy.pk, str(policy), policy.pack
    policy.delete()
    audit.record(AuditEvent.Action.DELETE, user=user, object_type=IndicatorPolicy._meta.label,
                 object_id=pk, summary=summary,
                 changes={"alliance": alliance.code,
                          "pack": {"from": previous, "to": catalogue.DEFAULT_PACK}})


# --- overrides --------------------------------------------------------------------------------


def clean_override(indicator_id: str, comparison: str, value: Decimal | None,
                   tolerance: Decimal | None, note: str) -> OverrideInput:
    """Check an override: the indicator exists and is judged, the target suits it
    (``rules.check_target``: comparison allowed by the direction, value within the unit's
    range — a percent between 0 and 100 —, tolerance only for "about"), values have at most
    4 decimal places, and a reason is given."""
    item = known_indicator((indicator_id or "").strip())
    rules.check_target(item.direction, item.unit, (comparison or "").strip(), value, tolerance)
    for field_name, number in (("value", value), ("tolerance", tolerance)):
        if number is not None and number != round(number, DECIMAL_PLACES):
            raise IndicatorInvalid(field_name, "indicators.value_precision", N_(
                "At most %(places)d decimal places."), places=DECIMAL_PLACES)
    text = (note or "").strip()
    if not text:
        raise IndicatorInvalid("note", "indicators.note_required", N_(
            "Say why the alliance sets its own target."))
    if len(text) > NOTE_LIMIT:
        raise IndicatorInvalid("note", "indicators.note_too_long", N_(
            "At most %(limit)d characters."), limit=NOTE_LIMIT)
    return OverrideInput(indicator=item.id, comparison=rules.Comparison(comparison.strip()),
                         value=value, tolerance=tolerance, note=text)


def _number(value: Decimal | None) -> str | None:
    """A value as the audit trail shows it (``rules.plain_number``)."""
    return None if value is None else rules.plain_number(value)


def _describe(comparison: str, value: Decimal | None,
              tolerance: Decimal | None) -> dict[str, str | None]:
    return {"comparison": str(comparison), "value": _number(value),
            "tolerance": _number(tolerance)}


def _snapshot(row: TargetOverride) -> dict[str, str | None]:
    return {**_describe(row.comparison, row.value, row.tolerance), "note": row.note}


@transaction.atomic
def override_target(alliance: Alliance, indicator_id: str, *, comparison: str,
                    value: Decimal | None = None, tolerance: Decimal | None = None,
                    note: str, user: User | None = None) -> TargetOverride:
    """Set the alliance's own target for an indicator, replacing the pack's (or its earlier
    override). Audited with what the target was (the pack's, or the earlier override) and what
    it became; an identical override changes nothing."""
    _check_and_lock(user, alliance)
    clean = clean_override(indicator_id, comparison, value, tolerance, note)
    row = TargetOverride.objects.filter(alliance=alliance, indicator=clean.indicator).first()
    before = _snapshot(row) if row is not None else _pack_snapshot(alliance, clean.indicator)
    if row is None:
        row = TargetOverride(alliance=alliance, indicator=clean.indicator)
    row.comparison = clean.comparison
    row.value = clean.value
    row.tolerance = clean.tolerance
    row.note = clean.note
    after = _snapshot(row)
    if row.pk is not None and after == before:
        return row
    created = row.pk is None
    row.set_by = user
    row.set_at = timezone.now()
    row.save()
    audit.record(AuditEvent.Action.CREATE if created else AuditEvent.Action.UPDATE, user=user,
                 object_type=TargetOverride._meta.label, object_id=row.pk, summary=str(row),
                 changes={"alliance": alliance.code, "indicator": row.indicator,
                          "from": before, "to": after})
    return row


def _pack_snapshot(alliance: Alliance, indicator_id: str) -> dict[str, str | None] | None:
    target = pack_for(alliance).targets.get(indicator_id)
    if target is None:
        return None
    return {**_describe(target.comparison, target.value, target.tolerance),
            "pack": target.origin}


@transaction.atomic
def remove_override(alliance: Alliance, indicator_id: str, *,
                    user: User | None = None) -> None:
    """Drop the alliance's own target for an indicator: the pack's holds again. The audit
    event keeps what the override said."""
    _check_and_lock(user, alliance)
    row = TargetOverride.objects.filter(alliance=alliance,
                                        indicator=(indicator_id or "").strip()).first()
    if row is None:
        raise IndicatorNotFound("indicator", "indicators.no_override", N_(
            "%(alliance)s has no target of its own for “%(indicator)s”."),
            alliance=alliance.name, indicator=indicator_id)
    pk, summary, snapshot = row.pk, str(row), _snapshot(row)
    row.delete()
    audit.record(AuditEvent.Action.DELETE, user=user, object_type=TargetOverride._meta.label,
                 object_id=pk, summary=summary,
                 changes={"alliance": alliance.code, "indicator": indicator_id,
                          "from": snapshot})
