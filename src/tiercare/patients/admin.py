"""Back-office views of the resident record, read-only on purpose: residents are registered,
changed, merged and unmerged only through ``patients.services`` so that every change is
validated and audited (rules.md §11). Opening a record here is audited as a VIEW; the search
box uses the indexed resident search (ID number, phone, health record number, name, pinyin
initials), never a scan of the table."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from tiercare.accounts import audit
from tiercare.accounts.admin_audit import AuditedRecordAdmin
from tiercare.accounts.models import AuditEvent
from tiercare.admin_base import ReadOnlyAdmin
from tiercare.patients import rules, services
from tiercare.patients.access import can_see_identifiers
from tiercare.patients.models import HealthRecordCounter, Identifier, MatchCandidate, Merge, Patient


class IdentifierInline(admin.TabularInline):
    model = Identifier
    extra = 0
    fields = ("type", "system", "value")
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Patient)
class PatientAdmin(AuditedRecordAdmin, ReadOnlyAdmin):
    audit_patient_field = "id"
    audits_own_search = True
    list_display = ("health_record_no", "name", "name_initials", "sex", "birth_date",
                    "id_number", "phone", "address_code", "is_active")
    list_filter = ("is_active", "sex", "scheme", "id_type")
    search_fields = ("health_record_no", "id_number", "name", "name_initials", "phone")
    search_help_text = _("ID number, phone, health record number, name or pinyin initials")
    show_full_result_count = False
    readonly_fields = ("merged_into", "created_at", "updated_at")
    inlines = (IdentifierInline,)

    def get_search_results(self, request: HttpRequest, queryset: QuerySet[Any],
                           search_term: str) -> tuple[QuerySet[Any], bool]:
        if not search_term.strip():
            return queryset, False
        try:
            _kind, found = services.search_queryset(search_term, queryset, limit=200)
        except rules.RuleError:
            return queryset.none(), False
        audit.record(AuditEvent.Action.SEARCH, object_type=Patient._meta.label,
                     summary=search_term[:300],
                     changes={"query": search_term, "results": len(found), "via": "admin"})
        return queryset.filter(pk__in=[p.pk for p in found]), False

    def get_list_display(self, request: HttpRequest) -> list[str]:  # type: ignore[override]
        if can_see_identifiers(request.user):
            return list(self.list_display)
        return ["masked_id_number" if f == "id_number" else "masked_phone" if f == "phone"
                else f for f in self.list_display]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        fields = [f.name for f in Patient._meta.fields if f.name != "id"]
        if not can_see_identifiers(request.user):
            fields = ["masked_id_number" if f == "id_number" else
                      "masked_phone" if f == "phone" else f for f in fields]
        return tuple(fields)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        return self.get_fields(request, obj)

    @admin.display(description=_("identity document number"))
    def masked_id_number(self, obj: Patient) -> str:
        return rules.mask_id_number(obj.id_number)

    @admin.display(description=_("phone"))
    def masked_phone(self, obj: Patient) -> str:
        return rules.mask_phone(obj.phone)



@admin.register(MatchCandidate)
class MatchCandidateAdmin(ReadOnlyAdmin):
    list_display = ("patient", "candidate", "score", "reasons", "status", "found_at",
                    "reviewed_by")
    list_filter = ("status",)
    list_select_related = ("patient", "candidate", "reviewed_by")
    raw_id_fields = ("patient", "candidate")
    search_fields = ("patient__health_record_no", "candidate__health_record_no")
    ordering = ("-score", "-found_at")


@admin.register(Merge)
class MergeAdmin(ReadOnlyAdmin):
    list_display = ("merged_at", "survivor", "merged", "reason", "merged_by", "undone_at",
                    "undone_by")
    list_filter = ("undone_at",)
    list_select_related = ("survivor", "merged", "merged_by", "undone_by")
    search_fields = ("survivor__health_record_no", "merged__health_record_no")
    date_hierarchy = "merged_at"


@admin.register(HealthRecordCounter)
class HealthRecordCounterAdmin(ReadOnlyAdmin):
    list_display = ("village_code", "last_serial")
    search_fields = ("village_code",)
