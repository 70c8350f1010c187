"""An alliance's choice of policy pack and its own targets (issue 5 item 2; rules.md: "the
product ships policy packs (data files) and lets an alliance pick and edit one").

The catalogue and the packs themselves are files (``indicators.catalogue``, ADR 0015); the
tables hold only what an alliance decides: which pack (:class:`IndicatorPolicy`, one per
alliance; without a row the national defaults hold) and which targets it sets differently
(:class:`TargetOverride`). Both change only through ``indicators.services``, which checks
pack and indicator ids against the files and writes the audit trail.

The tightness evaluation (issue 5 item 5; seed 003; ADR 0017): :class:`TightnessEvaluation`
(an alliance, a period, its stage and the rule it is judged by, the verdict once issued),
:class:`CriterionGrade` (self-assessed and assessed grades, both kept),
:class:`CriterionEvidence` (documents behind a grade) and :class:`EvaluationEvent` (every
step). They change only through ``indicators.tightness_services``.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from tiercare.indicators.rules import Comparison
from tiercare.indicators.tightness import Grade, Verdict
from tiercare.indicators.tightness_statuses import DECIDED, GRADERS, Side, Stage
from tiercare.referrals.models import attachment_storage


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


# --- the tightness evaluation (紧密型县域医共体判定, issue 5 item 5) ------------------------------


class TightnessEvaluation(models.Model):
    """One tightness evaluation of an alliance for a period (seed 003: self-assessment →
    assessment → result → feedback). The criteria are the data file's
    (``tightness_data``); the judgement rule's parameters are copied here when the evaluation
    is created, so that the verdict is judged by the rule it started under. The verdict is
    kept with its reasons when the result is issued. Changes only through
    ``indicators.tightness_services``; stages move through ``tightness_statuses``."""

    alliance = models.ForeignKey(
        "registry.Alliance", on_delete=models.PROTECT, related_name="tightness_evaluations",
        verbose_name=_("medical alliance"),
    )
    period = models.CharField(_("evaluation period"), max_length=10,
                              help_text=_("A year (2025) or a quarter (2025Q3)."))
    stage = models.CharField(_("stage"), max_length=20, choices=Stage.choices,
                             default=Stage.SELF_ASSESSMENT)
    criteria_edition = models.CharField(_("criteria edition"), max_length=40)
    rule = models.JSONField(_("judgement rule"),
                            help_text=_("The rule's parameters when the evaluation began."))
    tight = models.BooleanField(_("tight"), null=True, blank=True,
                                help_text=_("The verdict, once the result is issued."))
    reasons = models.JSONField(_("reasons of the verdict"), default=list, blank=True)
    decided_at = models.DateTimeField(_("result issued"), null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+", verbose_name=_("result issued by"),
    )
    feedback = models.TextField(_("improvement note"), blank=True, max_length=4000)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+", verbose_name=_("started by"),
    )
    created_at = models.DateTimeField(_("started"), default=timezone.now)
    stage_changed_at = models.DateTimeField(_("stage changed"), default=timezone.now)

    class Meta:
        verbose_name = _("tightness evaluation")
        verbose_name_plural = _("tightness evaluations")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["alliance", "period"],
                                    name="tightness_one_per_alliance_period",
                                    violation_error_message=_(
                                        "The alliance already has an evaluation of this "
                                        "period.")),
            models.CheckConstraint(condition=Q(stage__in=Stage.values),
                                   name="tightness_stage_valid"),
            models.CheckConstraint(
                condition=(Q(stage__in=sorted(DECIDED), tight__isnull=False)
                           | (~Q(stage__in=sorted(DECIDED)) & Q(tight__isnull=True))),
                name="tightness_verdict_once_decided"),
        ]

    def __str__(self) -> str:
        return f"{self.alliance} {self.period} ({self.stage})"

    @property
    def verdict(self) -> Verdict | None:
        """The issued verdict with its reasons (``None`` before the result)."""
        if self.tight is None:
            return None
        return Verdict.from_list(self.tight, self.reasons or [])


class CriterionGrade(models.Model):
    """The grade of one criterion at one stage: the alliance's self-assessment grade and
    the health commission's assessed grade are both kept (one row each), with the comment,
    the evidence and who graded when."""

    evaluation = models.ForeignKey(TightnessEvaluation, on_delete=models.PROTECT,
                                   related_name="grades", verbose_name=_("evaluation"))
    criterion = models.CharField(_("criterion"), max_length=60)
    stage = models.CharField(_("graded at stage"), max_length=20,
                             choices=[(s, Stage(s).label) for s in GRADERS])
    grade = models.CharField(_("grade"), max_length=1, choices=Grade.choices)
    comment = models.TextField(_("comment"), blank=True, max_length=2000)
    graded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+", verbose_name=_("graded by"),
    )
    graded_at = models.DateTimeField(_("graded"))

    class Meta:
        verbose_name = _("criterion grade")
        verbose_name_plural = _("criterion grades")
        ordering = ["evaluation", "criterion", "stage"]
        constraints = [
            models.UniqueConstraint(fields=["evaluation", "criterion", "stage"],
                                    name="tightness_grade_one_per_stage"),
            models.CheckConstraint(condition=Q(grade__in=Grade.values),
                                   name="tightness_grade_valid"),
            models.CheckConstraint(condition=Q(stage__in=sorted(GRADERS)),
                                   name="tightness_grade_stage_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.evaluation_id} {self.criterion} {self.stage}: {self.grade}"


def evidence_path(instance: CriterionEvidence, filename: str) -> str:
    """A safe name chosen by the server: ``tightness/<evaluation id>/<random hex><.ext>``
    under the attachments directory; the uploaded name is kept only in ``name``."""
    suffix = Path(filename).suffix.lower()
    if not re.fullmatch(r"\.[a-z0-9]{1,8}", suffix):
        suffix = ""
    return f"tightness/{instance.grade.evaluation_id}/{uuid.uuid4().hex}{suffix}"


class CriterionEvidence(models.Model):
    """A document supporting a grade (indicators.md: attested criteria have "a grade and an
    evidence document entered by the administrator"). Stored like referral attachments,
    under ``DATA_DIR/attachments`` (never a served URL); type and size are checked in
    ``tightness_services``."""

    grade = models.ForeignKey(CriterionGrade, on_delete=models.PROTECT,
                              related_name="evidence", verbose_name=_("grade"))
    file = models.FileField(_("file"), upload_to=evidence_path, storage=attachment_storage,
                            max_length=200)
    name = models.CharField(_("file name"), max_length=200)
    content_type = models.CharField(_("content type"), max_length=100)
    size = models.PositiveIntegerField(_("size (bytes)"))
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+", verbose_name=_("uploaded by"),
    )
    uploaded_at = models.DateTimeField(_("uploaded"), default=timezone.now)

    class Meta:
        verbose_name = _("evidence document")
        verbose_name_plural = _("evidence documents")
        ordering = ["uploaded_at", "id"]

    def __str__(self) -> str:
        return self.name


class EvaluationEvent(models.Model):
    """One step of an evaluation: who, on which side, when, from, to, why (DESIGN.md). A
    grade is an event without a stage change (``to_stage`` equals ``from_stage``) naming the
    criterion and the grade."""

    evaluation = models.ForeignKey(TightnessEvaluation, on_delete=models.PROTECT,
                                   related_name="events", verbose_name=_("evaluation"))
    at = models.DateTimeField(_("time"), default=timezone.now)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                           on_delete=models.SET_NULL, related_name="+",
                           verbose_name=_("changed by"))
    by_name = models.CharField(_("changed by (name)"), max_length=150, blank=True)
    side = models.CharField(_("side"), max_length=12, blank=True, choices=Side.choices)
    action = models.CharField(_("action"), max_length=20)
    from_stage = models.CharField(_("previous stage"), max_length=20, blank=True)
    to_stage = models.CharField(_("new stage"), max_length=20)
    criterion = models.CharField(_("criterion"), max_length=60, blank=True)
    grade = models.CharField(_("grade"), max_length=1, blank=True)
    reason = models.TextField(_("reason"), blank=True)

    class Meta:
        verbose_name = _("evaluation event")
        verbose_name_plural = _("evaluation events")
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return (f"{self.evaluation_id}: {self.from_stage or '∅'} → {self.to_stage} "
                f"({self.action})")
