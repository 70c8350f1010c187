"""Back-office for the alliance registry (issue 2 §7: admin for all master data). Forms apply
the same rules as ``registry.services`` (level/kind coherence, division codes in GB/T 2260,
posting dates ordered: rules.md §1, §10)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from tiercare.registry import rules, services
from tiercare.registry.models import (
    Alliance,
    Department,
    Division,
    Grid,
    Institution,
    Posting,
    Practitioner,
)


@admin.register(Division)
class DivisionAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "kind", "parent", "edition")
    list_filter = ("kind", "edition")
    search_fields = ("code", "name")
    autocomplete_fields = ("parent",)
    ordering = ("code",)


class GridInline(admin.TabularInline):
    model = Grid
    extra = 0
    autocomplete_fields = ("division",)
    verbose_name = _("township in the grid")
    verbose_name_plural = _("grid")


@admin.register(Alliance)
class AllianceAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "kind", "county_code", "lead", "member_count")
    list_filter = ("kind", "county_code")
    search_fields = ("code", "name")
    autocomplete_fields = ("lead",)
    readonly_fields = ("created_at", "updated_at")
    inlines = (GridInline,)

    def get_queryset(self, request: Any) -> Any:
        from django.db.models import Count

        return super().get_queryset(request).select_related("lead").annotate(
            _members=Count("members"))

    @admin.display(description=_("members"), ordering="_members")
    def member_count(self, obj: Alliance) -> int:
        return getattr(obj, "_members", 0)


class InstitutionForm(forms.ModelForm):
    class Meta:
        model = Institution
        fields = ("code", "name", "level", "kind", "alliance", "parent", "division_code", "beds",
                  "services", "is_active")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if self.errors:
            return cleaned
        probe = Institution(
            pk=self.instance.pk,
            **{k: cleaned.get(k) for k in ("code", "name", "level", "kind", "division_code",
                                           "alliance", "parent")},
            beds=cleaned.get("beds") or 0, services=cleaned.get("services") or [],
        )
        try:
            services.validate_institution(probe)
        except ValidationError as err:
            self._add_errors(err)
        return cleaned

    def _add_errors(self, err: ValidationError) -> None:
        for field_name, errors in err.error_dict.items():
            self.add_error(field_name if field_name in self.fields else None, errors)


class DepartmentInline(admin.TabularInline):
    model = Department
    extra = 0
    fields = ("code", "name", "specialty", "is_active")


@admin.register(Institution)
class InstitutionAdmin(admin.ModelAdmin):
    form = InstitutionForm
    list_display = ("code", "name", "level", "kind", "alliance", "division_code", "beds",
                    "is_active")
    list_filter = ("level", "kind", "alliance", "is_active")
    search_fields = ("code", "name", "division_code")
    autocomplete_fields = ("alliance", "parent")
    list_select_related = ("alliance",)
    readonly_fields = ("created_at", "updated_at")
    inlines = (DepartmentInline,)


@admin.register(Department)
class DepartmentAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "institution", "specialty", "is_active")
    list_filter = ("is_active", "institution__level")
    search_fields = ("code", "name", "institution__name")
    autocomplete_fields = ("institution",)
    list_select_related = ("institution",)


class PostingForm(forms.ModelForm):
    class Meta:
        model = Posting
        fields = ("practitioner", "institution", "department", "start_date", "end_date", "note")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        start, end = cleaned.get("start_date"), cleaned.get("end_date")
        if start is not None:
            try:
                rules.check_posting_dates(start, end)
            except rules.RegistryRuleError as err:
                self.add_error("end_date", str(err))
        practitioner, host = cleaned.get("practitioner"), cleaned.get("institution")
        if practitioner is not None and host is not None \
                and practitioner.institution_id == host.pk:
            self.add_error("institution",
                           _("A practitioner cannot be posted to their own institution."))
        return cleaned


class PostingInline(admin.TabularInline):
    model = Posting
    form = PostingForm
    extra = 0
    fk_name = "practitioner"
    autocomplete_fields = ("institution", "department")


@admin.register(Practitioner)
class PractitionerAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "title", "is_general_practitioner", "institution",
                    "department", "is_active")
    list_filter = ("title", "is_general_practitioner", "is_active", "institution__level")
    search_fields = ("code", "name")
    autocomplete_fields = ("institution", "department")
    list_select_related = ("institution", "department")
    inlines = (PostingInline,)


@admin.register(Posting)
class PostingAdmin(admin.ModelAdmin):
    form = PostingForm
    list_display = ("practitioner", "institution", "start_date", "end_date", "note")
    list_filter = ("institution__level", "practitioner__title")
    search_fields = ("practitioner__name", "practitioner__code", "institution__name")
    autocomplete_fields = ("practitioner", "institution", "department")
    list_select_related = ("practitioner", "institution")
    date_hierarchy = "start_date"


@admin.register(Grid)
class GridAdmin(admin.ModelAdmin):
    list_display = ("alliance", "division")
    list_filter = ("alliance",)
    search_fields = ("division__code", "division__name", "alliance__name")
    autocomplete_fields = ("alliance", "division")
    list_select_related = ("alliance", "division")
