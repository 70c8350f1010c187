"""MeasureReport ↔ one indicator for one org unit and one period, computed from the
analytics snapshot when asked for (FHIR R4 §12.5 MeasureReport, ``type`` summary; the engine
``indicators.engine``: ``snapshot.reader`` and ``compute``). ADR 0019 records the choices.

* ``id``: ``<measure id>.<subject id>.<period>`` — ``in-county-visit-rate.alliance-1.2025Q3``;
  the period is ``2025`` (year), ``2025Q3`` (quarter), ``2025-07`` (month) or
  ``202507-202508`` (another run of whole months). A read computes that one report.
* ``subject``: ``Organization/alliance-N`` or ``Organization/institution-N``, or for a
  township ``Location/division-N`` (the township's division of the grid). R4 lists no
  Organization among ``MeasureReport.subject``'s targets (R5 added it, and R4's own
  ``Measure.subject`` names Organization as a subject type): ADR 0019. Levels have no
  resource and no reports here (the dashboards and ``tiercare indicators show`` have them).
* ``reporter``: the alliance that answers for the subject (itself; an institution's
  alliance; for a township the one alliance whose grid holds it), when there is one.
* ``status``: ``complete`` when the period ended before the snapshot was refreshed,
  ``pending`` while it runs (the values so far). Periods that begin after the refresh have
  no reports. ``date`` and ``meta.lastUpdated``: the refresh (China time).
* ``period``: first and last day. ``measure``: the Measure's canonical URL;
  ``improvementNotation`` as the Measure's.
* ``group[0]``: ``population`` as the Measure's with the engine's numbers — ``count`` for
  counts, and for sums of money (the fund shares' and costs' numerators and denominators)
  the amount in the extension ``…/StructureDefinition/population-amount`` (``valueMoney``,
  CNY), since ``count`` is an integer; ``measureScore`` the value in the indicator's unit
  (``%``, ``h``, ``1``, ``/10*4`` in UCUM; yuan as ISO 4217 ``CNY``), absent when the
  denominator is zero or no record exists. The extension ``…/StructureDefinition/
  indicator-target`` gives the target in force for the reporter's alliance (``comparison``,
  ``value``, ``tolerance``, ``source`` = the policy pack or ``override``) and the ``status``
  of the value against it (``met`` | ``near`` | ``missed`` | ``none``; ``indicators.rules``).

Search (``MeasureReport?measure=…&subject=…&period=…``):

* ``measure``: ``Measure/<id>``, the canonical URL (optionally ``|version``), the bare id or
  the indicator id; without it every computed measure given for the subject's kind.
* ``subject``: ``Organization/alliance-N``, ``Organization/institution-N``,
  ``Location/division-N`` (a township), a bare id, or with a type modifier
  (``subject:Location=division-7``); without it every alliance the caller sees (a system
  held to an institution: that institution).
* ``period``: a period as TierCare writes them (``2025``, ``2025Q3``, ``2025-07``; several
  with commas) — exactly that period's report; or FHIR date bounds ``ge``/``gt`` and
  ``le``/``lt``, rounded out to whole months (``period=ge2025-07-01&period=le2025-09-30`` is
  2025Q3; ``ge`` alone runs to the snapshot's month, e.g. year to date). Without it, the
  calendar year of the snapshot's refresh. Other forms (a day, ``ne``) are 400.
* ``status``: ``complete`` | ``pending``.

Who sees what: reports are aggregates without residents' data (not audited per read; the
traffic of integrating systems is counted as for every call), kept to the caller's reach as
the dashboards are (``indicators.scope``): a whole-county system every org unit; a system
held to an alliance its alliance, members and the townships of its county; one held to an
institution that institution; people the alliances their role shows indicators of
(``alliances_for``), with the members and townships. Anything else answers as absent.
Without a snapshot (no refresh has run yet) a search answers no reports and says why in an
information issue; a read answers 404 with the same words.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import duckdb
from django.utils.translation import gettext_lazy as _

from tiercare.fhir.auth import Client
from tiercare.fhir.errors import FhirError, Issue
from tiercare.fhir.mappers.measure import (
    canonical,
    improvement,
    indicator_named,
    measure_id,
    population_code,
    populations,
    score_quantity,
    subject_kinds,
    token_matches,
)
from tiercare.fhir.mapping import (
    BASE_URI,
    ComputedMapper,
    Criterion,
    computed_param,
    mapper_for,
    money,
    referenced,
    register,
)
from tiercare.fhir.search import CHINA, parse_date
from tiercare.indicators import rules, services
from tiercare.indicators.catalogue import Indicator, load_catalogue
from tiercare.indicators.engine import snapshot
from tiercare.indicators.engine.compute import Cell, Span, compute
from tiercare.indicators.engine.definitions import ALLIANCE, INSTITUTION, TOWNSHIP
from tiercare.indicators.scope import alliances_for
from tiercare.kernel import periods
from tiercare.kernel.errors import InvalidPeriod
from tiercare.registry.models import Alliance, Division, Grid, Institution

log = logging.getLogger(__name__)

AMOUNT_URL = f"{BASE_URI}/StructureDefinition/population-amount"
TARGET_URL = f"{BASE_URI}/StructureDefinition/indicator-target"
STATUS_SYSTEM = "http://hl7.org/fhir/measure-report-status"
COMPLETE, PENDING = "complete", "pending"
#: the first year a period may lie in (a year earlier is computed beside it for targets)
FIRST_YEAR = 1900
_RUN = re.compile(r"(\d{6})-(\d{6})")
_BOUNDS = ("ge", "gt", "le", "lt")

NO_SNAPSHOT = _("No indicator values have been computed yet: the background worker makes the "
                "indicator snapshot every 10 minutes, or run “tiercare indicators "
                "refresh”.")
BAD_PERIOD = _("period: “%(value)s” is not a period. Write a year (2025), a quarter (2025Q3) "
               "or a month (2025-07), or a run of whole months with date bounds "
               "(period=ge2025-07-01&period=le2025-09-30).")


# -- periods ------------------------------------------------------------------------------------

def span_code(first: int, last: int) -> str:
    """How a run of months (``yyyymm``) is written in ids: the year, quarter or month it is,
    else ``yyyymm-yyyymm``."""
    y1, m1 = divmod(first, 100)
    y2, m2 = divmod(last, 100)
    if first == last:
        return f"{y1:04d}-{m1:02d}"
    if y1 == y2 and (m1, m2) == (1, 12):
        return f"{y1:04d}"
    if y1 == y2 and m1 % 3 == 1 and m2 == m1 + 2:
        return f"{y1:04d}Q{(m1 + 2) // 3}"
    return f"{first:06d}-{last:06d}"


def make_span(first: int, last: int) -> Span:
    return Span(first, last, span_code(first, last))


def span_named(code: str) -> Span | None:
    """The span an id's period part names, written as ids write it (else ``None``)."""
    run = _RUN.fullmatch(code)
    if run:
        first, last = int(run.group(1)), int(run.group(2))
        if not (1 <= first % 100 <= 12 and 1 <= last % 100 <= 12 and first <= last):
            return None
        span = make_span(first, last)
    else:
        try:
            span = Span.of(periods.parse(code))
        except InvalidPeriod:
            return None
    return span if span.label == code and span.first // 100 >= FIRST_YEAR else None


