"""Integrating systems' access: bearer tokens (issue 3 "Security").

A token belongs to one integrating system (a township HIS, the county hospital's LIS, the
insurance bureau), is held to an institution, an alliance or the whole county, and carries
SMART system scopes (``tiercare.fhir.scopes``). Only a SHA-256 digest of the secret is kept:
the secret is shown once, by ``tiercare token create``.
"""

from __future__ import annotations

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
