"""Family-doctor teams, service packages, contracts, chronic registries, follow-ups and the
elderly annual check (issue 6; rules.md §7–§8; glossary: family doctors, chronic care).

Tables the indicator engine reads (``indicators.engine.definitions.SOURCE_TABLES``):
``chronic_registration``, ``chronic_followup``, ``chronic_contract`` (+ packages, services,
deliveries, elderly checks and priority-group memberships for fulfilment and coverage).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from tiercare.chronic import rules

MONEY: dict[str, Any] = {"max_digits": 10, "decimal_places": 2, "default": Decimal("0.00")}


class Disease(models.TextChoices):
    HYPERTENSION = rules.HYPERTENSION, _("Hypertension")
    DIABETES = rules.DIABETES, _("Type-2 diabetes")


class PriorityGroup(models.TextChoices):
    """Priority groups of family-doctor contracts (rules.md §7; seed 001 §20, nat 2016)."""

    ELDERLY = "elderly", _("Elderly (65 and over)")
    PREGNANT = "pregnant", _("Pregnant and postpartum women")
    CHILD = "child", _("Children aged 0–6")
    DISABLED = "disabled", _("People with disabilities")
    HYPERTENSION = "hypertension", _("Hypertension patients")
    DIABETES = "diabetes", _("Type-2 diabetes patients")
    TUBERCULOSIS = "tuberculosis", _("Tuberculosis patients")
    SEVERE_MENTAL = "severe_mental", _("Severe mental disorders")
    FAMILY_PLANNING = "family_planning", _("Family-planning special families")


#: Groups read from the resident's age or the registries; the others are declared
#: (:class:`PriorityGroupMembership`).
DERIVED_GROUPS = frozenset({PriorityGroup.ELDERLY, PriorityGroup.CHILD,
                            PriorityGroup.HYPERTENSION, PriorityGroup.DIABETES})


class ChronicPolicy(models.Model):
    """An alliance's values for the configurable rules of rules.md §7–§8 ([conv], [local]);
    without a row the defaults of ``chronic.rules`` apply."""

    alliance = models.OneToOneField("registry.Alliance", on_delete=models.CASCADE,
                                    related_name="chronic_policy",
                                    verbose_name=_("medical alliance"))
    elderly_age = models.PositiveSmallIntegerField(
        _("age from which the elderly pressure target applies"), default=65)
    elderly_sbp_below = models.PositiveSmallIntegerField(
        _("elderly systolic target (below, mmHg)"), default=150)
    elderly_dbp_below = models.PositiveSmallIntegerField(
        _("elderly diastolic target (below, mmHg)"), default=90)
    routine_interval_days = models.PositiveSmallIntegerField(
        _("days between routine follow-ups"), default=90)
    standard_follow_ups = models.PositiveSmallIntegerField(
        _("face-to-face follow-ups a year for standard management"), default=4)
    standard_needs_annual_check = models.BooleanField(
        _("standard management also needs the annual check"), default=False)
    contract_min_years = models.PositiveSmallIntegerField(_("shortest contract (years)"),
                                                          default=1)
    contract_max_years = models.PositiveSmallIntegerField(_("longest contract (years)"),
                                                          default=3)
    contract_default_years = models.PositiveSmallIntegerField(_("usual contract (years)"),
                                                              default=1)
    expiring_within_days = models.PositiveSmallIntegerField(
        _("contracts expiring within (days) are listed"), default=30)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("chronic-care policy")
        verbose_name_plural = _("chronic-care policies")
        constraints = [
            models.CheckConstraint(
                condition=Q(contract_min_years__gte=1, contract_max_years__lte=5,
                            contract_min_years__lte=models.F("contract_default_years"),
                            contract_default_years__lte=models.F("contract_max_years")),
                name="chronic_policy_contract_years"),
        ]

    def __str__(self) -> str:
        return str(self.alliance)

    def targets(self) -> rules.Targets:
        return rules.Targets(
            elderly_age=self.elderly_age, elderly_sbp_below=self.elderly_sbp_below,
            elderly_dbp_below=self.elderly_dbp_below,
            routine_interval_days=self.routine_interval_days,
            standard_follow_ups=self.standard_follow_ups,
            standard_needs_annual_check=self.standard_needs_annual_check)

    def terms(self) -> rules.ContractTerms:
        return rules.ContractTerms(min_years=self.contract_min_years,
                                   max_years=self.contract_max_years,
                                   default_years=self.contract_default_years,
                                   expiring_within_days=self.expiring_within_days)


class FamilyDoctorTeam(models.Model):
    """A family-doctor team (家庭医生团队): members across levels answering for the residents
    who contract with it (rules.md §7)."""

    alliance = models.ForeignKey("registry.Alliance", null=True, blank=True,
                                 on_delete=models.PROTECT, related_name="family_doctor_teams",
                                 verbose_name=_("medical alliance"))
    institution = models.ForeignKey("registry.Institution", on_delete=models.PROTECT,
                                    related_name="family_doctor_teams",
                                    verbose_name=_("base institution"))
    code = models.CharField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=100)
    lead = models.ForeignKey("registry.Practitioner", null=True, blank=True,
                             on_delete=models.SET_NULL, related_name="teams_led",
                             verbose_name=_("team lead"))
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("family-doctor team")
        verbose_name_plural = _("family-doctor teams")
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name


class TeamMember(models.Model):
    """A practitioner in a team, from a date (village doctor, township GP, county
    specialist …); ``end_date`` set when they leave."""

    class Role(models.TextChoices):
        LEAD = "lead", _("Team lead")
        GENERAL_PRACTITIONER = "gp", _("General practitioner")
        VILLAGE_DOCTOR = "village_doctor", _("Village doctor")
        SPECIALIST = "specialist", _("County specialist")
        NURSE = "nurse", _("Nurse")
        PUBLIC_HEALTH = "public_health", _("Public-health doctor")

    team = models.ForeignKey(FamilyDoctorTeam, on_delete=models.CASCADE, related_name="members",
                             verbose_name=_("team"))
    practitioner = models.ForeignKey("registry.Practitioner", on_delete=models.PROTECT,
                                     related_name="team_memberships",
                                     verbose_name=_("practitioner"))
    role = models.CharField(_("role in the team"), max_length=20, choices=Role.choices)
    start_date = models.DateField(pgettext_lazy("date", "from"))
    end_date = models.DateField(_("until"), null=True, blank=True)

    class Meta:
        verbose_name = _("team member")
        verbose_name_plural = _("team members")
        ordering = ["team", "role", "id"]
        constraints = [
            models.UniqueConstraint(fields=["team", "practitioner"],
                                    condition=Q(end_date__isnull=True),
                                    name="team_member_once"),
        ]

    def __str__(self) -> str:
        return f"{self.team} · {self.practitioner}"


class ServicePackage(models.Model):
    """A contract service package (签约服务包): the basic package or one for a priority group,
    with its services and fee split (rules.md §7). ``alliance`` empty: the default set
    shipped with TierCare (``data/packages.toml``); an alliance edits its own copy."""

    class Kind(models.TextChoices):
        BASIC = "basic", _("Basic package")
        PRIORITY = "priority", _("Priority-group package")
        PERSONALISED = "personalised", _("Personalised package")

    alliance = models.ForeignKey("registry.Alliance", null=True, blank=True,
                                 on_delete=models.CASCADE, related_name="service_packages",
                                 verbose_name=_("medical alliance"))
    code = models.CharField(_("code"), max_length=32)
    name = models.CharField(_("name"), max_length=100)
    name_en = models.CharField(_("English name"), max_length=100, blank=True)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    priority_group = models.CharField(_("priority group"), max_length=20, blank=True,
                                      choices=PriorityGroup.choices)
    fee_total = models.DecimalField(_("fee per year (yuan)"), **MONEY)
    fee_resident = models.DecimalField(_("paid by the resident"), **MONEY)
    fee_public_health = models.DecimalField(_("paid from public-health funds"), **MONEY)
    fee_insurance = models.DecimalField(_("paid by insurance"), **MONEY)
    source = models.CharField(_("source"), max_length=300, blank=True)
    is_active = models.BooleanField(_("offered"), default=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("service package")
        verbose_name_plural = _("service packages")
        ordering = ["alliance", "kind", "code"]
        constraints = [
            models.UniqueConstraint(fields=["alliance", "code"],
                                    condition=Q(alliance__isnull=False),
                                    name="package_code_once"),
            models.UniqueConstraint(fields=["code"], condition=Q(alliance__isnull=True),
                                    name="default_package_code_once"),
            models.CheckConstraint(
                condition=Q(fee_total=models.F("fee_resident") + models.F("fee_public_health")
                            + models.F("fee_insurance")),
                name="package_fee_split_adds_up"),
        ]

    def __str__(self) -> str:
        return self.name


class PackageService(models.Model):
    """One service of a package with its yearly count and how a delivery is recognised."""

    class DeliveredBy(models.TextChoices):
        HYPERTENSION_FOLLOW_UP = "hypertension_follow_up", _("Hypertension follow-up")
        DIABETES_FOLLOW_UP = "diabetes_follow_up", _("Diabetes follow-up")
        ELDERLY_CHECK = "elderly_check", _("Elderly annual check")
        PRIMARY_VISIT = "primary_visit", _("Visit at the team's institution")
        RECORDED = "recorded", _("Recorded by the team")

    package = models.ForeignKey(ServicePackage, on_delete=models.CASCADE,
                                related_name="services", verbose_name=_("package"))
    code = models.CharField(_("code"), max_length=40)
    name = models.CharField(_("name"), max_length=100)
    name_en = models.CharField(_("English name"), max_length=100, blank=True)
    yearly_count = models.PositiveSmallIntegerField(_("times a year"))
    delivered_by = models.CharField(_("counted from"), max_length=24,
                                    choices=DeliveredBy.choices)

    class Meta:
        verbose_name = _("package service")
        verbose_name_plural = _("package services")
        ordering = ["package", "id"]
        constraints = [
            models.UniqueConstraint(fields=["package", "code"], name="package_service_once"),
        ]

    def __str__(self) -> str:
        return self.name


class Contract(models.Model):
    """A family-doctor contract (家庭医生签约服务): one resident, one team (and its named
    doctor), the packages chosen, a period of 1–3 years (rules.md §7). At most one active
    contract per resident (a partial unique index)."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        ENDED = "ended", _("Ended")

    class EndReason(models.TextChoices):
        EXPIRED = "expired", _("Period over")
        RENEWED = "renewed", _("Renewed")
        SWITCHED = "switched", _("Switched team")
        TERMINATED = "terminated", _("Terminated")

    class Consent(models.TextChoices):
        SIGNATURE = "signature", _("Signed on paper")
        TABLET = "tablet", _("Signed on the tablet")
        APP = "app", _("Confirmed in the resident's app")
        GUARDIAN = "guardian", _("Signed by the guardian")

    patient = models.ForeignKey("patients.Patient", on_delete=models.PROTECT,
                                related_name="contracts", verbose_name=_("resident"))
    team = models.ForeignKey(FamilyDoctorTeam, on_delete=models.PROTECT,
                             related_name="contracts", verbose_name=_("team"))
    doctor = models.ForeignKey("registry.Practitioner", null=True, blank=True,
                               on_delete=models.SET_NULL, related_name="contracts",
                               verbose_name=_("family doctor"))
    packages = models.ManyToManyField(ServicePackage, related_name="contracts",
                                      verbose_name=_("service packages"))
    start_date = models.DateField(_("start"))
    end_date = models.DateField(_("end"))
    status = models.CharField(_("status"), max_length=8, choices=Status.choices,
                              default=Status.ACTIVE)
    end_reason = models.CharField(_("why it ended"), max_length=12, blank=True,
                                  choices=EndReason.choices)
    consent = models.CharField(_("consent"), max_length=12, choices=Consent.choices)
    consent_at = models.DateTimeField(_("consent given"))
    fee_resident = models.DecimalField(_("paid by the resident"), **MONEY)
    previous = models.OneToOneField("self", null=True, blank=True, on_delete=models.PROTECT,
                                    related_name="next", verbose_name=_("previous contract"))
    signed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                  on_delete=models.SET_NULL, related_name="+",
                                  verbose_name=_("signed by"))
    ended_on = models.DateField(_("ended"), null=True, blank=True)
    end_note = models.CharField(_("note"), max_length=200, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True, db_index=True)

    class Meta:
        verbose_name = _("family-doctor contract")
        verbose_name_plural = _("family-doctor contracts")
        ordering = ["-start_date", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["patient"], condition=Q(status="active"),
                                    name="contract_one_active"),
            models.CheckConstraint(condition=Q(end_date__gt=models.F("start_date")),
                                   name="contract_end_after_start"),
        ]
        indexes = [
            models.Index(fields=["team", "status", "end_date"], name="contract_team_status"),
        ]

    def __str__(self) -> str:
        return f"{self.patient_id} · {self.team} · {self.start_date}–{self.end_date}"


