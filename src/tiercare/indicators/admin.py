"""Back-office of an alliance's indicator policy (issue 5 item 2: an alliance picks a pack
and may override targets; changes are audited). Every save and delete goes through
``indicators.services`` (checks against the data files, audit trail); its refusals land on
the form's fields in the user's language. An alliance administrator sees and changes only
their own alliance's rows.

The tightness evaluations (issue 5 item 5) are shown read-only with their grades and events:
their steps are taken on the evaluation pages through ``indicators.tightness_services``."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from tiercare.accounts.models import Role, User
from tiercare.admin_base import ReadOnlyAdmin, ReadOnlyInline
from tiercare.indicators import catalogue, rules, services
from tiercare.indicators.errors import IndicatorInvalid
from tiercare.indicators.models import (
    CriterionEvidence,
    CriterionGrade,
    EvaluationEvent,
    IndicatorPolicy,
    TargetOverride,
    TightnessEvaluation,
)
from tiercare.registry.models import Alliance


def _language() -> str:
    return get_language() or settings.LANGUAGE_CODE


def pack_choices() -> list[tuple[str, str]]:
    """The shipped packs, named in the active language (read when the form is drawn: a new
    pack file needs no migration, ADR 0015)."""
    return [(pack.id, pack.name(_language())) for pack in catalogue.load_packs().values()]


def indicator_choices() -> list[tuple[str, str]]:
    """The catalogue's indicators that take a target, named in the active language."""
    return [(item.id, f"{item.name(_language())} ({item.id})")
            for item in catalogue.load_catalogue().indicators if item.judged]


def _user(request: HttpRequest) -> User | None:
    user = getattr(request, "user", None)
    return user if isinstance(user, User) else None


class _ScopedForm(forms.ModelForm):
    """A form that knows who is saving it (set by :meth:`_ScopedAdmin.get_form`)."""

    acting_user: User | None = None

    def _alliance(self, cleaned: dict[str, Any]) -> Alliance | None:
        alliance = cleaned.get("alliance")
        if alliance is None and getattr(self.instance, "alliance_id", None) is not None:
            alliance = getattr(self.instance, "alliance", None)
        return alliance if isinstance(alliance, Alliance) else None

    def _refuse(self, err: IndicatorInvalid) -> None:
        self.add_error(err.field if err.field in self.fields else None, str(err))

    def _check_scope(self, cleaned: dict[str, Any]) -> Alliance | None:
        alliance = self._alliance(cleaned)
        if alliance is not None and not services.may_configure(self.acting_user, alliance):
            self.add_error("alliance" if "alliance" in self.fields else None,
                           _("You may not change this alliance's indicator targets."))
            return None
        return alliance


class _ScopedAdmin(admin.ModelAdmin):
    """Rows of an alliance: an alliance administrator sees their own alliance's only; the
    alliance of a saved row does not change."""

    autocomplete_fields = ("alliance",)
    #: Fields that cannot change once the row exists (the row is keyed by them).
    fixed_fields: tuple[str, ...] = ("alliance",)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = tuple(super().get_readonly_fields(request, obj))
        return (*self.fixed_fields, *fields) if obj is not None else fields

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        """Bulk deletion deletes row by row through :meth:`delete_model` (the services)."""
        for obj in queryset.select_related("alliance"):
            self.delete_model(request, obj)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        queryset = super().get_queryset(request)
        user = _user(request)
        if user is not None and not user.is_superuser and user.role == Role.ALLIANCE_ADMIN:
            return queryset.filter(alliance_id=user.alliance_id)
        return queryset

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False,
                 **kwargs: Any) -> Any:
        form = super().get_form(request, obj, change=change, **kwargs)
        return type(form.__name__, (form,), {"acting_user": _user(request)})


class IndicatorPolicyForm(_ScopedForm):
    pack = forms.ChoiceField(label=_("policy pack"), choices=pack_choices,
                             help_text=_("The policy text whose targets the alliance follows."))

    class Meta:
        model = IndicatorPolicy
        fields = ("alliance", "pack")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        self._check_scope(cleaned)
        return cleaned


@admin.register(IndicatorPolicy)
class IndicatorPolicyAdmin(_ScopedAdmin):
    """The pack each alliance follows, and the targets that result (pack, base pack and the
    alliance's own), with their sources."""

    form = IndicatorPolicyForm
    list_display = ("alliance", "pack_name", "chosen_by", "chosen_at")
    search_fields = ("alliance__name", "alliance__code", "pack")
    list_select_related = ("alliance", "chosen_by")
    readonly_fields = ("chosen_by", "chosen_at", "targets")

    @admin.display(description=_("policy pack"), ordering="pack")
    def pack_name(self, obj: IndicatorPolicy) -> str:
        try:
            return catalogue.pack(obj.pack).name(_language())
        except catalogue.UnknownPack:
            return obj.pack

    @admin.display(description=_("targets in force"))
    def targets(self, obj: IndicatorPolicy | None) -> SafeString | str:
        if obj is None or obj.pk is None:
            return "—"
        return targets_table(services.targets_for(obj.alliance))

    def save_model(self, request: HttpRequest, obj: IndicatorPolicy, form: Any,
                   change: bool) -> None:
        policy = services.choose_pack(obj.alliance, form.cleaned_data["pack"],
                                      user=_user(request))
        obj.pk = policy.pk
        obj.chosen_by, obj.chosen_at = policy.chosen_by, policy.chosen_at

    def delete_model(self, request: HttpRequest, obj: IndicatorPolicy) -> None:
        services.clear_pack(obj.alliance, user=_user(request))


