"""Referral pages (issue 4 item 5): write a referral, the outgoing list, the receiving
institution's incoming queue with deadline countdowns, the referral slip with its timeline and
the steps the viewer may take, the follow-up tasks, and the alliance office's view with
filters, the flow between levels and the missed deadlines.

Views are thin: lists come from ``services.visible_referrals`` / ``services.incoming`` and
every referral listed or opened is audited (a resident's record, rules.md §11); every step
goes through ``referrals.services``, whose refusals (a wrong state, a step that is not the
viewer's, a full slot) are shown as translated messages and change nothing.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Page, Paginator
from django.db.models import Count, F, Q, QuerySet
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from tiercare.accounts import audit
from tiercare.accounts.models import AuditEvent, Role, User
from tiercare.accounts.roles import Capability
from tiercare.errors import DomainError
from tiercare.kernel import icd10
from tiercare.notifications import services as inbox
from tiercare.patients import services as patient_services
from tiercare.patients.models import Patient
from tiercare.referrals import rules, services, statuses
from tiercare.referrals.forms import (
    AcceptForm,
    AttachForm,
    CompleteForm,
    DraftForm,
    FollowUpForm,
    NoteForm,
    ReasonForm,
    RedirectForm,
    ReferralForm,
)
from tiercare.referrals.models import (
    Direction,
    FollowUpTask,
    Referral,
    ReferralAttachment,
    ReferralEvent,
)
from tiercare.registry.models import Alliance, Department, Institution, Level
from tiercare.scheduling import services as scheduling
from tiercare.scheduling.models import Bed, Pool, Slot, Ward
from tiercare.web.access import error_text, requires, sees_all_alliances

St = Referral.Status
REFERRAL_LABEL = Referral._meta.label
PAGE_SIZE = 50
#: free slots offered when writing or accepting a referral
SLOT_CHOICES = 12
#: individual public beds offered per ward when its referral beds are taken
PUBLIC_BEDS_SHOWN = 5


# --- helpers -----------------------------------------------------------------------------------


def _user(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def _is_staff(user: User) -> bool:
    return user.role in services.STAFF_ROLES and user.institution_id is not None


#: what a referral is shown with
NAMES = ("patient", "sending_institution", "receiving_institution", "sending_department",
         "receiving_department", "appointment__slot", "bed__ward")


def _with_names(queryset: QuerySet[Referral]) -> QuerySet[Referral]:
    return queryset.select_related(*NAMES)


def _page(request: HttpRequest, queryset: QuerySet[Referral], summary: str) -> Page[Any]:
    """One page of referrals, each listed one audited as read. The page's ids are found
    first without joins, then only those rows are read with their names: a deep page of a
    long queue does not join the rows it skips."""
    paginator: Paginator[Any] = Paginator(queryset.values_list("pk", flat=True), PAGE_SIZE)
    page = paginator.get_page(request.GET.get("page"))
    ids = list(page.object_list)
    found = {r.pk: r for r in _with_names(Referral.objects.filter(pk__in=ids))}
    rows: list[Referral] = [found[pk] for pk in ids if pk in found]
    page.object_list = rows
    audit.record_reads(REFERRAL_LABEL, [(r.pk, r.patient_id, summary) for r in rows])
    return page


def _domain_message(request: HttpRequest, error: Exception) -> None:
    messages.error(request, error_text(error))


def _form_messages(request: HttpRequest, form: Any) -> None:
    for errors in form.errors.values():
        for error in errors:
            messages.error(request, str(error))


def _visible(request: HttpRequest, pk: int) -> Referral:
    """The referral if the viewer sees it: 404 when there is none, 403 when it is not theirs
    to see."""
    try:
        return services.visible_referral(_user(request), pk, related=NAMES)
    except Referral.DoesNotExist as missing:
        raise Http404(str(missing)) from missing


def _status_choices() -> list[tuple[str, str]]:
    return [(value, str(label)) for value, label in St.choices]


def countdown(deadline: dt.datetime | None, now: dt.datetime) -> dict[str, Any] | None:
    """Minutes left before a response deadline (negative once missed), for the queue's
    countdown (the page's script keeps it ticking)."""
    if deadline is None:
        return None
    seconds = int((deadline - now).total_seconds())
    text = _duration(abs(seconds))
    label = (_("%(t)s overdue") if seconds < 0 else _("%(t)s left")) % {"t": text}
    return {"seconds": seconds, "overdue": seconds < 0, "urgent": 0 <= seconds < 3600,
            "label": label}


def _duration(seconds: int) -> str:
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours >= 48:
        return _("%(d)d days") % {"d": hours // 24}
    if hours:
        return _("%(h)d h %(m)d min") % {"h": hours, "m": minutes}
    return _("%(m)d min %(s)d s") % {"m": minutes, "s": secs}


# --- lists -------------------------------------------------------------------------------------


@requires(Capability.VIEW_REFERRALS)
def referral_home(request: HttpRequest) -> HttpResponse:
    """Staff start at their outgoing list; the alliance office and regulators at the office
    view."""
    user = _user(request)
    if _is_staff(user):
        return redirect("referrals:outgoing")
    return redirect("referrals:office")


OUTGOING_FILTERS = {"open": statuses.OPEN, "closed": statuses.FINAL}


@requires(Capability.WORK_REFERRALS)
def outgoing(request: HttpRequest) -> HttpResponse:
    """Referrals the viewer's institution sent (drafts included), newest first, with their
    present state; filter open / closed / one state."""
    user = _user(request)
    if not _is_staff(user):
        return redirect("referrals:office")
    queryset = Referral.objects.filter(sending_institution_id=user.institution_id)
    wanted = request.GET.get("status", "open")
    if wanted in OUTGOING_FILTERS:
        queryset = queryset.filter(status__in=OUTGOING_FILTERS[wanted])
    elif wanted in St.values:
        queryset = queryset.filter(status=wanted)
    else:
        wanted = "all"
    page = _page(request, queryset.order_by("-created_at", "-pk"), "page: outgoing referrals")
    now = timezone.now()
    return render(request, "referrals/outgoing.html", {
        "page_obj": page, "status": wanted, "status_choices": _status_choices(),
        "rows": [(r, countdown(r.deadline, now) if r.status in statuses.AWAITING_ANSWER
                  else None) for r in page.object_list]})


@requires(Capability.WORK_REFERRALS)
def incoming(request: HttpRequest) -> HttpResponse:
    """The receiving institution's queue (issue 4 item 5): open referrals, green channel
    first, then by response deadline, each with its countdown. Queries per page do not grow
    with the rows (one count, one page with its names, one audit insert)."""
    user = _user(request)
    if not _is_staff(user):
        return redirect("referrals:office")
    queryset = services.incoming(user)
    wanted = request.GET.get("status", "")
    if wanted in ("submitted", "received", "accepted", "arrived"):
        queryset = queryset.filter(status=wanted)
    else:
        wanted = ""
    page = _page(request, queryset, "page: incoming queue")
    now = timezone.now()
    counts = dict(services.incoming(user).order_by().values_list("status")
                  .annotate(n=Count("pk")))
    return render(request, "referrals/incoming.html", {
        "page_obj": page, "status": wanted, "counts": counts,
        "waiting": counts.get(St.SUBMITTED, 0) + counts.get(St.RECEIVED, 0),
        "rows": [(r, countdown(r.deadline, now) if r.status in statuses.AWAITING_ANSWER
                  else None) for r in page.object_list]})


@requires(Capability.WORK_REFERRALS)
def follow_ups(request: HttpRequest) -> HttpResponse:
    """The institution's follow-up tasks after up-referrals (rules.md §3: within 2 weeks),
    open ones first by due date; staff close them here."""
    user = _user(request)
    if not _is_staff(user):
        return redirect("referrals:office")
    show_done = request.GET.get("done") == "1"
    queryset = FollowUpTask.objects.filter(institution_id=user.institution_id or 0).select_related(
        "patient", "referral", "referral__receiving_institution")
    queryset = (queryset.order_by("-done_at", "-pk") if show_done else
                queryset.filter(status=FollowUpTask.Status.OPEN).order_by("due_date", "pk"))
    if show_done:
        queryset = queryset.filter(status=FollowUpTask.Status.DONE)
    page = Paginator(queryset, PAGE_SIZE).get_page(request.GET.get("page"))
    audit.record_reads(FollowUpTask._meta.label,
                       [(t.pk, t.patient_id, "page: follow-up tasks") for t in page.object_list])
    return render(request, "referrals/follow_ups.html", {
        "page_obj": page, "show_done": show_done, "today": timezone.localdate(),
        "form": FollowUpForm()})


@require_POST
@requires(Capability.WORK_REFERRALS)
def follow_up_done(request: HttpRequest, pk: int) -> HttpResponse:
    task = FollowUpTask.objects.filter(pk=pk).first()
    if task is None:
        raise Http404(_("No follow-up task with this number."))
    form = FollowUpForm(request.POST)
    note = form.cleaned_data["note"] if form.is_valid() else ""
    try:
        services.complete_follow_up(task, by=_user(request), note=note)
        messages.success(request, _("Follow-up of referral %(n)s recorded.")
                         % {"n": task.referral_id})
    except DomainError as error:
        _domain_message(request, error)
    return redirect("referrals:follow_ups")


# --- the office view -------------------------------------------------------------------------


LEVEL_ORDER = [Level.VILLAGE, Level.TOWNSHIP, Level.COUNTY, Level.CITY, Level.PROVINCIAL]


def _office_alliance(request: HttpRequest) -> Alliance | None:
    user = _user(request)
    if sees_all_alliances(user) or (user.role == Role.AUDITOR and user.alliance_id is None):
        raw = request.GET.get("alliance", "")
        return Alliance.objects.filter(code=raw).first() if raw else None
    return Alliance.objects.filter(pk=user.alliance_id or 0).first()


def _parse_day(text: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text) if text else None
    except ValueError:
        return None


def flows(queryset: QuerySet[Referral]) -> dict[str, Any]:
    """Referrals sent between levels (not drafts): the office's flow chart (ECharts sankey:
    sending levels on the left, receiving levels on the right, so up and down flows do not
    form a cycle)."""
    rows = (queryset.exclude(status__in=[St.DRAFT]).filter(receiving_institution__isnull=False)
            .order_by().values("sending_institution__level", "receiving_institution__level")
            .annotate(n=Count("pk")))
    labels = dict(Level.choices)
    links = [{"source": _("%(level)s (sending)") % {
                  "level": labels[r["sending_institution__level"]]},
              "target": _("%(level)s (receiving)") % {
                  "level": labels[r["receiving_institution__level"]]},
              "value": r["n"]} for r in rows]
    names = sorted({link["source"] for link in links} | {link["target"] for link in links})
    return {"nodes": [{"name": n} for n in names], "links": links}


@requires(Capability.OVERSEE_REFERRALS)
def office(request: HttpRequest) -> HttpResponse:
    """The alliance office's view (issue 4 item 5): every referral sent or received by its
    members, filtered by state, direction, green channel, institution and period; the flow
    between levels and the missed deadlines."""
    user = _user(request)
    alliance = _office_alliance(request)
    queryset = services.visible_referrals(user).exclude(status=St.DRAFT)
    if alliance is not None:
        queryset = queryset.filter(Q(sending_institution__alliance=alliance)
                                   | Q(receiving_institution__alliance=alliance))
    today = timezone.localdate()
    start = _parse_day(request.GET.get("from", "")) or today - dt.timedelta(days=30)
    end = _parse_day(request.GET.get("to", "")) or today
    if end < start:
        messages.error(request, _("The period ends before it starts."))
        end = start
    since = timezone.make_aware(dt.datetime.combine(start, dt.time.min))
    until = timezone.make_aware(dt.datetime.combine(end + dt.timedelta(days=1), dt.time.min))
    period = queryset.filter(submitted_at__gte=since, submitted_at__lt=until)
    filtered = period
    status = request.GET.get("status", "")
    if status in St.values:
        filtered = filtered.filter(status=status)
    direction = request.GET.get("direction", "")
    if direction in Direction.values:
        filtered = filtered.filter(direction=direction)
    green = request.GET.get("green", "")
    if green in ("1", "0"):
        filtered = filtered.filter(green_channel=green == "1")
    institution = Institution.objects.filter(code=request.GET.get("institution", "")).first() \
        if request.GET.get("institution") else None
    if institution is not None:
        filtered = filtered.filter(Q(sending_institution=institution)
                                   | Q(receiving_institution=institution))
    page = _page(request, filtered.order_by("-submitted_at", "-pk"), "page: alliance office")
    by_status = Counter(dict(filtered.order_by().values_list("status").annotate(n=Count("pk"))))
    overdue_qs = (services.overdue(alliance) if alliance is not None else
                  queryset.filter(status__in=statuses.AWAITING_ANSWER,
                                  escalated_at__isnull=False).order_by("deadline", "pk"))
    overdue_rows = list(_with_names(overdue_qs)[:20])
    audit.record_reads(REFERRAL_LABEL, [(r.pk, r.patient_id, "page: missed deadlines")
                                        for r in overdue_rows])
    now = timezone.now()
    members = (Institution.objects.filter(alliance=alliance) if alliance is not None
               else Institution.objects.filter(alliance__isnull=False)).order_by("level", "code")
    missed_in_period = period.filter(escalated_at__isnull=False).count()
    return render(request, "referrals/office.html", {
        "page_obj": page, "alliance": alliance,
        "alliances": Alliance.objects.order_by("code") if sees_all_alliances(user) else [],
        "start": start, "end": end, "status": status, "direction": direction, "green": green,
        "institution": institution, "institutions": members,
        "status_choices": _status_choices(), "direction_choices": Direction.choices,
        "by_status": [(St(s).label, s, by_status.get(s, 0)) for s in St.values
                      if s != St.DRAFT],
        "total": sum(by_status.values()), "missed_in_period": missed_in_period,
        "flows": flows(filtered),
        "overdue": [(r, countdown(r.deadline, now)) for r in overdue_rows],
        "overdue_count": overdue_qs.count()})


# --- one referral ----------------------------------------------------------------------------


def _accept_choices(referral: Referral) -> dict[str, Any]:
    """What the receiving side may accept with: the next free slots of the receiving
    institution (its referral pool and public places; the department's when one is named)
    and its wards with free beds."""
    institution = referral.receiving_institution
    if institution is None:
        return {"slots": [], "wards": []}
    slots = [s for s in scheduling.free_slots(
        institution=institution, department_id=referral.receiving_department_id,
        limit=SLOT_CHOICES * 3) if s.pool in (Pool.REFERRAL, Pool.PUBLIC)][:SLOT_CHOICES]
    if not slots and referral.receiving_department_id is not None:
        slots = [s for s in scheduling.free_slots(institution=institution,
                                                  limit=SLOT_CHOICES * 3)
                 if s.pool in (Pool.REFERRAL, Pool.PUBLIC)][:SLOT_CHOICES]
    wards = list(Ward.objects.filter(institution=institution, is_active=True)
                 .select_related("department")
                 .annotate(referral_free=Count("beds", filter=Q(
                     beds__status=Bed.Status.FREE, beds__pool=Pool.REFERRAL)),
                           public_free=Count("beds", filter=Q(
                               beds__status=Bed.Status.FREE, beds__pool=Pool.PUBLIC)))
                 .order_by(F("department_id").asc(nulls_last=True), "code"))
    if referral.receiving_department_id is not None:
        wards.sort(key=lambda w: w.department_id != referral.receiving_department_id)
    # public beds by name, only for wards whose referral beds are all taken: one query
    short = [w.pk for w in wards if not w.referral_free and w.public_free]
    public_beds: dict[int, list[Bed]] = {}
    for bed in Bed.objects.filter(ward_id__in=short, status=Bed.Status.FREE,
                                  pool=Pool.PUBLIC).order_by("ward_id", "code"):
        shown = public_beds.setdefault(bed.ward_id, [])
        if len(shown) < PUBLIC_BEDS_SHOWN:
            shown.append(bed)
    return {"slots": slots, "wards": [(w, public_beds.get(w.pk, [])) for w in wards]}


#: what each event of the timeline says (``ReferralEvent.action``)
ACTION_LABELS = {
    "create": gettext_lazy("Slip written"), "edit": gettext_lazy("Slip edited"),
    "submit": gettext_lazy("Sent to the receiving side"),
    "approve": gettext_lazy("Approved by the alliance office"),
    "refuse": gettext_lazy("Not approved by the alliance office"),
    "receive": gettext_lazy("Received"), "accept": gettext_lazy("Accepted"),
    "reject": gettext_lazy("Rejected"), "redirect": gettext_lazy("Redirected"),
    "arrive": gettext_lazy("Arrived"), "complete": gettext_lazy("Completed"),
    "cancel": gettext_lazy("Cancelled"), "expire": gettext_lazy("Expired unanswered"),
    "escalate": gettext_lazy("Response deadline missed: escalated to the alliance office"),
    "attach": gettext_lazy("File attached"),
}


def _event_row(event: ReferralEvent) -> dict[str, Any]:
    sides = dict(statuses.Side.choices)
    return {"at": event.at, "by_name": event.by_name, "side_label": sides.get(event.side, ""),
            "action": event.action, "action_label": ACTION_LABELS.get(event.action,
                                                                     event.action),
            "from_status": event.from_status, "to_status": event.to_status,
            "to_label": St(event.to_status).label if event.to_status in St.values else "",
            # the system's notes (escalation, expiry) are English audit records; the action's
            # label says what happened
            "reason": "" if event.side == statuses.Side.SYSTEM else event.reason}


#: the page's forms per step
STEP_FORMS: dict[str, Any] = {
    "reject": ReasonForm, "refuse": ReasonForm, "cancel": NoteForm, "approve": NoteForm,
    "complete": CompleteForm, "accept": AcceptForm,
}


def _steps(user: User, referral: Referral) -> list[str]:
    """The steps the viewer may take now, named as the page's actions."""
    sides = services.sides_of(user, referral)
    names = {St.SUBMITTED: "approve" if referral.status == St.AWAITING_APPROVAL else "submit",
             St.AWAITING_APPROVAL: "submit", St.RECEIVED: "receive", St.ACCEPTED: "accept",
             St.REJECTED: "refuse" if referral.status == St.AWAITING_APPROVAL else "reject",
             St.REDIRECTED: "redirect", St.ARRIVED: "arrive", St.COMPLETED: "complete",
             St.CANCELLED: "cancel"}
    found: list[str] = []
    targets = statuses.targets(referral.status, sides)
    if referral.status == St.SUBMITTED and statuses.Side.RECEIVER in sides:
        # the receiver may answer straight from "submitted" (the receipt is recorded too)
        targets += [t for t in statuses.targets(St.RECEIVED, sides) if t not in targets]
    for target in targets:
        name = names.get(St(target))
        if name and name not in found:
            found.append(name)
    return found


@requires(Capability.VIEW_REFERRALS)
def referral_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """The referral slip (WS 445 part 16 elements), its catalogue warning, the timeline of
    every step (both sides see it), attachments, the follow-up task, and forms for the steps
    the viewer may take. The read is audited."""
    referral = _visible(request, pk)
    user = _user(request)
    audit.record(AuditEvent.Action.VIEW, user=user, object_type=REFERRAL_LABEL,
                 object_id=referral.pk, patient_id=referral.patient_id,
                 summary="page: referral slip")
    inbox.mark_referral_read(user, referral.pk)  # its notices are read with the slip
    steps = _steps(user, referral)
    context: dict[str, Any] = {
        "referral": referral, "steps": steps,
        "events": [_event_row(e) for e in referral.events.order_by("at", "pk")],
        "attachments": list(referral.attachments.order_by("uploaded_at", "pk")),
        "follow_up": FollowUpTask.objects.filter(referral=referral).first(),
        "down_referrals": list(referral.follow_ons.select_related("receiving_institution")),
        "countdown": (countdown(referral.deadline, timezone.now())
                      if referral.status in statuses.AWAITING_ANSWER else None),
        "can_attach": bool(services.sides_of(user, referral)
                           & {statuses.Side.SENDER, statuses.Side.RECEIVER})
        and referral.status not in statuses.FINAL,
        "attach_form": AttachForm(),
        "reason_form": ReasonForm(), "note_form": NoteForm(),
        "complete_form": CompleteForm(), "accept_form": AcceptForm(),
    }
    if "accept" in steps:
        context.update(_accept_choices(referral))
    if "redirect" in steps and referral.receiving_institution is not None:
        context["redirect_form"] = RedirectForm(
            alliance_id=referral.receiving_institution.alliance_id,
            exclude=(referral.receiving_institution_id, referral.sending_institution_id))
    if "submit" in steps:
        context["draft_form"] = DraftForm(sending=referral.sending_institution, initial={
            "receiving_institution": referral.receiving_institution_id,
            "reason": referral.reason, "care_plan": referral.care_plan})
    return render(request, "referrals/detail.html", context)


def _accept(referral: Referral, user: User, form: AcceptForm) -> None:
    kind, pk = form.cleaned_data["capacity"]
    note = form.cleaned_data["note"]
    models: dict[str, Any] = {"slot": Slot, "ward": Ward, "bed": Bed}
    target = models[kind].objects.filter(pk=pk).first()
    if target is None:
        raise ValidationError(_("The chosen slot or bed no longer exists; choose another."))
    services.accept(referral, by=user, note=note, **{kind: target})


@require_POST
@requires(Capability.VIEW_REFERRALS)
def referral_step(request: HttpRequest, pk: int, step: str) -> HttpResponseBase:
    """Take one step on the referral (a form of the slip page). A refusal is shown on the
    slip and changes nothing."""
    referral = _visible(request, pk)
    user = _user(request)
    back = redirect("referrals:detail", pk=referral.pk)
    form_class = STEP_FORMS.get(step)
    form = form_class(request.POST) if form_class is not None else None
    if form is not None and not form.is_valid():
        _form_messages(request, form)
        return back
    data = form.cleaned_data if form is not None else {}
    try:
        if step == "submit":
            draft = DraftForm(request.POST, sending=referral.sending_institution)
            if not draft.is_valid():
                _form_messages(request, draft)
                return back
            changes = {key: value for key, value in draft.cleaned_data.items()
                       if getattr(referral, key) != value}
            if changes:
                services.update_draft(referral, changes, by=user)
            result = services.submit(referral, by=user)
            messages.success(request, _("The referral was sent."))
            if result.warning is not None:
                messages.warning(request, str(result.warning))
        elif step == "approve":
            services.approve(referral, by=user, reason=data["reason"])
            messages.success(request, _("Approved: the referral was sent."))
        elif step == "refuse":
            services.refuse(referral, by=user, reason=data["reason"])
            messages.success(request, _("The referral was not approved."))
        elif step == "receive":
            services.receive(referral, by=user)
            messages.success(request, _("Marked as received."))
        elif step == "accept":
            assert isinstance(form, AcceptForm)
            _accept(referral, user, form)
            messages.success(request, _("Accepted; the sending institution is told."))
        elif step == "reject":
            services.reject(referral, by=user, reason=data["reason"])
            messages.success(request, _("Rejected; the sending institution is told."))
        elif step == "redirect":
            assert referral.receiving_institution is not None
            redirect_form = RedirectForm(
                request.POST, alliance_id=referral.receiving_institution.alliance_id,
                exclude=(referral.receiving_institution_id, referral.sending_institution_id))
            if not redirect_form.is_valid():
                _form_messages(request, redirect_form)
                return back
            successor = services.redirect(referral, by=user, to=redirect_form.cleaned_data["to"],
                                          reason=redirect_form.cleaned_data["reason"])
            messages.success(request, _("Sent on to %(institution)s.")
                             % {"institution": successor.receiving_institution})
        elif step == "arrive":
            services.arrive(referral, by=user)
            messages.success(request, _("Arrival recorded."))
        elif step == "complete":
            result_c = services.complete(referral, by=user, outcome=data["outcome"],
                                         outcome_note=data["outcome_note"],
                                         care_plan=data["care_plan"])
            if result_c.down_referral is not None:
                messages.success(request, _("Completed. A down-referral with the care plan is "
                                            "proposed: check it and send it."))
                return redirect("referrals:detail", pk=result_c.down_referral.pk)
            messages.success(request, _("Completed."))
        elif step == "cancel":
            services.cancel(referral, by=user, reason=data["reason"])
            messages.success(request, _("The referral was cancelled."))
        elif step == "attach":
            attach_form = AttachForm(request.POST, request.FILES)
            if not attach_form.is_valid():
                _form_messages(request, attach_form)
                return back
            upload = attach_form.cleaned_data["file"]
            services.attach(referral, upload, by=user, name=upload.name)
            messages.success(request, _("File attached."))
        else:
            raise Http404(_("No such step."))
    except (DomainError, ValidationError) as error:
        _domain_message(request, error)
    return back


@requires(Capability.VIEW_REFERRALS)
def attachment(request: HttpRequest, pk: int, attachment_pk: int) -> FileResponse:
    """Download an attachment of a referral the viewer sees (audited as a read)."""
    referral = _visible(request, pk)
    row = ReferralAttachment.objects.filter(pk=attachment_pk, referral=referral).first()
    if row is None:
        raise Http404(_("No such attachment."))
    audit.record(AuditEvent.Action.VIEW, user=_user(request),
                 object_type=ReferralAttachment._meta.label, object_id=row.pk,
                 patient_id=referral.patient_id, summary=f"attachment {row.name}"[:300])
    return FileResponse(row.file.open("rb"), as_attachment=True, filename=row.name,
                        content_type=row.content_type)


# --- writing a referral --------------------------------------------------------------------------


def _patient_for(user: User, pk: int | None) -> Patient | None:
    if pk is None:
        return None
    try:
        return patient_services.get_record(user, pk)
    except (Patient.DoesNotExist, PermissionDenied):
        return None


@requires(Capability.WORK_REFERRALS)
def new_referral(request: HttpRequest) -> HttpResponse:
    """Write a referral slip: the resident (found by the lookup, or from their record with
    ``?patient=``), direction, green channel, diagnosis (ICD-10 by code, Chinese name or
    pinyin), receiving institution and department with the next free referral slots shown,
    reason, summary and attachments. "Save draft" keeps it; "Send" submits it at once."""
    user = _user(request)
    if not _is_staff(user):
        raise PermissionDenied(_("Only doctors and nurses of a member institution may write "
                                 "referrals."))
    sending = user.institution
    assert sending is not None
    if request.method == "POST":
        form = ReferralForm(request.POST, request.FILES, sending=sending)
        if form.is_valid():
            created = _create(request, user, form)
            if created is not None:
                return redirect("referrals:detail", pk=created.pk)
    else:
        raw = request.GET.get("patient", "")
        initial: dict[str, Any] = {"direction": Direction.UP}
        if raw.isdigit() and len(raw) < 19:
            initial["patient"] = int(raw)
        form = ReferralForm(initial=initial, sending=sending)
    patient_id = form["patient"].value()
    patient = _patient_for(user, int(patient_id)) if str(patient_id or "").isdigit() \
        and len(str(patient_id)) < 19 else None
    return render(request, "referrals/new.html", {"form": form, "patient": patient,
                                                  "sending": sending})


def _create(request: HttpRequest, user: User, form: ReferralForm) -> Referral | None:
    data = form.cleaned_data
    patient = Patient.objects.filter(pk=data["patient"]).first()
    if patient is None:
        form.add_error("patient", _("No resident with this number."))
        return None
    send = request.POST.get("action") == "send"
    try:
        referral = services.create_referral(
            patient=patient, direction=data["direction"], diagnosis=data["diagnosis"],
            reason=data["reason"], by=user, receiving_institution=data["receiving_institution"],
            receiving_department=data["receiving_department"],
            secondary_diagnoses=data["secondary_diagnoses"],
            clinical_summary=data["clinical_summary"], green_channel=data["green_channel"])
    except DomainError as error:
        form.add_error(None, error_text(error))
        return None
    for upload in data["attachments"]:
        try:
            services.attach(referral, upload, by=user, name=upload.name)
        except DomainError as error:
            messages.error(request, _("%(file)s was not attached: %(why)s")
                           % {"file": upload.name, "why": error_text(error)})
    if not send:
        messages.success(request, _("The draft was saved; send it when ready."))
        return referral
    try:
        result = services.submit(referral, by=user)
    except DomainError as error:
        messages.error(request, _("The draft was saved but not sent: %(why)s")
                       % {"why": error_text(error)})
        return referral
    if result.referral.status == St.AWAITING_APPROVAL:
        messages.success(request, _("The referral awaits the alliance office's approval."))
    else:
        messages.success(request, _("The referral was sent."))
    if result.warning is not None:
        messages.warning(request, str(result.warning))
    return referral


@requires(Capability.WORK_REFERRALS)
def lookup_residents(request: HttpRequest) -> HttpResponse:
    """Fragment: residents matching the query, in the viewer's scope (audited search)."""
    text = request.GET.get("q", "").strip()[:40]
    rows: list[Patient] = []
    message = ""
    if text:
        try:
            rows = patient_services.search_patients(_user(request), text, limit=10)
        except ValidationError as error:
            message = error_text(error)
        if not rows and not message:
            message = _("No resident in your scope matches.")
    return render(request, "referrals/partials/resident_choices.html",
                  {"rows": rows, "message": message})


@requires(Capability.WORK_REFERRALS)
def lookup_diagnoses(request: HttpRequest) -> HttpResponse:
    """Fragment: ICD-10 codes by code prefix, Chinese name or pinyin initials."""
    text = request.GET.get("q", request.GET.get("diagnosis", "")).strip()[:40]
    return render(request, "referrals/partials/diagnosis_choices.html",
                  {"rows": icd10.search(text, limit=12) if text else [], "query": text})


@requires(Capability.WORK_REFERRALS)
def lookup_capacity(request: HttpRequest) -> HttpResponse:
    """Fragment: the receiving institution's departments (as options) and its next free
    referral slots, and the catalogue's advice for the diagnosis."""
    user = _user(request)
    raw = request.GET.get("receiving_institution", "")
    institution = (Institution.objects.filter(pk=int(raw), is_active=True).first()
                   if raw.isdigit() and len(raw) < 19 else None)
    raw_department = request.GET.get("receiving_department", "")
    department = (Department.objects.filter(pk=int(raw_department), institution=institution)
                  .first() if institution is not None and raw_department.isdigit()
                  and len(raw_department) < 19 else None)
    slots: list[Slot] = []
    departments: list[Department] = []
    if institution is not None:
        departments = list(Department.objects.filter(institution=institution, is_active=True)
                           .order_by("code"))
        slots = scheduling.free_slots(institution=institution,
                                      department_id=department.pk if department else None,
                                      pool=Pool.REFERRAL, limit=SLOT_CHOICES)
    advice = None
    code = request.GET.get("diagnosis", "").strip()[:16]
    if code and institution is not None and icd10.exists(code):
        sending = user.institution
        assert sending is not None
        catalogue = services.catalogue_for(sending.alliance)
        direction = request.GET.get("direction", Direction.UP)
        if catalogue is not None and direction in Direction.values:
            advice = rules.catalogue_warning(services.rules_catalogue(catalogue), direction,
                                             icd10.validate(code).code, sending.level,
                                             institution.level)
    return render(request, "referrals/partials/capacity.html", {
        "institution": institution, "department": department, "departments": departments,
        "slots": slots, "advice": advice})


def referral_url(referral_id: int) -> str:
    return reverse("referrals:detail", args=[referral_id])
