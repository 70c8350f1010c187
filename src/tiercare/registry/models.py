"""The alliance's organisations and people.

Rules: ``rules.md`` §1 (levels, alliance forms, grid, postings of lead-hospital physicians to
townships) and §10 (division codes). Names follow the glossary.
"""

from __future__ import annotations

from django.db import models
from django.db.models.functions import Now
from django.utils.translation import gettext_lazy as _


class Level(models.TextChoices):
    """Level of care of an institution (glossary: Level.*). Primary care = township + village."""

    PROVINCIAL = "provincial", _("Provincial")
    CITY = "city", _("City")
    COUNTY = "county", _("County")
    TOWNSHIP = "township", _("Township")
    VILLAGE = "village", _("Village")

    @property
    def is_primary(self) -> bool:
        return self in (Level.TOWNSHIP, Level.VILLAGE)


PRIMARY_LEVELS = (Level.TOWNSHIP, Level.VILLAGE)


class Division(models.Model):
    """A township- or village-level division of the 12-digit statistical code (GB/T 2260 plus
    township and village digits). Province/prefecture/county codes live in the kernel data file;
    the townships and villages of the alliance's county are stored here because they are the
    grid an alliance answers for (rules.md §1, §10)."""

    class Kind(models.TextChoices):
        COUNTY = "county", _("County")
        TOWNSHIP = "township", _("Township")
        VILLAGE = "village", _("Village")

    code = models.CharField(_("division code"), max_length=12, unique=True)
    name = models.CharField(_("name"), max_length=100)
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children",
        verbose_name=_("parent division"),
    )
    edition = models.CharField(_("code table edition"), max_length=20, default="2023")
    updated_at = models.DateTimeField(_("updated"), auto_now=True, db_default=Now())

    class Meta:
        verbose_name = _("division")
        verbose_name_plural = _("divisions")
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"


