"""Integrating systems' access: bearer tokens (issue 3 "Security").

A token belongs to one integrating system (a township HIS, the county hospital's LIS, the
insurance bureau), is held to an institution, an alliance or the whole county, and carries
SMART system scopes (``tiercare.fhir.scopes``). Only a SHA-256 digest of the secret is kept:
the secret is shown once, by ``tiercare token create``.

Bulk Data ``$export`` jobs (``ExportJob``) belong to the token or the person that asked.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class ApiToken(models.Model):
    name = models.CharField(_("name"), max_length=100, unique=True,
                            help_text=_("The integrating system, e.g. “吉岗镇卫生院 HIS”"))
    institution = models.ForeignKey(
        "registry.Institution", null=True, blank=True, on_delete=models.PROTECT,
        related_name="api_tokens", verbose_name=_("institution"))
    alliance = models.ForeignKey(
        "registry.Alliance", null=True, blank=True, on_delete=models.PROTECT,
        related_name="api_tokens", verbose_name=_("alliance"))
    whole_county = models.BooleanField(_("whole county"), default=False)
    scopes = models.CharField(_("scopes"), max_length=1000)
    digest = models.CharField(_("digest"), max_length=64, unique=True, editable=False)
    prefix = models.CharField(_("token prefix"), max_length=12, editable=False)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+", verbose_name=_("created by"))
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)

    class Meta:
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")
        constraints = [
            # exactly one reach: an institution, an alliance or the whole county
            models.CheckConstraint(
                condition=(Q(institution__isnull=False, alliance__isnull=True,
                             whole_county=False)
                           | Q(institution__isnull=True, alliance__isnull=False,
                               whole_county=False)
                           | Q(institution__isnull=True, alliance__isnull=True,
                               whole_county=True)),
                name="api_token_one_reach"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def active(self) -> bool:
        return self.revoked_at is None


class ExportJob(models.Model):
    """One FHIR Bulk Data ``$export`` request (HL7 FHIR Bulk Data Access IG v2): who asked,
    for what, and where the job stands. The task ``fhir.export.run_export`` writes the NDJSON
    files under ``DATA_DIR/exports/<id>/``; only the caller that asked (the same token, or
    the same person) sees the job and its files."""

    class Kind(models.TextChoices):
        SYSTEM = "system", _("whole system")  # [base]/$export
        GROUP = "group", _("group")  # [base]/Group/[id]/$export: an alliance's residents

    class Status(models.TextChoices):
        QUEUED = "queued", _("queued")  # waiting for the worker
        RUNNING = "running", _("running")  # the worker is writing the files
        DONE = "done", _("done")  # the files are ready (the manifest lists them)
        FAILED = "failed", _("failed")  # the job crashed; ``error`` says why
        CANCELLED = "cancelled", _("cancelled")  # the caller lost its access before it ran

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    token = models.ForeignKey(ApiToken, null=True, blank=True, on_delete=models.CASCADE,
                              related_name="export_jobs", verbose_name=_("token"))
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                             on_delete=models.CASCADE, related_name="+",
                             verbose_name=_("user"))
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    group = models.ForeignKey("registry.Alliance", null=True, blank=True,
                              on_delete=models.CASCADE, related_name="+",
                              verbose_name=_("group (alliance)"))
    types = models.JSONField(_("resource types"), default=list)
    since = models.DateTimeField(_("changed since"), null=True, blank=True)
    request = models.CharField(_("request"), max_length=2000)
    language = models.CharField(_("language"), max_length=10)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices,
                              default=Status.QUEUED)
    progress = models.CharField(_("progress"), max_length=200, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    transaction_time = models.DateTimeField(_("transaction time"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    output = models.JSONField(_("output files"), default=list, blank=True)
    error = models.TextField(_("error"), blank=True)

    class Meta:
        verbose_name = _("FHIR export")
        verbose_name_plural = _("FHIR exports")
        constraints = [
            # exactly one caller: an integrating system's token or a person
            models.CheckConstraint(
                condition=(Q(token__isnull=False, user__isnull=True)
                           | Q(token__isnull=True, user__isnull=False)),
                name="export_job_one_caller"),
            models.CheckConstraint(
                condition=(Q(kind="system", group__isnull=True)
                           | Q(kind="group", group__isnull=False)),
                name="export_job_group_of_kind"),
        ]

    def __str__(self) -> str:
        return f"$export {self.pk} ({self.status})"


class ApiTraffic(models.Model):
    """Requests an integrating system made on one day (China time), and how many were
    refused (status ≥ 400): the traffic column of the integrating-systems page. Counted in
    memory and added to the row every few seconds (``fhir.traffic``)."""

    token = models.ForeignKey(ApiToken, on_delete=models.CASCADE, related_name="traffic",
                              verbose_name=_("API token"))
    day = models.DateField(_("day"))
    requests = models.PositiveIntegerField(_("requests"), default=0)
    errors = models.PositiveIntegerField(_("errors"), default=0)

    class Meta:
        verbose_name = _("API traffic")
        verbose_name_plural = _("API traffic")
        constraints = [models.UniqueConstraint(fields=["token", "day"],
                                               name="api_traffic_one_row_a_day")]

    def __str__(self) -> str:
        return f"{self.token} {self.day}: {self.requests}"
