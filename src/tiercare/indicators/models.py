"""An alliance's choice of policy pack and its own targets (issue 5 item 2; rules.md: "the
product ships policy packs (data files) and lets an alliance pick and edit one").

The catalogue and the packs themselves are files (``indicators.catalogue``, ADR 0015); the
tables hold only what an alliance decides: which pack (:class:`IndicatorPolicy`, one per
alliance; without a row the national defaults hold) and which targets it sets differently
(:class:`TargetOverride`). Both change only through ``indicators.services``, which checks
pack and indicator ids against the files and writes the audit trail.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from tiercare.indicators.rules import Comparison


class IndicatorPolicy(models.Model):
    """The policy pack an alliance has chosen (rules.md: policies differ by province; an
    alliance picks one). Without a row the national pack holds."""

    alliance = models.OneToOneField(
        "registry.Alliance", on_delete=models.CASCADE, related_name="indicator_policy",
        verbose_name=_("medical alliance"),
    )
    pack = models.CharField(_("policy pack"), max_length=40,
                            help_text=_("The policy text whose targets the alliance follows."))
    chosen_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+", verbose_name=_("chosen by"),
    )
    chosen_at = models.DateTimeField(_("chosen"))

    class Meta:
        verbose_name = _("indicator policy")
        verbose_name_plural = _("indicator policies")
        ordering = ["alliance__code"]

    def __str__(self) -> str:
        return f"{self.alliance}: {self.pack}"


class TargetOverride(models.Model):
    """An alliance's own target for one indicator, replacing its pack's (who set it, when and
    why). Rules of a target: ``indicators.rules.check_target``."""

    alliance = models.ForeignKey(
        "registry.Alliance", on_delete=models.CASCADE, related_name="target_overrides",
        verbose_name=_("medical alliance"),
    )
    indicator = models.CharField(_("indicator"), max_length=60)
    comparison = models.CharField(_("comparison"), max_length=10, choices=Comparison.choices)
    value = models.DecimalField(_("target value"), max_digits=14, decimal_places=4, null=True,
                                blank=True,
                                help_text=_("In the indicator's unit; empty for falling or "
                                            "rising."))
    tolerance = models.DecimalField(_("tolerance"), max_digits=14, decimal_places=4,
                                    null=True, blank=True,
                                    help_text=_("Only for a target “about” a value."))
    note = models.TextField(_("reason"), max_length=1000,
                            help_text=_("Why the alliance sets this target instead of its "
                                        "pack's."))
    set_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+", verbose_name=_("set by"),
    )
    set_at = models.DateTimeField(_("set"))

    class Meta:
        verbose_name = _("target override")
        verbose_name_plural = _("target overrides")
        ordering = ["alliance__code", "indicator"]
        constraints = [
            models.UniqueConstraint(fields=["alliance", "indicator"],
                                    name="target_override_one_per_indicator",
                                    violation_error_message=_(
                                        "The alliance already has its own target for this "
                                        "indicator.")),
            models.CheckConstraint(condition=Q(comparison__in=Comparison.values),
                                   name="target_override_comparison_valid"),
            models.CheckConstraint(condition=Q(tolerance__isnull=True) | Q(tolerance__gte=0),
                                   name="target_override_tolerance_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.alliance}: {self.indicator} {self.comparison} {self.value or ''}".strip()
