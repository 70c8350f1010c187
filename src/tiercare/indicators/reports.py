"""The supervision reports of one alliance and period (issue 5 items 4 and 6): the
out-of-county analysis, the cost structure, the data quality and the **quarterly report**
(summary, every computed indicator with its value, last year's value, target and verdict
under the alliance's policy pack, the out-of-county analysis, cost structure and charts),
as a printable page and as a PDF.

This module turns the engine's numbers (``engine.analysis``, ``engine.compute``) into what
the pages show: names in the user's language (catalogue, ICD-10 names from
``kernel.icd10``, township and institution names), values written with their units, targets
written as people read them, charts (ECharts data for the pages, server-side SVG from
``svg_charts`` for the printable report and its PDF, where no JavaScript runs). Aggregates
only: no resident is named (rules.md §11). The PDF is rendered by WeasyPrint from the
printable page itself, with CJK glyphs from Debian's ``fonts-noto-cjk`` and every external
resource refused (the page carries its CSS and charts inline).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from tiercare.encounters.models import EncounterClass
from tiercare.indicators import catalogue, rules, services, svg_charts
from tiercare.indicators.engine import analysis
from tiercare.indicators.engine.backends import Backend
from tiercare.indicators.engine.compute import Cell, Span, compute
from tiercare.indicators.engine.definitions import ALLIANCE, TOWNSHIP
from tiercare.indicators.scope import org_name
from tiercare.kernel import icd10
from tiercare.kernel.money import format_yuan
from tiercare.kernel.periods import MONTH, QUARTER, Period
from tiercare.registry.models import Alliance, Division, Institution, Level

#: Levels from the village up (the order of the cost-structure tables).
LEVEL_ORDER = (Level.VILLAGE, Level.TOWNSHIP, Level.COUNTY, Level.CITY, Level.PROVINCIAL)
#: The rates drawn month by month in the report's trend chart.
TREND_RATES = ("in_county_visit_rate", "in_county_inpatient_rate", "primary_care_visit_share")
#: The indicators of the report's summary (issue 5 acceptance: in-county visit rate,
#: primary-care share and out-of-county admissions against the pack).
HEADLINE = ("in_county_visit_rate", "in_county_inpatient_rate", "primary_care_visit_share",
            "out_of_county_admissions", "in_county_fund_share")
#: Rows of each out-of-county table in the report and, by default, on the page.
TOP = 10
#: Rendered PDFs kept in ``<data dir>/reports`` (:func:`cached_pdf`).
PDF_CACHE_FILES = 64
COST_PARTS = {
    "drugs": gettext_lazy("Drugs"), "consumables": gettext_lazy("Consumables"),
    "examinations": gettext_lazy("Examinations"),
    "other": gettext_lazy("Other medical services"),
}
KINDS = {analysis.VISIT: gettext_lazy("Per visit"),
         analysis.ADMISSION: gettext_lazy("Per admission")}
CHECK_NAMES = {
    analysis.MISSING_DIAGNOSIS: gettext_lazy("Care events without a diagnosis"),
    analysis.INVALID_DIAGNOSIS: gettext_lazy("Diagnoses that are not valid ICD-10 codes"),
    analysis.UNMATCHED_SETTLEMENT: gettext_lazy(
        "In-county settlements matched to no encounter"),
}
CHECK_HELP = {
    analysis.MISSING_DIAGNOSIS: gettext_lazy(
        "Encounters sent by the alliance's institutions and settlements of its residents "
        "with no primary diagnosis: they cannot be counted by diagnosis."),
    analysis.INVALID_DIAGNOSIS: gettext_lazy(
        "Codes that are not in ICD-10 (WHO 2019; Chinese clinical edition codes are "
        "accepted by their category): ask the sending system to correct them."),
    analysis.UNMATCHED_SETTLEMENT: gettext_lazy(
        "The insurance bureau paid for care in the county that no institution reported as "
        "an encounter (or reported with another resident, class or day), out of the "
        "settled in-county care events."),
}


# --- the period --------------------------------------------------------------------------


def default_period(latest: int | None, today: dt.date | None = None) -> Period:
    """The quarter of the latest month with data (``yyyymm``), else the current quarter."""
    if latest is None:
        today = today or timezone.localdate()
        year, month = today.year, today.month
    else:
        year, month = divmod(latest, 100)
    return Period(QUARTER, year, (month - 1) // 3 + 1)


def period_label(period: Period) -> str:
    """The period as the pages write it: ``2025年第3季度`` / ``2025 Q3``."""
    if period.kind == QUARTER:
        return _("%(year)s Q%(quarter)s") % {"year": period.year, "quarter": period.number}
    if period.kind == MONTH:
        return _("%(year)s-%(month)02d") % {"year": period.year, "month": period.number}
    return _("Year %(year)s") % {"year": period.year}


# --- writing values ----------------------------------------------------------------------


def _plain(value: Decimal, places: int = 2) -> str:
    return f"{value:,.{places}f}"


def format_value(value: Decimal | None, unit: str) -> str:
    """A value with its unit: ``89.74%``, ``+3.20%``, ``¥193.41``, ``2.54 h``,
    ``6.67 per 10,000``, ``17``; ``—`` for no value. Two places always, where the
    dashboards (``board.format_value``) drop trailing zeros: the printed report lines up."""
    if value is None:
        return "—"
    if unit in (rules.Unit.PERCENT, rules.Unit.PERCENT_OF_PLAN):
        return f"{_plain(value)}%"
    if unit == rules.Unit.PERCENT_CHANGE:
        return f"{value:+,.2f}%" if value else f"{0:.2f}%"
    if unit == rules.Unit.COUNT:
        return _plain(value, 0) if value == value.to_integral_value() else _plain(value)
    if unit == rules.Unit.YUAN:
        return format_yuan(value)
    if unit == rules.Unit.HOURS:
        return _("%(value)s h") % {"value": _plain(value)}
    if unit == rules.Unit.PER_10K:  # the dashboards' wording (board.format_value)
        return _("%(n)s per 10,000") % {"n": _plain(value)}
    return _plain(value)


def format_target(target: rules.Target | None, unit: str) -> str:
    """A target as people read it: ``≥ 65%``, ``≈ 85% ± 2``, ``falling against last
    year``, ``growth against last year at least (%) 10%``; empty for none."""
    if target is None:
        return ""
    comparison = rules.Comparison(target.comparison)
    shown = _target_number(target.value, unit) if target.value is not None else ""
    if comparison == rules.Comparison.AT_LEAST:
        return f"≥ {shown}"
    if comparison == rules.Comparison.AT_MOST:
        return f"≤ {shown}"
    if comparison == rules.Comparison.APPROX:
        tolerance = rules.plain_number(target.tolerance or Decimal(0))
        return f"≈ {shown} ± {tolerance}"
    label = str(comparison.label)
    return f"{label} {shown}" if shown else label


def _target_number(value: Decimal, unit: str) -> str:
    """A target value as policy texts write it: ``90%``, ``¥200``, ``3``."""
    if unit in (rules.Unit.PERCENT, rules.Unit.PERCENT_OF_PLAN, rules.Unit.PERCENT_CHANGE):
        return f"{rules.plain_number(value)}%"
    if unit == rules.Unit.YUAN:
        return format_yuan(value)
    if unit == rules.Unit.HOURS:
        return _("%(value)s h") % {"value": rules.plain_number(value)}
    return rules.plain_number(value)


def money(value: Decimal | None) -> str:
    return "—" if value is None else format_yuan(value)


def ten_thousands(value: Decimal) -> float:
    """Yuan in units of 10,000 yuan (万元), for charts."""
    return float(round(value / 10_000, 2))


def _safe(markup: str) -> SafeString:
    """SVG from :mod:`svg_charts`, which escapes every text it writes."""
    return mark_safe(markup)


# --- labels ------------------------------------------------------------------------------


def diagnosis_label(category: str | None, language: str) -> str:
    """``I21 急性心肌梗死`` (the category with its name in ``language``); the category
    alone when ICD-10 does not know it; "no diagnosis" for none."""
    if not category:
        return _("No diagnosis")
    name = icd10.display_name(category, language)
    return category if name == category else f"{category} {name}"


def township_label(code: str | None, names: dict[str, str] | None = None) -> str:
    """A township's name (``names``: already read, code → name; else one query)."""
    if not code:
        return _("Township unknown")
    if names is not None:
        return names.get(code) or code
    return org_name(TOWNSHIP, code)


