"""Back-office of the tiered disease catalogue (rules.md §2: editable by the alliance). Entries
are edited inline; every save goes through ``referrals.services`` (validation with per-field
errors in the user's language, audit trail). The catalogue page has xlsx download and upload
(``referrals.spreadsheets``)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import Count, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from tiercare.accounts import audit
from tiercare.accounts.admin_audit import AuditedRecordAdmin
from tiercare.accounts.models import AuditEvent, User
from tiercare.admin_base import ReadOnlyAdmin, ReadOnlyInline
from tiercare.referrals import services, spreadsheets
from tiercare.referrals.models import (
    CatalogueEntry,
    DiseaseCatalogue,
    FollowUpTask,
    Referral,
    ReferralAttachment,
    ReferralEvent,
    ReferralPolicy,
)


def _user(request: HttpRequest) -> User | None:
    user = getattr(request, "user", None)
    return user if isinstance(user, User) else None


class CatalogueEntryForm(forms.ModelForm):
    """Checks an entry with the service rules; errors land on their fields."""

    class Meta:
        model = CatalogueEntry
        fields = ("code_first", "code_last", "name_zh", "level", "up_criteria",
                  "down_criteria", "source")
        widgets = {
            "up_criteria": forms.Textarea(attrs={"rows": 2, "cols": 40}),
            "down_criteria": forms.Textarea(attrs={"rows": 2, "cols": 40}),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["name_zh"].required = False  # the curated ICD-10 name fills it

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if any(name in self.errors for name in ("code_first", "code_last", "level")):
            return cleaned
        catalogue = cleaned.get("catalogue") or (
            self.instance.catalogue if self.instance.catalogue_id else None)
        others: list[CatalogueEntry] = []
        if catalogue is not None and catalogue.pk:
            others = [e for e in catalogue.entries.all() if e.pk != self.instance.pk]
        data = services.EntryInput(**{k: cleaned.get(k) or "" for k in services.ENTRY_FIELDS})
        try:
            clean = services.clean_entry(data, others)
        except ValidationError as err:
            for field_name, errors in err.error_dict.items():
                self.add_error(field_name if field_name in self.fields else None, errors)
            return cleaned
        cleaned.update(vars(clean))
        return cleaned

    def validate_unique(self) -> None:
        """Duplicates are reported by :func:`services.clean_entry` (and by the formset)."""


class CatalogueEntryInline(admin.TabularInline):
    model = CatalogueEntry
    form = CatalogueEntryForm
    extra = 0
    show_change_link = True
    ordering = ("code_first", "code_last")


@admin.register(DiseaseCatalogue)
class DiseaseCatalogueAdmin(admin.ModelAdmin):
    list_display = ("name", "alliance", "edition", "entry_count", "updated_at")
    search_fields = ("name", "alliance__name", "alliance__code", "entries__code_first",
                     "entries__name_zh")
    list_select_related = ("alliance",)
    autocomplete_fields = ("alliance",)
    readonly_fields = ("created_at", "updated_at")
    fields = ("alliance", "name", "edition", "source_note", "created_at", "updated_at")
    inlines = (CatalogueEntryInline,)
    change_form_template = "admin/referrals/diseasecatalogue/change_form.html"

    def get_queryset(self, request: HttpRequest) -> QuerySet[DiseaseCatalogue]:
        # A subquery, not a join: searching by entry code must not multiply the count.
        counts = (CatalogueEntry.objects.filter(catalogue=OuterRef("pk")).order_by()
                  .values("catalogue").annotate(n=Count("pk")).values("n"))
        return super().get_queryset(request).annotate(
            _entries=Coalesce(Subquery(counts), Value(0)))

    def get_search_results(self, request: HttpRequest, queryset: QuerySet[Any],
                           search_term: str) -> tuple[QuerySet[Any], bool]:
        queryset, _may_have_duplicates = super().get_search_results(request, queryset,
                                                                    search_term)
        return queryset.distinct(), False

    @admin.display(description=_("entries"), ordering="_entries")
    def entry_count(self, obj: DiseaseCatalogue) -> int:
        return getattr(obj, "_entries", 0)

    def save_model(self, request: HttpRequest, obj: DiseaseCatalogue, form: Any,
                   change: bool) -> None:
        user = _user(request)
        if not change:
            created = services.create_catalogue(obj.alliance, name=obj.name,
                                                edition=obj.edition,
                                                source_note=obj.source_note, user=user)
            obj.pk = created.pk
            obj.created_at, obj.updated_at = created.created_at, created.updated_at
            return
        old = DiseaseCatalogue.objects.get(pk=obj.pk)
        changes = {k: getattr(obj, k) for k in ("name", "edition", "source_note")
                   if getattr(obj, k) != getattr(old, k)}
        services.update_catalogue(old, changes, user=user)

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        """Inline entries go through the services (validated, audited)."""
        if formset.model is not CatalogueEntry:
            super().save_formset(request, form, formset, change)
            return
        user = _user(request)
        catalogue = form.instance
        formset.save(commit=False)
        for entry in formset.deleted_objects:
            services.remove_entry(entry, user=user)
        for entry_form in formset.forms:
            if entry_form in formset.deleted_forms or not entry_form.has_changed():
                continue
            values = {k: entry_form.cleaned_data.get(k) or "" for k in services.ENTRY_FIELDS}
            try:
                if entry_form.instance.pk:
                    stored = CatalogueEntry.objects.get(pk=entry_form.instance.pk)
                    services.update_entry(stored, values, user=user)
                else:
                    services.add_entry(catalogue, services.EntryInput(**values), user=user)
            except ValidationError as err:
                # Only reachable for a new catalogue whose copied entries clash with a new
                # row (the form could not see them): the row is left out and said so.
                messages.error(request, f"{values['code_first']}: {'; '.join(err.messages)}")

    def delete_model(self, request: HttpRequest, obj: DiseaseCatalogue) -> None:
        services.delete_catalogue(obj, user=_user(request))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        for catalogue in queryset:
            self.delete_model(request, catalogue)

    # -- xlsx download and upload

    def get_urls(self) -> list[URLPattern]:
        own = [
            path("<int:pk>/xlsx/", self.admin_site.admin_view(self.export_view),
                 name="referrals_diseasecatalogue_export"),
            path("<int:pk>/import/", self.admin_site.admin_view(self.import_view),
                 name="referrals_diseasecatalogue_import"),
        ]
        return own + super().get_urls()

    def export_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        catalogue = get_object_or_404(DiseaseCatalogue, pk=pk)
        if not self.has_view_permission(request, catalogue):
            return HttpResponse(status=403)
        response = HttpResponse(content_type="application/vnd.openxmlformats-officedocument"
                                             ".spreadsheetml.sheet")
        name = "catalogue-default" if catalogue.is_default else (
            f"catalogue-{catalogue.alliance.code if catalogue.alliance else catalogue.pk}")
        response["Content-Disposition"] = f'attachment; filename="{name}.xlsx"'
        spreadsheets.export_catalogue(catalogue, response, user=_user(request))
        return response

    def import_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        catalogue = get_object_or_404(DiseaseCatalogue, pk=pk)
        if not self.has_change_permission(request, catalogue):
            return HttpResponse(status=403)
        form = CatalogueUploadForm(request.POST or None, request.FILES or None)
        report = None
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                report = spreadsheets.import_catalogue(catalogue, upload, user=_user(request))
            except spreadsheets.SpreadsheetError as exc:
                form.add_error("file", str(exc))
            else:
                if not report.rejects:
                    messages.success(request, report.summary())
                    return HttpResponseRedirect(reverse(
                        "admin:referrals_diseasecatalogue_change", args=[catalogue.pk]))
        context = {
            **self.admin_site.each_context(request), "opts": self.model._meta,
            "original": catalogue, "form": form, "report": report,
            "rejects": sorted(report.rejects, key=lambda r: r.row) if report else [],
            "title": gettext("Import a spreadsheet into %(name)s") % {"name": catalogue.name},
        }
        return TemplateResponse(request, "admin/referrals/diseasecatalogue/import.html",
                                context)


class CatalogueUploadForm(forms.Form):
    file = forms.FileField(label=_("Spreadsheet (.xlsx)"))


@admin.register(CatalogueEntry)
class CatalogueEntryAdmin(admin.ModelAdmin):
    form = CatalogueEntryForm
    list_display = ("code_first", "code_last", "name_zh", "level", "catalogue")
    list_filter = ("level", "catalogue")
    search_fields = ("code_first", "code_last", "name_zh")
    list_select_related = ("catalogue",)
    readonly_fields = ("updated_at",)
    fields = ("catalogue", "code_first", "code_last", "name_zh", "level", "up_criteria",
              "down_criteria", "source", "updated_at")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        """An entry stays in its catalogue (copy it to another one instead)."""
        return ("catalogue", "updated_at") if obj is not None else ("updated_at",)

    def get_search_results(self, request: HttpRequest, queryset: QuerySet[Any],
                           search_term: str) -> tuple[QuerySet[Any], bool]:
        """A code finds the entries that cover it (``E11.9`` → ``E11``; ``I12`` → ``I10–I15``)
        as well as those whose code or name contains the text."""
        queryset, duplicates = super().get_search_results(request, queryset, search_term)
        term = search_term.strip().upper()
        if term and term.isascii() and len(term) >= 3:
            from tiercare.kernel import icd10

            if icd10.exists(term):
                parsed = icd10.validate(term)
                prefixes = [parsed.code[:n] for n in range(3, len(parsed.code) + 1)]
                covering = CatalogueEntry.objects.filter(
                    Q(code_last="", code_first__in=prefixes)
                    | Q(code_first__lte=parsed.category, code_last__gte=parsed.category))
                queryset = queryset | self.get_queryset(request).filter(
                    pk__in=covering.values("pk"))
        return queryset, duplicates

    def save_model(self, request: HttpRequest, obj: CatalogueEntry, form: Any,
                   change: bool) -> None:
        values = {k: form.cleaned_data.get(k) or "" for k in services.ENTRY_FIELDS}
        if change:
            stored = CatalogueEntry.objects.get(pk=obj.pk)
            services.update_entry(stored, values, user=_user(request))
        else:
            created = services.add_entry(obj.catalogue, services.EntryInput(**values),
                                         user=_user(request))
            obj.pk = created.pk

    def delete_model(self, request: HttpRequest, obj: CatalogueEntry) -> None:
        services.remove_entry(obj, user=_user(request))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        for entry in queryset:
            services.remove_entry(entry, user=_user(request))


# --- the referral workflow (read-mostly: every step goes through referrals.services) ------------


class ReferralEventInline(ReadOnlyInline):
    model = ReferralEvent
    fields = ("at", "action", "side", "from_status", "to_status", "by", "by_name", "reason")
    readonly_fields = fields


class ReferralAttachmentInline(ReadOnlyInline):
    model = ReferralAttachment
    fields = ("name", "content_type", "size", "uploaded_by", "uploaded_at")
    readonly_fields = fields


@admin.register(ReferralPolicy)
class ReferralPolicyAdmin(admin.ModelAdmin):
    """An alliance's deadlines are configuration: edited here, each save audited."""

    list_display = ("alliance", "routine_hours", "green_channel_minutes", "expiry_days",
                    "follow_up_days", "updated_at")
    autocomplete_fields = ("alliance",)
    readonly_fields = ("updated_at",)

    def save_model(self, request: HttpRequest, obj: ReferralPolicy, form: Any,
                   change: bool) -> None:
        super().save_model(request, obj, form, change)
        audit.record(AuditEvent.Action.UPDATE if change else AuditEvent.Action.CREATE,
                     user=_user(request), object_type=ReferralPolicy._meta.label,
                     object_id=obj.pk, summary=str(obj),
                     changes={k: str(form.cleaned_data.get(k)) for k in form.changed_data})


@admin.register(Referral)
class ReferralAdmin(AuditedRecordAdmin, ReadOnlyAdmin):
    """Referrals with their timeline; read-only (steps are taken through the services)."""

    list_display = ("id", "patient", "direction", "green_channel", "status",
                    "sending_institution", "receiving_institution", "diagnosis", "deadline",
                    "escalated_at", "created_at")
    list_filter = ("status", "direction", "green_channel")
    list_select_related = ("patient", "sending_institution", "receiving_institution")
    search_fields = ("=id", "diagnosis", "patient__health_record_no")
    raw_id_fields = ("patient",)
    date_hierarchy = "created_at"
    show_full_result_count = False
    inlines = (ReferralEventInline, ReferralAttachmentInline)


@admin.register(FollowUpTask)
class FollowUpTaskAdmin(AuditedRecordAdmin, ReadOnlyAdmin):
    list_display = ("id", "institution", "patient", "referral", "due_date", "status", "done_at")
    list_filter = ("status",)
    list_select_related = ("institution", "patient")
    raw_id_fields = ("patient", "referral")
    show_full_result_count = False
