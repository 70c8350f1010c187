"""Authentication with lockout: after ``TIERCARE_LOCKOUT_THRESHOLD`` consecutive failures an
account is locked for ``TIERCARE_LOCKOUT_MINUTES`` (GB/T 22239-2019: login failure handling).
The counter changes with one conditional UPDATE, never read-modify-write."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.db.models import F
from django.http import HttpRequest
from django.utils import timezone

from tiercare.accounts.models import User


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
        User.objects.filter(pk=user.pk).update(failed_logins=F("failed_logins") + 1)
        User.objects.filter(pk=user.pk, failed_logins__gte=threshold).update(
            locked_until=now + timedelta(minutes=settings.TIERCARE_LOCKOUT_MINUTES),
            failed_logins=0,
        )
        return None