def township_names(codes: Sequence[str | None]) -> dict[str, str]:
    """The names of these townships in one query (``scope.org_name`` reads one)."""
    wanted = {c for c in codes if c}
    return dict(Division.objects.filter(code__in=wanted).values_list("code", "name"))


def institution_names(ids: Sequence[int | None]) -> dict[int, str]:
    wanted = {i for i in ids if i is not None}
    return dict(Institution.objects.filter(pk__in=wanted).values_list("pk", "name"))


def level_label(level: str | None) -> str:
    return str(dict(Level.choices).get(level or "", level or _("Level unknown")))


# --- out-of-county analysis --------------------------------------------------------------


@dataclass(frozen=True)
class GroupLine:
    """One row of an out-of-county table with its label."""

    label: str
    row: analysis.OutflowRow


@dataclass(frozen=True)
class OutflowView:
    """An out-of-county table as shown: labelled rows, the total, and chart data."""

    dimension: str
    table: analysis.OutflowTable
    lines: list[GroupLine]

    def chart(self) -> dict[str, Any]:
        """ECharts data: admissions (bottom axis) and fund in 10,000 yuan (top axis)."""
        return {"categories": [line.label for line in self.lines],
                "axes": [str(_("Admissions")), str(_("Fund (10,000 yuan)"))],
                "series": [
                    {"name": str(_("Out-of-county admissions")), "axis": 0,
                     "values": [line.row.admissions for line in self.lines]},
                    {"name": str(_("Out-of-county fund (10,000 yuan)")), "axis": 1,
                     "values": [ten_thousands(line.row.fund) for line in self.lines]}]}

    def svg(self, title: str, order: str) -> SafeString:
        """The printable chart: one bar per row, by admissions or by fund (10,000 yuan)."""
        if order == analysis.BY_FUND:
            series = svg_charts.Series(str(_("Out-of-county fund (10,000 yuan)")),
                                       [ten_thousands(line.row.fund) for line in self.lines])
        else:
            series = svg_charts.Series(str(_("Out-of-county admissions")),
                                       [line.row.admissions for line in self.lines])
        return _safe(svg_charts.bar_chart(
            [line.label for line in self.lines], [series], title=title,
            empty=str(_("No out-of-county care in the period."))))