def targets_table(targets: dict[str, rules.Target]) -> SafeString:
    """The targets as an HTML table in catalogue order: indicator, comparison, value,
    tolerance, where it comes from and its citation."""
    language = _language()
    rows = []
    for item in catalogue.load_catalogue().indicators:
        target = targets.get(item.id)
        if target is None:
            continue
        origin = (str(_("the alliance's own")) if target.origin == "override"
                  else catalogue.pack(target.origin).name(language))
        rows.append((item.name(language), rules.Comparison(target.comparison).label,
                     "" if target.value is None else rules.plain_number(target.value),
                     "" if target.tolerance is None else rules.plain_number(target.tolerance),
                     origin, target.citation or target.note))
    head = format_html(
        "<tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>",
        _("indicator"), _("comparison"), _("target value"), _("tolerance"), _("comes from"),
        _("source"))
    body = format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>"
                                "<td>{}</td></tr>", rows)
    return format_html('<table class="indicator-targets">{}{}</table>', head, body)


class TargetOverrideForm(_ScopedForm):
    indicator = forms.ChoiceField(label=_("indicator"), choices=indicator_choices)

    class Meta:
        model = TargetOverride
        fields = ("alliance", "indicator", "comparison", "value", "tolerance", "note")
        widgets = {"note": forms.Textarea(attrs={"rows": 3, "cols": 60})}

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if self._check_scope(cleaned) is None or self.errors:
            return cleaned
        try:
            services.clean_override(
                cleaned.get("indicator") or self.instance.indicator,
                cleaned.get("comparison") or "", cleaned.get("value"),
                cleaned.get("tolerance"), cleaned.get("note") or "")
        except IndicatorInvalid as err:
            self._refuse(err)
        return cleaned

    def validate_unique(self) -> None:
        """A second override of the same indicator replaces the first (the service upserts)."""


@admin.register(TargetOverride)
class TargetOverrideAdmin(_ScopedAdmin):
    """An alliance's own targets: saved and removed through the services (audited)."""

    form = TargetOverrideForm
    list_display = ("alliance", "indicator_name", "comparison", "value", "tolerance", "set_by",
                    "set_at")
    list_filter = ("comparison",)
    search_fields = ("alliance__name", "alliance__code", "indicator", "note")
    list_select_related = ("alliance", "set_by")
    readonly_fields = ("set_by", "set_at")

    fixed_fields = ("alliance", "indicator")

    @admin.display(description=_("indicator"), ordering="indicator")
    def indicator_name(self, obj: TargetOverride) -> str:
        try:
            return catalogue.indicator(obj.indicator).name(_language())
        except catalogue.UnknownIndicator:
            return obj.indicator

    def save_model(self, request: HttpRequest, obj: TargetOverride, form: Any,
                   change: bool) -> None:
        row = services.override_target(
            obj.alliance, obj.indicator, comparison=obj.comparison, value=obj.value,
            tolerance=obj.tolerance, note=obj.note, user=_user(request))
        obj.pk = row.pk
        obj.set_by, obj.set_at = row.set_by, row.set_at

    def delete_model(self, request: HttpRequest, obj: TargetOverride) -> None:
        services.remove_override(obj.alliance, obj.indicator, user=_user(request))


# --- the tightness evaluation (read-only: every change goes through tightness_services) --------


class CriterionGradeInline(ReadOnlyInline):
    model = CriterionGrade
    fields = ("criterion", "stage", "grade", "comment", "graded_by", "graded_at")
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return super().get_queryset(request).select_related("graded_by")


class EvaluationEventInline(ReadOnlyInline):
    model = EvaluationEvent
    fields = ("at", "action", "side", "from_stage", "to_stage", "criterion", "grade", "by",
              "by_name", "reason")
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return super().get_queryset(request).select_related("by")


class _OwnAllianceOnly:
    """An alliance administrator sees their own alliance's evaluations only."""

    alliance_path = "alliance_id"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        queryset: QuerySet[Any] = super().get_queryset(request)  # type: ignore[misc]
        user = _user(request)
        if user is not None and not user.is_superuser and user.role == Role.ALLIANCE_ADMIN:
            return queryset.filter(**{self.alliance_path: user.alliance_id})
        return queryset


@admin.register(TightnessEvaluation)
class TightnessEvaluationAdmin(_OwnAllianceOnly, ReadOnlyAdmin):
    """Tightness evaluations with their grades (self-assessed and assessed) and every step;
    read-only: the evaluation pages take the steps through the services (seed 003)."""

    list_display = ("alliance", "period", "stage", "tight", "criteria_edition", "created_by",
                    "created_at", "decided_at")
    list_filter = ("stage", "tight")
    search_fields = ("alliance__name", "alliance__code", "period")
    list_select_related = ("alliance", "created_by")
    inlines = (CriterionGradeInline, EvaluationEventInline)


@admin.register(CriterionEvidence)
class CriterionEvidenceAdmin(_OwnAllianceOnly, ReadOnlyAdmin):
    """Evidence documents behind the grades (downloaded from the evaluation page, which
    checks access and audits the read)."""

    alliance_path = "grade__evaluation__alliance_id"
    list_display = ("name", "grade", "content_type", "size", "uploaded_by", "uploaded_at")
    list_select_related = ("grade", "uploaded_by")
    search_fields = ("name", "grade__criterion")
    exclude = ("file",)