def _previous_month(month: int) -> int:
    year, number = divmod(month, 100)
    return (year - 1) * 100 + 12 if number == 1 else month - 1


def _month_of(moment: dt.datetime) -> int:
    local = moment.astimezone(CHINA)
    return local.year * 100 + local.month


def _month_before(moment: dt.datetime) -> int:
    """The month of the last instant before ``moment`` (China time)."""
    local = moment.astimezone(CHINA)
    month = local.year * 100 + local.month
    starts_month = local.day == 1 and local.time() == dt.time(0)
    return _previous_month(month) if starts_month else month


def _bad_period(value: str) -> FhirError:
    return FhirError(400, "invalid", BAD_PERIOD, ["MeasureReport.period"], value=value[:64])


def _named_period(value: str) -> Span:
    text = value.strip()
    text = text[2:] if text.startswith("eq") else text
    try:
        return Span.of(periods.parse(text))
    except InvalidPeriod:
        raise _bad_period(value) from None


@dataclass(frozen=True)
class Periods:
    """What ``period`` asked for: named periods (``None``: none named) and bounds in whole
    months (``yyyymm``)."""

    named: list[Span] | None
    low: int | None
    high: int | None

    def spans(self, refreshed_month: int) -> list[Span]:
        """The spans to report, given the snapshot's month (no span begins after it)."""
        if self.low is not None:  # ``ge`` alone: up to the snapshot's month
            top = self.high if self.high is not None else refreshed_month
            if self.named is None:
                chosen = [make_span(self.low, top)] if self.low <= top else []
            else:
                chosen = [s for s in self.named if s.first >= self.low and s.last <= top]
        elif self.named is not None:
            chosen = self.named
        else:
            year = refreshed_month // 100
            chosen = [make_span(year * 100 + 1, year * 100 + 12)]
        return [s for s in chosen if s.first <= refreshed_month]


