"""The indicator dashboards (issue 5 item 4): the overview's cards, one page per aspect, the
ranking of institutions and townships, the referral flows between levels, the drill-down to
the records behind a cell, and any of their tables as xlsx.

Views are thin: the numbers come from ``indicators.board``. Every filter is in the query
string so that a URL can be shared: ``alliance`` (code, for users who see several),
``period`` (``2025``, ``2025Q3``, ``2025-07``) or ``ytd`` (``2025-07``: January to July;
``period`` wins when both are given), ``kind`` (institution or township) and, for the
ranking, ``indicator``. Without a period the pages show the year to date of the latest
month with data.

Who sees what (rules.md §11; ``indicators.scope``): ``VIEW_INDICATORS`` (system
administrators, regulators, alliance administrators, auditors), each for the alliances of
their scope; regulators read only; an alliance's administrators get the links to their
policy pack and own targets in the back-office. A missing snapshot is explained with the
command that makes one; a filter that cannot be read is a 400 with the reason on the page,
never a 500.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from functools import wraps
from typing import Any
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import get_language, pgettext
from django.utils.translation import gettext as _

from tiercare.accounts.models import User
from tiercare.accounts.roles import Capability, has_capability
from tiercare.indicators import board, board_xlsx, scope, services
from tiercare.indicators.engine.compute import Span
from tiercare.indicators.engine.definitions import ALLIANCE, INSTITUTION, TOWNSHIP
from tiercare.registry.models import Alliance
from tiercare.web.access import requires

View = Callable[..., HttpResponse]


@dataclass
class Filters:
    """The filters of a dashboard page, read from the query string."""

    alliance: Alliance
    alliances: list[Alliance]
    span: Span
    chosen_period: str
    chosen_ytd: str

    def query(self, **extra: str) -> str:
        """The query string that asks for the same alliance and span (plus ``extra``)."""
        params: dict[str, str] = {"alliance": self.alliance.code}
        params.update(board.span_query(self.span))
        params.update({k: v for k, v in extra.items() if v})
        return urlencode(params)


def _user(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def _language() -> str:
    return get_language() or "zh-hans"


class _NoAlliance(Exception):
    """The user oversees no alliance (none exists yet)."""


def _filters(request: HttpRequest) -> Filters:
    alliance, alliances = board.choose_alliance(_user(request),
                                                request.GET.get("alliance", "").strip())
    if alliance is None:
        raise _NoAlliance
    period = request.GET.get("period", "").strip()
    ytd = "" if period else request.GET.get("ytd", "").strip()
    span = board.parse_span(period, ytd) or board.default_span()
    shown = board.span_query(span)
    return Filters(alliance, alliances, span, shown.get("period", ""), shown.get("ytd", ""))


def _presets(span: Span) -> list[tuple[str, dict[str, str]]]:
    """Quick choices of period around the one shown: the year to date, the year, its
    quarters."""
    year = span.last // 100
    month = span.last % 100
    out = [(_("Year to date"), {"ytd": f"{year:04d}-{month:02d}"}),
           (str(year), {"period": str(year)})]
    out += [(f"{year}Q{q}", {"period": f"{year}Q{q}"}) for q in range(1, 5)]
    out.append((str(year - 1), {"period": str(year - 1)}))
    return out


def _base_context(request: HttpRequest, filters: Filters, tab: str) -> dict[str, Any]:
    user = _user(request)
    language = _language()
    alliance_query = {"alliance": filters.alliance.code}
    presets = [(label, urlencode({**alliance_query, **params}),
                board.span_query(filters.span) == params)
               for label, params in _presets(filters.span)]
    return {
        "filters": filters, "alliance": filters.alliance, "alliances": filters.alliances,
        "span": filters.span, "span_text": board.span_text(filters.span),
        "base_query": filters.query(), "tab": tab, "aspects": board.aspects(language),
        "presets": presets, "refreshed_at": board.refreshed_at(),
        "pack": services.pack_for(filters.alliance).name(language),
        "may_edit": scope.may_edit_targets(user, filters.alliance),
        "sees_records": has_capability(user, Capability.SEARCH_RESIDENTS),
    }


def dashboard(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """``VIEW_INDICATORS`` required; a missing snapshot, an unreadable filter and an
    unknown indicator are explained on the page (200, 400, 404) instead of failing."""

    @requires(Capability.VIEW_INDICATORS)
    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except board.NoSnapshot:
            return render(request, "dashboards/no_snapshot.html",
                          {"command": "tiercare indicators refresh"})
        except _NoAlliance:
            return render(request, "dashboards/problem.html", {
                "message": _("There is no alliance to show yet.")})
        except board.BadFilter as err:
            return render(request, "dashboards/problem.html", {"message": str(err),
                                                               "back": True}, status=400)
        except board.NotFound as err:
            return render(request, "dashboards/problem.html", {"message": str(err),
                                                               "back": True}, status=404)

    return wrapped


# --- the overview -------------------------------------------------------------------------------


def _spark_data(cards: list[board.Card]) -> dict[str, Any]:
    return {c.indicator: {"labels": [label for label, _v in c.trend],
                          "values": [_number(v) for _label, v in c.trend],
                          "status": c.status}
            for c in cards}


def _number(value: Decimal | None) -> float | None:
    return float(value) if value is not None else None


@dashboard
def overview(request: HttpRequest) -> HttpResponse:
    """Every computed indicator of the alliance for the span as a card: value, target,
    status colour, twelve-month trend; links to the records and the ranking."""
    filters = _filters(request)
    language = _language()
    cards = board.cards(filters.alliance, filters.span, language)
    waiting: dict[str, list[str]] = {}
    for aspect_id, _indicator, name in board.awaiting_data(language):
        waiting.setdefault(aspect_id, []).append(name)
    context = _base_context(request, filters, "overview")
    context.update({
        "groups": [(a_id, name, group,
                    pgettext("list separator", ", ").join(waiting.get(a_id, [])))
                   for a_id, name, group in board.by_aspect(cards, language)],
        "spark_data": _spark_data(cards),
        "counts": {status: sum(1 for c in cards if c.status == status)
                   for status in ("met", "near", "missed")},
    })
    return render(request, "dashboards/overview.html", context)


@dashboard
def overview_xlsx(request: HttpRequest) -> HttpResponse:
    """Every indicator of the alliance for the span, one sheet."""
    filters = _filters(request)
    table = board.alliance_table(filters.alliance, filters.span, _language())
    return board_xlsx.response([(_("Indicators"), table)],
                               f"indicators_{filters.alliance.code}_{filters.span.label}",
                               user=_user(request), request=request)


# --- aspects ------------------------------------------------------------------------------------


def _kind(request: HttpRequest) -> str:
    kind = request.GET.get("kind", INSTITUTION).strip() or INSTITUTION
    if kind not in board.BREAKDOWN_KINDS:
        raise board.BadFilter(_("Break down by institution or by township."))
    return kind


def _kinds() -> list[tuple[str, str]]:
    return [(kind, board.kind_label(kind)) for kind in board.BREAKDOWN_KINDS]


@dashboard
def aspect(request: HttpRequest, aspect_id: str) -> HttpResponse:
    """One aspect: its indicators for the alliance (value, counts, target, status) and the
    same indicators for each institution or township where they are given."""
    chosen = board.aspect(aspect_id)
    filters = _filters(request)
    kind = _kind(request)
    language = _language()
    context = _base_context(request, filters, aspect_id)
    context.update({
        "aspect": chosen, "aspect_name": chosen.name(language),
        "cards": board.aspect_cards(filters.alliance, aspect_id, filters.span, language),
        "breakdown": board.breakdown_table(filters.alliance, aspect_id, filters.span, kind,
                                           language),
        "kind": kind, "kinds": _kinds(),
        "kind_query": {k: filters.query(kind=k) for k in board.BREAKDOWN_KINDS},
        "xlsx_query": filters.query(kind=kind),
    })
    return render(request, "dashboards/aspect.html", context)


@dashboard
def aspect_xlsx(request: HttpRequest, aspect_id: str) -> HttpResponse:
    """The aspect's tables: the alliance, its institutions, its townships."""
    chosen = board.aspect(aspect_id)
    filters = _filters(request)
    language = _language()
    tables = [(chosen.name(language), board.alliance_table(filters.alliance, filters.span,
                                                           language, aspect_id))]
    for kind in board.BREAKDOWN_KINDS:
        tables.append((board.kind_label(kind),
                       board.breakdown_table(filters.alliance, aspect_id, filters.span, kind,
                                             language)))
    return board_xlsx.response(tables, f"{aspect_id}_{filters.alliance.code}_"
                               f"{filters.span.label}", user=_user(request), request=request)


