"""Login and password-change forms with translated messages; the login form says when an
account is locked and until when (GB/T 22239-2019: login failure handling)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.forms import AuthenticationForm, PasswordChangeForm
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from tiercare.accounts.backends import locked_until


class LoginForm(AuthenticationForm):
    username = forms.CharField(
        label=gettext_lazy("User name"), max_length=150,
        widget=forms.TextInput(attrs={"autofocus": True, "autocomplete": "username",
                                      "class": "form-control"}),
    )
    password = forms.CharField(
        label=gettext_lazy("Password"), strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password",
                                          "class": "form-control"}),
    )

    error_messages = {
        "invalid_login": gettext_lazy(
            "Wrong user name or password. After %(threshold)s failed attempts in a row the "
            "account is locked for %(minutes)s minutes."
        ),
        "inactive": gettext_lazy("This account is disabled."),
        "locked": gettext_lazy(
            "This account is locked after too many failed logins. Try again after %(until)s."
        ),
    }

    def get_invalid_login_error(self) -> ValidationError:
        from django.conf import settings

        username = self.cleaned_data.get("username") or ""
        until = locked_until(username) if username else None
        if until is not None:
            local = timezone.localtime(until)
            return ValidationError(
                self.error_messages["locked"],
                code="locked",
                params={"until": date_format(local, "DATETIME_FORMAT")},
            )
        return ValidationError(
            self.error_messages["invalid_login"],
            code="invalid_login",
            params={"threshold": settings.TIERCARE_LOCKOUT_THRESHOLD,
                    "minutes": settings.TIERCARE_LOCKOUT_MINUTES},
        )


class StyledPasswordChangeForm(PasswordChangeForm):
    """Django's password change form, styled; the policy is checked by the service."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            field.widget.attrs["class"] = "form-control"
        self.fields["old_password"].error_messages["required"] = _("Give your current password.")