def outflow_view(backend: Backend, alliance: Alliance, span: Span, dimension: str,
                 language: str, *, top: int = TOP,
                 order: str = analysis.BY_ADMISSIONS) -> OutflowView:
    table = analysis.outflow(backend, alliance.pk, span, dimension, top=top, order=order)
    if dimension == analysis.DIAGNOSIS:
        lines = [GroupLine(diagnosis_label(r.key, language), r) for r in table.rows]
    else:
        names = township_names([r.key for r in table.rows])
        lines = [GroupLine(township_label(r.key, names), r) for r in table.rows]
    return OutflowView(dimension, table, lines)


# --- cost structure ----------------------------------------------------------------------


@dataclass(frozen=True)
class CostLine:
    """One row of the cost-structure tables: a level or an institution, one kind of care."""

    label: str
    level: str | None
    row: analysis.CostRow

    @property
    def kind_label(self) -> str:
        return str(KINDS[self.row.kind])

    def per_event(self) -> list[str]:
        values = self.row.per_event()
        return [money(values[name]) for name in (*COST_PARTS, "total")]

    def shares(self) -> list[str]:
        shares = self.row.shares()
        return [format_value(shares[name], rules.Unit.PERCENT) for name in COST_PARTS]


@dataclass(frozen=True)
class CostView:
    totals: list[CostLine]
    levels: list[CostLine]
    institutions: list[CostLine]

    @property
    def parts_labels(self) -> list[str]:
        return [str(label) for label in COST_PARTS.values()]

    def chart(self, kind: str) -> dict[str, Any]:
        """ECharts data: per-event cost of ``kind`` by level, stacked by part."""
        lines = [line for line in self.levels if line.row.kind == kind]
        return {"categories": [line.label for line in lines], "stack": True,
                "axes": [str(_("Yuan"))],
                "series": [{"name": str(label), "axis": 0,
                            "values": [float(line.row.per_event()[name] or 0)
                                       for line in lines]}
                           for name, label in COST_PARTS.items()]}

    def svg(self, kind: str, title: str) -> SafeString:
        lines = [line for line in self.levels if line.row.kind == kind]
        series = [svg_charts.Series(str(label), [line.row.per_event()[name] for line in lines])
                  for name, label in COST_PARTS.items()]
        return _safe(svg_charts.bar_chart(
            [line.label for line in lines], series, title=title,
            empty=str(_("No care in the period."))))


