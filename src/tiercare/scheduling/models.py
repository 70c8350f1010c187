"""Bookable capacity: schedules, slot templates, slots in pools, appointments, wards and beds.

Rules: ``rules.md`` §4 (bookable capacity at every member by practitioner or service, beds,
large equipment open to primary care; pools public / referral / internal; unused reserved
capacity returns to the public pool at a configurable lead time; a slot is never booked
beyond its capacity; booking states) and §3 (reserved capacity: no national share, Beijing
preset). Names follow the glossary (``Slot``, ``Appointment``, ``Bed``, ``Slot.pool =
referral``). Why beds are their own rows and not slots of a ward: ADR 0011.

Capacity changes only in ``scheduling.services``, through one conditional ``UPDATE`` (DESIGN.md);
the check constraints below are the database's own last guard (``booked <= capacity``).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Now
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Pool(models.TextChoices):
    """Who may book a slot's capacity (rules.md §4; glossary ``Slot.pool``)."""

    PUBLIC = "public", _("Public")
    REFERRAL = "referral", _("Reserved for referrals")
    INTERNAL = "internal", _("Internal")


BED_POOLS = [(Pool.PUBLIC.value, Pool.PUBLIC.label), (Pool.REFERRAL.value, Pool.REFERRAL.label)]


class SchedulingPolicy(models.Model):
    """An alliance's reserve of capacity for referrals from its members (rules.md §3, §4).
    Without a row the defaults hold: nothing reserved, nothing released early. The Beijing
    preset (30 % of slots, at least half of them specialist slots, released 14 days ahead
    [local]) is a data file, ``scheduling/data/policy_presets.json``."""

    alliance = models.OneToOneField(
        "registry.Alliance", on_delete=models.CASCADE, related_name="scheduling_policy",
        verbose_name=_("medical alliance"),
    )
    reserve_share = models.DecimalField(
        _("reserve share"), max_digits=4, decimal_places=3, default=0,
        help_text=_("Share of each day's clinic slots reserved for referrals from members "
                    "(0–1)"),
    )
    specialist_share = models.DecimalField(
        _("specialist share of the reserve"), max_digits=4, decimal_places=3, default=0,
        help_text=_("Share of the reserved slots that should be specialist slots (0–1)"),
    )
    release_lead_days = models.PositiveSmallIntegerField(
        _("release lead time (days)"), default=0,
        help_text=_("Unused reserved slots return to the public pool this many days before "
                    "they start"),
    )
    preset = models.CharField(_("preset"), max_length=30, blank=True)
    source = models.CharField(_("source"), max_length=300, blank=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+", verbose_name=_("updated by"),
    )

    class Meta:
        verbose_name = _("scheduling policy")
        verbose_name_plural = _("scheduling policies")
        constraints = [
            models.CheckConstraint(condition=Q(reserve_share__gte=0, reserve_share__lte=1),
                                   name="sched_policy_reserve_share_range",
                                   violation_error_message=_("A share lies between 0 and 1.")),
            models.CheckConstraint(
                condition=Q(specialist_share__gte=0, specialist_share__lte=1),
                name="sched_policy_specialist_share_range",
                violation_error_message=_("A share lies between 0 and 1.")),
        ]

    def __str__(self) -> str:
        return f"{self.alliance}: {self.reserve_share}"


class Equipment(models.Model):
    """Large equipment whose examinations primary care may book (rules.md §4 [seed 001 §8])."""

    class Modality(models.TextChoices):
        CT = "ct", _("CT")
        MRI = "mri", _("MRI")
        ULTRASOUND = "ultrasound", _("Ultrasound")
        DR = "dr", _("Digital radiography")
        ENDOSCOPY = "endoscopy", _("Endoscopy")
        OTHER = "other", _("Other")

    institution = models.ForeignKey(
        "registry.Institution", on_delete=models.PROTECT, related_name="equipment",
        verbose_name=_("institution"),
    )
    department = models.ForeignKey(
        "registry.Department", null=True, blank=True, on_delete=models.SET_NULL,
        related_name="equipment", verbose_name=_("department"),
    )
    code = models.CharField(_("code"), max_length=32)
    name = models.CharField(_("name"), max_length=100)
    modality = models.CharField(_("modality"), max_length=20, choices=Modality.choices)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("equipment")
        verbose_name_plural = _("equipment")
        ordering = ["institution", "code"]
        constraints = [models.UniqueConstraint(fields=["institution", "code"],
                                               name="equipment_code_unique")]

    def __str__(self) -> str:
        return f"{self.institution.name} · {self.name}"


