"""Back-office for users (role and scope) and a read-only view of the audit trail: audit
events are appended by the application only, never added, changed or deleted by hand
(rules.md §11)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from tiercare.accounts.models import AuditEvent, User
from tiercare.accounts.roles import scope_problem
from tiercare.accounts.services import scope_error


def _check_scope(cleaned: dict[str, Any]) -> None:
    role = cleaned.get("role") or ""
    problem = scope_problem(role, has_institution=cleaned.get("institution") is not None,
                            has_alliance=cleaned.get("alliance") is not None)
    if problem is not None:
        raise scope_error(problem, role)


class _ScopeCheck:
    """A user form refuses a scope that does not fit the role (accounts.roles.scope_problem)."""

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}  # type: ignore[misc]
        try:
            _check_scope(cleaned)
        except ValidationError as error:
            self.add_error(None, error)  # type: ignore[attr-defined]
        return cleaned


class UserCreateForm(_ScopeCheck, AdminUserCreationForm):
    class Meta:
        model = User
        fields = ("username", "role", "institution", "alliance", "display_name")


class UserEditForm(_ScopeCheck, UserChangeForm):
    class Meta:
        model = User
        fields = "__all__"


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    """Users with their role and scope; the scope is checked as in ``services.create_user``."""

    form = UserEditForm
    add_form = UserCreateForm
    list_display = ("username", "display_name", "role", "institution", "alliance", "is_active",
                    "locked_until", "last_login")
    list_filter = ("role", "is_active", "is_staff", "alliance")
    search_fields = ("username", "display_name", "first_name", "last_name", "email")
    raw_id_fields = ("institution", "practitioner")
    readonly_fields = ("last_login", "date_joined", "password_changed_at", "failed_logins")
    fieldsets = (
        (None, {"fields": ("username", "password")}),
        (_("Person"), {"fields": ("display_name", "first_name", "last_name", "email")}),
        (_("Role and scope"), {"fields": ("role", "institution", "alliance", "practitioner")}),
        (_("Login security"), {"fields": ("is_active", "failed_logins", "locked_until",
                                          "password_changed_at", "last_login", "date_joined")}),
        (_("Back-office permissions"), {"fields": ("is_staff", "is_superuser", "groups",
                                                   "user_permissions")}),
    )
    add_fieldsets = (
        (None, {"classes": ("wide",),
                "fields": ("username", "password1", "password2", "role", "institution",
                           "alliance", "display_name")}),
    )


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ("at", "username", "role", "action", "object_type", "object_id",
                    "patient_id", "ip_address")
    list_filter = ("action", "role", "object_type")
    search_fields = ("username", "object_id", "summary", "ip_address")
    date_hierarchy = "at"
    readonly_fields = [f.name for f in AuditEvent._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