def cost_view(backend: Backend, alliance: Alliance, span: Span) -> CostView:
    structure = analysis.cost_structure(backend, alliance.pk, span, LEVEL_ORDER)
    names = institution_names([r.institution for r in structure.institutions])
    return CostView(
        [CostLine(str(_("All institutions")), None, row)
         for row in structure.total.values() if row.events],
        [CostLine(level_label(row.level), row.level, row) for row in structure.levels],
        [CostLine(names.get(row.institution or 0, str(row.institution)), row.level, row)
         for row in structure.institutions])


# --- data quality ------------------------------------------------------------------------


@dataclass(frozen=True)
class SampleLine:
    """A record behind a data-quality count, as listed (no resident named)."""

    record: str
    institution: str
    klass: str
    date: dt.date | None
    diagnosis: str
    fund: str


@dataclass(frozen=True)
class CheckView:
    name: str
    help: str
    check: analysis.Check
    samples: list[SampleLine]
    codes: list[tuple[str, int]] = field(default_factory=list)


def _record(sample: analysis.Sample) -> str:
    kind = _("Encounter") if sample.source == "E" else _("Settlement")
    return f"{kind} #{sample.id}"


def quality_view(backend: Backend, alliance: Alliance, span: Span) -> list[CheckView]:
    checks = analysis.data_quality(backend, alliance.pk, span)
    names = institution_names([s.institution for c in checks.values() for s in c.samples])
    classes = dict(EncounterClass.choices)
    out = []
    for key in analysis.CHECKS:
        check = checks[key]
        samples = [SampleLine(_record(s), names.get(s.institution or 0, "—"),
                              str(classes.get(s.klass, s.klass)), s.date, s.diagnosis or "—",
                              money(s.fund) if s.source == "S" else "")
                   for s in check.samples]
        out.append(CheckView(str(CHECK_NAMES[key]), str(CHECK_HELP[key]), check, samples,
                             check.codes[:20]))
    return out


# --- indicators against the pack ---------------------------------------------------------


@dataclass(frozen=True)
class IndicatorLine:
    """One computed indicator of the alliance for the period, judged against its target."""

    indicator: catalogue.Indicator
    name: str
    cell: Cell
    previous: Decimal | None
    target: rules.Target | None
    status: rules.Status

    @property
    def value_text(self) -> str:
        return format_value(self.cell.value, self.indicator.unit)

    @property
    def previous_text(self) -> str:
        return format_value(self.previous, self.indicator.unit)

    @property
    def target_text(self) -> str:
        return format_target(self.target, self.indicator.unit)

    @property
    def status_label(self) -> str:
        return str(self.status.label)


@dataclass(frozen=True)
class AspectBlock:
    id: str
    name: str
    lines: list[IndicatorLine]


