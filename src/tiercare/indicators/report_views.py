"""Pages of the supervision reports (issue 5 items 4 and 6): the out-of-county analysis, the
cost structure, the data quality and the quarterly report (printable page and PDF) of one
alliance and period.

* Access: the capability ``VIEW_INDICATORS`` (a doctor gets the 403 page); regulators and
  system administrators choose any alliance (read-only: these pages change nothing), an
  alliance administrator sees their own (``indicators.scope.alliances_for``); another
  alliance is refused with a translated reason.
* Filters live in the query string, so a page can be shared as a link: ``alliance`` (id or
  code; default the first the user sees), ``period`` (``2025``, ``2025Q3``, ``2025-07``;
  default the quarter of the alliance's latest data). A period that cannot be read is a
  400 page saying why, in the user's language.
* Before the first snapshot refresh the pages say so instead of failing
  (``engine.snapshot.reader`` raises ``FileNotFoundError``).

Views are thin: the numbers come from ``engine.analysis`` and ``engine.compute`` through
``indicators.reports``; no resident is named (aggregates only, rules.md §11).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.utils.http import content_disposition_header
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from tiercare.accounts.roles import Capability
from tiercare.indicators import board, reports, scope
from tiercare.indicators.engine import analysis, snapshot
from tiercare.indicators.engine.backends import Backend
from tiercare.indicators.engine.compute import Span
from tiercare.kernel.errors import InvalidPeriod
from tiercare.kernel.periods import Period, parse
from tiercare.registry.models import Alliance
from tiercare.web.access import requires

#: Rows the out-of-county tables may show.
TOP_CHOICES = (10, 20, 50)

Builder = Callable[[Backend, Alliance, Period, str], dict[str, Any]]


class _BadRequest(Exception):
    """A filter that cannot be read: a 400 page with this (translated) message."""


def _alliance(request: HttpRequest) -> tuple[Alliance, list[Alliance]]:
    """The alliance asked for (id or code) among those the user may see, and those."""
    visible = list(scope.alliances_for(request.user))  # type: ignore[arg-type]
    raw = request.GET.get("alliance", "").strip()
    if not raw:
        if not visible:
            raise PermissionDenied(_("You are not assigned to an alliance whose indicators "
                                     "you may see."))
        return visible[0], visible
    found = (Alliance.objects.filter(pk=int(raw)).first() if raw.isdigit() else None) \
        or Alliance.objects.filter(code=raw).first()
    if found is None:
        raise Http404(_("There is no alliance “%(alliance)s”.") % {"alliance": raw})
    if found.pk not in {a.pk for a in visible}:
        raise PermissionDenied(_("You may see the indicators of your own alliance only."))
    return found, visible


def _period(request: HttpRequest) -> Period | None:
    raw = request.GET.get("period", "").strip()
    if not raw:
        return None
    try:
        period = parse(raw)
        board.check_year(period.year)  # the dashboards' range: no year 1 or 9999 in the engine
    except InvalidPeriod as error:
        raise _BadRequest(error.translated(_)) from None
    except board.BadFilter as error:
        raise _BadRequest(str(error)) from None
    return period


def _query(alliance: Alliance, period: Period, **extra: Any) -> str:
    return urlencode({"alliance": alliance.pk, "period": str(period), **extra})


def _bad_request(request: HttpRequest, message: str) -> HttpResponse:
    return render(request, "web/error.html", {"status": 400, "message": message}, status=400)


def _compute(request: HttpRequest, build: Builder) -> tuple[
        Alliance, list[Alliance], Period, dt.datetime | None, dict[str, Any] | None]:
    """The filters of the request, and what ``build`` makes of the snapshot for them
    (``None`` when there is no snapshot yet). Raises :class:`_BadRequest`."""
    alliance, alliances = _alliance(request)
    period = _period(request)
    language = get_language() or "zh-hans"
    try:
        refreshed_at = board.refreshed_at()
        with snapshot.reader() as backend:
            if period is None:
                period = reports.default_period(analysis.latest_month(backend, alliance.pk))
            return alliance, alliances, period, refreshed_at, build(
                backend, alliance, period, language)
    except (FileNotFoundError, board.NoSnapshot):
        return alliance, alliances, period or reports.default_period(None), None, None


def _show(request: HttpRequest, template: str, tab: str, build: Builder,
          extra: dict[str, Any] | None = None) -> HttpResponse:
    """Resolve the filters, open the snapshot and render ``template`` with what ``build``
    gives; the page without numbers when there is no snapshot yet."""
    try:
        alliance, alliances, period, refreshed_at, built = _compute(request, build)
    except _BadRequest as error:
        return _bad_request(request, str(error))
    context = _context(alliance, alliances, period, refreshed_at)
    context.update(tab=tab, no_snapshot=built is None, **(extra or {}), **(built or {}))
    return render(request, template, context)


def _context(alliance: Alliance, alliances: list[Alliance], period: Period,
             refreshed_at: dt.datetime | None) -> dict[str, Any]:
    return {"alliance": alliance, "alliances": alliances, "period": period,
            "period_text": str(period), "period_label": reports.period_label(period),
            "refreshed_at": refreshed_at, "query": _query(alliance, period)}


def _number(request: HttpRequest, name: str, choices: tuple[int, ...]) -> int:
    raw = request.GET.get(name, "")
    return int(raw) if raw.isdigit() and int(raw) in choices else choices[0]


@requires(Capability.VIEW_INDICATORS)
def out_of_county(request: HttpRequest) -> HttpResponse:
    """Which diagnoses and which townships send the alliance's residents out of the county,
    by admissions and by fund (issue 5 item 4)."""
    order = request.GET.get("order", analysis.BY_ADMISSIONS)
    order = order if order in (analysis.BY_ADMISSIONS, analysis.BY_FUND) \
        else analysis.BY_ADMISSIONS
    top = _number(request, "top", TOP_CHOICES)

    def build(backend: Backend, alliance: Alliance, period: Period,
              language: str) -> dict[str, Any]:
        span = Span.of(period)
        diagnoses = reports.outflow_view(backend, alliance, span, analysis.DIAGNOSIS,
                                         language, top=top, order=order)
        townships = reports.outflow_view(backend, alliance, span, analysis.TOWNSHIP,
                                         language, top=top, order=order)
        return {"diagnoses": diagnoses, "townships": townships,
                "charts": {"diagnoses": diagnoses.chart(), "townships": townships.chart()}}

    return _show(request, "indicators/reports/out_of_county.html", "out_of_county", build,
                 {"order": order, "top": top, "top_choices": TOP_CHOICES})


@requires(Capability.VIEW_INDICATORS)
def cost_structure(request: HttpRequest) -> HttpResponse:
    """Drugs, consumables, examinations and other services per visit and per admission, by
    level and institution (issue 5 item 4)."""

    def build(backend: Backend, alliance: Alliance, period: Period,
              language: str) -> dict[str, Any]:
        span = Span.of(period)
        costs = reports.cost_view(backend, alliance, span)
        return {"costs": costs, "parts": list(reports.COST_PARTS.values()),
                "charts": {"visit": costs.chart(analysis.VISIT),
                           "admission": costs.chart(analysis.ADMISSION)}}

    return _show(request, "indicators/reports/cost_structure.html", "cost_structure", build)


@requires(Capability.VIEW_INDICATORS)
def data_quality(request: HttpRequest) -> HttpResponse:
    """Records missing diagnoses, invalid ICD-10 codes, unmatched settlements (issue 5
    item 4)."""

    def build(backend: Backend, alliance: Alliance, period: Period,
              language: str) -> dict[str, Any]:
        span = Span.of(period)
        return {"checks": reports.quality_view(backend, alliance, span)}

    return _show(request, "indicators/reports/data_quality.html", "data_quality", build)


def _report(backend: Backend, alliance: Alliance, period: Period,
            language: str) -> dict[str, Any]:
    return {"report": reports.quarterly_report(backend, alliance, period, language)}


@requires(Capability.VIEW_INDICATORS)
def quarterly(request: HttpRequest) -> HttpResponse:
    """The quarterly report as a printable page (issue 5 item 6)."""
    return _show(request, "indicators/reports/quarterly.html", "quarterly", _report)


@requires(Capability.VIEW_INDICATORS)
def quarterly_pdf(request: HttpRequest) -> HttpResponse:
    """The quarterly report as a PDF, rendered from the printable page (issue 5 item 6)."""
    try:
        alliance, alliances, period, refreshed_at, built = _compute(request, _report)
    except _BadRequest as error:
        return _bad_request(request, str(error))
    if built is None:
        return render(request, "web/error.html", {"status": 404, "message": _(
            "There are no indicator figures yet: the analytics snapshot has not been "
            "refreshed. Run “tiercare indicators refresh” or wait for the nightly refresh."
        )}, status=404)
    context = {**_context(alliance, alliances, period, refreshed_at), **built,
               "pdf": True, "no_snapshot": False}
    html = render_to_string("indicators/reports/quarterly.html", context, request=request)
    response = HttpResponse(reports.cached_pdf(html), content_type="application/pdf")
    response["Content-Disposition"] = content_disposition_header(
        True, f"tiercare-{alliance.code}-{period}.pdf") or "attachment"
    return response
