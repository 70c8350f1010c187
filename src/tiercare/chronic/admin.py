"""Back-office of family-doctor work: teams and their members, service packages (rules.md §7:
"a default set with sources; editable by the alliance" — an alliance copies the defaults and
edits its own), the alliance's chronic-care policy ([conv]/[local] values of rules.md §7–§8).
Contracts, registrations, follow-ups and checks are shown read-only: they change only through
``chronic.services`` (the pages, the API, FHIR). Every save is audited."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from tiercare.accounts import audit
from tiercare.accounts.admin_audit import AuditedRecordAdmin
from tiercare.accounts.models import AuditEvent, User
from tiercare.admin_base import ReadOnlyAdmin, ReadOnlyInline
from tiercare.chronic import services
from tiercare.chronic.models import (
    ChronicPolicy,
    Contract,
    ContractEvent,
    ElderlyCheck,
    FamilyDoctorTeam,
    FollowUp,
    PackageService,
    Registration,
    ServicePackage,
    TeamMember,
)


def _user(request: HttpRequest) -> User | None:
    user = getattr(request, "user", None)
    return user if isinstance(user, User) else None


class _Audited(admin.ModelAdmin):
    """Every save and delete in the back-office goes to the audit trail."""

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        audit.record(AuditEvent.Action.UPDATE if change else AuditEvent.Action.CREATE,
                     user=_user(request), object_type=obj._meta.label, object_id=obj.pk,
                     summary=str(obj)[:200],
                     changes={k: str(form.cleaned_data.get(k)) for k in form.changed_data})

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        audit.record(AuditEvent.Action.DELETE, user=_user(request),
                     object_type=obj._meta.label, object_id=obj.pk, summary=str(obj)[:200])
        super().delete_model(request, obj)


class _OwnAlliance(_Audited):
    """An alliance administrator sees and changes only rows of their alliance (and sees the
    default packages, which only a system administrator changes)."""

    def _held(self, request: HttpRequest) -> int | None:
        user = _user(request)
        if user is None or user.is_superuser or user.alliance_id is None:
            return None
        return user.alliance_id

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        queryset = super().get_queryset(request)
        alliance_id = self._held(request)
        if alliance_id is None:
            return queryset
        return queryset.filter(alliance_id=alliance_id) | queryset.filter(
            alliance__isnull=True)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        alliance_id = self._held(request)
        if obj is not None and alliance_id is not None and obj.alliance_id != alliance_id:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.has_change_permission(request, obj) and super().has_delete_permission(
            request, obj)


class TeamMemberInline(admin.TabularInline):
    model = TeamMember
    extra = 1
    autocomplete_fields = ("practitioner",)
    fields = ("practitioner", "role", "start_date", "end_date")


@admin.register(FamilyDoctorTeam)
class FamilyDoctorTeamAdmin(_OwnAlliance):
    list_display = ("code", "name", "institution", "lead", "alliance", "is_active")
    list_filter = ("is_active", "alliance")
    search_fields = ("code", "name", "institution__name")
    list_select_related = ("institution", "lead", "alliance")
    autocomplete_fields = ("institution", "lead", "alliance")
    inlines = (TeamMemberInline,)


class PackageServiceInline(admin.TabularInline):
    model = PackageService
    extra = 1
    fields = ("code", "name", "name_en", "yearly_count", "delivered_by")


@admin.register(ServicePackage)
class ServicePackageAdmin(_OwnAlliance):
    list_display = ("code", "name", "kind", "priority_group", "alliance", "fee_total",
                    "fee_resident", "fee_public_health", "fee_insurance", "is_active")
    list_filter = ("kind", "is_active", "alliance")
    search_fields = ("code", "name", "name_en")
    list_select_related = ("alliance",)
    autocomplete_fields = ("alliance",)
    inlines = (PackageServiceInline,)
    actions = ("adopt_for_my_alliance",)

    @admin.action(description=_("Copy the default packages to my alliance, to edit them"))
    def adopt_for_my_alliance(self, request: HttpRequest,
                              queryset: QuerySet[ServicePackage]) -> None:
        user = _user(request)
        if user is None or user.alliance is None:
            messages.error(request, gettext("Only an alliance administrator has an alliance "
                                            "to copy the packages to."))
            return
        count = services.adopt_packages(user.alliance, by=user)
        if count:
            messages.success(request, gettext("%(n)s packages copied to %(alliance)s.") % {
                "n": count, "alliance": user.alliance.name})
        else:
            messages.info(request, gettext("%(alliance)s already has its own packages.") % {
                "alliance": user.alliance.name})


@admin.register(ChronicPolicy)
class ChronicPolicyAdmin(_OwnAlliance):
    list_display = ("alliance", "elderly_age", "elderly_sbp_below", "elderly_dbp_below",
                    "routine_interval_days", "standard_follow_ups",
                    "standard_needs_annual_check", "contract_default_years", "updated_at")
    autocomplete_fields = ("alliance",)
    readonly_fields = ("updated_at",)


class ContractEventInline(ReadOnlyInline):
    model = ContractEvent
    fields = ("at", "action", "from_status", "to_status", "by", "reason")
    readonly_fields = fields


@admin.register(Contract)
class ContractAdmin(AuditedRecordAdmin, ReadOnlyAdmin):
    list_display = ("id", "patient", "team", "doctor", "start_date", "end_date", "status",
                    "end_reason")
    list_filter = ("status", "end_reason")
    list_select_related = ("patient", "team", "doctor")
    search_fields = ("=id", "patient__health_record_no")
    raw_id_fields = ("patient",)
    show_full_result_count = False
    inlines = (ContractEventInline,)


@admin.register(Registration)
class RegistrationAdmin(AuditedRecordAdmin, ReadOnlyAdmin):
    list_display = ("id", "patient", "disease", "status", "institution", "team", "enrolled_on",
                    "next_due", "last_controlled")
    list_filter = ("disease", "status", "source")
    list_select_related = ("patient", "institution", "team")
    search_fields = ("=id", "patient__health_record_no")
    raw_id_fields = ("patient",)
    show_full_result_count = False


@admin.register(FollowUp)
class FollowUpAdmin(AuditedRecordAdmin, ReadOnlyAdmin):
    list_display = ("id", "patient", "disease", "date", "method", "sbp", "dbp",
                    "fasting_glucose", "classification", "institution")
    list_filter = ("disease", "classification", "method")
    list_select_related = ("patient", "institution")
    search_fields = ("=id", "patient__health_record_no")
    raw_id_fields = ("patient",)
    date_hierarchy = "date"
    show_full_result_count = False


@admin.register(ElderlyCheck)
class ElderlyCheckAdmin(AuditedRecordAdmin, ReadOnlyAdmin):
    list_display = ("id", "patient", "date", "institution", "sbp", "dbp", "fasting_glucose")
    list_select_related = ("patient", "institution")
    search_fields = ("=id", "patient__health_record_no")
    raw_id_fields = ("patient",)
    date_hierarchy = "date"
    show_full_result_count = False