def indicator_lines(backend: Backend, alliance: Alliance, span: Span,
                    language: str) -> list[IndicatorLine]:
    """Every indicator the engine computes for the alliance in ``span``, in catalogue order,
    with last year's value and the verdict under the alliance's pack and overrides
    (``services.targets_for``; ``rules.status``)."""
    org = str(alliance.pk)
    before_span = span.a_year_before()
    cells = compute(backend, [span, before_span], ALLIANCE, orgs=[org])
    now = {c.indicator: c for c in cells if c.span == span}
    before = {c.indicator: c.value for c in cells if c.span == before_span}
    targets = services.targets_for(alliance)
    lines = []
    for indicator in catalogue.load_catalogue().indicators:
        cell = now.get(indicator.id)
        if cell is None:
            continue
        target = targets.get(indicator.id) if indicator.judged else None
        verdict = (rules.status(cell.value, target, indicator.direction,
                                previous=before.get(indicator.id))
                   if target is not None else rules.Status.NONE)
        lines.append(IndicatorLine(indicator, indicator.name(language), cell,
                                   before.get(indicator.id), target, verdict))
    return lines


def by_aspect(lines: Sequence[IndicatorLine], language: str) -> list[AspectBlock]:
    blocks = []
    for aspect in catalogue.load_catalogue().aspects:
        inside = [line for line in lines if line.indicator.aspect == aspect.id]
        if inside:
            blocks.append(AspectBlock(aspect.id, aspect.name(language), inside))
    return blocks


# --- the quarterly report ----------------------------------------------------------------


@dataclass(frozen=True)
class QuarterlyReport:
    """Everything the quarterly report shows (``templates/indicators/reports/quarterly.html``)."""

    alliance: Alliance
    period: Period
    span: Span
    pack: catalogue.Pack
    generated_at: dt.datetime
    lines: list[IndicatorLine]
    aspects: list[AspectBlock]
    diagnoses: OutflowView
    diagnoses_by_fund: OutflowView
    townships: OutflowView
    costs: CostView
    quality: list[CheckView]
    charts: dict[str, SafeString]
    not_computed: list[str]

    @property
    def headline(self) -> list[IndicatorLine]:
        found = {line.indicator.id: line for line in self.lines}
        return [found[i] for i in HEADLINE if i in found]

    def with_status(self, status: str) -> list[IndicatorLine]:
        return [line for line in self.lines if line.status == status]

    @property
    def tally(self) -> list[tuple[str, str, int]]:
        """(status, label, number of indicators) for met, near, missed, no verdict."""
        return [(str(s.value), str(s.label), len(self.with_status(s)))
                for s in rules.Status]

    @property
    def missed(self) -> list[IndicatorLine]:
        return self.with_status(rules.Status.MISSED)

    @property
    def near(self) -> list[IndicatorLine]:
        return self.with_status(rules.Status.NEAR)

    @property
    def judged(self) -> int:
        return sum(1 for line in self.lines if line.status != rules.Status.NONE)


def _month_spans(span: Span, count: int = 12) -> list[Span]:
    """The ``count`` months ending with the span's last month."""
    year, month = divmod(span.last, 100)
    out = []
    for _n in range(count):
        out.append(Span(year * 100 + month, year * 100 + month, f"{year}-{month:02d}"))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return out[::-1]


def _trend_charts(backend: Backend, alliance: Alliance, span: Span,
                  language: str) -> dict[str, SafeString]:
    """The rates of :data:`TREND_RATES` and out-of-county admissions (this year and a year
    before) month by month over the 12 months ending with the span."""
    months = _month_spans(span)
    earlier = [m.a_year_before() for m in months]
    cells = compute(backend, months + earlier, ALLIANCE,
                    ids=[*TREND_RATES, "out_of_county_admissions"], orgs=[str(alliance.pk)])
    value = {(c.indicator, c.span): c.value for c in cells}
    units = catalogue.load_catalogue()
    labels = [m.label[2:] for m in months]  # "25-07"
    rates = [svg_charts.Series(units.indicator(i).name(language),
                               [value.get((i, m)) for m in months]) for i in TREND_RATES]
    outflow = [svg_charts.Series(str(_("This year")),
                                 [value.get(("out_of_county_admissions", m)) for m in months]),
               svg_charts.Series(str(_("A year before")),
                                 [value.get(("out_of_county_admissions", m)) for m in earlier])]
    empty = str(_("No data in these months."))
    return {
        "rates": _safe(svg_charts.line_chart(
            labels, rates, title=str(_("Care-seeking rates by month (%)")), y_max=100,
            empty=empty)),
        "outflow": _safe(svg_charts.line_chart(
            labels, outflow, title=str(_("Out-of-county admissions by month")),
            height=200, empty=empty)),
    }


