"""Tightness evaluation pages (issue 5 item 5; seed 003: self-assessment → assessment →
result → feedback): the evaluations the user may see with their verdicts, and one
evaluation grouped by dimension with each criterion's self-assessed and assessed grade,
comment and evidence, the grading form, the live verdict with its reasons, the next steps and
the history.

Views are thin: everything they change goes through ``indicators.tightness_services``, whose
refusals (a wrong stage, a step or grade that is not the user's, a file too large) are shown
as translated messages and change nothing. Alliance administrators see their own alliance's
evaluations; regulators (the health commission) and system administrators see all; others
get the 403 page.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from tiercare.accounts import audit
from tiercare.accounts.models import AuditEvent, User
from tiercare.accounts.roles import Capability, has_capability
from tiercare.errors import DomainError
from tiercare.indicators import catalogue
from tiercare.indicators import tightness_services as services
from tiercare.indicators import tightness_statuses as statuses
from tiercare.indicators.forms import GradeForm, StartForm, StepForm
from tiercare.indicators.models import CriterionEvidence, CriterionGrade, TightnessEvaluation
from tiercare.indicators.tightness import Criterion, Grade, Verdict, reason_text
from tiercare.indicators.tightness_statuses import Side, Stage
from tiercare.registry.models import Alliance
from tiercare.web.access import error_text, requires

PAGE_SIZE = 50

#: what each event of the history says (``EvaluationEvent.action``)
ACTIONS = {
    "create": gettext_lazy("Evaluation started"), "grade": gettext_lazy("Criterion graded"),
    "submit": gettext_lazy("Self-assessment submitted"),
    "return": gettext_lazy("Sent back to the alliance"),
    "issue": gettext_lazy("Result issued"),
    "feedback": gettext_lazy("Improvement note recorded"),
    "close": gettext_lazy("Evaluation closed"),
}


def _user(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def _language() -> str:
    return get_language() or settings.LANGUAGE_CODE


def _visible(request: HttpRequest, pk: int) -> TightnessEvaluation:
    """The evaluation if the user sees it: 404 when there is none, 403 when it is not
    theirs to see."""
    try:
        return services.visible_evaluation(_user(request), pk)
    except TightnessEvaluation.DoesNotExist:
        raise Http404(_("No such evaluation.")) from None
    except DomainError as refused:
        raise PermissionDenied(str(refused)) from None


def _form_messages(request: HttpRequest, form: Any) -> None:
    for errors in form.errors.values():
        for error in errors:
            messages.error(request, str(error))


# --- the list ----------------------------------------------------------------------------------


@requires(Capability.VIEW_TIGHTNESS)
def tightness_list(request: HttpRequest) -> HttpResponse:
    """The evaluations the user sees (an alliance administrator: their alliance's; the health
    commission: every alliance's, filtered by alliance), latest period first, with stage and
    verdict; the form to start one."""
    user = _user(request)
    rows = services.visible_evaluations(user).order_by("-period", "alliance__code", "-pk")
    code = request.GET.get("alliance", "").strip()
    if code:
        rows = rows.filter(alliance__code=code)
    can_start = (has_capability(user, Capability.GRADE_TIGHTNESS)
                 and services.alliances_to_start(user).exists())
    alliances = Alliance.objects.filter(
        pk__in=services.visible_evaluations(user).values("alliance_id")).order_by("code")
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "indicators/tightness_list.html", {
        "evaluations": page.object_list, "page_obj": page, "alliance_code": code,
        "alliances": list(alliances),
        "start_form": StartForm(user=user) if can_start else None,
    })


@require_POST
@requires(Capability.GRADE_TIGHTNESS)
def tightness_start(request: HttpRequest) -> HttpResponseBase:
    """Start an evaluation (alliance administrators: their alliance; the health commission:
    any county medical community)."""
    user = _user(request)
    form = StartForm(request.POST, user=user)
    if not form.is_valid():
        _form_messages(request, form)
        return redirect("indicators:tightness_list")
    try:
        evaluation = services.create_evaluation(form.cleaned_data["alliance"],
                                                form.cleaned_data["period"], by=user)
    except DomainError as error:
        messages.error(request, error_text(error))
        return redirect("indicators:tightness_list")
    messages.success(request, _("The evaluation of %(period)s has begun with the "
                                "self-assessment.") % {"period": evaluation.period})
    return redirect("indicators:tightness_detail", pk=evaluation.pk)


# --- one evaluation ----------------------------------------------------------------------------


def _grade_rows(evaluation: TightnessEvaluation) -> dict[tuple[str, str], CriterionGrade]:
    """The evaluation's grades by (criterion, stage), with grader and evidence."""
    grades = (CriterionGrade.objects.filter(evaluation=evaluation)
              .select_related("graded_by").prefetch_related("evidence"))
    return {(g.criterion, g.stage): g for g in grades}


def _supporting(criterion: Criterion, language: str,
                values: dict[str, tuple[str, str]]) -> list[dict[str, Any]]:
    """The catalogue indicators that can support the criterion's grade, named, with their
    value for the evaluation's alliance and period and its status against the target
    (issue 5 item 5: "criteria that indicators can support show the supporting values")."""
    rows = []
    for indicator_id in criterion.supported_by:
        try:
            indicator = catalogue.indicator(indicator_id)
        except catalogue.UnknownIndicator:
            continue
        value, status = values.get(indicator_id, ("", ""))
        rows.append({"indicator": indicator, "name": indicator.name(language),
                     "value": value, "status": status})
    return rows


def supporting_values(evaluation: TightnessEvaluation,
                      ids: list[str]) -> dict[str, tuple[str, str]]:
    """Indicator id → (value as shown, status) for the evaluation's alliance and period,
    from the indicator snapshot (empty before the first refresh)."""
    from tiercare.indicators import board, rules
    from tiercare.indicators import services as indicator_services
    from tiercare.indicators.engine import Span, compute, snapshot
    from tiercare.kernel.periods import parse

    span = Span.of(parse(evaluation.period))
    org = str(evaluation.alliance_id)
    try:
        with snapshot.reader() as backend:
            cells = compute(backend, [span, span.a_year_before()], "alliance", ids=ids,
                            orgs=[org])
    except FileNotFoundError:
        return {}
    before = {c.indicator: c.value for c in cells if c.span != span}
    targets = indicator_services.targets_for(evaluation.alliance)
    out: dict[str, tuple[str, str]] = {}
    for cell in cells:
        if cell.span != span:
            continue
        indicator = catalogue.indicator(cell.indicator)
        target = targets.get(cell.indicator)
        status = (rules.status(cell.value, target, indicator.direction,
                               previous=before.get(cell.indicator)) if target else None)
        out[cell.indicator] = (board.format_value(cell.value, indicator.unit),
                               str(status) if status else "")
    return out


def verdict_context(evaluation: TightnessEvaluation, result: Verdict, *,
                    what_if: bool = False) -> dict[str, Any]:
    """What the verdict card shows: tight or not, whose grades it reads, every reason in
    the user's language."""
    language = _language()
    data = services.criteria()
    return {
        "evaluation": evaluation, "tight": result.tight, "issued": evaluation.tight is not None,
        "what_if": what_if, "grading_stage": Stage(services.grading_stage(evaluation)).label,
        "reasons": [{"passed": r.passed, "code": r.code,
                     "text": reason_text(r, data, language, _)} for r in result.reasons],
    }


def detail_context(user: User, evaluation: TightnessEvaluation) -> dict[str, Any]:
    """The evaluation page's context: ``dimensions`` (each with its ``rows``, one per
    criterion: self-assessed and assessed grade, grading form, ``supporting`` indicators),
    the verdict, the steps the user may take, the rule, the events and the history."""
    language = _language()
    data = services.criteria()
    grades = _grade_rows(evaluation)
    sides = services.sides_of(user, evaluation.alliance_id)
    grader = statuses.GRADERS.get(evaluation.stage)
    may_grade = grader is not None and grader in sides
    supported = sorted({i for c in data.criteria for i in c.supported_by})
    values = supporting_values(evaluation, supported) if supported else {}
    dimensions = []
    for dimension in data.dimensions:
        rows = []
        for criterion in data.in_dimension(dimension.id):
            form = None
            if may_grade:
                own = grades.get((criterion.id, evaluation.stage))
                initial = {"grade": own.grade, "comment": own.comment} if own else {}
                form = GradeForm(initial=initial, prefix=criterion.id)
            rows.append({
                "criterion": criterion, "name": criterion.name(language),
                "description": criterion.description(language),
                "self": grades.get((criterion.id, Stage.SELF_ASSESSMENT)),
                "assessed": grades.get((criterion.id, Stage.ASSESSMENT)),
                "supporting": _supporting(criterion, language, values),
                "form": form,
            })
        dimensions.append({"dimension": dimension, "name": dimension.name(language),
                           "rows": rows})
    rule = services.rule_of(evaluation)
    steps = statuses.steps(evaluation.stage, sides)
    events = evaluation.events.select_related("by").order_by("at", "pk")
    return {
        "evaluation": evaluation, "dimensions": dimensions, "may_grade": may_grade,
        "grader_label": Side(grader).label if grader else "",
        "verdict": verdict_context(evaluation, services.current_verdict(evaluation)),
        "steps": steps, "step_form": StepForm(),
        "stages": [(value, label, value == evaluation.stage)
                   for value, label in Stage.choices],
        "rule": rule, "mandatory": [data.criterion(c).name(language) for c in rule.mandatory_a],
        "criteria_status": data.status,
        "events": [{"event": e, "label": ACTIONS.get(e.action, e.action),
                    "criterion": (data.criterion(e.criterion).name(language)
                                  if e.criterion in data else e.criterion),
                    "to_label": Stage(e.to_stage).label if e.to_stage in Stage.values else "",
                    "side_label": Side(e.side).label if e.side in Side.values else ""}
                   for e in events],
        "history": list(services.history(evaluation.alliance_id)),
        "grades": Grade.choices,
    }


@requires(Capability.VIEW_TIGHTNESS)
def tightness_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One evaluation, grouped by dimension (see :func:`detail_context`)."""
    evaluation = _visible(request, pk)
    return render(request, "indicators/tightness_detail.html",
                  detail_context(_user(request), evaluation))


@requires(Capability.VIEW_TIGHTNESS)
def tightness_verdict(request: HttpRequest, pk: int) -> HttpResponse:
    """The verdict card alone (HTMX): the live verdict, or what it would be with the grade
    being chosen (``criterion`` and ``grade`` in the query) before it is saved."""
    evaluation = _visible(request, pk)
    criterion = request.GET.get("criterion", "")
    grade = request.GET.get(f"{criterion}-grade", "") or request.GET.get("grade", "")
    what_if = bool(criterion and grade in Grade.values and evaluation.tight is None)
    result = (services.verdict_of(evaluation, services.grading_stage(evaluation),
                                  {criterion: grade})
              if what_if else services.current_verdict(evaluation))
    return render(request, "indicators/partials/tightness_verdict.html",
                  verdict_context(evaluation, result, what_if=what_if))


@require_POST
@requires(Capability.GRADE_TIGHTNESS)
def tightness_grade(request: HttpRequest, pk: int, criterion: str) -> HttpResponseBase:
    """Grade one criterion (the form of its row). A refusal is shown on the page and
    changes nothing."""
    evaluation = _visible(request, pk)
    back = redirect(reverse("indicators:tightness_detail", args=[evaluation.pk])
                    + f"#criterion-{criterion}")
    form = GradeForm(request.POST, request.FILES, prefix=criterion)
    if not form.is_valid():
        _form_messages(request, form)
        return back
    try:
        services.grade_criterion(evaluation, criterion, form.cleaned_data["grade"],
                                 by=_user(request), comment=form.cleaned_data["comment"],
                                 evidence=form.cleaned_data["evidence"])
    except DomainError as error:
        messages.error(request, error_text(error))
        return back
    messages.success(request, _("The grade is saved."))
    return back


#: what the page says after each step
STEP_DONE = {
    "submit": gettext_lazy("The self-assessment was submitted to the health commission."),
    "return": gettext_lazy("The self-assessment was sent back to the alliance."),
    "issue": gettext_lazy("The result was issued."),
    "feedback": gettext_lazy("The improvement note was recorded."),
    "close": gettext_lazy("The evaluation was closed."),
}


@require_POST
@requires(Capability.GRADE_TIGHTNESS)
def tightness_step(request: HttpRequest, pk: int, step: str) -> HttpResponseBase:
    """Take one step of the procedure (the page's buttons)."""
    evaluation = _visible(request, pk)
    back = redirect("indicators:tightness_detail", pk=evaluation.pk)
    if step not in statuses.STEPS:
        raise Http404(_("No such step."))
    form = StepForm(request.POST)
    if not form.is_valid():
        _form_messages(request, form)
        return back
    try:
        services.advance(evaluation, step, by=_user(request), note=form.cleaned_data["note"])
    except DomainError as error:
        messages.error(request, error_text(error))
        return back
    messages.success(request, str(STEP_DONE[step]))
    return back


@requires(Capability.VIEW_TIGHTNESS)
def tightness_evidence(request: HttpRequest, pk: int, evidence_pk: int) -> FileResponse:
    """Download an evidence document of an evaluation the user sees (audited as a read)."""
    evaluation = _visible(request, pk)
    try:
        document = services.evidence_of(evaluation, evidence_pk)
    except CriterionEvidence.DoesNotExist:
        raise Http404(_("No such document.")) from None
    audit.record(AuditEvent.Action.VIEW, user=_user(request),
                 object_type=CriterionEvidence._meta.label, object_id=document.pk,
                 summary=f"evidence {document.name} of tightness evaluation {evaluation.pk}")
    try:
        handle = document.file.open("rb")
    except OSError:
        raise Http404(_("The document's file is missing.")) from None
    return FileResponse(handle, as_attachment=True, filename=document.name,
                        content_type=document.content_type)
