"""Issuing, checking and revoking integrating systems' tokens (``tiercare token …``)."""

from __future__ import annotations

import hashlib
import secrets
import time
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from tiercare.accounts import audit
from tiercare.accounts.models import AuditEvent, User
from tiercare.fhir import scopes
from tiercare.fhir.models import ApiToken
from tiercare.registry.models import Alliance, Institution

#: Secrets look like ``tc_`` + 43 URL-safe characters (256 random bits).
PREFIX = "tc_"


def digest(secret: str) -> str:
    """SHA-256 of the secret: the secret has 256 random bits, so a plain hash is enough."""
    return hashlib.sha256(secret.encode()).hexdigest()


def create_token(name: str, *, scope: str, institution: str | None = None,
                 alliance: str | None = None, whole_county: bool = False,
                 user: User | None = None) -> tuple[ApiToken, str]:
    """A new token and its secret (shown once). Exactly one reach: an institution code, an
    alliance code or the whole county; ``scope`` in SMART system notation."""
    name = name.strip()
    if not name:
        raise ValidationError(_("A token needs a name."), code="token.name")
    if sum((institution is not None, alliance is not None, whole_county)) != 1:
        raise ValidationError(_("Give exactly one of an institution, an alliance or the whole "
                                "county."), code="token.reach")
    try:
        grants = scopes.parse(scope)
    except scopes.ScopeError as exc:
        raise ValidationError(_("“%(scope)s” is not a system scope (write e.g. "
                                "system/Patient.read or system/*.write).")
                              % {"scope": str(exc)}, code="token.scope") from exc
    token = ApiToken(name=name, scopes=" ".join(scope.split()), whole_county=whole_county,
                     created_by=user)
    if institution is not None:
        token.institution = _by_code(Institution, institution,
                                     _("No institution with code %(code)s."))
    if alliance is not None:
        token.alliance = _by_code(Alliance, alliance, _("No alliance with code %(code)s."))
    secret = PREFIX + secrets.token_urlsafe(32)
    token.digest = digest(secret)
    token.prefix = secret[:10]
    try:
        with transaction.atomic():
            token.save()
            audit.record(AuditEvent.Action.CREATE, user=user, object_type="fhir.ApiToken",
                         object_id=token.pk, summary=f"{name}: {grants}")
    except IntegrityError:  # the name is unique
        raise ValidationError(_("A token named “%(name)s” exists already.") % {"name": name},
                              code="token.duplicate") from None
    return token, secret


def _by_code(model: Any, code: str, missing: str) -> Any:
    found = model.objects.filter(code=code).first()
    if found is None:
        raise ValidationError(missing % {"code": code}, code="token.reach")
    return found


def revoke_token(name: str, *, user: User | None = None) -> ApiToken:
    token = ApiToken.objects.filter(name=name).first()
    if token is None:
        raise ValidationError(_("No token named “%(name)s”.") % {"name": name},
                              code="token.unknown")
    forget_tokens()
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        with transaction.atomic():
            token.save(update_fields=["revoked_at"])
            audit.record(AuditEvent.Action.UPDATE, user=user, object_type="fhir.ApiToken",
                         object_id=token.pk, summary=f"{name}: revoked")
    return token


#: digest → (when it was read, the token): a token is read from the database at most every
#: ``TIERCARE_FHIR_TOKEN_CACHE_SECONDS`` per process (the read was a quarter of a FHIR read's
#: time, bench/bench_fhir_read.py).
_recent: dict[str, tuple[float, ApiToken]] = {}


def authenticate(secret: str) -> ApiToken | None:
    """The active token with this secret, its use time updated at most once a minute.
    Revocation takes effect at once in the process that revokes and within
    ``TIERCARE_FHIR_TOKEN_CACHE_SECONDS`` (default 10) in the server's other processes."""
    if not secret.startswith(PREFIX):
        return None
    key = digest(secret)
    clock = time.monotonic()
    remembered = _recent.get(key)
    fresh_for = settings.TIERCARE_FHIR_TOKEN_CACHE_SECONDS
    if remembered is not None and clock - remembered[0] < fresh_for:
        token = remembered[1]
    else:
        found = (ApiToken.objects.select_related("institution", "alliance")
                 .filter(digest=key, revoked_at__isnull=True).first())
        if found is None:
            _recent.pop(key, None)
            return None
        token = found
        _recent[key] = (clock, token)
    now = timezone.now()
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token


def forget_tokens() -> None:
    """Read every token from the database again (after a revocation, and in tests)."""
    _recent.clear()