class Schedule(models.Model):
    """The bookable time of one department, practitioner or piece of equipment at a member
    institution (号源 by practitioner or by service, rules.md §4)."""

    class Kind(models.TextChoices):
        CLINIC = "clinic", _("Clinic")
        EQUIPMENT = "equipment", _("Equipment")

    institution = models.ForeignKey(
        "registry.Institution", on_delete=models.PROTECT, related_name="schedules",
        verbose_name=_("institution"),
    )
    kind = models.CharField(_("kind"), max_length=12, choices=Kind.choices, default=Kind.CLINIC)
    department = models.ForeignKey(
        "registry.Department", null=True, blank=True, on_delete=models.PROTECT,
        related_name="schedules", verbose_name=_("department"),
    )
    practitioner = models.ForeignKey(
        "registry.Practitioner", null=True, blank=True, on_delete=models.PROTECT,
        related_name="schedules", verbose_name=_("practitioner"),
    )
    equipment = models.ForeignKey(
        Equipment, null=True, blank=True, on_delete=models.PROTECT, related_name="schedules",
        verbose_name=_("equipment"),
    )
    name = models.CharField(_("name"), max_length=100)
    is_specialist = models.BooleanField(
        _("specialist clinic"), default=False,
        help_text=_("Slots of a chief or associate chief physician (专家号)"),
    )
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True, db_default=Now())

    class Meta:
        verbose_name = _("schedule")
        verbose_name_plural = _("schedules")
        ordering = ["institution", "name"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(kind="clinic") & (Q(department__isnull=False)
                                               | Q(practitioner__isnull=False))
                           & Q(equipment__isnull=True))
                | (Q(kind="equipment") & Q(equipment__isnull=False)),
                name="schedule_subject_matches_kind",
                violation_error_message=_("A clinic schedule names a department or a "
                                          "practitioner and no equipment; an equipment "
                                          "schedule names its equipment."),
            )
        ]

    def __str__(self) -> str:
        return f"{self.institution.name} · {self.name}"


class SlotTemplate(models.Model):
    """A weekly pattern of a schedule: on ``weekday`` from ``start_time`` to ``end_time`` in
    slots of ``slot_minutes``, each for ``capacity`` patients (分时段预约). Times are local
    (Asia/Shanghai). ``internal_capacity`` of each slot is kept for the institution's own
    use (follow-up visits it books itself); the rest is split into public and referral by the
    alliance's policy when slots are generated."""

    class Weekday(models.IntegerChoices):
        MONDAY = 0, _("Monday")
        TUESDAY = 1, _("Tuesday")
        WEDNESDAY = 2, _("Wednesday")
        THURSDAY = 3, _("Thursday")
        FRIDAY = 4, _("Friday")
        SATURDAY = 5, _("Saturday")
        SUNDAY = 6, _("Sunday")

    schedule = models.ForeignKey(Schedule, on_delete=models.CASCADE, related_name="templates",
                                 verbose_name=_("schedule"))
    weekday = models.PositiveSmallIntegerField(_("weekday"), choices=Weekday.choices)
    start_time = models.TimeField(_("start time"))
    end_time = models.TimeField(_("end time"))
    slot_minutes = models.PositiveSmallIntegerField(_("slot length (minutes)"))
    capacity = models.PositiveSmallIntegerField(_("capacity per slot"))
    internal_capacity = models.PositiveSmallIntegerField(_("internal capacity per slot"),
                                                         default=0)
    valid_from = models.DateField(_("valid from"), null=True, blank=True)
    valid_to = models.DateField(_("valid to"), null=True, blank=True)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("slot template")
        verbose_name_plural = _("slot templates")
        ordering = ["schedule", "weekday", "start_time"]
        constraints = [
            models.CheckConstraint(
                condition=Q(weekday__lte=6), name="template_weekday_range",
                violation_error_message=_("The weekday must be between Monday and Sunday.")),
            models.CheckConstraint(
                condition=Q(end_time__gt=F("start_time")), name="template_times_ordered",
                violation_error_message=_("The end time must be after the start time.")),
            models.CheckConstraint(
                condition=Q(slot_minutes__gte=1), name="template_slot_minutes_positive",
                violation_error_message=_("A slot lasts at least one minute.")),
            models.CheckConstraint(
                condition=Q(capacity__gte=1), name="template_capacity_positive",
                violation_error_message=_("A slot has a capacity of at least one.")),
            models.CheckConstraint(
                condition=Q(internal_capacity__lte=F("capacity")),
                name="template_internal_within_capacity",
                violation_error_message=_("The internal capacity cannot exceed the slot's "
                                          "capacity.")),
        ]

    def __str__(self) -> str:
        return (f"{self.schedule} {self.get_weekday_display()} "
                f"{self.start_time:%H:%M}–{self.end_time:%H:%M}")


