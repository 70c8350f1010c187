"""Login, failed login and logout go into the audit trail with the client address
(rules.md §11; GB/T 22239-2019 security audit). Connected in ``AccountsConfig.ready``."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver
from django.http import HttpRequest
from django.utils import timezone

from tiercare.accounts import audit
from tiercare.accounts.models import AuditEvent, User


@receiver(user_logged_in, dispatch_uid="tiercare_audit_login")
def audit_login(sender: Any, request: HttpRequest | None, user: User, **kwargs: Any) -> None:
    audit.record(AuditEvent.Action.LOGIN, user=user, object_type="user", object_id=user.pk,
                 request=request)


@receiver(user_login_failed, dispatch_uid="tiercare_audit_login_failed")
def audit_login_failed(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    """Record the attempt under the user name typed (Django has already masked the password
    in ``credentials``); the row points at the account when it exists."""
    username = str(credentials.get("username") or "")[:150]
    user = User.objects.filter(username=username).first() if username else None
    locked = bool(user and user.locked_until and user.locked_until > timezone.now())
    audit.record(
        AuditEvent.Action.LOGIN_FAILED, user=user, username=username, object_type="user",
        object_id=user.pk if user else "",
        summary="account locked" if locked else "wrong user name or password",
        request=request,
    )


@receiver(user_logged_out, dispatch_uid="tiercare_audit_logout")
def audit_logout(
    sender: Any, request: HttpRequest | None, user: User | None, **kwargs: Any
) -> None:
    if user is None:
        return
    audit.record(AuditEvent.Action.LOGOUT, user=user, object_type="user", object_id=user.pk,
                 request=request)
