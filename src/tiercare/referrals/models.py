"""The tiered disease catalogue (县乡两级疾病诊疗目录, glossary: ``DiseaseCatalogue``).

Rules: ``rules.md`` §2 [seed 001 §21]: per alliance, for an ICD-10 code or a range of
categories, the lowest level of care that should treat it and the criteria, in words, for
referring up and down. The county default catalogue has no alliance; an alliance's own
catalogue starts as a copy of it (``referrals.services.create_catalogue``).
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path

from django.conf import settings
from django.core.files.storage import FileSystemStorage
from django.db import models
from django.db.models import F, Q, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy as _

from tiercare.registry.models import Level


class DiseaseCatalogue(models.Model):
    """One catalogue per alliance, plus the county default (``alliance`` empty)."""

    alliance = models.ForeignKey(
        "registry.Alliance", null=True, blank=True, on_delete=models.PROTECT,
        related_name="disease_catalogues", verbose_name=_("medical alliance"),
        help_text=_("Empty for the county default catalogue."),
    )
    name = models.CharField(_("name"), max_length=200)
    edition = models.CharField(_("edition"), max_length=40, blank=True)
    source_note = models.TextField(_("source"), blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("tiered disease catalogue")
        verbose_name_plural = _("tiered disease catalogues")
        ordering = ["alliance__code"]
        constraints = [
            # One catalogue per alliance and one default (NULL alliance → 0).
            models.UniqueConstraint(Coalesce("alliance", Value(0)),
                                    name="disease_catalogue_one_per_alliance",
                                    violation_error_message=_(
                                        "This alliance already has a catalogue.")),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_default(self) -> bool:
        return self.alliance_id is None


class CatalogueEntry(models.Model):
    """An ICD-10 code (``E11``, ``K92.2``) or a range of categories (``I10``–``I15``) and the
    lowest level that should treat it. The most specific entry matching a diagnosis wins
    (``referrals.rules.Catalogue.lookup``)."""

    catalogue = models.ForeignKey(DiseaseCatalogue, on_delete=models.CASCADE,
                                  related_name="entries", verbose_name=_("catalogue"))
    code_first = models.CharField(_("ICD-10 code"), max_length=11,
                                  help_text=_("A code, or the first category of a range."))
    code_last = models.CharField(_("last category of the range"), max_length=3, blank=True,
                                 default="",
                                 help_text=_("Empty for a single code."))
    name_zh = models.CharField(_("condition"), max_length=200)
    level = models.CharField(_("lowest treating level"), max_length=12, choices=Level.choices)
    up_criteria = models.TextField(_("up-referral criteria"), blank=True)
    down_criteria = models.TextField(_("down-referral criteria"), blank=True)
    source = models.CharField(_("source"), max_length=300, blank=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("catalogue entry")
        verbose_name_plural = _("catalogue entries")
        ordering = ["catalogue", "code_first", "code_last"]
        constraints = [
            models.UniqueConstraint(fields=["catalogue", "code_first", "code_last"],
                                    name="catalogue_entry_unique_range",
                                    violation_error_message=_(
                                        "The catalogue already has an entry for this code or "
                                        "range.")),
            models.CheckConstraint(
                condition=Q(code_last="") | Q(code_last__gt=F("code_first")),
                name="catalogue_entry_range_ordered",
                violation_error_message=_("The last category must come after the first.")),
            models.CheckConstraint(condition=Q(level__in=Level.values),
                                   name="catalogue_entry_level_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.code_range} {self.name_zh}"

    @property
    def code_range(self) -> str:
        return f"{self.code_first}–{self.code_last}" if self.code_last else self.code_first


# --- the referral workflow (issue 4 item 3; rules.md §3; states: referrals.statuses) ----------


class Direction(models.TextChoices):
    """Where a referral goes (glossary ``Direction``; rules.md §3)."""

    UP = "up", _("Up-referral")
    DOWN = "down", _("Down-referral")
    LATERAL = "lateral", _("Lateral referral")
    OUT_OF_COUNTY = "out_of_county", _("Out-of-county referral")


class Outcome(models.TextChoices):
    """How a referral ended for the resident (rules.md §3 "completed with an outcome")."""

    IMPROVED = "improved", _("Cured or improved")
    UNCHANGED = "unchanged", _("Not improved")
    REFERRED_ON = "referred_on", _("Referred on")
    DIED = "died", _("Died")
    OTHER = "other", _("Other")


def attachment_storage() -> FileSystemStorage:
    """Attachments live under ``DATA_DIR/attachments`` (never under a served URL)."""
    return AttachmentStorage()


class AttachmentStorage(FileSystemStorage):
    """``settings.DATA_DIR / "attachments"``, read when first used (not at import)."""

    @cached_property
    def base_location(self) -> str:
        return str(Path(settings.DATA_DIR) / "attachments")


def attachment_path(instance: ReferralAttachment, filename: str) -> str:
    """A safe name chosen by the server: ``referrals/<referral id>/<random hex><.ext>``; the
    uploaded name is kept only in ``ReferralAttachment.name``."""
    suffix = Path(filename).suffix.lower()
    if not re.fullmatch(r"\.[a-z0-9]{1,8}", suffix):
        suffix = ""
    return f"referrals/{instance.referral_id}/{uuid.uuid4().hex}{suffix}"


class ReferralPolicy(models.Model):
    """An alliance's response deadlines (rules.md §3; issue 4: routine 24 h, green channel
    15 min) and the limit after which an unanswered referral expires. Without a row the
    defaults hold (``referrals.rules.DeadlinePolicy``)."""

    alliance = models.OneToOneField(
        "registry.Alliance", on_delete=models.CASCADE, related_name="referral_policy",
        verbose_name=_("medical alliance"),
    )
    routine_hours = models.PositiveSmallIntegerField(
        _("routine response deadline (hours)"), default=24)
    green_channel_minutes = models.PositiveSmallIntegerField(
        _("green-channel response deadline (minutes)"), default=15)
    expiry_days = models.PositiveSmallIntegerField(
        _("expiry (days)"), default=7,
        help_text=_("A referral not answered this many days after it was sent expires."))
    follow_up_days = models.PositiveSmallIntegerField(
        _("follow-up after an up-referral (days)"), default=14)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("referral policy")
        verbose_name_plural = _("referral policies")
        constraints = [
            models.CheckConstraint(
                condition=Q(routine_hours__gte=1, green_channel_minutes__gte=1,
                            expiry_days__gte=1, follow_up_days__gte=1),
                name="referral_policy_positive",
                violation_error_message=_("Deadlines are at least 1.")),
        ]

    def __str__(self) -> str:
        return f"{self.alliance}: {self.routine_hours} h / {self.green_channel_minutes} min"


class Referral(models.Model):
    """A two-way referral (双向转诊, glossary ``Referral``) and its referral slip: the
    elements of the WS 445 part 16 referral record (sending and receiving institution and
    clinician, diagnosis, reason, clinical summary; rules.md §3) plus attachments. States and
    who may move them: ``referrals.statuses``; every move writes a :class:`ReferralEvent`."""

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        AWAITING_APPROVAL = "awaiting_approval", _("Awaiting approval")
        SUBMITTED = "submitted", _("Submitted")
        RECEIVED = "received", _("Received")
        ACCEPTED = "accepted", _("Accepted")
        REJECTED = "rejected", _("Rejected")
        REDIRECTED = "redirected", _("Redirected")
        ARRIVED = "arrived", _("Arrived")
        COMPLETED = "completed", _("Completed")
        CANCELLED = "cancelled", _("Cancelled")
        EXPIRED = "expired", _("Expired")

    patient = models.ForeignKey("patients.Patient", on_delete=models.PROTECT,
                                related_name="referrals", verbose_name=_("resident"))
    direction = models.CharField(_("direction"), max_length=16, choices=Direction.choices)
    green_channel = models.BooleanField(
        _("emergency green channel"), default=False,
        help_text=_("Skips approval queues and has its own short response deadline."))
    status = models.CharField(_("status"), max_length=20, choices=Status.choices,
                              default=Status.DRAFT)
    sending_institution = models.ForeignKey(
        "registry.Institution", on_delete=models.PROTECT, related_name="referrals_sent",
        verbose_name=_("sending institution"))
    sending_department = models.ForeignKey(
        "registry.Department", null=True, blank=True, on_delete=models.PROTECT,
        related_name="+", verbose_name=_("sending department"))
    sending_practitioner = models.ForeignKey(
        "registry.Practitioner", null=True, blank=True, on_delete=models.PROTECT,
        related_name="+", verbose_name=_("sending clinician"))
    sending_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+", verbose_name=_("written by"))
    receiving_institution = models.ForeignKey(
        "registry.Institution", null=True, blank=True, on_delete=models.PROTECT,
        related_name="referrals_received", verbose_name=_("receiving institution"))
    receiving_department = models.ForeignKey(
        "registry.Department", null=True, blank=True, on_delete=models.PROTECT,
        related_name="+", verbose_name=_("receiving department"))
    receiving_practitioner = models.ForeignKey(
        "registry.Practitioner", null=True, blank=True, on_delete=models.PROTECT,
        related_name="+", verbose_name=_("receiving clinician"))
    receiving_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+", verbose_name=_("answered by"))
    diagnosis = models.CharField(_("diagnosis (ICD-10)"), max_length=11)
    secondary_diagnoses = models.JSONField(_("secondary diagnoses"), default=list, blank=True)
    reason = models.TextField(_("reason for referral"))
    clinical_summary = models.TextField(_("clinical summary"), blank=True)
    care_plan = models.TextField(_("care plan"), blank=True,
                                 help_text=_("For a down-referral: what the receiving team "
                                             "continues."))
    catalogue_warning = models.TextField(_("catalogue warning"), blank=True)
    deadline = models.DateTimeField(_("response due"), null=True, blank=True)
    escalated_at = models.DateTimeField(_("escalated"), null=True, blank=True)
    appointment = models.ForeignKey(
        "scheduling.Appointment", null=True, blank=True, on_delete=models.PROTECT,
        related_name="+", verbose_name=_("appointment"))
    bed = models.ForeignKey("scheduling.Bed", null=True, blank=True, on_delete=models.PROTECT,
                            related_name="+", verbose_name=_("bed"))
    redirected_to = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT,
        related_name="redirected_from", verbose_name=_("redirected to"))
    source_referral = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="follow_ons",
        verbose_name=_("follows referral"),
        help_text=_("For a down-referral proposed at discharge: the referral that brought the "
                    "resident."))
    response_note = models.TextField(_("reason given"), blank=True,
                                     help_text=_("Why it was rejected, refused or "
                                                 "redirected."))
    outcome = models.CharField(_("outcome"), max_length=16, choices=Outcome.choices,
                               blank=True)
    outcome_note = models.TextField(_("outcome note"), blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+", verbose_name=_("approved by"))
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    submitted_at = models.DateTimeField(_("submitted"), null=True, blank=True)
    approved_at = models.DateTimeField(_("approved"), null=True, blank=True)
    received_at = models.DateTimeField(_("received"), null=True, blank=True)
    responded_at = models.DateTimeField(_("answered"), null=True, blank=True)
    arrived_at = models.DateTimeField(_("arrived"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True)

    class Meta:
        verbose_name = _("referral")
        verbose_name_plural = _("referrals")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(direction__in=Direction.values),
                                   name="referral_direction_valid"),
            models.CheckConstraint(condition=Q(status__in=[
                "draft", "awaiting_approval", "submitted", "received", "accepted", "rejected",
                "redirected", "arrived", "completed", "cancelled", "expired"]),
                name="referral_status_valid"),
            models.CheckConstraint(
                condition=Q(appointment__isnull=True) | Q(bed__isnull=True),
                name="referral_slot_or_bed",
                violation_error_message=_("A referral holds a slot or a bed, not both.")),
        ]
        indexes = [
            models.Index(fields=["receiving_institution", "status"],
                         name="referral_incoming"),
            models.Index(fields=["sending_institution", "status"], name="referral_outgoing"),
            models.Index(fields=["status", "deadline"], name="referral_status_deadline"),
            models.Index(fields=["updated_at"], name="referral_updated"),  # ADR 0018
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.get_direction_display()} {self.diagnosis} ({self.status})"

    @property
    def is_admission(self) -> bool:
        """Accepted with a bed (an inpatient admission), not a clinic slot."""
        return self.bed_id is not None


class ReferralEvent(models.Model):
    """One step of a referral: who, on which side, when, from, to, why (DESIGN.md). An
    escalation is an event without a status change (``to_status`` equals ``from_status``)."""

    referral = models.ForeignKey(Referral, on_delete=models.PROTECT, related_name="events",
                                 verbose_name=_("referral"))
    at = models.DateTimeField(_("time"), default=timezone.now)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                           on_delete=models.SET_NULL, related_name="+",
                           verbose_name=_("changed by"))
    by_name = models.CharField(_("changed by (name)"), max_length=150, blank=True)
    side = models.CharField(_("side"), max_length=12, blank=True)
    action = models.CharField(_("action"), max_length=20)
    from_status = models.CharField(_("previous status"), max_length=20, blank=True)
    to_status = models.CharField(_("new status"), max_length=20)
    reason = models.TextField(_("reason"), blank=True)

    class Meta:
        verbose_name = _("referral event")
        verbose_name_plural = _("referral events")
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.referral_id}: {self.from_status or '∅'} → {self.to_status} ({self.action})"


class ReferralAttachment(models.Model):
    """A document attached to a referral slip (results, images; rules.md §3 "results
    attached"). Type and size are checked in ``referrals.services.attach``."""

    referral = models.ForeignKey(Referral, on_delete=models.PROTECT, related_name="attachments",
                                 verbose_name=_("referral"))
    file = models.FileField(_("file"), upload_to=attachment_path, storage=attachment_storage,
                            max_length=200)
    name = models.CharField(_("file name"), max_length=200)
    content_type = models.CharField(_("content type"), max_length=100)
    size = models.PositiveIntegerField(_("size (bytes)"))
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                    on_delete=models.SET_NULL, related_name="+",
                                    verbose_name=_("uploaded by"))
    uploaded_at = models.DateTimeField(_("uploaded"), auto_now_add=True)

    class Meta:
        verbose_name = _("referral attachment")
        verbose_name_plural = _("referral attachments")
        ordering = ["uploaded_at", "id"]

    def __str__(self) -> str:
        return self.name


