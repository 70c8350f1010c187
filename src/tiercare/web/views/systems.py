"""Integrating systems (issue 3 "Admin UI"): the tokens of the hospital, laboratory and
insurance systems that use the FHIR interface, with their reach, scopes and recent traffic;
system administrators issue and revoke them here as with ``tiercare token``.

A new token's secret is shown once, on the page that created it, and never stored (only
its SHA-256, ``fhir.tokens``). Issuing and revoking are audited."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from tiercare.accounts.models import AuditEvent
from tiercare.accounts.roles import Capability
from tiercare.fhir import tokens
from tiercare.fhir.models import ApiToken, ApiTraffic
from tiercare.registry.models import Alliance, Institution
from tiercare.web.access import requires

#: days of traffic on the list page and on a system's page
LIST_DAYS, DETAIL_DAYS = 7, 30
REACHES = [("institution", gettext_lazy("One institution")),
           ("alliance", gettext_lazy("One alliance")),
           ("county", gettext_lazy("The whole county"))]


class TokenForm(forms.Form):
    """A new integrating system's token; every error translated."""

    name = forms.CharField(label=gettext_lazy("System name"), max_length=100,
                           help_text=gettext_lazy("e.g. 城关镇卫生院 HIS"))
    reach = forms.ChoiceField(label=gettext_lazy("Reach"), choices=REACHES,
                              initial="institution")
    institution = forms.ModelChoiceField(
        label=gettext_lazy("Institution"), required=False,
        queryset=Institution.objects.filter(is_active=True).order_by("code"))
    alliance = forms.ModelChoiceField(label=gettext_lazy("Alliance"), required=False,
                                      queryset=Alliance.objects.order_by("code"))
    scope = forms.CharField(
        label=gettext_lazy("Scopes"), max_length=1000, initial="system/*.read",
        help_text=gettext_lazy("SMART system scopes separated by spaces, e.g. "
                               "system/*.read system/Encounter.write"))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name, field in self.fields.items():
            field.widget.attrs["class"] = ("form-select" if name in (
                "reach", "institution", "alliance") else "form-control")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        reach = cleaned.get("reach")
        if reach == "institution" and not cleaned.get("institution"):
            self.add_error("institution", _("Choose the institution the system belongs to."))
        if reach == "alliance" and not cleaned.get("alliance"):
            self.add_error("alliance", _("Choose the alliance the system serves."))
        return cleaned


def _traffic(since_days: int) -> dict[int, dict[str, int]]:
    since = timezone.localdate() - timedelta(days=since_days - 1)
    rows = (ApiTraffic.objects.filter(day__gte=since).values("token_id")
            .annotate(requests=Sum("requests"), errors=Sum("errors")))
    return {r["token_id"]: r for r in rows}


@requires(Capability.MANAGE_SYSTEMS)
def system_list(request: HttpRequest) -> HttpResponse:
    """The list of integrating systems and the form that issues a token."""
    form = TokenForm(request.POST or None)
    secret = ""
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                token, secret = tokens.create_token(
                    data["name"], scope=data["scope"], user=request.user,  # type: ignore[arg-type]
                    institution=data["institution"].code if data["reach"] == "institution"
                    else None,
                    alliance=data["alliance"].code if data["reach"] == "alliance" else None,
                    whole_county=data["reach"] == "county")
            except ValidationError as exc:
                field = "scope" if exc.code == "token.scope" else "name"
                form.add_error(field, exc.messages[0])
                status = 400
            else:
                form = TokenForm()
                messages.success(request, _("The token of %(name)s was issued. Copy it now: "
                                            "it is shown only once.") % {"name": token.name})
        else:
            status = 400
    traffic = _traffic(LIST_DAYS)
    systems = [(t, traffic.get(t.pk, {"requests": 0, "errors": 0}))
               for t in ApiToken.objects.select_related("institution", "alliance",
                                                        "created_by").order_by("name")]
    return render(request, "web/system_list.html",
                  {"form": form, "systems": systems, "secret": secret, "days": LIST_DAYS},
                  status=status)


@requires(Capability.MANAGE_SYSTEMS)
def system_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One system: its token, daily traffic, and what it recently did in the audit trail;
    POST revokes the token."""
    token = get_object_or_404(ApiToken.objects.select_related("institution", "alliance",
                                                              "created_by"), pk=pk)
    if request.method == "POST":
        tokens.revoke_token(token.name, user=request.user)  # type: ignore[arg-type]
        messages.success(request, _("The token of %(name)s was revoked; the system can no "
                                    "longer connect.") % {"name": token.name})
        return redirect("web:system_detail", pk=token.pk)
    since = timezone.localdate() - timedelta(days=DETAIL_DAYS - 1)
    days = {row.day: row for row in ApiTraffic.objects.filter(token=token, day__gte=since)}
    daily = [(since + timedelta(days=n), days.get(since + timedelta(days=n)))
             for n in range(DETAIL_DAYS)][::-1]
    events = (AuditEvent.objects.filter(username=f"token:{token.name}")
              .order_by("-at", "-id")[:50])
    return render(request, "web/system_detail.html",
                  {"token": token, "daily": daily, "events": events, "days": DETAIL_DAYS})
