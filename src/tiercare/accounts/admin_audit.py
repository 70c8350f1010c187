"""Audit for back-office pages that show residents' records (rules.md §11: every read of a
resident's record is in the audit trail). Lists are recorded as one SEARCH event with their
filters; opening one record is a VIEW event with the resident it belongs to."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _

from tiercare.accounts import audit
from tiercare.accounts.models import AuditEvent


class AuditedRecordAdmin:
    """Mix into a ``ModelAdmin`` whose rows belong to one resident each.

    ``audit_patient_field`` names the attribute holding the resident's id; admins that record
    their own search events set ``audits_own_search`` so a searched list is not logged twice.
    """

    audit_patient_field = "patient_id"
    audits_own_search = False

    def changelist_view(self, request: HttpRequest,
                        extra_context: dict[str, Any] | None = None) -> HttpResponse:
        response: HttpResponse = super().changelist_view(  # type: ignore[misc]
            request, extra_context)
        searched = bool(request.GET.get("q", "").strip())
        if response.status_code == 200 and not (searched and self.audits_own_search):
            model = self.model  # type: ignore[attr-defined]
            audit.record(AuditEvent.Action.SEARCH, object_type=model._meta.label,
                         summary=str(_("Back-office list")) + " " + request.GET.urlencode(),
                         changes={"via": "admin", "filters": dict(request.GET.items())})
        return response

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "",
                    extra_context: dict[str, Any] | None = None) -> HttpResponse:
        response: HttpResponse = super().change_view(  # type: ignore[misc]
            request, object_id, form_url, extra_context)
        if response.status_code == 200:
            obj = self.get_object(request, object_id)  # type: ignore[attr-defined]
            if obj is not None:
                audit.record(AuditEvent.Action.VIEW, object_type=obj._meta.label,
                             object_id=obj.pk,
                             patient_id=getattr(obj, self.audit_patient_field, None),
                             summary=str(_("Opened in the back-office")))
        return response
