"""The tiered disease catalogue (县乡两级疾病诊疗目录, glossary: ``DiseaseCatalogue``).

Rules: ``rules.md`` §2 [seed 001 §21]: per alliance, for an ICD-10 code or a range of
categories, the lowest level of care that should treat it and the criteria, in words, for
referring up and down. The county default catalogue has no alliance; an alliance's own
catalogue starts as a copy of it (``referrals.services.create_catalogue``).
"""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q, Value
from django.db.models.functions import Coalesce
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