def quarterly_report(backend: Backend, alliance: Alliance, period: Period,
                     language: str) -> QuarterlyReport:
    """The report of ``alliance`` for ``period`` (a quarter, or any period) in ``language``."""
    span = Span.of(period)
    lines = indicator_lines(backend, alliance, span, language)
    computed = {line.indicator.id for line in lines}
    diagnoses = outflow_view(backend, alliance, span, analysis.DIAGNOSIS, language)
    by_fund = outflow_view(backend, alliance, span, analysis.DIAGNOSIS, language,
                           order=analysis.BY_FUND)
    townships = outflow_view(backend, alliance, span, analysis.TOWNSHIP, language)
    costs = cost_view(backend, alliance, span)
    charts = _trend_charts(backend, alliance, span, language)
    charts["diagnoses"] = diagnoses.svg(str(_("Out-of-county admissions by diagnosis")),
                                        analysis.BY_ADMISSIONS)
    charts["diagnoses_fund"] = by_fund.svg(
        str(_("Out-of-county fund by diagnosis (10,000 yuan)")), analysis.BY_FUND)
    charts["townships"] = townships.svg(
        str(_("Out-of-county admissions by township of residence")), analysis.BY_ADMISSIONS)
    charts["cost_visit"] = costs.svg(analysis.VISIT, str(_("Cost per visit by level (yuan)")))
    charts["cost_admission"] = costs.svg(analysis.ADMISSION,
                                         str(_("Cost per admission by level (yuan)")))
    not_computed = [i.name(language) for i in catalogue.load_catalogue().indicators
                    if i.id not in computed]
    return QuarterlyReport(
        alliance, period, span, services.pack_for(alliance), timezone.now(),
        lines, by_aspect(lines, language), diagnoses, by_fund, townships, costs,
        quality_view(backend, alliance, span), charts, not_computed)


# --- PDF ---------------------------------------------------------------------------------


def render_pdf(html: str) -> bytes:
    """The printable page as a PDF (WeasyPrint; fonts from fontconfig, Noto Sans CJK for
    Chinese). Every external resource is refused: the page carries its CSS and charts."""
    from weasyprint import HTML
    from weasyprint.urls import URLFetcher

    fetcher = URLFetcher(allowed_protocols=("data",), fail_on_errors=False)
    pdf = HTML(string=html, url_fetcher=fetcher, base_url="/").write_pdf()
    return bytes(pdf or b"")


def pdf_cache_dir() -> Path:
    return Path(settings.DATA_DIR) / "reports"


def cached_pdf(html: str) -> bytes:
    """The PDF of the page, rendered once per distinct page: a PDF takes seconds (Chinese
    text laid out and its fonts subset), while the page — the same figures, targets and
    language — renders in a fraction of one. Kept in ``<data dir>/reports`` under the digest
    of the page (a changed figure or target is another page, never a stale PDF); only the
    :data:`PDF_CACHE_FILES` newest are kept."""
    directory = pdf_cache_dir()
    path = directory / f"{hashlib.sha256(html.encode()).hexdigest()}.pdf"
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    pdf = render_pdf(html)
    directory.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.name}.{os.getpid()}.part")
    partial.write_bytes(pdf)
    os.replace(partial, path)
    _prune(directory)
    return pdf


def _prune(directory: Path) -> None:
    """Drop all but the newest :data:`PDF_CACHE_FILES` PDFs (another process may be pruning
    at the same time: a file already gone is no error)."""
    dated = []
    for file in directory.glob("*.pdf"):
        try:
            dated.append((file.stat().st_mtime, file))
        except FileNotFoundError:
            continue
    for _mtime, old in sorted(dated, reverse=True)[PDF_CACHE_FILES:]:
        old.unlink(missing_ok=True)
