"""The facts other systems send: encounters with their diagnoses and costs, and insurance
settlements, including care outside the county (rules.md §9, indicators.md "common
definitions": care outside the county is known only from settlements)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db import models
from django.db.models.functions import Abs, Now
from django.utils.translation import gettext_lazy as _

from tiercare.patients.models import Scheme
from tiercare.registry.models import Level

MONEY: dict[str, Any] = {"max_digits": 12, "decimal_places": 2, "default": Decimal("0.00")}


class EncounterClass(models.TextChoices):
    """Encounter class (FHIR v3 ActCode AMB/EMER/IMP/HH)."""

    OUTPATIENT = "outpatient", _("Outpatient")
    EMERGENCY = "emergency", _("Emergency")
    INPATIENT = "inpatient", _("Inpatient")
    HOME_VISIT = "home_visit", _("Home visit")


class Encounter(models.Model):
    """One visit, admission or home visit of a resident at a member institution."""

    # The (patient, start) and (institution, start) indexes serve these keys and the period
    # queries; more indexes would slow the bulk import (≥ 50,000 rows/s, issue 2) down.
    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, related_name="encounters",
        verbose_name=_("resident"), db_index=False,
    )
    encounter_class = models.CharField(_("class"), max_length=12, choices=EncounterClass.choices)
    institution = models.ForeignKey(
        "registry.Institution", on_delete=models.PROTECT, related_name="encounters",
        verbose_name=_("institution"), db_index=False,
    )
    # No single-column indexes on department and practitioner: nothing reads encounters by
    # them yet, and each index costs every bulk import (ADR 0003). Add a composite index
    # (e.g. practitioner + start) with the feature that needs it.
    department = models.ForeignKey(
        "registry.Department", null=True, blank=True, on_delete=models.PROTECT,
        related_name="encounters", verbose_name=_("department"), db_index=False,
    )
    practitioner = models.ForeignKey(
        "registry.Practitioner", null=True, blank=True, on_delete=models.PROTECT,
        related_name="encounters", verbose_name=_("practitioner"), db_index=False,
    )
    start = models.DateTimeField(_("start"))
    end = models.DateTimeField(_("end"), null=True, blank=True)
    primary_diagnosis = models.CharField(_("primary diagnosis (ICD-10)"), max_length=12)
    total = models.DecimalField(_("total cost"), **MONEY)
    drugs = models.DecimalField(_("drugs"), **MONEY)
    consumables = models.DecimalField(_("consumables"), **MONEY)
    examinations = models.DecimalField(_("examinations and tests"), **MONEY)
    services = models.DecimalField(_("medical services"), **MONEY)
    insurance_paid = models.DecimalField(_("insurance paid"), **MONEY)
    source_system = models.CharField(_("source system"), max_length=50)
    source_id = models.CharField(_("source id"), max_length=64)
    # Digest of the normalised content as last received: a re-sent row with the same source
    # id is "unchanged" when the digest matches and "updated" (and audited) when it differs.
    # ``db_default`` so that bulk writers that leave the column out (the synthetic county
    # generator) still insert; such a row counts as changed the first time it is re-sent.
    source_hash = models.CharField(_("content digest"), max_length=32, blank=True, default="",
                                   db_default="", editable=False)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("encounter")
        verbose_name_plural = _("encounters")
        ordering = ["-start"]
        indexes = [
            models.Index(fields=["patient", "start"], name="encounter_patient_start"),
            models.Index(fields=["institution", "start"], name="encounter_inst_start"),
            # the indicator snapshot's incremental refresh reads the rows changed since the
            # last one (ADR 0018); an import appends at the index's end (rows stamped now)
            models.Index(fields=["updated_at"], name="encounter_updated"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["source_system", "source_id"],
                                    name="encounter_source_unique"),
            models.CheckConstraint(condition=models.Q(end__isnull=True)
                                   | models.Q(end__gte=models.F("start")),
                                   name="encounter_end_after_start"),
        ]

    def __str__(self) -> str:
        return (f"{self.get_encounter_class_display()} {self.start:%Y-%m-%d} "
                f"{self.primary_diagnosis}")


class Diagnosis(models.Model):
    """A secondary diagnosis of an encounter (rank ≥ 1); the primary one (rank 0) is
    ``Encounter.primary_diagnosis``. Codes are ICD-10, 3–6 characters of the Chinese clinical
    edition accepted and matched on the category (rules.md §10)."""

    # indexed by the (encounter, rank) unique constraint
    encounter = models.ForeignKey(Encounter, on_delete=models.CASCADE, related_name="diagnoses",
                                  verbose_name=_("encounter"), db_index=False)
    rank = models.PositiveSmallIntegerField(_("rank"))
    code = models.CharField(_("ICD-10 code"), max_length=12)

    class Meta:
        verbose_name = _("diagnosis")
        verbose_name_plural = _("diagnoses")
        ordering = ["encounter", "rank"]
        constraints = [
            models.UniqueConstraint(fields=["encounter", "rank"], name="diagnosis_rank_unique")
        ]

    def __str__(self) -> str:
        return f"{self.rank}: {self.code}"


class Settlement(models.Model):
    """An insurance settlement (医保结算) for care in or outside the county. In-county
    settlements point at the encounter they pay for where it is known (``encounter``), so that
    one care event is counted once (indicators.md, common definitions)."""

    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, related_name="settlements",
        verbose_name=_("resident"),
    )
    scheme = models.CharField(_("insurance scheme"), max_length=10, choices=Scheme.choices)
    in_county = models.BooleanField(_("in county"))
    institution = models.ForeignKey(
        "registry.Institution", null=True, blank=True, on_delete=models.PROTECT,
        related_name="settlements", verbose_name=_("institution"),
    )
    institution_name = models.CharField(_("institution name"), max_length=200)
    institution_level = models.CharField(_("institution level"), max_length=12,
                                         choices=Level.choices)
    division_code = models.CharField(_("institution division code"), max_length=12)
    encounter_class = models.CharField(_("class"), max_length=12, choices=EncounterClass.choices)
    start_date = models.DateField(_("start date"))
    end_date = models.DateField(_("end date"), null=True, blank=True)
    diagnosis = models.CharField(_("primary diagnosis (ICD-10)"), max_length=12)
    total = models.DecimalField(_("total cost"), **MONEY)
    fund_paid = models.DecimalField(_("fund paid"), **MONEY)
    self_paid = models.DecimalField(_("self paid"), **MONEY)
    encounter = models.ForeignKey(
        Encounter, null=True, blank=True, on_delete=models.SET_NULL, related_name="settlements",
        verbose_name=_("encounter"),
    )
    encounter_ref = models.CharField(_("encounter reference"), max_length=64, blank=True)
    settled_at = models.DateTimeField(_("settled"), null=True, blank=True)
    source_system = models.CharField(_("source system"), max_length=50)
    source_id = models.CharField(_("source id"), max_length=64)
    source_hash = models.CharField(_("content digest"), max_length=32, blank=True, default="",
                                   db_default="", editable=False)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True, db_default=Now())

    class Meta:
        verbose_name = _("insurance settlement")
        verbose_name_plural = _("insurance settlements")
        ordering = ["-start_date"]
        indexes = [
            models.Index(fields=["patient", "start_date"], name="settlement_patient_start"),
            models.Index(fields=["in_county", "start_date"], name="settlement_county_start"),
            models.Index(fields=["encounter_ref"], name="settlement_encounter_ref"),
            models.Index(fields=["updated_at"], name="settlement_updated"),  # ADR 0018
        ]
        constraints = [
            models.UniqueConstraint(fields=["source_system", "source_id"],
                                    name="settlement_source_unique"),
            # total = fund paid + self paid, to the cent. SQLite keeps decimals as binary
            # floats, so the check allows less than half a cent of representation error
            # instead of demanding float equality; on PostgreSQL (numeric) it is exact.
            models.CheckConstraint(
                condition=models.lookups.LessThan(
                    Abs(models.F("total") - models.F("fund_paid") - models.F("self_paid")),
                    Decimal("0.005"),
                ),
                name="settlement_total_is_sum",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.institution_name} {self.start_date:%Y-%m-%d} {self.total}"
