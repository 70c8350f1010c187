"""Users, roles and scopes, and the audit trail (rules.md §11: every read and write of a
patient record is logged; access is scoped by role and institution)."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    SYSTEM_ADMIN = "system_admin", _("System administrator")
    ALLIANCE_ADMIN = "alliance_admin", _("Alliance administrator")
    REGULATOR = "regulator", _("Regulator")
    AUDITOR = "auditor", _("Auditor")
    DOCTOR = "doctor", _("Doctor")
    NURSE = "nurse", _("Nurse")
    PHARMACIST = "pharmacist", _("Pharmacist")


class User(AbstractUser):
    """A person who logs in. Scope: an institution (doctors, nurses, pharmacists), an alliance
    (alliance admins, auditors of that alliance) or everything (system admins, regulators of
    the county/city)."""

    role = models.CharField(_("role"), max_length=20, choices=Role.choices, default=Role.DOCTOR)
    institution = models.ForeignKey(
        "registry.Institution", null=True, blank=True, on_delete=models.PROTECT,
        related_name="users", verbose_name=_("institution"),
    )
    alliance = models.ForeignKey(
        "registry.Alliance", null=True, blank=True, on_delete=models.PROTECT,
        related_name="users", verbose_name=_("medical alliance"),
    )
    practitioner = models.OneToOneField(
        "registry.Practitioner", null=True, blank=True, on_delete=models.SET_NULL,
        related_name="user", verbose_name=_("practitioner"),
    )
    display_name = models.CharField(_("display name"), max_length=50, blank=True)
    failed_logins = models.PositiveSmallIntegerField(_("failed logins"), default=0)
    locked_until = models.DateTimeField(_("locked until"), null=True, blank=True)
    password_changed_at = models.DateTimeField(_("password changed"), null=True, blank=True)

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")

    def __str__(self) -> str:
        return self.display_name or self.username


class AuditEvent(models.Model):
    """One entry of the append-only audit trail: who did what to which record, when and from
    which address (rules.md §11)."""

    class Action(models.TextChoices):
        VIEW = "view", _("Viewed")
        SEARCH = "search", _("Searched")
        CREATE = "create", _("Created")
        UPDATE = "update", _("Changed")
        DELETE = "delete", _("Deleted")
        MERGE = "merge", _("Merged")
        UNMERGE = "unmerge", _("Merge undone")
        IMPORT = "import", _("Imported")
        EXPORT = "export", _("Exported")
        LOGIN = "login", _("Logged in")
        LOGIN_FAILED = "login_failed", _("Login failed")
        LOGOUT = "logout", _("Logged out")
        LOCKED = "locked", _("Account locked")

    at = models.DateTimeField(_("time"), auto_now_add=True, db_index=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+", verbose_name=_("user"),
    )
    username = models.CharField(_("user name"), max_length=150, blank=True)
    role = models.CharField(_("role"), max_length=20, blank=True)
    action = models.CharField(_("action"), max_length=20, choices=Action.choices)
    object_type = models.CharField(_("object type"), max_length=50, blank=True)
    object_id = models.CharField(_("object id"), max_length=64, blank=True)
    patient_id = models.BigIntegerField(_("resident"), null=True, blank=True, db_index=True)
    summary = models.CharField(_("summary"), max_length=300, blank=True)
    changes = models.JSONField(_("changes"), default=dict, blank=True)
    ip_address = models.GenericIPAddressField(_("address"), null=True, blank=True)
    path = models.CharField(_("path"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("audit event")
        verbose_name_plural = _("audit trail")
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["user", "at"], name="audit_user_at")]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.username} {self.action} {self.object_type}"
