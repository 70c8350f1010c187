"""Back-office for encounters and settlements (issue 2 §7: admin for all master data)."""

from __future__ import annotations

from django.contrib import admin

from tiercare.accounts.admin_audit import AuditedRecordAdmin
from tiercare.encounters.models import Diagnosis, Encounter, Settlement


class DiagnosisInline(admin.TabularInline):
    model = Diagnosis
    extra = 0
    fields = ("rank", "code")


@admin.register(Encounter)
class EncounterAdmin(AuditedRecordAdmin, admin.ModelAdmin):
    list_display = ("start", "patient", "encounter_class", "institution", "primary_diagnosis",
                    "total", "source_system", "source_id")
    list_filter = ("encounter_class", "institution__level", "institution")
    search_fields = ("source_id", "primary_diagnosis", "patient__name",
                     "patient__health_record_no")
    raw_id_fields = ("patient", "institution", "department", "practitioner")
    # Millions of rows: newest first by primary key (indexed), no full count, no date
    # hierarchy (it scans every row for its distinct dates).
    ordering = ("-id",)
    show_full_result_count = False
    list_select_related = ("patient", "institution")
    readonly_fields = ("source_hash", "created_at", "updated_at")
    inlines = (DiagnosisInline,)


@admin.register(Settlement)
class SettlementAdmin(AuditedRecordAdmin, admin.ModelAdmin):
    list_display = ("start_date", "patient", "institution_name", "institution_level",
                    "in_county", "encounter_class", "total", "fund_paid", "self_paid",
                    "encounter")
    list_filter = ("in_county", "encounter_class", "institution_level", "scheme")
    search_fields = ("source_id", "encounter_ref", "institution_name", "patient__name",
                     "patient__health_record_no")
    raw_id_fields = ("patient", "institution", "encounter")
    ordering = ("-id",)
    show_full_result_count = False
    list_select_related = ("patient", "encounter")
    readonly_fields = ("source_hash", "created_at", "updated_at")
