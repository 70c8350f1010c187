"""Residents and their identifiers: the shared resident health record's master data.

Rules: ``rules.md`` §10 (resident ID number, health record number), §11 (privacy). The master
patient index (``patients.matching``) links records of one person; merges are reversible.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Sex(models.TextChoices):
    """GB/T 2261.1 sex codes."""

    UNKNOWN = "0", _("Unknown")
    MALE = "1", _("Male")
    FEMALE = "2", _("Female")


class Scheme(models.TextChoices):
    """Basic medical insurance scheme (glossary: Scheme.*)."""

    RESIDENT = "resident", _("Resident insurance")
    EMPLOYEE = "employee", _("Employee insurance")
    NONE = "none", _("Uninsured / self-paying")


class IdentifierType(models.TextChoices):
    ID_CARD = "id_card", _("Resident ID number")
    PASSPORT = "passport", _("Passport")
    HK_MACAO_PERMIT = "hk_macao_permit", _("Hong Kong/Macao resident permit")
    TAIWAN_PERMIT = "taiwan_permit", _("Taiwan resident permit")
    HEALTH_RECORD = "health_record", _("Health record number")
    MEDICAL_RECORD = "medical_record", _("Hospital medical record number")


class Patient(models.Model):
    """A resident with a health record in the alliance (居民 / 患者)."""

    health_record_no = models.CharField(
        _("health record number"), max_length=17, unique=True,
        help_text=_("17 digits: county (6) + township (3) + village (3) + serial (5)"),
    )
    name = models.CharField(_("name"), max_length=50)
    # Pinyin initials of the name, e.g. 张三 → "zs". ``name_initials_alt`` holds the reading of
    # a polyphone surname (单 shan/dan, 曾 zeng/ceng, 解 xie/jie) so that both readings find it.
    name_initials = models.CharField(_("pinyin initials"), max_length=20)
    name_initials_alt = models.CharField(_("pinyin initials (other reading)"), max_length=20,
                                         blank=True)
    sex = models.CharField(_("sex"), max_length=1, choices=Sex.choices)
    birth_date = models.DateField(_("birth date"))
    id_type = models.CharField(
        _("identity document type"), max_length=20, choices=IdentifierType.choices,
        default=IdentifierType.ID_CARD,
    )
    id_number = models.CharField(_("identity document number"), max_length=32, blank=True)
    ethnicity = models.CharField(_("ethnicity"), max_length=2, blank=True,
                                 help_text=_("GB 3304 code"))
    phone = models.CharField(_("phone"), max_length=20, blank=True, db_index=True)
    address_code = models.CharField(
        _("address division code"), max_length=12,
        help_text=_("12-digit village-level division code"),
    )
    address = models.CharField(_("address"), max_length=200, blank=True)
    scheme = models.CharField(_("insurance scheme"), max_length=10, choices=Scheme.choices,
                              default=Scheme.RESIDENT)
    insured_county = models.CharField(_("insured county"), max_length=6, blank=True)
    merged_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="merged_records",
        verbose_name=_("merged into"),
    )
    is_active = models.BooleanField(_("active"), default=True)
    deceased_date = models.DateField(_("date of death"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("resident")
        verbose_name_plural = _("residents")
        indexes = [
            models.Index(fields=["id_number"], name="patient_id_number"),
            models.Index(fields=["name", "birth_date"], name="patient_name_birth"),
            models.Index(fields=["birth_date", "sex"], name="patient_birth_sex"),
            # Initials search returns the first residents in (initials, id) order and stops:
            # the id must be in the index (SQLite's rowid is implicitly; PostgreSQL would
            # otherwise read and sort every resident with the same initials).
            models.Index(fields=["name_initials", "id"], name="patient_initials_id"),
            models.Index(fields=["name_initials_alt", "id"], name="patient_initials_alt_id"),
            # Grid scopes and per-village counts read ``address_code`` ranges of active records.
            models.Index(fields=["address_code", "is_active"], name="patient_address_active"),
            # the indicator snapshot's incremental refresh (ADR 0018)
            models.Index(fields=["updated_at"], name="patient_updated"),
            # Name-prefix search: ``LIKE '单%'`` on PostgreSQL whatever the database collation
            # (SQLite answers the same search with a range on ``patient_name_birth``).
            models.Index(fields=["name"], name="patient_name_like",
                         opclasses=["varchar_pattern_ops"]),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["id_type", "id_number"],
                condition=models.Q(is_active=True) & ~models.Q(id_number=""),
                name="patient_active_id_unique",
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.health_record_no})"


class Identifier(models.Model):
    """Any further identifier of a resident: passports, permits, hospital record numbers from
    member systems (system + value), FHIR Patient.identifier."""

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="identifiers",
                                verbose_name=_("resident"))
    type = models.CharField(_("type"), max_length=20, choices=IdentifierType.choices)
    system = models.CharField(_("issuing system"), max_length=100, blank=True)
    value = models.CharField(_("value"), max_length=64)

    class Meta:
        verbose_name = _("identifier")
        verbose_name_plural = _("identifiers")
        # Search by a document number alone (passport, permit, member HIS record number).
        indexes = [models.Index(fields=["value"], name="identifier_value")]
        constraints = [
            models.UniqueConstraint(fields=["type", "system", "value"], name="identifier_unique")
        ]

    def __str__(self) -> str:
        return f"{self.get_type_display()} {self.value}"


class MatchCandidate(models.Model):
    """A probable duplicate pair found by the master patient index (same name + birth date +
    sex, optionally phone), waiting for a person to review it."""

    class Status(models.TextChoices):
        OPEN = "open", _("Awaiting review")
        MERGED = "merged", _("Merged")
        DISMISSED = "dismissed", _("Not the same person")

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="+",
                                verbose_name=_("resident"))
    candidate = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="+",
                                  verbose_name=_("possible duplicate"))
    score = models.PositiveSmallIntegerField(_("score"))
    reasons = models.JSONField(_("reasons"), default=list)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices,
                              default=Status.OPEN)
    found_at = models.DateTimeField(_("found"), auto_now_add=True)
    reviewed_at = models.DateTimeField(_("reviewed"), null=True, blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+", verbose_name=_("reviewed by"),
    )

    class Meta:
        verbose_name = _("probable match")
        verbose_name_plural = _("probable matches")
        constraints = [
            models.UniqueConstraint(fields=["patient", "candidate"], name="match_pair_unique")
        ]

    def __str__(self) -> str:
        return f"{self.patient_id} ~ {self.candidate_id} ({self.score})"


class Merge(models.Model):
    """A merge of one resident record (``merged``) into another (``survivor``). ``moved`` lists
    every row that the merge re-pointed, per app, so that ``undo`` restores exactly them."""

    survivor = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="+",
                                 verbose_name=_("surviving record"))
    merged = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="+",
                               verbose_name=_("merged record"))
    moved = models.JSONField(_("rows moved"), default=dict)
    reason = models.CharField(_("reason"), max_length=200, blank=True)
    merged_at = models.DateTimeField(_("merged"), auto_now_add=True)
    merged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+",
        verbose_name=_("merged by"),
    )
    undone_at = models.DateTimeField(_("undone"), null=True, blank=True)
    undone_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+", verbose_name=_("undone by"),
    )

    class Meta:
        verbose_name = _("merge")
        verbose_name_plural = _("merges")
        ordering = ["-merged_at"]

    def __str__(self) -> str:
        return f"{self.merged_id} → {self.survivor_id}"


class HealthRecordCounter(models.Model):
    """The last health record serial handed out in one village (rules.md §10: the 17-digit
    number ends with a 5-digit serial per village). Allocation increments this row with one
    atomic ``UPDATE … SET last_serial = last_serial + 1`` inside the registering transaction,
    so two registrations never get the same serial."""

    village_code = models.CharField(_("village division code"), max_length=12, unique=True)
    last_serial = models.PositiveIntegerField(_("last serial"), default=0)

    class Meta:
        verbose_name = _("health record counter")
        verbose_name_plural = _("health record counters")

    def __str__(self) -> str:
        return f"{self.village_code}: {self.last_serial}"