# --- ranking ------------------------------------------------------------------------------------


def _ranking_choice(request: HttpRequest) -> tuple[str, str]:
    """The org kind and indicator to rank by; an indicator given only for the other kind
    (a rate of residents has townships, no institutions) switches the kind."""
    kind = _kind(request)
    indicator = request.GET.get("indicator", "").strip()
    if not indicator:
        choices = board.rankable(kind)
        return kind, choices[0].id if choices else ""
    rankable = {i.id for i in board.rankable(kind)}
    if indicator not in rankable:
        other = next((k for k in board.BREAKDOWN_KINDS
                      if indicator in {i.id for i in board.rankable(k)}), None)
        if other is not None:
            return other, indicator
    return kind, indicator


@dashboard
def ranking(request: HttpRequest) -> HttpResponse:
    """Institutions or townships of the alliance by one indicator, best first (bar chart
    and table)."""
    filters = _filters(request)
    kind, indicator = _ranking_choice(request)
    language = _language()
    item = board.known_indicator(indicator)
    rows = board.ranking(filters.alliance, indicator, kind, filters.span)
    numerator_unit, denominator_unit = board.part_units(item.id)
    context = _base_context(request, filters, "ranking")
    context.update({
        "indicator": item, "indicator_name": item.name(language), "kind": kind,
        "kinds": _kinds(),
        "rows": [(r, board.format_value(r.value, item.unit),
                  board.format_value(r.numerator, numerator_unit),
                  board.format_value(r.denominator, denominator_unit)) for r in rows],
        "choices": [(i.id, i.name(language)) for i in board.rankable(kind)],
        "drillable": board.drillable_parts(item.id),
        "kind_query": {k: filters.query(kind=k) for k in board.BREAKDOWN_KINDS},
        "xlsx_query": filters.query(kind=kind, indicator=item.id),
        "chart": {"names": [r.name for r in rows if r.value is not None],
                  "values": [_number(r.value) for r in rows if r.value is not None],
                  "unit": str(item.unit)},
    })
    return render(request, "dashboards/ranking.html", context)


