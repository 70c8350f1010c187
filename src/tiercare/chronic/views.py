"""Family-doctor pages (issue 6): the team's and the doctor's work queue, the chronic registries
with their follow-up history, the follow-up form (laid out for a tablet) and its
classification with the referral it calls for, enrolment, the elderly check and screening
readings. Contracts and teams are in ``views_contracts``.

Views are thin: everything goes through ``chronic.services`` and ``chronic.queues``; every
resident shown is audited as read (rules.md §11); a refusal is shown as a translated message
on the form and changes nothing.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from tiercare.accounts import audit
from tiercare.accounts.models import AuditEvent, Role, User
from tiercare.accounts.roles import Capability, has_capability
from tiercare.chronic import queues, rules, services
from tiercare.chronic.forms import (
    CloseRegistrationForm,
    ElderlyCheckForm,
    EnrolForm,
    FollowUpForm,
    ScreeningForm,
)
from tiercare.chronic.models import (
    Disease,
    ElderlyCheck,
    FamilyDoctorTeam,
    FollowUp,
    Registration,
)
from tiercare.errors import DomainError
from tiercare.patients import access
from tiercare.patients import services as patient_services
from tiercare.patients.models import Patient
from tiercare.web.access import error_text, requires

PAGE_SIZE = 50
REGISTRATION_LABEL = Registration._meta.label
PATIENT_LABEL = Patient._meta.label


def _user(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def may_work(user: User) -> bool:
    return has_capability(user, Capability.WORK_FAMILY_DOCTORS) and \
        user.institution_id is not None


def _read(rows: list[tuple[object, int, str]], object_type: str = REGISTRATION_LABEL) -> None:
    audit.record_reads(object_type, rows)


def visible_registrations(user: User) -> QuerySet[Registration]:
    """The registrations the user may see: every one for system administrators and
    regulators; the alliance's (by managing institution) for its administrators and auditors;
    for doctors and nurses those of their teams and those managed at their institution."""
    everything = Registration.objects.all()
    if not user.is_authenticated or not user.is_active:
        return everything.none()
    if user.is_superuser or user.role in (Role.SYSTEM_ADMIN, Role.REGULATOR):
        return everything
    if user.role in (Role.ALLIANCE_ADMIN, Role.AUDITOR):
        if user.alliance_id is None:
            return everything if user.role == Role.AUDITOR else everything.none()
        return everything.filter(institution__alliance_id=user.alliance_id)
    if user.role in services.STAFF_ROLES and user.institution_id is not None:
        return everything.filter(Q(team__in=services.teams_of(user))
                                 | Q(institution_id=user.institution_id))
    return everything.none()


def page_of_rows(request: HttpRequest, queryset: QuerySet[Any], rows: QuerySet[Any]) -> Any:
    """One page of ``queryset``: its ids are paged first without joins, then only those rows
    are read from ``rows`` (with their names): a deep page does not join what it skips."""
    ids: Paginator[Any] = Paginator(queryset.values_list("pk", flat=True), PAGE_SIZE)
    page = ids.get_page(request.GET.get("page"))
    found = {row.pk: row for row in rows.filter(pk__in=list(page.object_list))}
    page.object_list = [found[pk] for pk in page.object_list if pk in found]
    return page


def _registration(request: HttpRequest, pk: int) -> Registration:
    found = visible_registrations(_user(request)).select_related(
        "patient", "institution", "team", "doctor", "source_referral").filter(pk=pk).first()
    if found is None:
        raise Http404(_("No such registration."))
    return found


# --- home and work queue ----------------------------------------------------------------------

@requires(Capability.VIEW_FAMILY_DOCTORS)
def home(request: HttpRequest) -> HttpResponse:
    """Doctors and nurses land on their queue; the others on the teams."""
    if may_work(_user(request)):
        return redirect("chronic:queue")
    return redirect("chronic:teams")


QUEUE_TITLES = {
    "due_this_week": gettext_lazy("Due this week"),
    "overdue": gettext_lazy("Overdue"),
    "rechecks": gettext_lazy("Re-checks within 2 weeks"),
    "contracts_expiring": gettext_lazy("Contracts expiring"),
    "down_referrals": gettext_lazy("Down-referrals received"),
    "referral_follow_ups": gettext_lazy("Follow-ups after an up-referral"),
}


@requires(Capability.WORK_FAMILY_DOCTORS)
def queue(request: HttpRequest) -> HttpResponse:
    """Today's work queue of a team (``?team=``, by default the first of the user's teams) or
    of the doctor (``?mine=1``: the registrations and contracts they answer for)."""
    user = _user(request)
    teams = list(services.teams_of(user).select_related("institution"))
    team: FamilyDoctorTeam | None = None
    mine = request.GET.get("mine") == "1"
    wanted = request.GET.get("team", "")
    if wanted:
        team = next((t for t in teams if str(t.pk) == wanted), None)
        if team is None:
            raise Http404(_("No such team."))
    elif not mine:
        team = teams[0] if teams else None
    doctor_id = user.practitioner_id if mine else None
    if mine and doctor_id is None:
        messages.info(request, _("Your account is not linked to a practitioner; showing your "
                                 "institution's queue."))
    work = queues.work_queue(team=team, doctor_id=doctor_id,
                             institution_ids={user.institution_id} if team is None
                             and user.institution_id else None)
    _read([(row.pk, row.patient_id, "work queue") for key in ("due_this_week", "overdue",
                                                               "rechecks")
           for row in work.lists[key].rows])
    lists = [(key, QUEUE_TITLES[key], work.lists[key]) for key in QUEUE_TITLES]
    return render(request, "chronic/queue.html", {
        "teams": teams, "team": team, "mine": mine, "lists": lists, "today": work.today,
    })


# --- registries -------------------------------------------------------------------------------

@requires(Capability.VIEW_FAMILY_DOCTORS)
def registrations(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    queryset = visible_registrations(user)
    disease = request.GET.get("disease", "")
    if disease in rules.DISEASES:
        queryset = queryset.filter(disease=disease)
    status = request.GET.get("status", Registration.Status.ACTIVE)
    if status in Registration.Status.values:
        queryset = queryset.filter(status=status)
    team = request.GET.get("team", "")
    if team.isdigit():
        queryset = queryset.filter(team_id=int(team))
    due = request.GET.get("due", "")
    day = services.today()
    if due == "overdue":
        queryset = queryset.filter(next_due__lt=day)
    elif due == "week":
        queryset = queryset.filter(next_due__gte=day, next_due__lte=queues.week_end(day))
    elif due == "recheck":
        queryset = queryset.filter(last_controlled=False, next_due__gte=day,
                                   next_due__lte=day + dt.timedelta(days=14))
    control = request.GET.get("control", "")
    if control == "no":
        queryset = queryset.filter(last_controlled=False)
    elif control == "yes":
        queryset = queryset.filter(last_controlled=True)
    query = request.GET.get("q", "").strip()
    if query:
        queryset = queryset.filter(Q(patient__name__contains=query)
                                   | Q(patient__health_record_no=query)
                                   | Q(patient__name_initials__startswith=query.lower()))
    page = page_of_rows(request, queryset.order_by("next_due", "id"),
                        Registration.objects.select_related("patient", "team", "doctor",
                                                            "institution"))
    _read([(r.pk, r.patient_id, "registry list") for r in page.object_list])
    return render(request, "chronic/registrations.html", {
        "page_obj": page, "disease": disease, "status": status, "team": team,
        "control": control, "due": due, "q": query, "today": day,
        "teams": services.visible_teams(user).order_by("code"),
        "diseases": Disease.choices,
        "statuses": Registration.Status.choices, "may_work": may_work(user),
    })


@requires(Capability.VIEW_FAMILY_DOCTORS)
def registration_detail(request: HttpRequest, pk: int) -> HttpResponse:
    registration = _registration(request, pk)
    follow_ups = list(registration.follow_ups.select_related("practitioner", "institution",
                                                              "referral").order_by("-date",
                                                                                   "-id"))
    audit.record(AuditEvent.Action.VIEW, object_type=REGISTRATION_LABEL,
                 object_id=registration.pk, patient_id=registration.patient_id,
                 summary=f"{registration.disease} registration")
    chart = [{"date": f.date.isoformat(), "sbp": f.sbp, "dbp": f.dbp,
              "glucose": float(f.fasting_glucose) if f.fasting_glucose is not None else None}
             for f in reversed(follow_ups)]
    contract = services.active_contract(registration.patient_id)
    return render(request, "chronic/registration_detail.html", {
        "registration": registration, "follow_ups": follow_ups, "chart": chart,
        "contract": contract, "today": services.today(),
        "may_work": may_work(_user(request)), "close_form": CloseRegistrationForm(),
        "classification_text": services.CLASSIFICATION_TEXT,
    })


def _patient(request: HttpRequest, pk: str | None) -> Patient | None:
    if not pk or not str(pk).isdigit():
        return None
    patient = access.visible_patients(_user(request)).filter(pk=int(pk)).first()
    if patient is None:
        raise Http404(_("No such resident in your scope."))
    return patient


def resident_matches(request: HttpRequest, query: str) -> list[Patient]:
    """Residents matching the query in the user's scope — the shared resident search
    (``patients.services.search_patients``: ID number, phone, health record, name or pinyin
    initials on their indexes; one audited SEARCH event); a query of no searchable kind is
    said in words."""
    if not query:
        return []
    try:
        return patient_services.search_patients(_user(request), query, limit=20)
    except ValidationError as error:
        messages.error(request, error_text(error))
        return []


@requires(Capability.WORK_FAMILY_DOCTORS)
def enrol(request: HttpRequest) -> HttpResponseBase:
    user = _user(request)
    patient = _patient(request, request.GET.get("patient") or request.POST.get("patient"))
    teams = services.teams_of(user)
    initial = {"date": services.today(), "disease": request.GET.get("disease",
                                                                    rules.HYPERTENSION)}
    form = EnrolForm(request.POST or None, teams=teams, initial=initial)
    if request.method == "POST" and patient is not None and form.is_valid():
        data = form.cleaned_data
        try:
            registration = services.enrol(
                patient=patient, disease=data["disease"], source=data["source"], by=user,
                team=data["team"], diagnosis=data["diagnosis"], on=data["date"],
                care_plan=data["care_plan"])
        except DomainError as error:
            form.add_error(None, error_text(error))
        else:
            messages.success(request, _("%(name)s is on the registry.") % {
                "name": patient.name})
            return redirect("chronic:registration", registration.pk)
    query = request.GET.get("q", "").strip()
    return render(request, "chronic/enrol.html", {
        "form": form, "patient": patient, "q": query,
        "matches": resident_matches(request, query) if patient is None else [],
        "candidates": _candidates(request) if patient is None and not query else [],
    })


def _candidates(request: HttpRequest) -> list[dict[str, Any]]:
    user = _user(request)
    if user.institution is None:
        return []
    rows = services.candidates_from_diagnoses(user.institution, limit=30)
    patients = {p.pk: p for p in access.visible_patients(user).filter(
        pk__in=[r[0] for r in rows])}
    shown = [{"patient": patients[pid], "disease": disease, "last": last}
             for pid, disease, last in rows if pid in patients]
    audit.record_reads(PATIENT_LABEL, [(row["patient"].pk, row["patient"].pk,
                                        "registry candidates") for row in shown])
    return shown


@require_POST
@requires(Capability.WORK_FAMILY_DOCTORS)
def close_registration(request: HttpRequest, pk: int) -> HttpResponse:
    registration = _registration(request, pk)
    form = CloseRegistrationForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Give the reason for closing."))
    else:
        try:
            services.close_registration(registration, by=_user(request),
                                        reason=form.cleaned_data["reason"])
            messages.success(request, _("The registration is closed."))
        except DomainError as error:
            messages.error(request, error_text(error))
    return redirect("chronic:registration", registration.pk)


# --- follow-ups -------------------------------------------------------------------------------

@requires(Capability.WORK_FAMILY_DOCTORS)
def follow_up_new(request: HttpRequest, pk: int) -> HttpResponseBase:
    """The follow-up form of a registration; on success the classification page."""
    registration = _registration(request, pk)
    user = _user(request)
    last = registration.follow_ups.order_by("-date", "-id").first()
    initial: dict[str, Any] = {"date": services.today(), "method": FollowUp.Method.CLINIC,
                               "adherence": FollowUp.Adherence.REGULAR}
    if last is not None:
        initial.update(medication=last.medication, height_cm=last.height_cm)
    form = FollowUpForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            result = services.record_follow_up(
                registration, by=user, date=data["date"], values=form.values(),
                method=data["method"], medication=data["medication"],
                adherence=data["adherence"], symptoms=data["symptoms"],
                complication_note=data["complication_note"], note=data["note"])
        except DomainError as error:
            form.add_error(None, error_text(error))
        else:
            return redirect("chronic:follow_up", result.follow_up.pk)
    audit.record(AuditEvent.Action.VIEW, object_type=REGISTRATION_LABEL,
                 object_id=registration.pk, patient_id=registration.patient_id,
                 summary="follow-up form")
    age = rules.age_on(registration.patient.birth_date, services.today())
    targets = services.targets_for(registration.institution.alliance_id)
    return render(request, "chronic/follow_up_form.html", {
        "registration": registration, "form": form, "last": last, "age": age,
        "pressure_target": rules.pressure_target(age, targets), "targets": targets,
    })


CLASS_STYLE = {
    rules.Classification.CONTROLLED: "success",
    rules.Classification.RECHECK: "warning",
    rules.Classification.REFER_UP: "orange",
    rules.Classification.URGENT: "danger",
}


@requires(Capability.VIEW_FAMILY_DOCTORS)
def follow_up_detail(request: HttpRequest, pk: int) -> HttpResponse:
    follow_up = FollowUp.objects.select_related("registration", "patient", "institution",
                                                "practitioner", "referral").filter(
        pk=pk, registration__in=visible_registrations(_user(request))).first()
    if follow_up is None:
        raise Http404(_("No such follow-up."))
    audit.record(AuditEvent.Action.VIEW, object_type=FollowUp._meta.label,
                 object_id=follow_up.pk, patient_id=follow_up.patient_id,
                 summary=f"follow-up {follow_up.classification}")
    classification = rules.Classification(follow_up.classification)
    return render(request, "chronic/follow_up_detail.html", {
        "follow_up": follow_up, "classification": classification,
        "headline": services.CLASSIFICATION_TEXT[classification],
        "style": CLASS_STYLE[classification],
        "reasons": [services.REASON_TEXT.get(r, r) for r in follow_up.reasons],
        "may_work": may_work(_user(request)),
    })


@require_POST
@requires(Capability.WORK_FAMILY_DOCTORS)
def follow_up_refer(request: HttpRequest, pk: int) -> HttpResponse:
    """Write the up-referral a "refer up" follow-up proposes, then open it to choose the
    receiving department and send it."""
    follow_up = FollowUp.objects.filter(
        pk=pk, registration__in=visible_registrations(_user(request))).first()
    if follow_up is None:
        raise Http404(_("No such follow-up."))
    try:
        referral = services.propose_up_referral(follow_up, by=_user(request))
    except DomainError as error:
        messages.error(request, error_text(error))
        return redirect("chronic:follow_up", follow_up.pk)
    messages.success(request, _("The up-referral is written as a draft: check it, choose the "
                                "department and send it."))
    return redirect(reverse("referrals:detail", args=[referral.pk]))


# --- elderly check and screening --------------------------------------------------------------

@requires(Capability.WORK_FAMILY_DOCTORS)
def elderly_check(request: HttpRequest) -> HttpResponseBase:
    user = _user(request)
    patient = _patient(request, request.GET.get("patient") or request.POST.get("patient"))
    # every item is ticked to start with: the check usually does them all (rules.md §8)
    form = ElderlyCheckForm(request.POST or None, initial={
        "date": services.today(), "items": list(ElderlyCheck.Item.values)})
    if request.method == "POST" and patient is not None and form.is_valid():
        data = form.cleaned_data
        try:
            result = services.record_elderly_check(
                patient, by=user, date=data["date"], items=data["items"], values=form.values(),
                findings=data["findings"], diagnosed=data["diagnosed"])
        except DomainError as error:
            form.add_error(None, error_text(error))
        else:
            messages.success(request, _("The elderly health check is recorded."))
            for registration in result.enrolled:
                messages.warning(request, _("Enrolled on the %(disease)s registry.") % {
                    "disease": registration.get_disease_display()})
            if result.enrolled:
                return redirect("chronic:registration", result.enrolled[0].pk)
            return redirect(reverse("chronic:elderly_check") + f"?patient={patient.pk}")
    query = request.GET.get("q", "").strip()
    checks = list(patient.elderly_checks.order_by("-date")[:5]) if patient else []
    if patient is not None:
        audit.record(AuditEvent.Action.VIEW, object_type=PATIENT_LABEL, object_id=patient.pk,
                     patient_id=patient.pk, summary="elderly check")
    return render(request, "chronic/elderly_check.html", {
        "form": form, "patient": patient, "q": query, "checks": checks,
        "age": rules.age_on(patient.birth_date, services.today()) if patient else None,
        "matches": resident_matches(request, query) if patient is None else [],
    })


@requires(Capability.WORK_FAMILY_DOCTORS)
def screening(request: HttpRequest) -> HttpResponseBase:
    """Record a blood pressure or glucose reading; three raised on different days enrol."""
    user = _user(request)
    patient = _patient(request, request.GET.get("patient") or request.POST.get("patient"))
    form = ScreeningForm(request.POST or None, initial={"date": services.today()})
    if request.method == "POST" and patient is not None and form.is_valid():
        try:
            result = services.record_screening(patient, by=user,
                                               date=form.cleaned_data["date"],
                                               values=form.values())
        except DomainError as error:
            form.add_error(None, error_text(error))
        else:
            messages.success(request, _("The reading is recorded."))
            for registration in result.enrolled:
                messages.warning(request, _("Enrolled on the %(disease)s registry.") % {
                    "disease": registration.get_disease_display()})
            return redirect(reverse("chronic:screening") + f"?patient={patient.pk}")
    query = request.GET.get("q", "").strip()
    readings = list(patient.screening_readings.order_by("-date")[:10]) if patient else []
    if patient is not None:
        audit.record(AuditEvent.Action.VIEW, object_type=PATIENT_LABEL, object_id=patient.pk,
                     patient_id=patient.pk, summary="screening readings")
    return render(request, "chronic/screening.html", {
        "form": form, "patient": patient, "q": query, "readings": readings,
        "matches": resident_matches(request, query) if patient is None else [],
    })

