"""Authentication with lockout: after ``TIERCARE_LOCKOUT_THRESHOLD`` consecutive failures an
account is locked for ``TIERCARE_LOCKOUT_MINUTES`` (defaults 5 and 15; GB/T 22239-2019,
identity authentication: login failure handling). The counter changes with one conditional
UPDATE, never read-modify-write, so concurrent attempts cannot lose a failure.

The moment an account becomes locked is written to the audit trail (``LOCKED``) here, where
it is known exactly; LOGIN / LOGIN_FAILED / LOGOUT are recorded by ``accounts.signals``."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.db.models import F
from django.http import HttpRequest
from django.utils import timezone

from tiercare.accounts.models import AuditEvent, User


def locked_until(username: str, *, now: datetime | None = None) -> datetime | None:
    """When the account ``username`` is locked, the end of the lock; else ``None``."""
    now = now or timezone.now()
    until = (
        User.objects.filter(username=username, locked_until__gt=now)
        .values_list("locked_until", flat=True)
        .first()
    )
    return until


class LockoutModelBackend(ModelBackend):
    def authenticate(
        self, request: HttpRequest | None, username: str | None = None,
        password: str | None = None, **kwargs: Any,
    ) -> User | None:
        if username is None or password is None:
            return None
        try:
            user = User.objects.get(username=username)
        except User.DoesNotExist:
            User().set_password(password)  # same work as a real check: no timing oracle
            return None
        now = timezone.now()
        if user.locked_until and user.locked_until > now:
            return None
        if user.check_password(password) and self.user_can_authenticate(user):
            User.objects.filter(pk=user.pk).update(failed_logins=0, locked_until=None)
            return user
        threshold = settings.TIERCARE_LOCKOUT_THRESHOLD
        minutes = settings.TIERCARE_LOCKOUT_MINUTES
        User.objects.filter(pk=user.pk).update(failed_logins=F("failed_logins") + 1)
        until = now + timedelta(minutes=minutes)
        locked = User.objects.filter(pk=user.pk, failed_logins__gte=threshold).update(
            locked_until=until, failed_logins=0,
        )
        if locked:
            from tiercare.accounts import audit

            audit.record(
                AuditEvent.Action.LOCKED, user=user, object_type="user", object_id=user.pk,
                summary=f"locked until {until.isoformat()} after {threshold} failed logins",
                request=request,
            )
        return None