def read_periods(criteria: list[Criterion]) -> Periods:
    """The ``period`` criteria, checked (400 for what is no period)."""
    named: list[Span] | None = None
    low: int | None = None
    high: int | None = None
    for criterion in criteria:
        if criterion.name != "period":
            continue
        bounds = [v for v in criterion.values if v[:2] in _BOUNDS]
        if bounds and len(criterion.values) > 1:
            raise FhirError(400, "invalid", _("period: a bound (ge, gt, le, lt) stands alone; "
                                              "repeat the parameter for each bound."),
                            ["MeasureReport.period"])
        if bounds:
            value = bounds[0]
            when = parse_date("period", value)
            prefix = value[:2]
            if prefix in ("ge", "gt"):
                month = _month_of(when.start if prefix == "ge" else when.end)
                low = month if low is None else max(low, month)
            else:
                month = _month_before(when.end if prefix == "le" else when.start)
                high = month if high is None else min(high, month)
            continue
        spans = [_named_period(value) for value in criterion.values]
        named = spans if named is None else [s for s in named if s in spans]
    if high is not None and low is None:
        raise FhirError(400, "invalid", _("period: a range of months needs its start too "
                                          "(period=ge2025-07-01&period=le2025-09-30)."),
                        ["MeasureReport.period"])
    months = [m for m in (low, high) if m is not None]
    months += [s.first for s in named or []]
    if any(month // 100 < FIRST_YEAR for month in months):
        raise FhirError(400, "invalid", _("period: indicator periods begin in %(year)d or "
                                          "later."), ["MeasureReport.period"], year=FIRST_YEAR)
    return Periods(named, low, high)


# -- who the reports are of ---------------------------------------------------------------------

@dataclass(frozen=True)
class Reach:
    """The org units whose reports a client sees (module docstring)."""

    everything: bool = False
    alliances: frozenset[int] = frozenset()
    institutions: frozenset[int] = frozenset()
    counties: frozenset[str] = frozenset()


def reach_of(client: Client) -> Reach:
    token = client.token
    if token is not None:
        if token.whole_county:
            return Reach(everything=True)
        if token.institution_id is not None:
            return Reach(institutions=frozenset({token.institution_id}))
        alliance_ids = {token.alliance_id} if token.alliance_id is not None else set()
    elif client.user is not None:
        alliance_ids = set(alliances_for(client.user).values_list("pk", flat=True))
    else:
        return Reach()
    members = Institution.objects.filter(alliance_id__in=alliance_ids).values_list("pk",
                                                                                   flat=True)
    counties = Alliance.objects.filter(pk__in=alliance_ids).exclude(county_code="") \
        .values_list("county_code", flat=True)
    return Reach(False, frozenset(alliance_ids), frozenset(members), frozenset(counties))


@dataclass(frozen=True)
class Subject:
    """An org unit a report is of: the engine's kind and key, the id part (``alliance-1``),
    the Reference, and the alliance that answers for it (the reporter, whose targets hold)."""

    kind: str
    key: str
    part: str
    name: str
    resource_type: str
    alliance: Alliance | None

    def reference(self) -> dict[str, str]:
        return {"reference": f"{self.resource_type}/{self.part}", "display": self.name}


def _alliance_subject(alliance: Alliance) -> Subject:
    part = mapper_for("Organization").model_id(Alliance, alliance.pk)
    return Subject(ALLIANCE, str(alliance.pk), part, alliance.name, "Organization", alliance)


def _institution_subject(institution: Institution) -> Subject:
    part = mapper_for("Organization").model_id(Institution, institution.pk)
    return Subject(INSTITUTION, str(institution.pk), part, institution.name, "Organization",
                   institution.alliance)


def _township_subject(division: Division) -> Subject:
    grid = list(Grid.objects.filter(division=division).select_related("alliance")[:2])
    part = mapper_for("Location").model_id(Division, division.pk)
    return Subject(TOWNSHIP, division.code[:9], part, division.name, "Location",
                   grid[0].alliance if len(grid) == 1 else None)


def subject_named(value: str, modifier: str, reach: Reach) -> Subject | None:
    """The org unit a ``subject`` value names, if the client sees it."""
    text = value.strip()
    if modifier and "/" not in text:
        text = f"{modifier}/{text}"
    named = referenced(text, "Organization")
    if named is not None:
        model, pk = named
        if model is Alliance and (reach.everything or pk in reach.alliances):
            alliance = Alliance.objects.filter(pk=pk).first()
            return _alliance_subject(alliance) if alliance is not None else None
        if model is Institution and (reach.everything or pk in reach.institutions):
            institution = Institution.objects.select_related("alliance").filter(pk=pk).first()
            return _institution_subject(institution) if institution is not None else None
        return None
    named = referenced(text, "Location")
    if named is None or named[0] is not Division:
        return None
    division = Division.objects.filter(pk=named[1], kind=Division.Kind.TOWNSHIP).first()
    if division is None or not (reach.everything or division.code[:6] in reach.counties):
        return None
    return _township_subject(division)


def default_subjects(reach: Reach) -> list[Subject]:
    """Every alliance the client sees; a system held to an institution, that institution."""
    alliances = Alliance.objects.order_by("code")
    if not reach.everything:
        alliances = alliances.filter(pk__in=reach.alliances)
    found = [_alliance_subject(a) for a in alliances]
    if not found and reach.institutions:
        found = [_institution_subject(i) for i in Institution.objects.select_related(
            "alliance").filter(pk__in=reach.institutions).order_by("code")]
    return found


# -- reports ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Report:
    """One computed report: the indicator for one subject and span, the engine's cell
    (``None``: no record at all), the value a year earlier and the target in force."""

    indicator: Indicator
    subject: Subject
    span: Span
    cell: Cell | None
    previous: Decimal | None
    target: rules.Target | None
    refreshed: dt.datetime

    @property
    def id(self) -> str:
        return f"{measure_id(self.indicator.id)}.{self.subject.part}.{self.span.label}"


Candidate = tuple[Indicator, Subject, Span]


def _month(month: int) -> periods.Period:
    return periods.Period(periods.MONTH, month // 100, month % 100)


def _first_day(month: int) -> dt.date:
    return _month(month).start


def _last_day(month: int) -> dt.date:
    return _month(month).end


def report_status(span: Span, refreshed: dt.datetime) -> str:
    return COMPLETE if _last_day(span.last) < refreshed.astimezone(CHINA).date() else PENDING


def _refreshed() -> dt.datetime | None:
    """When the snapshot was last refreshed (``None``: there is none)."""
    try:
        state = snapshot.state()
    except duckdb.Error:
        log.exception("the indicator snapshot cannot be read")
        raise _unreadable() from None
    stamp = state.get("refreshed_at")
    return dt.datetime.fromisoformat(stamp) if stamp else None


def _unreadable() -> FhirError:
    return FhirError(503, "transient", _("The indicator snapshot cannot be read just now; try "
                                         "again in a minute."))


def compute_reports(candidates: list[Candidate], refreshed: dt.datetime) -> list[Report]:
    """The reports of the candidates, in their order: one ``compute`` per kind of subject
    over the snapshot, with the spans a year earlier for the targets that compare with it."""
    cells: dict[tuple[str, str, int, int], Cell] = {}
    by_kind: dict[str, list[Candidate]] = {}
    for candidate in candidates:
        by_kind.setdefault(candidate[1].kind, []).append(candidate)
    try:
        with snapshot.reader() as backend:
            for kind, chosen in by_kind.items():
                spans: dict[tuple[int, int], Span] = {}
                for _indicator, _subject, span in chosen:
                    for s in (span, make_span(span.first - 100, span.last - 100)):
                        spans[(s.first, s.last)] = s
                ids = sorted({indicator.id for indicator, _s, _p in chosen})
                orgs = sorted({subject.key for _i, subject, _p in chosen})
                for found in compute(backend, list(spans.values()), kind, ids=ids, orgs=orgs):
                    cells[(found.indicator, found.org, found.span.first, found.span.last)] = found
    except FileNotFoundError:
        raise FhirError(404, "not-found", NO_SNAPSHOT) from None
    except duckdb.Error:
        log.exception("the indicator snapshot cannot be read")
        raise _unreadable() from None
    targets: dict[int, dict[str, rules.Target]] = {}
    reports = []
    for indicator, subject, span in candidates:
        cell = cells.get((indicator.id, subject.key, span.first, span.last))
        before = cells.get((indicator.id, subject.key, span.first - 100, span.last - 100))
        target = None
        if subject.alliance is not None:
            if subject.alliance.pk not in targets:
                targets[subject.alliance.pk] = services.targets_for(subject.alliance)
            target = targets[subject.alliance.pk].get(indicator.id)
        reports.append(Report(indicator, subject, span, cell,
                              before.value if before is not None else None, target, refreshed))
    return reports


def _population(population: Any, cell: Cell | None) -> dict[str, Any]:
    number = getattr(cell, population.source) if cell is not None else None
    number = Decimal(0) if number is None else number  # no record: nobody counted
    entry: dict[str, Any] = {"code": population_code(population)}
    if population.amount:
        entry["extension"] = [{"url": AMOUNT_URL, "valueMoney": money(number)}]
    else:
        entry["count"] = int(number)
    return entry


def _target(report: Report) -> dict[str, Any] | None:
    target = report.target
    if target is None:
        return None
    value = report.cell.value if report.cell is not None else None
    verdict = rules.status(value, target, report.indicator.direction, previous=report.previous)
    parts: list[dict[str, Any]] = [{"url": "comparison",
                                    "valueCode": rules.Comparison(target.comparison).value}]
    if target.value is not None:
        parts.append({"url": "value", "valueDecimal": float(target.value)})
    if target.tolerance is not None:
        parts.append({"url": "tolerance", "valueDecimal": float(target.tolerance)})
    if target.origin:
        parts.append({"url": "source", "valueString": target.origin})
    parts.append({"url": "status", "valueCode": rules.Status(verdict).value})
    return {"url": TARGET_URL, "extension": parts}


def report_resource(report: Report) -> dict[str, Any]:
    """The MeasureReport of one computed report (module docstring)."""
    indicator, span = report.indicator, report.span
    refreshed = report.refreshed.astimezone(CHINA).isoformat()
    resource: dict[str, Any] = {
        "resourceType": "MeasureReport",
        "id": report.id,
        "meta": {"lastUpdated": refreshed},
        "status": report_status(span, report.refreshed),
        "type": "summary",
        "measure": canonical(indicator.id),
        "subject": report.subject.reference(),
        "date": refreshed,
        "period": {"start": _first_day(span.first).isoformat(),
                   "end": _last_day(span.last).isoformat()},
    }
    if report.subject.alliance is not None:
        alliance = report.subject.alliance
        resource["reporter"] = mapper_for("Organization").reference(Alliance, alliance.pk,
                                                                    alliance.name)
    notation = improvement(indicator)
    if notation is not None:
        resource["improvementNotation"] = notation
    group: dict[str, Any] = {}
    target = _target(report)
    if target is not None:
        group["extension"] = [target]
    counted = [_population(p, report.cell) for p in populations(indicator) if p.source]
    if counted:
        group["population"] = counted
    if report.cell is not None and report.cell.value is not None:
        group["measureScore"] = score_quantity(indicator, report.cell.value)
    if group:
        resource["group"] = [group]
    return resource


# -- the mapper ---------------------------------------------------------------------------------

def _intersect(chosen: list[Any] | None, found: list[Any], key: Any) -> list[Any]:
    """``found`` kept to what ``chosen`` holds as well (``None``: nothing chosen yet)."""
    if chosen is None:
        return found
    keys = {key(item) for item in found}
    return [item for item in chosen if key(item) in keys]


@register
class MeasureReportMapper(ComputedMapper):
    """Summary reports of the computed indicators (read, search), from the snapshot."""

    resource_type = "MeasureReport"
    search_params = {
        "measure": computed_param("reference", "The Measure (Measure/in-county-visit-rate, "
                                  "its canonical URL, or the indicator id)"),
        "subject": computed_param("reference", "The org unit: Organization/alliance-1, "
                                  "Organization/institution-3 or a township "
                                  "(Location/division-7)", ("Organization", "Location")),
        "period": computed_param("date", "The period: 2025, 2025Q3, 2025-07, or whole months "
                                 "between ge and le dates"),
        "status": computed_param("token", "complete | pending (the period runs on)"),
    }

    def id_of(self, obj: Any) -> str:
        return str(obj.id)

    def select(self, client: Client, criteria: list[Criterion]) -> tuple[list[Any], list[Any]]:
        catalogue = load_catalogue()
        asked = read_periods(criteria)
        reach = reach_of(client)
        measures: list[Indicator] | None = None
        subjects: list[Subject] | None = None
        ids: list[str] | None = None
        statuses: list[str] | None = None
        for criterion in criteria:
            values = criterion.values
            if criterion.name == "measure":
                found = [i for v in values if (i := indicator_named(v, catalogue)) is not None]
                measures = _intersect(measures, found, lambda i: i.id)
            elif criterion.name == "subject":
                named = [s for v in values
                         if (s := subject_named(v, criterion.modifier, reach)) is not None]
                subjects = _intersect(subjects, named, lambda s: s.part)
            elif criterion.name == "_id":
                ids = _intersect(ids, [v.strip() for v in values], lambda i: i)
            elif criterion.name == "status":
                codes = [c for c in (COMPLETE, PENDING)
                         if any(token_matches(v, STATUS_SYSTEM, (c,)) for v in values)]
                statuses = _intersect(statuses, codes, lambda c: c)
        refreshed = _refreshed()
        if refreshed is None:
            return [], [Issue("incomplete", NO_SNAPSHOT, severity="information")]
        spans = asked.spans(_month_of(refreshed))
        if ids is not None:
            candidates = [c for i in ids if (c := self._named(i, reach, refreshed)) is not None]
            if measures is not None:
                candidates = [c for c in candidates if c[0] in measures]
            if subjects is not None:
                parts = {s.part for s in subjects}
                candidates = [c for c in candidates if c[1].part in parts]
            if asked.named is not None or asked.low is not None:
                candidates = [c for c in candidates if c[2] in spans]
        else:
            chosen = [i for i in catalogue.indicators
                      if subject_kinds(i.id) and (measures is None or i in measures)]
            units = subjects if subjects is not None else default_subjects(reach)
            candidates = [(indicator, subject, span) for indicator in chosen
                          for subject in units if subject.kind in subject_kinds(indicator.id)
                          for span in spans]
        if statuses is not None:
            candidates = [c for c in candidates if report_status(c[2], refreshed) in statuses]
        return compute_reports(candidates, refreshed), []

    def _named(self, resource_id: str, reach: Reach,
               refreshed: dt.datetime) -> Candidate | None:
        """The report an id names, if the client sees its subject and it can exist."""
        parts = resource_id.split(".")
        if len(parts) != 3:
            return None
        indicator = indicator_named(parts[0])
        if indicator is None or measure_id(indicator.id) != parts[0]:
            return None
        subject = subject_named(parts[1], "", reach)
        span = span_named(parts[2])
        if (subject is None or subject.part != parts[1] or span is None
                or subject.kind not in subject_kinds(indicator.id)
                or span.first > _month_of(refreshed)):
            return None
        return indicator, subject, span

    def fetch(self, client: Client, resource_ids: list[str]) -> list[Any]:
        reach = reach_of(client)
        refreshed = _refreshed()
        if refreshed is None:
            raise FhirError(404, "not-found", NO_SNAPSHOT)
        candidates = [c for i in resource_ids
                      if (c := self._named(i, reach, refreshed)) is not None]
        return compute_reports(candidates, refreshed) if candidates else []

    def to_resource(self, obj: Any, client: Client) -> dict[str, Any]:
        return report_resource(obj)