@dashboard
def ranking_xlsx(request: HttpRequest) -> HttpResponse:
    filters = _filters(request)
    kind, indicator = _ranking_choice(request)
    table = board.ranking_table(filters.alliance, indicator, kind, filters.span, _language())
    return board_xlsx.response([(board.kind_label(kind), table)],
                               f"ranking_{indicator}_{kind}_{filters.span.label}",
                               user=_user(request), request=request)


# --- referral flows -----------------------------------------------------------------------------


@dashboard
def flows(request: HttpRequest) -> HttpResponse:
    """Referrals that happened in the span between levels (sankey) and by direction."""
    filters = _filters(request)
    context = _base_context(request, filters, "flows")
    context["flows"] = board.referral_flows(filters.alliance, filters.span)
    return render(request, "dashboards/flows.html", context)


@dashboard
def flows_xlsx(request: HttpRequest) -> HttpResponse:
    filters = _filters(request)
    table = board.flows_table(filters.alliance, filters.span)
    return board_xlsx.response([(_("Referrals between levels"), table)],
                               f"referral_flows_{filters.alliance.code}_{filters.span.label}",
                               user=_user(request), request=request)


# --- drill-down ---------------------------------------------------------------------------------


@dashboard
def drill(request: HttpRequest, indicator_id: str) -> HttpResponse:
    """The records behind one cell: ``part`` (numerator or denominator), ``kind`` and
    ``org`` (the org unit; default the alliance), the span. Audited and masked by
    ``board.drill``."""
    user = _user(request)
    period = request.GET.get("period", "").strip()
    ytd = "" if period else request.GET.get("ytd", "").strip()
    kind = request.GET.get("kind", ALLIANCE).strip() or ALLIANCE
    org = request.GET.get("org", "").strip()
    if kind == ALLIANCE and not org:
        alliance, _alliances = board.choose_alliance(user, request.GET.get("alliance", ""))
        if alliance is None:
            raise _NoAlliance
        org = str(alliance.pk)
    if kind not in (ALLIANCE, INSTITUTION, TOWNSHIP):
        raise board.BadFilter(_("Records are listed for an alliance, an institution or a "
                                "township."))
    part = request.GET.get("part", "numerator").strip() or "numerator"
    if part not in board.PARTS:
        raise board.BadFilter(_("Choose the numerator or the denominator."))
    span = board.parse_span(period, ytd)
    if span is None:
        span = board.default_span()
    result = board.drill(user, request, indicator_id, part, kind, org, span,
                         request.GET.get("page"))
    alliances = list(scope.alliances_for(user))
    shown = board.span_query(span)
    filters = Filters(result.alliance, alliances, span, shown.get("period", ""),
                      shown.get("ytd", ""))
    context = _base_context(request, filters, "drill")
    context.update({
        "drill": result, "page_obj": result.page, "indicator_name":
        result.indicator.name(_language()), "kind_name": board.kind_label(kind),
        "parts": [(p, filters.query(kind=kind, org=org, part=p))
                  for p in board.drillable_parts(indicator_id)],
        "sees_referrals": has_capability(user, Capability.VIEW_REFERRALS),
    })
    return render(request, "dashboards/drill.html", context)

