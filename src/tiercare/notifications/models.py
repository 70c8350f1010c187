"""The notifications inbox (issue 4 item 4; glossary: notification).

A :class:`Notification` is addressed to one inbox: an institution's (every doctor and nurse
working there sees it) or an alliance office's (the alliance administrators). ``user`` marks
the notice as concerning one person in particular (the clinician who wrote the referral).
Read state is per user: a :class:`NotificationRead` row per notice read, and the user's
:class:`InboxState` watermark for "mark all as read" (everything up to it counts as read), so
that neither reading one nor reading all rewrites the notices themselves.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _


class Notification(models.Model):
    class Kind(models.TextChoices):
        NEW_REFERRAL = "new_referral", _("New referral received")
        DOWN_REFERRAL = "down_referral", _("Down-referral received")
        APPROVAL_NEEDED = "approval_needed", _("Out-of-county referral awaits approval")
        APPROVED = "approved", _("Out-of-county referral approved")
        ACCEPTED = "accepted", _("Referral accepted")
        REJECTED = "rejected", _("Referral rejected")
        REDIRECTED = "redirected", _("Referral redirected")
        DEADLINE_NEAR = "deadline_near", _("Response deadline near")
        DEADLINE_MISSED = "deadline_missed", _("Response deadline missed")
        ARRIVED = "arrived", _("Patient arrived")
        COMPLETED = "completed", _("Referral completed")
        CANCELLED = "cancelled", _("Referral cancelled")
        EXPIRED = "expired", _("Referral expired")
        FOLLOW_UPS_DUE = "follow_ups_due", _("Chronic follow-ups overdue")
        CONTRACTS_EXPIRING = "contracts_expiring", _("Family-doctor contracts expiring")

    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    institution = models.ForeignKey(
        "registry.Institution", null=True, blank=True, on_delete=models.CASCADE,
        related_name="+", verbose_name=_("institution"))
    alliance = models.ForeignKey(
        "registry.Alliance", null=True, blank=True, on_delete=models.CASCADE,
        related_name="+", verbose_name=_("alliance office"))
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+", verbose_name=_("addressed to"))
    referral = models.ForeignKey(
        "referrals.Referral", null=True, blank=True, on_delete=models.CASCADE,
        related_name="+", verbose_name=_("referral"))
    green_channel = models.BooleanField(_("emergency green channel"), default=False)
    text = models.CharField(_("text"), max_length=300, blank=True,
                            help_text=_("A reason or note given with the step."))
    link = models.CharField(_("page"), max_length=200, blank=True,
                            help_text=_("Where the notice leads when it is not about a "
                                        "referral (a family-doctor work queue)."))
    counts = models.JSONField(_("counts"), default=dict, blank=True,
                              help_text=_("The numbers a reminder reports, shown in the "
                                          "reader's language."))
    created_at = models.DateTimeField(_("time"), default=timezone.now)

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(institution__isnull=False, alliance__isnull=True)
                           | Q(institution__isnull=True, alliance__isnull=False)),
                name="notification_one_inbox"),
            # "Deadline near" is said once per referral and inbox (the periodic job may run
            # as often as it likes).
            models.UniqueConstraint(fields=["referral", "institution"],
                                    condition=Q(kind="deadline_near"),
                                    name="notification_deadline_near_once"),
        ]
        indexes = [
            models.Index(fields=["institution", "-created_at"], name="notification_inst_time"),
            models.Index(fields=["alliance", "-created_at"], name="notification_office_time"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.referral_id}"

    @property
    def summary(self) -> str:
        """The line under the notice's kind: a reminder's counts in the reader's language,
        else the reason or note given with the referral step."""
        if self.kind == self.Kind.FOLLOW_UPS_DUE and self.counts:
            return gettext("%(overdue)s follow-ups overdue, %(due)s due this week.") % {
                "overdue": self.counts.get("overdue", 0), "due": self.counts.get("due", 0)}
        if self.kind == self.Kind.CONTRACTS_EXPIRING and self.counts:
            return gettext("%(n)s contracts end within %(days)s days.") % {
                "n": self.counts.get("n", 0), "days": self.counts.get("days", 0)}
        return self.text


class NotificationRead(models.Model):
    """``user`` has read ``notification``."""

    notification = models.ForeignKey(Notification, on_delete=models.CASCADE,
                                     related_name="reads", verbose_name=_("notification"))
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="+", verbose_name=_("user"))
    read_at = models.DateTimeField(_("read"), default=timezone.now)

    class Meta:
        verbose_name = _("read receipt")
        verbose_name_plural = _("read receipts")
        constraints = [models.UniqueConstraint(fields=["user", "notification"],
                                               name="notification_read_once")]

    def __str__(self) -> str:
        return f"{self.user_id} read {self.notification_id}"


class InboxState(models.Model):
    """A user's "mark all as read": every notice created up to ``read_through`` is read."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                                related_name="inbox_state", verbose_name=_("user"))
    read_through = models.DateTimeField(_("read through"))

    class Meta:
        verbose_name = _("inbox state")
        verbose_name_plural = _("inbox states")

    def __str__(self) -> str:
        return f"{self.user_id} read through {self.read_through:%Y-%m-%d %H:%M}"