class FollowUpTask(models.Model):
    """The sending institution's follow-up of a resident it referred up, due within 2 weeks
    (rules.md §3 [nat, public-health service specification])."""

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        DONE = "done", _("Done")

    institution = models.ForeignKey("registry.Institution", on_delete=models.PROTECT,
                                    related_name="referral_follow_ups",
                                    verbose_name=_("institution"))
    referral = models.OneToOneField(Referral, on_delete=models.PROTECT,
                                    related_name="follow_up_task", verbose_name=_("referral"))
    patient = models.ForeignKey("patients.Patient", on_delete=models.PROTECT,
                                related_name="referral_follow_ups", verbose_name=_("resident"))
    due_date = models.DateField(_("due date"))
    status = models.CharField(_("status"), max_length=8, choices=Status.choices,
                              default=Status.OPEN)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    done_at = models.DateTimeField(_("done"), null=True, blank=True)
    done_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                on_delete=models.SET_NULL, related_name="+",
                                verbose_name=_("done by"))
    note = models.CharField(_("note"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("follow-up task")
        verbose_name_plural = _("follow-up tasks")
        ordering = ["due_date", "id"]
        indexes = [models.Index(fields=["institution", "status", "due_date"],
                                name="followup_inst_status_due")]

    def __str__(self) -> str:
        return f"{self.institution} · {self.patient_id} · {self.due_date}"