class Slot(models.Model):
    """Bookable capacity of one schedule at one time in one pool (号源). One time of a
    template gives up to three rows, one per pool. ``booked`` never exceeds ``capacity``
    (services: one conditional update; here: a check constraint). A referral slot's unused
    capacity moves to the public slot of the same time at ``release_at``."""

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        CLOSED = "closed", _("Closed")

    schedule = models.ForeignKey(Schedule, on_delete=models.PROTECT, related_name="slots",
                                 verbose_name=_("schedule"))
    template = models.ForeignKey(SlotTemplate, null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="slots", verbose_name=_("slot template"))
    start = models.DateTimeField(_("start"))
    end = models.DateTimeField(_("end"))
    pool = models.CharField(_("pool"), max_length=10, choices=Pool.choices,
                            default=Pool.PUBLIC)
    capacity = models.PositiveIntegerField(_("capacity"))
    booked = models.PositiveIntegerField(_("booked"), default=0)
    release_at = models.DateTimeField(
        _("release time"), null=True, blank=True,
        help_text=_("When unused reserved capacity returns to the public pool"),
    )
    released = models.PositiveIntegerField(_("capacity released"), default=0)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices,
                              default=Status.OPEN)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True, db_default=Now())

    class Meta:
        verbose_name = _("slot")
        verbose_name_plural = _("slots")
        ordering = ["schedule", "start", "pool"]
        constraints = [
            models.UniqueConstraint(fields=["schedule", "start", "pool"],
                                    name="slot_unique_per_pool"),
            models.CheckConstraint(condition=Q(booked__lte=F("capacity")),
                                   name="slot_booked_within_capacity"),
            models.CheckConstraint(condition=Q(end__gt=F("start")), name="slot_times_ordered"),
        ]
        indexes = [
            models.Index(fields=["start", "schedule"], name="slot_start_schedule"),
            models.Index(fields=["pool", "release_at"], name="slot_pool_release"),
        ]

    def __str__(self) -> str:
        return f"{self.schedule} {timezone.localtime(self.start):%Y-%m-%d %H:%M} {self.pool}"

    @property
    def free(self) -> int:
        return max(self.capacity - self.booked, 0)


