"""The audit log page: auditors and system administrators query who viewed or changed which
record, when and from which address (rules.md §11; issue 2 §6)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from django import forms
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy

from tiercare.accounts.models import AuditEvent, Role
from tiercare.accounts.roles import Capability
from tiercare.patients.models import Patient
from tiercare.web.access import requires

PAGE_SIZE = 30


class AuditFilterForm(forms.Form):
    """Filters of the audit log; every field optional, every error translated."""

    user = forms.CharField(label=gettext_lazy("User"), required=False, max_length=150)
    action = forms.ChoiceField(
        label=pgettext_lazy("audit", "Action"), required=False,
        choices=[("", gettext_lazy("All actions")), *AuditEvent.Action.choices],
    )
    resident = forms.CharField(
        label=gettext_lazy("Resident"), required=False, max_length=20,
        help_text=gettext_lazy("Resident number or 17-digit health record number"),
    )
    date_from = forms.DateField(label=gettext_lazy("From"), required=False,
                                widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(label=gettext_lazy("To"), required=False,
                              widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name, field in self.fields.items():
            css = "form-select" if name == "action" else "form-control"
            field.widget.attrs["class"] = css

    def clean_resident(self) -> int | None:
        """A resident is given by database number or by health record number."""
        text = (self.cleaned_data.get("resident") or "").strip()
        if not text:
            return None
        if not text.isdigit():
            raise forms.ValidationError(
                _("Give the resident's number or 17-digit health record number (digits only)."),
                code="resident_format",
            )
        if len(text) == 17:
            pk = Patient.objects.filter(health_record_no=text).values_list("pk", flat=True).first()
            if pk is None:
                raise forms.ValidationError(
                    _("No resident has the health record number %(number)s.") % {"number": text},
                    code="resident_unknown",
                )
            return pk
        if len(text) > 12:
            raise forms.ValidationError(_("This resident number is too long."),
                                        code="resident_format")
        return int(text)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        start, end = cleaned.get("date_from"), cleaned.get("date_to")
        if start and end and start > end:
            self.add_error("date_to", _("The end date is before the start date."))
        return cleaned


def _local_midnight(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def filtered_events(data: dict[str, Any]) -> QuerySet[AuditEvent]:
    """Audit events matching the cleaned filters, newest first (dates in Asia/Shanghai)."""
    events = AuditEvent.objects.all()
    if data.get("user"):
        events = events.filter(username__icontains=data["user"])
    if data.get("action"):
        events = events.filter(action=data["action"])
    if data.get("resident") is not None:
        events = events.filter(patient_id=data["resident"])
    if data.get("date_from"):
        events = events.filter(at__gte=_local_midnight(data["date_from"]))
    if data.get("date_to"):
        events = events.filter(at__lt=_local_midnight(data["date_to"] + timedelta(days=1)))
    return events.order_by("-at", "-id")


@requires(Capability.VIEW_AUDIT)
def audit_log(request: HttpRequest) -> HttpResponse:
    form = AuditFilterForm(request.GET or None)
    if form.is_bound and not form.is_valid():
        return render(request, "web/audit_log.html", {"form": form, "page_obj": None},
                      status=400)
    data = form.cleaned_data if form.is_bound else {}
    paginator = Paginator(filtered_events(data), PAGE_SIZE)
    page_obj = paginator.get_page(request.GET.get("page"))
    events = list(page_obj.object_list)
    patients = {
        p.pk: p for p in Patient.objects.filter(
            pk__in={e.patient_id for e in events if e.patient_id}
        ).only("pk", "name", "health_record_no")
    }
    rows = [(e, patients.get(e.patient_id) if e.patient_id else None,
             Role(e.role).label if e.role in Role.values else e.role) for e in events]
    return render(request, "web/audit_log.html",
                  {"form": form, "page_obj": page_obj, "rows": rows})
