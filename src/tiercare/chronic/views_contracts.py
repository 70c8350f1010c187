"""Family-doctor teams and contracts (issue 6 items 1–3): the teams one may see with their
coverage, fulfilment and registry rates (the team lead's view), a team's members; the
contracts with their fulfilment (services owed vs delivered), signing with the resident's
consent, renewal, switching team, termination and services recorded by hand.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Count, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from tiercare.accounts import audit
from tiercare.accounts.models import AuditEvent, User
from tiercare.accounts.roles import Capability
from tiercare.chronic import rules, services, team_rates
from tiercare.chronic.forms import ContractForm, DeliveryForm, SwitchForm
from tiercare.chronic.models import (
    Contract,
    Disease,
    FamilyDoctorTeam,
    PackageService,
    PriorityGroup,
    Registration,
    TeamMember,
)
from tiercare.chronic.views import _patient, _user, may_work, page_of_rows, resident_matches
from tiercare.errors import DomainError
from tiercare.web.access import error_text, requires

PAGE_SIZE = 50
CONTRACT_LABEL = Contract._meta.label


def _team(request: HttpRequest, pk: int) -> FamilyDoctorTeam:
    found = services.visible_teams(_user(request)).select_related(
        "institution", "lead", "alliance").filter(pk=pk).first()
    if found is None:
        raise Http404(_("No such team."))
    return found


def _span(request: HttpRequest) -> tuple[dt.date, dt.date, int]:
    """The year of the figures: ``?year=`` (default this year), to today at most."""
    today = services.today()
    text = request.GET.get("year", "")
    year = int(text) if text.isdigit() and 2000 <= int(text) <= today.year else today.year
    first = dt.date(year, 1, 1)
    last = min(dt.date(year, 12, 31), today)
    return first, last, year


@requires(Capability.VIEW_FAMILY_DOCTORS)
def teams(request: HttpRequest) -> HttpResponse:
    user = _user(request)

    def counted(rows: QuerySet[Any]) -> Any:
        # one correlated count each (joins of members × contracts × registrations would
        # multiply into the millions for a county)
        return Coalesce(Subquery(rows.filter(team=OuterRef("pk")).order_by()
                                 .values("team").annotate(n=Count("pk")).values("n")),
                        Value(0))

    queryset = services.visible_teams(user).filter(is_active=True).select_related(
        "institution", "lead").annotate(
        n_members=counted(TeamMember.objects.filter(end_date__isnull=True)),
        n_contracts=counted(Contract.objects.filter(status=Contract.Status.ACTIVE)),
        n_registered=counted(Registration.objects.filter(
            status=Registration.Status.ACTIVE))).order_by("institution__code", "code")
    query = request.GET.get("q", "").strip()
    if query:
        queryset = queryset.filter(Q(name__contains=query) | Q(code__icontains=query)
                                   | Q(institution__name__contains=query))
    page = Paginator(queryset, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "chronic/teams.html", {"page_obj": page, "q": query,
                                                  "may_work": may_work(user)})


@requires(Capability.VIEW_FAMILY_DOCTORS)
def team_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """The team lead's view: members, coverage of the catchment (live), and the year's
    standard-management, control and fulfilment rates (the indicator engine's)."""
    team = _team(request, pk)
    _first, last, year = _span(request)
    try:
        engine = team_rates.engine_figures(team, year, services.today())
    except FileNotFoundError:
        engine = None
    rows = []
    for disease, label in Disease.choices:
        prefix = "htn" if disease == rules.HYPERTENSION else "t2d"
        rows.append({"disease": label, "management": engine.rates.get(
            f"{prefix}_standard_management_rate") if engine else None,
            "control": engine.rates.get(f"{prefix}_control_rate") if engine else None})
    registered = dict(Registration.objects.filter(team=team, status=Registration.Status.ACTIVE)
                      .values_list("disease").annotate(n=Count("id")).values_list("disease",
                                                                                  "n"))
    for row, (disease, _label) in zip(rows, Disease.choices, strict=True):
        row["registered"] = registered.get(disease, 0)
    return render(request, "chronic/team_detail.html", {
        "team": team, "members": team_rates.members(team),
        "coverage": team_rates.coverage(team, last), "engine": engine,
        "fulfilment": engine.rates.get("contract_fulfilment_rate") if engine else None,
        "rows": rows, "year": year, "years": list(range(services.today().year,
                                                        services.today().year - 4, -1)),
        "works_here": services.works_for(_user(request), team)
        if may_work(_user(request)) else False,
    })


def visible_contracts(user: User) -> QuerySet[Contract]:
    return Contract.objects.filter(team__in=services.visible_teams(user))


@requires(Capability.VIEW_FAMILY_DOCTORS)
def contracts(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    queryset = visible_contracts(user)
    status = request.GET.get("status", Contract.Status.ACTIVE)
    if status in Contract.Status.values:
        queryset = queryset.filter(status=status)
    team = request.GET.get("team", "")
    if team.isdigit():
        queryset = queryset.filter(team_id=int(team))
    today = services.today()
    window = services.policy_for(user.alliance_id or getattr(user.institution, "alliance_id",
                                                             None)).expiring_within_days
    if request.GET.get("expiring") == "1":
        queryset = queryset.filter(status=Contract.Status.ACTIVE, end_date__gte=today,
                                   end_date__lte=today + dt.timedelta(days=window))
    query = request.GET.get("q", "").strip()
    if query:
        queryset = queryset.filter(Q(patient__name__contains=query)
                                   | Q(patient__health_record_no=query))
    page = page_of_rows(request, queryset.order_by("end_date", "id"),
                        Contract.objects.select_related("patient", "team", "doctor")
                        .prefetch_related("packages"))
    audit.record_reads(CONTRACT_LABEL, [(c.pk, c.patient_id, "contract list")
                                        for c in page.object_list])
    return render(request, "chronic/contracts.html", {
        "page_obj": page, "status": status, "team": team, "q": query, "today": today,
        "expiring": request.GET.get("expiring") == "1", "window": window,
        "teams": services.visible_teams(user).order_by("code"),
        "statuses": Contract.Status.choices, "may_work": may_work(user),
    })


def _contract(request: HttpRequest, pk: int) -> Contract:
    found = visible_contracts(_user(request)).select_related(
        "patient", "team", "doctor", "previous", "signed_by").filter(pk=pk).first()
    if found is None:
        raise Http404(_("No such contract."))
    return found


@requires(Capability.VIEW_FAMILY_DOCTORS)
def contract_detail(request: HttpRequest, pk: int) -> HttpResponse:
    contract = _contract(request, pk)
    user = _user(request)
    audit.record(AuditEvent.Action.VIEW, object_type=CONTRACT_LABEL, object_id=contract.pk,
                 patient_id=contract.patient_id, summary="contract")
    fulfilment = services.fulfilment_of(contract)
    works = may_work(user) and services.works_for(user, contract.team)
    recorded = PackageService.objects.filter(
        package__contracts=contract, delivered_by=PackageService.DeliveredBy.RECORDED)
    return render(request, "chronic/contract_detail.html", {
        "contract": contract, "fulfilment": fulfilment,
        "events": contract.events.select_related("by"),
        "packages": contract.packages.all(),
        "deliveries": contract.deliveries.select_related("service", "recorded_by")
        .order_by("-date")[:20],
        "works": works and contract.status == Contract.Status.ACTIVE,
        "switch_form": SwitchForm(teams=services.teams_of(user).exclude(pk=contract.team_id))
        if may_work(user) else None,
        "delivery_form": DeliveryForm(services=recorded, initial={"date": services.today()}),
        "next": getattr(contract, "next", None) if contract.status == Contract.Status.ENDED
        else None,
        "registrations": Registration.objects.filter(patient_id=contract.patient_id,
                                                     status=Registration.Status.ACTIVE),
    })


@requires(Capability.WORK_FAMILY_DOCTORS)
def contract_new(request: HttpRequest) -> HttpResponseBase:
    """Sign a contract: find the resident, choose team, packages and period, record the
    consent (rules.md §7)."""
    user = _user(request)
    patient = _patient(request, request.GET.get("patient") or request.POST.get("patient"))
    my_teams = services.teams_of(user).order_by("code")
    first_team = my_teams.first()
    packages = services.packages_for(first_team.alliance_id if first_team else None)
    basic = [p.pk for p in packages if p.kind == "basic"]
    form = ContractForm(request.POST or None, teams=my_teams, packages=packages,
                        initial={"team": first_team, "packages": basic, "years": 1})
    existing = services.active_contract(patient) if patient is not None else None
    groups = [PriorityGroup(g).label for g in sorted(
        services.priority_groups_of(patient, services.today()))] if patient is not None else []
    if request.method == "POST" and patient is not None and form.is_valid():
        data = form.cleaned_data
        try:
            contract = services.sign_contract(
                patient=patient, team=data["team"], packages=list(data["packages"]),
                consent=data["consent"], by=user, years=data["years"])
        except DomainError as error:
            form.add_error(None, error_text(error))
        else:
            messages.success(request, _("The contract is signed."))
            return redirect("chronic:contract", contract.pk)
    query = request.GET.get("q", "").strip()
    return render(request, "chronic/contract_new.html", {
        "form": form, "patient": patient, "q": query, "existing": existing,
        "groups": groups, "matches": resident_matches(request, query) if patient is None
        else [],
    })


@require_POST
@requires(Capability.WORK_FAMILY_DOCTORS)
def contract_step(request: HttpRequest, pk: int, step: str) -> HttpResponse:
    """Renew, switch team, terminate or record a delivered service."""
    contract = _contract(request, pk)
    user = _user(request)
    target = contract
    try:
        if step == "renew":
            target = services.renew_contract(contract, by=user)
            messages.success(request, _("The contract is renewed."))
        elif step == "switch":
            form = SwitchForm(request.POST, teams=services.teams_of(user))
            if not form.is_valid():
                messages.error(request, _("Choose the new team and the consent."))
            else:
                target = services.switch_team(contract, team=form.cleaned_data["team"],
                                              by=user, consent=form.cleaned_data["consent"],
                                              reason=form.cleaned_data["reason"])
                messages.success(request, _("The resident has switched team."))
        elif step == "terminate":
            services.terminate_contract(contract, by=user,
                                        reason=request.POST.get("reason", ""))
            messages.success(request, _("The contract is terminated."))
        elif step == "delivery":
            recorded = PackageService.objects.filter(package__contracts=contract)
            delivery = DeliveryForm(request.POST, services=recorded)
            if not delivery.is_valid():
                messages.error(request, _("Choose the service and the date."))
            else:
                services.record_delivery(contract, delivery.cleaned_data["service"], by=user,
                                         on=delivery.cleaned_data["date"],
                                         note=delivery.cleaned_data["note"])
                messages.success(request, _("The service is recorded."))
        else:
            raise Http404(_("No such step."))
    except DomainError as error:
        messages.error(request, error_text(error))
    return redirect("chronic:contract", target.pk)