class Appointment(models.Model):
    """A resident's booking of one place in a slot (分时段预约). Statuses and their
    transitions: ``scheduling.statuses``; every change writes an ``AppointmentEvent``."""

    class Status(models.TextChoices):
        BOOKED = "booked", _("Booked")
        CHECKED_IN = "checked_in", _("Checked in")
        FULFILLED = "fulfilled", _("Fulfilled")
        CANCELLED = "cancelled", _("Cancelled")
        NO_SHOW = "no_show", _("No-show")

    slot = models.ForeignKey(Slot, on_delete=models.PROTECT, related_name="appointments",
                             verbose_name=_("slot"))
    patient = models.ForeignKey("patients.Patient", on_delete=models.PROTECT,
                                related_name="appointments", verbose_name=_("resident"))
    pool = models.CharField(_("pool"), max_length=10, choices=Pool.choices)
    status = models.CharField(_("status"), max_length=12, choices=Status.choices,
                              default=Status.BOOKED)
    booked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+", verbose_name=_("booked by"),
    )
    booked_by_name = models.CharField(_("booked by (name)"), max_length=150, blank=True)
    source_referral_id = models.BigIntegerField(_("referral"), null=True, blank=True,
                                                db_index=True)
    note = models.CharField(_("note"), max_length=200, blank=True)
    booked_at = models.DateTimeField(_("booked"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("appointment")
        verbose_name_plural = _("appointments")
        ordering = ["-booked_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["slot", "patient"], condition=Q(status__in=["booked", "checked_in"]),
                name="appointment_one_active_per_slot",
            )
        ]

    def __str__(self) -> str:
        return f"{self.patient_id} @ {self.slot} ({self.status})"


class AppointmentEvent(models.Model):
    """One status change of an appointment: who, when, from, to, why (DESIGN.md)."""

    appointment = models.ForeignKey(Appointment, on_delete=models.PROTECT,
                                    related_name="events", verbose_name=_("appointment"))
    at = models.DateTimeField(_("time"), auto_now_add=True)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                           on_delete=models.SET_NULL, related_name="+",
                           verbose_name=_("changed by"))
    by_name = models.CharField(_("changed by (name)"), max_length=150, blank=True)
    from_status = models.CharField(_("previous status"), max_length=12, blank=True)
    to_status = models.CharField(_("new status"), max_length=12)
    reason = models.CharField(_("reason"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("appointment event")
        verbose_name_plural = _("appointment events")
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.appointment_id}: {self.from_status or '∅'} → {self.to_status}"


class Ward(models.Model):
    """An inpatient ward of a department (病区)."""

    institution = models.ForeignKey(
        "registry.Institution", on_delete=models.PROTECT, related_name="wards",
        verbose_name=_("institution"),
    )
    department = models.ForeignKey(
        "registry.Department", null=True, blank=True, on_delete=models.SET_NULL,
        related_name="wards", verbose_name=_("department"),
    )
    code = models.CharField(_("code"), max_length=32)
    name = models.CharField(_("name"), max_length=100)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("ward")
        verbose_name_plural = _("wards")
        ordering = ["institution", "code"]
        constraints = [models.UniqueConstraint(fields=["institution", "code"],
                                               name="ward_code_unique")]

    def __str__(self) -> str:
        return f"{self.institution.name} · {self.name}"


class Bed(models.Model):
    """A bed of a ward (床位), public or reserved for referrals (预留床位, rules.md §3–§4).
    A bed holds at most one resident: it changes hands only through a conditional update on
    its status (services), and the constraint ties the status to the occupant."""

    class Status(models.TextChoices):
        FREE = "free", _("Free")
        RESERVED = "reserved", _("Reserved")
        OCCUPIED = "occupied", _("Occupied")
        CLOSED = "closed", _("Closed")

    ward = models.ForeignKey(Ward, on_delete=models.PROTECT, related_name="beds",
                             verbose_name=_("ward"))
    code = models.CharField(_("bed code"), max_length=20)
    pool = models.CharField(_("pool"), max_length=10, choices=BED_POOLS, default=Pool.PUBLIC)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices,
                              default=Status.FREE)
    patient = models.ForeignKey("patients.Patient", null=True, blank=True,
                                on_delete=models.PROTECT, related_name="beds",
                                verbose_name=_("resident"))
    source_referral_id = models.BigIntegerField(_("referral"), null=True, blank=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("bed")
        verbose_name_plural = _("beds")
        ordering = ["ward", "code"]
        constraints = [
            models.UniqueConstraint(fields=["ward", "code"], name="bed_code_unique"),
            models.CheckConstraint(
                condition=(Q(status__in=["reserved", "occupied"]) & Q(patient__isnull=False))
                | (Q(status__in=["free", "closed"]) & Q(patient__isnull=True)),
                name="bed_occupant_matches_status",
            ),
        ]
        indexes = [models.Index(fields=["ward", "pool", "status"], name="bed_ward_pool_status")]

    def __str__(self) -> str:
        return f"{self.ward} {self.code}"


class BedEvent(models.Model):
    """One status change of a bed: who, when, from, to, for whom, why."""

    bed = models.ForeignKey(Bed, on_delete=models.PROTECT, related_name="events",
                            verbose_name=_("bed"))
    at = models.DateTimeField(_("time"), auto_now_add=True)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                           on_delete=models.SET_NULL, related_name="+",
                           verbose_name=_("changed by"))
    by_name = models.CharField(_("changed by (name)"), max_length=150, blank=True)
    from_status = models.CharField(_("previous status"), max_length=10)
    to_status = models.CharField(_("new status"), max_length=10)
    patient = models.ForeignKey("patients.Patient", null=True, blank=True,
                                on_delete=models.PROTECT, related_name="+",
                                verbose_name=_("resident"))
    reason = models.CharField(_("reason"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("bed event")
        verbose_name_plural = _("bed events")
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.bed_id}: {self.from_status} → {self.to_status}"