class ContractEvent(models.Model):
    """Who did what to a contract, when (DESIGN.md: every status change writes an event)."""

    contract = models.ForeignKey(Contract, on_delete=models.CASCADE, related_name="events",
                                 verbose_name=_("contract"))
    at = models.DateTimeField(_("time"))
    by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                           on_delete=models.SET_NULL, related_name="+", verbose_name=_("by"))
    action = models.CharField(_("action"), max_length=12)
    from_status = models.CharField(_("previous status"), max_length=8, blank=True)
    to_status = models.CharField(_("new status"), max_length=8)
    reason = models.CharField(_("reason"), max_length=200, blank=True)

    #: what each ``action`` says to a reader (``services`` writes these actions)
    ACTION_LABELS = {
        "sign": _("Signed"), "renew": _("Signed as a renewal"),
        "switch": _("Signed on switching team"), "expired": _("Period over"),
        "renewed": _("Renewed"), "switched": _("Switched team"),
        "terminated": _("Terminated"),
    }

    class Meta:
        verbose_name = _("contract event")
        verbose_name_plural = _("contract events")
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.contract_id} {self.action} {self.at:%Y-%m-%d}"

    def get_action_display(self) -> str:
        return str(self.ACTION_LABELS.get(self.action, self.action))


class ServiceDelivery(models.Model):
    """A package service the team recorded by hand (a home visit, a prenatal visit …).
    Follow-ups, elderly checks and visits count by themselves (``services.fulfilment_of``)."""

    contract = models.ForeignKey(Contract, on_delete=models.CASCADE, related_name="deliveries",
                                 verbose_name=_("contract"))
    service = models.ForeignKey(PackageService, on_delete=models.PROTECT, related_name="+",
                                verbose_name=_("service"))
    date = models.DateField(_("date"))
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                    on_delete=models.SET_NULL, related_name="+",
                                    verbose_name=_("recorded by"))
    note = models.CharField(_("note"), max_length=200, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("service delivered")
        verbose_name_plural = _("services delivered")
        ordering = ["date", "id"]

    def __str__(self) -> str:
        return f"{self.contract_id} · {self.service_id} · {self.date}"


class PriorityGroupMembership(models.Model):
    """A resident declared in a priority group that cannot be read from age or the
    registries (pregnancy, disability, tuberculosis, severe mental disorder, family-planning
    special family), from a date."""

    patient = models.ForeignKey("patients.Patient", on_delete=models.CASCADE,
                                related_name="priority_groups", verbose_name=_("resident"))
    group = models.CharField(_("priority group"), max_length=20, choices=PriorityGroup.choices)
    start_date = models.DateField(pgettext_lazy("date", "from"))
    end_date = models.DateField(_("until"), null=True, blank=True)
    note = models.CharField(_("note"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("priority-group membership")
        verbose_name_plural = _("priority-group memberships")
        ordering = ["patient", "group"]
        constraints = [
            models.UniqueConstraint(fields=["patient", "group"],
                                    condition=Q(end_date__isnull=True),
                                    name="priority_group_once"),
        ]

    def __str__(self) -> str:
        return f"{self.patient_id} · {self.get_group_display()}"


class Registration(models.Model):
    """A resident on the hypertension or type-2 diabetes registry (慢病管理, rules.md §8), at
    the managing institution and team, with the next follow-up due."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("Under management")
        CLOSED = "closed", pgettext_lazy("registration", "Closed")

    class Source(models.TextChoices):
        DIAGNOSIS = "diagnosis", _("Diagnosis")
        SCREENING = "screening", _("Screening (three raised readings)")
        ELDERLY_CHECK = "elderly_check", _("Elderly annual check")
        DOWN_REFERRAL = "down_referral", _("Down-referral")

    class CloseReason(models.TextChoices):
        MOVED = "moved", _("Moved away")
        DIED = "died", _("Died")
        DIAGNOSIS_REVISED = "revised", _("Diagnosis revised")
        DECLINED = "declined", _("Declined management")

    patient = models.ForeignKey("patients.Patient", on_delete=models.PROTECT,
                                related_name="chronic_registrations",
                                verbose_name=_("resident"))
    disease = models.CharField(_("disease"), max_length=16, choices=Disease.choices)
    diagnosis = models.CharField(_("diagnosis (ICD-10)"), max_length=11)
    status = models.CharField(_("status"), max_length=8, choices=Status.choices,
                              default=Status.ACTIVE)
    source = models.CharField(_("enrolled from"), max_length=16, choices=Source.choices)
    institution = models.ForeignKey("registry.Institution", on_delete=models.PROTECT,
                                    related_name="chronic_registrations",
                                    verbose_name=_("managing institution"))
    team = models.ForeignKey(FamilyDoctorTeam, null=True, blank=True,
                             on_delete=models.SET_NULL, related_name="registrations",
                             verbose_name=_("team"))
    doctor = models.ForeignKey("registry.Practitioner", null=True, blank=True,
                               on_delete=models.SET_NULL, related_name="chronic_registrations",
                               verbose_name=_("responsible doctor"))
    enrolled_on = models.DateField(_("enrolled"))
    source_referral = models.ForeignKey("referrals.Referral", null=True, blank=True,
                                        on_delete=models.SET_NULL, related_name="+",
                                        verbose_name=_("down-referral"))
    care_plan = models.TextField(_("care plan"), blank=True)
    next_due = models.DateField(_("next follow-up due"))
    last_follow_up_on = models.DateField(_("last follow-up"), null=True, blank=True)
    last_controlled = models.BooleanField(_("at target at the last follow-up"), null=True,
                                          blank=True)
    closed_on = models.DateField(_("closed"), null=True, blank=True)
    close_reason = models.CharField(_("why closed"), max_length=10, blank=True,
                                    choices=CloseReason.choices)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+",
                                   verbose_name=_("enrolled by"))
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True, db_index=True)

    class Meta:
        verbose_name = _("chronic registration")
        verbose_name_plural = _("chronic registrations")
        ordering = ["next_due", "id"]
        constraints = [
            models.UniqueConstraint(fields=["patient", "disease"], condition=Q(status="active"),
                                    name="registration_one_active"),
        ]
        indexes = [
            models.Index(fields=["team", "status", "next_due"], name="registration_team_due"),
            models.Index(fields=["institution", "status", "next_due"],
                         name="registration_inst_due"),
        ]

    def __str__(self) -> str:
        return f"{self.get_disease_display()} · {self.patient_id}"


class FollowUp(models.Model):
    """One follow-up of a registered resident (随访; rules.md §8) with its measurements,
    questions and the classification ``chronic.rules.classify`` gave it."""

    class Method(models.TextChoices):
        CLINIC = "clinic", _("At the clinic")
        HOME = "home", _("Home visit")
        PHONE = "phone", _("By phone")

    class Adherence(models.TextChoices):
        REGULAR = "regular", _("Takes as prescribed")
        INTERMITTENT = "intermittent", _("Intermittently")
        NONE = "none", _("Does not take")
        NOT_PRESCRIBED = "not_prescribed", _("No medicine prescribed")

    registration = models.ForeignKey(Registration, on_delete=models.PROTECT,
                                     related_name="follow_ups",
                                     verbose_name=_("registration"))
    patient = models.ForeignKey("patients.Patient", on_delete=models.PROTECT,
                                related_name="chronic_follow_ups", verbose_name=_("resident"))
    disease = models.CharField(_("disease"), max_length=16, choices=Disease.choices)
    date = models.DateField(_("date"))
    method = models.CharField(_("how"), max_length=8, choices=Method.choices,
                              default=Method.CLINIC)
    institution = models.ForeignKey("registry.Institution", on_delete=models.PROTECT,
                                    related_name="+", verbose_name=_("institution"))
    practitioner = models.ForeignKey("registry.Practitioner", null=True, blank=True,
                                     on_delete=models.SET_NULL, related_name="+",
                                     verbose_name=_("doctor"))
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                    on_delete=models.SET_NULL, related_name="+",
                                    verbose_name=_("recorded by"))
    sbp = models.PositiveSmallIntegerField(_("systolic pressure (mmHg)"), null=True, blank=True)
    dbp = models.PositiveSmallIntegerField(_("diastolic pressure (mmHg)"), null=True,
                                           blank=True)
    heart_rate = models.PositiveSmallIntegerField(_("heart rate (/min)"), null=True, blank=True)
    temperature = models.DecimalField(_("temperature (°C)"), max_digits=3, decimal_places=1,
                                      null=True, blank=True)
    fasting_glucose = models.DecimalField(_("fasting glucose (mmol/L)"), max_digits=4,
                                          decimal_places=1, null=True, blank=True)
    weight_kg = models.DecimalField(_("weight (kg)"), max_digits=4, decimal_places=1,
                                    null=True, blank=True)
    height_cm = models.DecimalField(_("height (cm)"), max_digits=4, decimal_places=1,
                                    null=True, blank=True)
    bmi = models.DecimalField(_("BMI (kg/m²)"), max_digits=4, decimal_places=1, null=True,
                              blank=True)
    signs = models.JSONField(_("danger signs"), default=list, blank=True)
    symptoms = models.CharField(_("other symptoms"), max_length=200, blank=True)
    medication = models.CharField(_("medication"), max_length=300, blank=True)
    adherence = models.CharField(_("adherence"), max_length=16, choices=Adherence.choices,
                                 default=Adherence.REGULAR)
    adverse_reaction = models.BooleanField(_("adverse drug reaction"), default=False)
    adverse_intolerable = models.BooleanField(_("adverse reaction not tolerated"),
                                              default=False)
    new_complication = models.BooleanField(_("new or worse complication"), default=False)
    complication_note = models.CharField(_("complications"), max_length=200, blank=True)
    classification = models.CharField(_("classification"), max_length=10,
                                      choices=[(c.value, c.value) for c in rules.Classification])
    controlled = models.BooleanField(_("at target"))
    reasons = models.JSONField(_("reasons"), default=list, blank=True)
    next_due = models.DateField(_("next follow-up due"))
    referral = models.ForeignKey("referrals.Referral", null=True, blank=True,
                                 on_delete=models.SET_NULL, related_name="+",
                                 verbose_name=_("referral"))
    note = models.TextField(_("note"), blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True, db_index=True)

    class Meta:
        verbose_name = _("follow-up")
        verbose_name_plural = _("follow-ups")
        ordering = ["-date", "-id"]
        indexes = [
            models.Index(fields=["registration", "date"], name="followup_registration_date"),
            models.Index(fields=["patient", "date"], name="followup_patient_date"),
        ]

    def __str__(self) -> str:
        return f"{self.get_disease_display()} · {self.patient_id} · {self.date}"

    @property
    def face_to_face(self) -> bool:
        return self.method != self.Method.PHONE

    def reading(self) -> rules.Reading:
        return rules.Reading(
            sbp=self.sbp, dbp=self.dbp, heart_rate=self.heart_rate,
            temperature=self.temperature, fasting_glucose=self.fasting_glucose,
            weight_kg=self.weight_kg, height_cm=self.height_cm, signs=frozenset(self.signs),
            adverse_reaction=self.adverse_reaction, adverse_intolerable=self.adverse_intolerable,
            new_complication=self.new_complication)


class ElderlyCheck(models.Model):
    """The yearly health service of a resident aged 65 or over (老年人健康管理, rules.md §8):
    the items done, the main measurements and what was found."""

    class Item(models.TextChoices):
        ASSESSMENT = "assessment", _("Lifestyle and health assessment")
        EXAMINATION = "examination", _("Physical examination")
        BLOOD_ROUTINE = "blood_routine", _("Blood routine")
        URINE_ROUTINE = "urine_routine", _("Urine routine")
        LIVER_FUNCTION = "liver_function", _("Liver function")
        KIDNEY_FUNCTION = "kidney_function", _("Kidney function")
        FASTING_GLUCOSE = "fasting_glucose", _("Fasting glucose")
        LIPIDS = "lipids", _("Blood lipids")
        ECG = "ecg", _("Electrocardiogram")
        ABDOMINAL_ULTRASOUND = "abdominal_ultrasound", _("Abdominal ultrasound")
        ADVICE = "advice", _("Health advice")

    patient = models.ForeignKey("patients.Patient", on_delete=models.PROTECT,
                                related_name="elderly_checks", verbose_name=_("resident"))
    date = models.DateField(_("date"))
    institution = models.ForeignKey("registry.Institution", on_delete=models.PROTECT,
                                    related_name="+", verbose_name=_("institution"))
    practitioner = models.ForeignKey("registry.Practitioner", null=True, blank=True,
                                     on_delete=models.SET_NULL, related_name="+",
                                     verbose_name=_("doctor"))
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                    on_delete=models.SET_NULL, related_name="+",
                                    verbose_name=_("recorded by"))
    items = models.JSONField(_("items done"), default=list)
    sbp = models.PositiveSmallIntegerField(_("systolic pressure (mmHg)"), null=True, blank=True)
    dbp = models.PositiveSmallIntegerField(_("diastolic pressure (mmHg)"), null=True,
                                           blank=True)
    heart_rate = models.PositiveSmallIntegerField(_("heart rate (/min)"), null=True, blank=True)
    fasting_glucose = models.DecimalField(_("fasting glucose (mmol/L)"), max_digits=4,
                                          decimal_places=1, null=True, blank=True)
    weight_kg = models.DecimalField(_("weight (kg)"), max_digits=4, decimal_places=1,
                                    null=True, blank=True)
    height_cm = models.DecimalField(_("height (cm)"), max_digits=4, decimal_places=1,
                                    null=True, blank=True)
    bmi = models.DecimalField(_("BMI (kg/m²)"), max_digits=4, decimal_places=1, null=True,
                              blank=True)
    findings = models.TextField(_("findings and advice"), blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("elderly annual check")
        verbose_name_plural = _("elderly annual checks")
        ordering = ["-date", "-id"]
        indexes = [models.Index(fields=["patient", "date"], name="elderly_check_patient")]

    def __str__(self) -> str:
        return f"{self.patient_id} · {self.date}"


class ScreeningReading(models.Model):
    """A blood-pressure or fasting-glucose reading taken outside the registry (the first visit
    of the year for everyone ≥35, an elderly check); three raised ones on different days make
    a provisional diagnosis (rules.md §8)."""

    patient = models.ForeignKey("patients.Patient", on_delete=models.CASCADE,
                                related_name="screening_readings", verbose_name=_("resident"))
    date = models.DateField(_("date"))
    institution = models.ForeignKey("registry.Institution", on_delete=models.PROTECT,
                                    related_name="+", verbose_name=_("institution"))
    sbp = models.PositiveSmallIntegerField(_("systolic pressure (mmHg)"), null=True, blank=True)
    dbp = models.PositiveSmallIntegerField(_("diastolic pressure (mmHg)"), null=True,
                                           blank=True)
    fasting_glucose = models.DecimalField(_("fasting glucose (mmol/L)"), max_digits=4,
                                          decimal_places=1, null=True, blank=True)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                    on_delete=models.SET_NULL, related_name="+",
                                    verbose_name=_("recorded by"))
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("screening reading")
        verbose_name_plural = _("screening readings")
        ordering = ["-date", "-id"]
        indexes = [models.Index(fields=["patient", "date"], name="screening_patient_date")]

    def __str__(self) -> str:
        return f"{self.patient_id} · {self.date}"
