"""Back-office of scheduling. Configuration is edited here: the alliance's policy, equipment,
schedules with their weekly templates, wards and their beds (the models' check constraints
are validated by the forms, with their messages). State is changed only through
``scheduling.services`` (capacity and statuses must go through the conditional updates, the
transition table, the event rows and the audit): slots, appointments and bed statuses are
read-only here, and the actions call the services. Appointments belong to residents: their
lists and pages are audited (rules.md §11)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from tiercare.accounts.admin_audit import AuditedRecordAdmin
from tiercare.admin_base import ReadOnlyAdmin, ReadOnlyInline
from tiercare.errors import DomainError
from tiercare.scheduling import services
from tiercare.scheduling.models import (
    Appointment,
    AppointmentEvent,
    Bed,
    BedEvent,
    Equipment,
    Schedule,
    SchedulingPolicy,
    Slot,
    SlotTemplate,
    Ward,
)

#: how far ahead the "generate slots" action makes slots (issue 4 item 7: four weeks)
GENERATE_DAYS = 28


def _user(request: HttpRequest) -> Any:
    return request.user if request.user.is_authenticated else None


@admin.register(SchedulingPolicy)
class SchedulingPolicyAdmin(admin.ModelAdmin):
    list_display = ("alliance", "reserve_share", "specialist_share", "release_lead_days",
                    "preset", "updated_at")
    fields = ("alliance", "reserve_share", "specialist_share", "release_lead_days", "preset",
              "source", "updated_by", "updated_at")
    readonly_fields = ("preset", "updated_by", "updated_at")
    actions = ["apply_beijing", "apply_default"]

    def save_model(self, request: HttpRequest, obj: SchedulingPolicy, form: Any,
                   change: bool) -> None:
        obj.updated_by = _user(request)
        obj.preset = ""  # edited by hand: no longer exactly a preset
        super().save_model(request, obj, form, change)

    def _apply(self, request: HttpRequest, queryset: QuerySet[SchedulingPolicy],
               name: str) -> None:
        for policy in queryset.select_related("alliance"):
            services.apply_preset(policy.alliance, name, by=_user(request))
        self.message_user(request, ngettext("%(count)d policy set.", "%(count)d policies set.",
                                            queryset.count()) % {"count": queryset.count()})

    @admin.action(description=_("Apply the Beijing preset (30%%, half specialist, 14 days)"))
    def apply_beijing(self, request: HttpRequest, queryset: QuerySet[SchedulingPolicy]) -> None:
        self._apply(request, queryset, "beijing")

    @admin.action(description=_("Apply the default (nothing reserved)"))
    def apply_default(self, request: HttpRequest, queryset: QuerySet[SchedulingPolicy]) -> None:
        self._apply(request, queryset, "default")


@admin.register(Equipment)
class EquipmentAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "modality", "institution", "department", "is_active")
    list_filter = ("modality", "is_active")
    search_fields = ("code", "name", "institution__name")
    raw_id_fields = ("institution", "department")


class SlotTemplateInline(admin.TabularInline):
    model = SlotTemplate
    extra = 0
    fields = ("weekday", "start_time", "end_time", "slot_minutes", "capacity",
              "internal_capacity", "valid_from", "valid_to", "is_active")


@admin.register(Schedule)
class ScheduleAdmin(admin.ModelAdmin):
    list_display = ("name", "institution", "kind", "department", "practitioner", "equipment",
                    "is_specialist", "is_active")
    list_filter = ("kind", "is_specialist", "is_active")
    search_fields = ("name", "institution__name", "department__name", "practitioner__name")
    raw_id_fields = ("institution", "department", "practitioner", "equipment")
    inlines = [SlotTemplateInline]
    actions = ["generate_four_weeks"]

    @admin.action(description=_("Generate slots for the next four weeks"))
    def generate_four_weeks(self, request: HttpRequest, queryset: QuerySet[Schedule]) -> None:
        first = timezone.localdate()
        last = first + dt.timedelta(days=GENERATE_DAYS - 1)
        made = 0
        for schedule in queryset:
            try:
                made += services.generate_slots(schedule, first, last, by=_user(request))
            except DomainError as err:
                self.message_user(request, f"{schedule}: {err}", messages.ERROR)
        self.message_user(request, ngettext("%(count)d slot time made.",
                                            "%(count)d slot times made.", made)
                          % {"count": made})


@admin.register(Slot)
class SlotAdmin(ReadOnlyAdmin):
    list_display = ("schedule", "start", "end", "pool", "capacity", "booked", "release_at",
                    "released", "status")
    list_filter = ("pool", "status", "schedule__kind")
    date_hierarchy = "start"
    list_select_related = ("schedule__institution",)
    search_fields = ("schedule__name", "schedule__institution__name")
    show_full_result_count = False
    actions = ["close_slots", "open_slots"]

    def _set(self, request: HttpRequest, queryset: QuerySet[Slot], status: str) -> None:
        for slot in queryset:
            services.set_slot_status(slot, status, by=_user(request))
        self.message_user(request, ngettext("%(count)d slot changed.",
                                            "%(count)d slots changed.", queryset.count())
                          % {"count": queryset.count()})

    @admin.action(description=_("Close the selected slots to new bookings"))
    def close_slots(self, request: HttpRequest, queryset: QuerySet[Slot]) -> None:
        self._set(request, queryset, Slot.Status.CLOSED)

    @admin.action(description=_("Open the selected slots again"))
    def open_slots(self, request: HttpRequest, queryset: QuerySet[Slot]) -> None:
        self._set(request, queryset, Slot.Status.OPEN)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # actions need the change permission of the list; single rows stay read-only
        return obj is None and bool(request.user.has_perm("scheduling.change_slot"))


class AppointmentEventInline(ReadOnlyInline):
    model = AppointmentEvent
    fields = ("at", "from_status", "to_status", "by", "by_name", "reason")
    readonly_fields = fields


@admin.register(Appointment)
class AppointmentAdmin(AuditedRecordAdmin, ReadOnlyAdmin):
    list_display = ("id", "slot", "patient", "pool", "status", "booked_by", "booked_by_name",
                    "source_referral_id", "booked_at")
    list_filter = ("status", "pool")
    list_select_related = ("slot__schedule__institution", "patient", "booked_by")
    raw_id_fields = ("slot", "patient")
    show_full_result_count = False
    inlines = [AppointmentEventInline]


class BedInline(admin.TabularInline):
    """Beds are added here with their code and pool; their status changes only through the
    services (bed actions)."""

    model = Bed
    extra = 0
    fields = ("code", "pool", "status", "patient")
    readonly_fields = ("status", "patient")
    can_delete = False


@admin.register(Ward)
class WardAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "institution", "department", "is_active")
    list_filter = ("is_active",)
    search_fields = ("code", "name", "institution__name")
    raw_id_fields = ("institution", "department")
    inlines = [BedInline]


class BedEventInline(ReadOnlyInline):
    model = BedEvent
    fields = ("at", "from_status", "to_status", "patient", "by", "by_name", "reason")
    readonly_fields = fields


@admin.register(Bed)
class BedAdmin(ReadOnlyAdmin):
    list_display = ("code", "ward", "pool", "status", "patient", "updated_at")
    list_filter = ("pool", "status")
    list_select_related = ("ward__institution", "patient")
    search_fields = ("code", "ward__name", "ward__institution__name")
    inlines = [BedEventInline]
    actions = ["free_beds", "close_beds"]

    def _each(self, request: HttpRequest, queryset: QuerySet[Bed], action: Any) -> None:
        done = 0
        for bed in queryset:
            try:
                action(bed, by=_user(request))
                done += 1
            except DomainError as err:
                self.message_user(request, str(err), messages.ERROR)
        self.message_user(request, ngettext("%(count)d bed changed.", "%(count)d beds changed.",
                                            done) % {"count": done})

    @admin.action(description=_("Free the selected beds (discharge or give up a reservation)"))
    def free_beds(self, request: HttpRequest, queryset: QuerySet[Bed]) -> None:
        self._each(request, queryset, services.free_bed)

    @admin.action(description=_("Take the selected free beds out of service"))
    def close_beds(self, request: HttpRequest, queryset: QuerySet[Bed]) -> None:
        self._each(request, queryset, services.close_bed)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return obj is None and bool(request.user.has_perm("scheduling.change_bed"))