class Alliance(models.Model):
    """A medical alliance (医联体) of one of four forms [seed 003], led by one lead hospital."""

    class Kind(models.TextChoices):
        COUNTY_COMMUNITY = "county_community", _("County medical community")
        URBAN_GROUP = "urban_group", _("Urban medical group")
        SPECIALTY_ALLIANCE = "specialty_alliance", _("Specialty alliance")
        TELEMEDICINE_NETWORK = "telemedicine_network", _("Telemedicine network")

    code = models.CharField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=200)
    kind = models.CharField(_("kind"), max_length=30, choices=Kind.choices)
    county_code = models.CharField(
        _("county division code"), max_length=6, help_text=_("GB/T 2260 code of the county")
    )
    lead = models.ForeignKey(
        "Institution", null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        verbose_name=_("lead hospital"),
    )
    divisions: models.ManyToManyField[Division, Grid] = models.ManyToManyField(
        Division, through="Grid", related_name="alliances", verbose_name=_("grid")
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("medical alliance")
        verbose_name_plural = _("medical alliances")
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name


class Grid(models.Model):
    """One township (or city grid) that an alliance answers for. Every township of the county
    must be in exactly one alliance [seed 002, rules.md §1]; overlaps are allowed to be stored
    so that the coverage check can report them instead of hiding them."""

    alliance = models.ForeignKey(Alliance, on_delete=models.CASCADE, related_name="grid",
                                 verbose_name=_("medical alliance"))
    division = models.ForeignKey(Division, on_delete=models.PROTECT, related_name="grid",
                                 verbose_name=_("division"))

    class Meta:
        verbose_name = _("grid")
        verbose_name_plural = _("grid")
        constraints = [
            models.UniqueConstraint(fields=["alliance", "division"],
                                    name="grid_unique_per_alliance")
        ]

    def __str__(self) -> str:
        return f"{self.alliance} – {self.division}"


class Institution(models.Model):
    """A member institution (or an outside hospital known to the registry)."""

    class Kind(models.TextChoices):
        GENERAL_HOSPITAL = "general_hospital", _("General hospital")
        TCM_HOSPITAL = "tcm_hospital", _("TCM hospital")
        MATERNAL_CHILD = "maternal_child", _("Maternal and child health hospital")
        TOWNSHIP_CENTRE = "township_centre", _("Township health centre")
        COMMUNITY_CENTRE = "community_centre", _("Community health service centre")
        VILLAGE_CLINIC = "village_clinic", _("Village clinic")
        COMMUNITY_STATION = "community_station", _("Community health station")
        PUBLIC_HEALTH = "public_health", _("Public health institution")

    class Service(models.TextChoices):
        TCM = "tcm", _("Traditional Chinese medicine")
        TCM_HALL = "tcm_hall", _("TCM hall")
        EMERGENCY = "emergency", _("Emergency")
        INPATIENT = "inpatient", _("Inpatient care")
        IMAGING = "imaging", _("Imaging")
        LABORATORY = "laboratory", _("Laboratory")
        ECG = "ecg", _("ECG")
        REHABILITATION = "rehabilitation", _("Rehabilitation")

    code = models.CharField(_("institution code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=200)
    level = models.CharField(_("level"), max_length=12, choices=Level.choices)
    kind = models.CharField(_("kind"), max_length=30, choices=Kind.choices)
    alliance = models.ForeignKey(
        Alliance, null=True, blank=True, on_delete=models.PROTECT, related_name="members",
        verbose_name=_("medical alliance"),
    )
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children",
        verbose_name=_("supervising institution"),
        help_text=_("For a village clinic: the township health centre that runs it"),
    )
    division_code = models.CharField(
        _("division code"), max_length=12,
        help_text=_("6-digit county code or 9/12-digit township/village code of the site"),
    )
    beds = models.PositiveIntegerField(_("beds"), default=0)
    services = models.JSONField(_("services"), default=list, blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("institution")
        verbose_name_plural = _("institutions")
        ordering = ["code"]
        indexes = [models.Index(fields=["alliance", "level"], name="inst_alliance_level")]

    def __str__(self) -> str:
        return self.name

    @property
    def is_primary(self) -> bool:
        return self.level in PRIMARY_LEVELS


class Department(models.Model):
    """A clinical or technical department of an institution (科室)."""

    institution = models.ForeignKey(
        Institution, on_delete=models.CASCADE, related_name="departments",
        verbose_name=_("institution"),
    )
    code = models.CharField(_("code"), max_length=32)
    name = models.CharField(_("name"), max_length=100)
    specialty = models.CharField(
        _("specialty"), max_length=50, blank=True,
        help_text=_("Standard specialty, e.g. internal medicine, surgery, general practice"),
    )
    is_active = models.BooleanField(_("active"), default=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True, db_default=Now())

    class Meta:
        verbose_name = _("department")
        verbose_name_plural = _("departments")
        ordering = ["institution", "code"]
        constraints = [
            models.UniqueConstraint(fields=["institution", "code"], name="dept_code_unique")
        ]

    def __str__(self) -> str:
        return f"{self.institution.name} · {self.name}"


class Practitioner(models.Model):
    """A doctor, nurse, pharmacist or other health worker of a member institution."""

    class Title(models.TextChoices):
        CHIEF = "chief", _("Chief physician")
        ASSOCIATE_CHIEF = "associate_chief", _("Associate chief physician")
        ATTENDING = "attending", _("Attending physician")
        RESIDENT = "resident", _("Resident physician")
        ASSISTANT = "assistant", _("Assistant physician")
        VILLAGE_DOCTOR = "village_doctor", _("Village doctor")
        NURSE = "nurse", _("Nurse")
        SENIOR_NURSE = "senior_nurse", _("Senior nurse")
        PHARMACIST = "pharmacist", _("Pharmacist")
        TECHNICIAN = "technician", _("Technician")

    class Sex(models.TextChoices):
        MALE = "1", _("Male")
        FEMALE = "2", _("Female")

    code = models.CharField(_("practitioner code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=50)
    sex = models.CharField(_("sex"), max_length=1, choices=Sex.choices)
    title = models.CharField(_("professional title"), max_length=20, choices=Title.choices)
    is_general_practitioner = models.BooleanField(_("general practitioner"), default=False)
    institution = models.ForeignKey(
        Institution, on_delete=models.PROTECT, related_name="practitioners",
        verbose_name=_("employing institution"),
    )
    department = models.ForeignKey(
        Department, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="practitioners", verbose_name=_("department"),
    )
    phone = models.CharField(_("phone"), max_length=20, blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True, db_default=Now())

    class Meta:
        verbose_name = _("practitioner")
        verbose_name_plural = _("practitioners")
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name


class Posting(models.Model):
    """A practitioner serving at another member institution for a period: the lead hospital's
    physicians stationed at township centres ("four downward flows", every township centre has
    at least one attending physician from the lead hospital all year [seed 003])."""

    practitioner = models.ForeignKey(
        Practitioner, on_delete=models.CASCADE, related_name="postings",
        verbose_name=_("practitioner"),
    )
    institution = models.ForeignKey(
        Institution, on_delete=models.PROTECT, related_name="postings",
        verbose_name=_("host institution"),
    )
    department = models.ForeignKey(
        Department, null=True, blank=True, on_delete=models.SET_NULL, related_name="postings",
        verbose_name=_("department"),
    )
    start_date = models.DateField(_("start date"))
    end_date = models.DateField(_("end date"), null=True, blank=True)
    note = models.CharField(_("note"), max_length=200, blank=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True, db_default=Now())

    class Meta:
        verbose_name = _("posting")
        verbose_name_plural = _("postings")
        ordering = ["-start_date"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(end_date__isnull=True)
                | models.Q(end_date__gte=models.F("start_date")),
                name="posting_dates_ordered",
            )
        ]

    def __str__(self) -> str:
        return f"{self.practitioner} → {self.institution} ({self.start_date})"
