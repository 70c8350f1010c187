"""The dashboards' data layer (issue 5 item 4): what the overview, the aspect pages, the
ranking, the referral flows and the drill-down show, computed from the analytics snapshot
(``engine.snapshot``) and judged against the alliance's targets (``services.targets_for``,
``rules.status``). No HTTP here: the views in ``views_dashboards`` render what these
functions return; the same tables go to xlsx (``dashboard_xlsx``).

Rules it follows:

* Values are the engine's (``engine.compute``): rates of longer periods from the summed
  counts, never averaged (indicators.md). A card's trend is the value of each of the twelve
  months ending with the span's last month.
* A value is judged against the target in force for the alliance (its pack, or its own
  override) with last year's value of the same span for targets that compare with last year
  (``rules.status``: met / near / missed / none).
* Targets are the alliance's: institutions and townships are listed and ranked, not judged.
* Drill-down (rules.md §11): only users who see the indicators of the org unit's alliance
  (``scope.alliances_for``); every resident record listed is one audited VIEW event
  (``accounts.audit.record_reads``); residents' names are masked for roles that may not
  search residents (an alliance administrator sees aggregates, not people).
* Computed cells are cached per process, keyed by the snapshot's refresh time, the
  alliance, the spans and the org kind: a refresh makes a new key, so nothing stale is shown
  (issue 5: overview p95 ≤ 300 ms).
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar, cast

from django.core.exceptions import PermissionDenied
from django.core.paginator import Page, Paginator
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import get_language, pgettext
from django.utils.translation import gettext as _

from tiercare.accounts import audit
from tiercare.accounts.models import User
from tiercare.accounts.roles import Capability, has_capability
from tiercare.encounters.models import Encounter, EncounterClass, Settlement
from tiercare.indicators import catalogue, rules, scope, services
from tiercare.indicators.engine import drill as engine_drill
from tiercare.indicators.engine import flows as engine_flows
from tiercare.indicators.engine import snapshot
from tiercare.indicators.engine.backends import Backend
from tiercare.indicators.engine.compute import Cell, Span, compute
from tiercare.indicators.engine.definitions import (
    ALLIANCE,
    DEFINITIONS,
    INSTITUTION,
    MEASURES,
    TOWNSHIP,
    org_kinds,
)
from tiercare.kernel import icd10
from tiercare.kernel.errors import InvalidPeriod
from tiercare.kernel.money import format_yuan
from tiercare.kernel.periods import MONTH, parse
from tiercare.patients.models import Patient
from tiercare.referrals.models import Direction, Referral
from tiercare.registry.models import Alliance, Division, Institution, Level, Practitioner

#: Org kinds the pages break an alliance down by (levels are shown by the flows page).
BREAKDOWN_KINDS = (INSTITUTION, TOWNSHIP)
#: Org kinds a drill-down may list records of.
DRILL_KINDS = (ALLIANCE, INSTITUTION, TOWNSHIP)
TREND_MONTHS = 12
PAGE_SIZE = 50
#: Cached cell sets kept per process (each a few hundred cells).
CACHE_ENTRIES = 256
PARTS = ("numerator", "denominator")


def kind_label(kind: str) -> str:
    """An org kind named for the page (a township here is an area, not a level of care)."""
    return {ALLIANCE: pgettext("org kind", "Alliance"),
            INSTITUTION: pgettext("org kind", "Institution"),
            TOWNSHIP: pgettext("org kind", "Township")}.get(kind, kind)


class NoSnapshot(Exception):
    """No refresh has run yet: there is nothing to show (``tiercare indicators refresh``)."""


class BadFilter(ValueError):
    """A filter of the query string that cannot be used; the message is translated."""


class NotFound(LookupError):
    """The indicator, aspect, part or org unit asked for does not exist or has no records;
    the message is translated."""


# --- the snapshot and the cache ---------------------------------------------------------------

T = TypeVar("T")
_lock = threading.Lock()
_cache: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
_state_cache: dict[str, tuple[tuple[int, int, int], dict[str, str]]] = {}


def snapshot_state() -> dict[str, str]:
    """The snapshot's state (``snapshot.state``: refresh time, kind), read again only when
    the file changed; :class:`NoSnapshot` when none exists."""
    path = snapshot.snapshot_path()
    try:
        info = path.stat()
    except FileNotFoundError:
        raise NoSnapshot(str(path)) from None
    stamp = (info.st_mtime_ns, info.st_size, info.st_ino)
    with _lock:
        known = _state_cache.get(str(path))
    if known is not None and known[0] == stamp:
        return known[1]
    try:
        state = snapshot.state(path)
    except FileNotFoundError:
        raise NoSnapshot(str(path)) from None
    with _lock:
        _state_cache[str(path)] = (stamp, state)
    return state


def refreshed_at() -> dt.datetime | None:
    """When the snapshot was last refreshed (``None`` if it does not say)."""
    text = snapshot_state().get("refreshed_at", "")
    try:
        return dt.datetime.fromisoformat(text) if text else None
    except ValueError:
        return None


def forget_cache() -> None:
    """Drop everything cached (tests; the cache also renews itself on each refresh)."""
    with _lock:
        _cache.clear()
        _state_cache.clear()


def _cached(key: tuple[Any, ...], make: Callable[[Backend], T]) -> T:
    """``make(backend)`` on the snapshot, kept per process under the snapshot's file and
    refresh time and ``key`` (the least recently used of :data:`CACHE_ENTRIES` go first)."""
    full = (str(snapshot.snapshot_path()), snapshot_state().get("refreshed_at", ""), *key)
    with _lock:
        if full in _cache:
            _cache.move_to_end(full)
            return cast(T, _cache[full])
    try:
        with snapshot.reader() as backend:
            value = make(backend)
    except FileNotFoundError:
        raise NoSnapshot(str(snapshot.snapshot_path())) from None
    with _lock:
        _cache[full] = value
        while len(_cache) > CACHE_ENTRIES:
            _cache.popitem(last=False)
    return value


def _cells(org_kind: str, orgs: Sequence[str], spans: Sequence[Span]) -> dict[
        tuple[str, str, Span], Cell]:
    """Every computed indicator for ``orgs`` of ``org_kind`` and ``spans``, by (indicator,
    org, span); cached (:func:`_cached`)."""
    if not orgs:
        return {}

    def make(backend: Backend) -> dict[tuple[str, str, Span], Cell]:
        cells = compute(backend, list(spans), org_kind, orgs=list(orgs))
        return {(c.indicator, c.org, c.span): c for c in cells}

    return _cached(("cells", org_kind, tuple(orgs), tuple(spans)), make)


# --- periods ----------------------------------------------------------------------------------


def month_span(year: int, month: int) -> Span:
    """One month as a span (labelled ``2025-07``, like ``Span.of`` of the month)."""
    key = year * 100 + month
    return Span(key, key, f"{year:04d}-{month:02d}")


def trend_spans(span: Span) -> list[Span]:
    """The twelve months ending with the span's last month, oldest first."""
    year, month = divmod(span.last, 100)
    out = []
    for back in range(TREND_MONTHS - 1, -1, -1):
        y, m = divmod(year * 12 + month - 1 - back, 12)
        out.append(month_span(y, m + 1))
    return out


#: Years the dashboards accept (the engine compares with the year before, and a twelve-month
#: trend reaches back into it).
YEARS = (1901, 2999)


def check_year(year: int) -> None:
    """:class:`BadFilter` (translated) for a year outside :data:`YEARS`."""
    if not YEARS[0] <= year <= YEARS[1]:
        raise BadFilter(_("Periods run from year %(min)s to year %(max)s.")
                        % {"min": YEARS[0], "max": YEARS[1]})


def parse_span(period: str | None, ytd: str | None) -> Span | None:
    """The span a query string asks for: ``period=2025`` / ``2025Q3`` / ``2025-07`` or
    ``ytd=2025-07`` (January to July 2025); ``None`` when it asks for none. Raises
    :class:`BadFilter` with a translated reason."""
    period = (period or "").strip()
    ytd = (ytd or "").strip()
    if period and ytd:
        raise BadFilter(_("Choose a period or a year to date, not both."))
    if ytd:
        try:
            month = parse(ytd)
        except InvalidPeriod as err:
            raise BadFilter(err.translated(_)) from None
        if month.kind != MONTH:
            raise BadFilter(_("A year to date ends with a month: write it as 2025-07, not "
                              "%(value)s.") % {"value": ytd})
        check_year(month.year)
        return Span.year_to_date(month.year, month.number)
    if period:
        try:
            chosen = parse(period)
        except InvalidPeriod as err:
            raise BadFilter(err.translated(_)) from None
        check_year(chosen.year)
        return Span.of(chosen)
    return None


def default_span() -> Span:
    """Year to date up to the latest month with care events that is not in the future (the
    current year to date when the snapshot holds none)."""
    today = timezone.localdate()
    now = today.year * 100 + today.month

    def latest(backend: Backend) -> int:
        rows = backend.rows(f"SELECT MAX(month) FROM fact_event WHERE month <= {now}")
        return int(rows[0][0]) if rows and rows[0][0] is not None else now

    month = _cached(("latest", now), latest)
    return Span.year_to_date(month // 100, month % 100)


def span_query(span: Span) -> dict[str, str]:
    """The query-string parameters that ask for ``span`` (shareable URLs)."""
    if span.label.count("..") == 1:  # a year to date
        year, month = divmod(span.last, 100)
        return {"ytd": f"{year:04d}-{month:02d}"}
    return {"period": span.label}


def span_text(span: Span) -> str:
    """How a span is named on the page: 2025, 2025Q3, 2025-07, or 2025-01 – 2025-07."""
    if ".." in span.label:
        year, month = divmod(span.last, 100)
        return _("%(year)d-01 to %(year)d-%(month)02d (year to date)") % {
            "year": year, "month": month}
    return span.label


# --- values and targets as text --------------------------------------------------------------


def plain(value: Decimal | int) -> str:
    """A number without trailing zeros, with thousands separators."""
    number = Decimal(value)
    if number == number.to_integral_value():
        return f"{int(number):,}"
    return f"{number:,.2f}".rstrip("0").rstrip(".")


def format_value(value: Decimal | None, unit: str) -> str:
    """A value in its unit as the pages show it: ``89.69%``, ``68``, ``¥189.69``,
    ``1.97 h``, ``6.67 per 10,000`` (empty for no value). ``amount`` is money without
    a unit of its own (the numerator of a share of revenue)."""
    if value is None:
        return ""
    if unit in (rules.Unit.PERCENT, rules.Unit.PERCENT_OF_PLAN):
        return f"{plain(value)}%"
    if unit == rules.Unit.PERCENT_CHANGE:
        return f"{'+' if value > 0 else ''}{plain(value)}%"
    if unit in (rules.Unit.YUAN, AMOUNT):
        return format_yuan(value)
    if unit == rules.Unit.HOURS:
        return _("%(n)s h") % {"n": plain(value)}
    if unit == rules.Unit.PER_10K:
        return _("%(n)s per 10,000") % {"n": plain(value)}
    return plain(value)


#: The unit of a numerator or denominator that is a sum of money.
AMOUNT = "amount"


def part_units(indicator_id: str) -> tuple[str, str]:
    """The units of an indicator's numerator and denominator: ``count`` for records
    counted, :data:`AMOUNT` for money summed; a growth's are its base's values, a median's
    denominator counts the records."""
    definition = DEFINITIONS.get(indicator_id)
    if definition is None:
        return rules.Unit.COUNT, rules.Unit.COUNT
    if definition.kind == "growth":
        base = str(catalogue.indicator(definition.base).unit)
        return base, base
    if definition.kind == "median":
        return rules.Unit.COUNT, rules.Unit.COUNT

    def unit(name: str) -> str:
        sql = MEASURES[name].sql if name in MEASURES else ""
        counted = "THEN 1 ELSE 0" in sql or sql.startswith("COUNT(")
        return rules.Unit.COUNT if counted or not sql else AMOUNT

    return unit(definition.numerator), unit(definition.denominator)


def target_text(target: rules.Target | None, unit: str) -> str:
    """A target in words: ``≥ 90%``, ``≈ 85% ± 2``, ``falling against last year``,
    ``growth ≥ 10% against last year``, ``gain ≥ 1 point against last year``."""
    if target is None:
        return ""
    value = target.value
    shown = format_value(value, unit) if value is not None else ""
    comparison = target.comparison
    if comparison == rules.Comparison.AT_LEAST:
        return f"≥ {shown}"
    if comparison == rules.Comparison.AT_MOST:
        return f"≤ {shown}"
    if comparison == rules.Comparison.APPROX:
        return f"≈ {shown} ± {plain(target.tolerance or Decimal(0))}"
    if comparison == rules.Comparison.FALLING:
        return _("falling against last year")
    if comparison == rules.Comparison.RISING:
        return _("rising against last year")
    if comparison == rules.Comparison.GROWTH_AT_LEAST:
        return _("growth ≥ %(value)s%% against last year") % {"value": plain(value or 0)}
    return _("gain ≥ %(value)s points against last year") % {"value": plain(value or 0)}


def target_source(target: rules.Target | None, language: str) -> str:
    """Where a target comes from: the pack's name and citation, or the alliance's own."""
    if target is None:
        return ""
    if target.origin == "override":
        return _("The alliance's own target: %(note)s") % {"note": target.note}
    try:
        name = catalogue.pack(target.origin).name(language)
    except catalogue.UnknownPack:
        name = target.origin
    return f"{name}: {target.citation}" if target.citation else name


def status_label(status: str) -> str:
    return str(rules.Status(status).label) if status in rules.Status.values else ""


@dataclass(frozen=True)
class Num:
    """A number in a table with its unit: shown formatted, written to xlsx as a number."""

    value: Decimal | None
    unit: str

    def __str__(self) -> str:
        return format_value(self.value, self.unit)


# --- cards ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Card:
    """One indicator of the alliance for a span, judged: its value and counts, the target in
    force (in words, with its source), the status against it, and the twelve-month trend
    (month label, value). ``computed`` is false for an indicator declared in the catalogue
    whose records TierCare does not hold yet."""

    indicator: str
    name: str
    aspect: str
    unit: str
    direction: str
    value: Decimal | None
    numerator: Decimal | None
    denominator: Decimal | None
    target: str
    target_source: str
    status: str
    trend: tuple[tuple[str, Decimal | None], ...] = ()
    computed: bool = True
    drillable: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()

    @property
    def value_text(self) -> str:
        return format_value(self.value, self.unit)

    @property
    def numerator_text(self) -> str:
        return format_value(self.numerator, part_units(self.indicator)[0])

    @property
    def denominator_text(self) -> str:
        return format_value(self.denominator, part_units(self.indicator)[1])

    @property
    def status_text(self) -> str:
        return status_label(self.status)

    @property
    def detail(self) -> str:
        """The counts behind the value, in words: ``17,291 / 19,278`` for a quotient,
        ``12 now, 10 a year before`` for a growth, ``of 73 records`` for a median; empty
        for a count (its value is its count)."""
        definition = DEFINITIONS.get(self.indicator)
        if definition is None or (self.numerator is None and self.denominator is None):
            return ""
        if definition.kind == "growth":
            return _("%(now)s now, %(before)s a year before") % {
                "now": self.numerator_text or "—", "before": self.denominator_text or "—"}
        if definition.kind == "median":
            return _("median of %(n)s records") % {"n": self.denominator_text}
        if definition.kind == "count" or self.denominator is None:
            return ""
        return f"{self.numerator_text} / {self.denominator_text}"


def drillable_parts(indicator_id: str) -> tuple[str, ...]:
    """The parts of an indicator whose records can be listed (counts and ratios)."""
    parts = []
    for part in PARTS:
        try:
            engine_drill.measure_of(indicator_id, part)
        except engine_drill.NotDrillable:
            continue
        parts.append(part)
    return tuple(parts)


def _value(cell: Cell | None) -> Decimal | None:
    return cell.value if cell is not None else None


def _card(item: catalogue.Indicator, cell: Cell | None, previous: Cell | None,
          target: rules.Target | None, language: str,
          trend: tuple[tuple[str, Decimal | None], ...] = ()) -> Card:
    computed = item.id in DEFINITIONS
    value = _value(cell)
    status = rules.status(value, target, item.direction, previous=_value(previous))
    return Card(
        indicator=item.id, name=item.name(language), aspect=item.aspect, unit=str(item.unit),
        direction=str(item.direction), value=value,
        numerator=cell.numerator if cell is not None else None,
        denominator=cell.denominator if cell is not None else None,
        target=target_text(target, item.unit), target_source=target_source(target, language),
        status=str(status), trend=trend, computed=computed,
        drillable=drillable_parts(item.id) if computed else (),
        kinds=tuple(k for k in org_kinds(item.id) if k in DRILL_KINDS) if computed else ())


def _alliance_cells(alliance: Alliance, spans: Sequence[Span]) -> dict[
        tuple[str, str, Span], Cell]:
    return _cells(ALLIANCE, [str(alliance.pk)], spans)


def cards(alliance: Alliance, span: Span, language: str) -> list[Card]:
    """Every indicator of the catalogue the engine computes, for the alliance and ``span``,
    in catalogue order, each with its target, status and twelve-month trend."""
    months = trend_spans(span)
    spans = list(dict.fromkeys([span, span.a_year_before(), *months]))
    found = _alliance_cells(alliance, spans)
    targets = services.targets_for(alliance)
    org = str(alliance.pk)
    out = []
    for item in catalogue.load_catalogue().indicators:
        if item.id not in DEFINITIONS:
            continue
        zero = Decimal(0) if DEFINITIONS[item.id].kind == "count" else None
        trend = tuple((m.label, _value(found.get((item.id, org, m))) if (item.id, org, m)
                       in found else zero) for m in months)
        out.append(_card(item, found.get((item.id, org, span)),
                         found.get((item.id, org, span.a_year_before())),
                         targets.get(item.id), language, trend))
    return out


def awaiting_data(language: str) -> list[tuple[str, str, str]]:
    """The catalogue's indicators the engine does not compute yet (their records are not in
    TierCare yet): (aspect, id, name)."""
    return [(item.aspect, item.id, item.name(language))
            for item in catalogue.load_catalogue().indicators if item.id not in DEFINITIONS]


def aspects(language: str) -> list[tuple[str, str]]:
    """The catalogue's aspects (id, name in ``language``)."""
    return [(a.id, a.name(language)) for a in catalogue.load_catalogue().aspects]


def by_aspect(items: Iterable[Card], language: str) -> list[tuple[str, str, list[Card]]]:
    """Cards grouped by aspect in catalogue order: (aspect id, name, cards)."""
    groups: dict[str, list[Card]] = {}
    for card in items:
        groups.setdefault(card.aspect, []).append(card)
    return [(a_id, name, groups[a_id]) for a_id, name in aspects(language) if a_id in groups]


# --- aspect tables ----------------------------------------------------------------------------


def aspect(aspect_id: str) -> catalogue.Aspect:
    """The catalogue's aspect with this id (:class:`NotFound` when there is none)."""
    for item in catalogue.load_catalogue().aspects:
        if item.id == aspect_id:
            return item
    raise NotFound(_("There is no aspect “%(aspect)s”.") % {"aspect": aspect_id})


def aspect_cards(alliance: Alliance, aspect_id: str, span: Span, language: str) -> list[Card]:
    """The aspect's indicators for the alliance, in catalogue order: computed ones with value,
    target and status; declared ones waiting for their data with no value."""
    aspect(aspect_id)
    found = _alliance_cells(alliance, [span, span.a_year_before()])
    targets = services.targets_for(alliance)
    org = str(alliance.pk)
    return [_card(item, found.get((item.id, org, span)),
                  found.get((item.id, org, span.a_year_before())), targets.get(item.id),
                  language)
            for item in catalogue.load_catalogue().in_aspect(aspect_id)]


Value = str | int | Num | None


@dataclass(frozen=True)
class Table:
    """A table of indicator values, the same for the page and the xlsx download: a title,
    column headers and rows of text, whole numbers or :class:`Num`. ``keys`` name the value
    columns (indicator ids; ``""`` for the others); ``orgs`` the org unit (kind, key) each
    row stands for, when it stands for one."""

    title: str
    header: tuple[str, ...]
    rows: tuple[tuple[Value, ...], ...]
    keys: tuple[str, ...] = ()
    orgs: tuple[tuple[str, str], ...] = ()

    def cells(self) -> list[tuple[tuple[str, str] | None, list[str]]]:
        """The rows as the page shows them (numbers in their unit), each with its org
        unit."""
        return [(self.orgs[n] if n < len(self.orgs) else None,
                 ["" if v is None else str(v) for v in row])
                for n, row in enumerate(self.rows)]


def alliance_table(alliance: Alliance, span: Span, language: str,
                   aspect_id: str | None = None) -> Table:
    """The alliance's indicators (one aspect, or every aspect) as a table: indicator, id,
    numerator, denominator, value, target, status."""
    if aspect_id is None:
        items = [c for a in catalogue.load_catalogue().aspects
                 for c in aspect_cards(alliance, a.id, span, language)]
        title = _("Indicators")
    else:
        items = aspect_cards(alliance, aspect_id, span, language)
        title = aspect(aspect_id).name(language)
    header = (_("Indicator"), _("Id"), _("Numerator"), _("Denominator"), _("Value"),
              _("Unit"), _("Target"), _("Status"))
    rows = []
    for c in items:
        numerator_unit, denominator_unit = part_units(c.indicator)
        rows.append((c.name, c.indicator, Num(c.numerator, numerator_unit),
                     Num(c.denominator, denominator_unit), Num(c.value, c.unit),
                     str(rules.Unit(c.unit).label), c.target,
                     c.status_text if c.computed else _("no data yet")))
    return Table(f"{alliance.name} · {title} · {span_text(span)}", header, tuple(rows),
                 keys=("", "", "", "", "", "", "", ""))


def breakdown_table(alliance: Alliance, aspect_id: str, span: Span, org_kind: str,
                    language: str) -> Table:
    """The aspect's indicators that are given for ``org_kind``, one column each, for every
    institution (member of the alliance) or township (of its county): values only — the
    targets are the alliance's."""
    if org_kind not in BREAKDOWN_KINDS:
        raise BadFilter(_("Break down by institution or by township."))
    items = [i for i in catalogue.load_catalogue().in_aspect(aspect(aspect_id).id)
             if i.id in DEFINITIONS and org_kind in org_kinds(i.id)]
    members = scope.org_units(org_kind, alliance)
    found = _cells(org_kind, [u.key for u in members], [span]) if items else {}
    header = (kind_label(org_kind), *(i.name(language) for i in items))
    rows: tuple[tuple[Value, ...], ...] = tuple(
        (u.name, *(Num(_value(found.get((i.id, u.key, span))), str(i.unit)) for i in items))
        for u in members)
    return Table(f"{alliance.name} · {aspect(aspect_id).name(language)} · "
                 f"{kind_label(org_kind)} · {span_text(span)}",
                 header, rows, keys=("", *(i.id for i in items)),
                 orgs=tuple((org_kind, u.key) for u in members))


# --- ranking ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ranked:
    """One org unit in a ranking: its place (``None`` without a value), value and counts."""

    rank: int | None
    kind: str
    key: str
    name: str
    value: Decimal | None
    numerator: Decimal | None
    denominator: Decimal | None


def rankable(org_kind: str) -> list[catalogue.Indicator]:
    """The computed indicators given for ``org_kind``, in catalogue order."""
    return [i for i in catalogue.load_catalogue().indicators
            if i.id in DEFINITIONS and org_kind in org_kinds(i.id)]


def known_indicator(indicator_id: str) -> catalogue.Indicator:
    """The catalogue's indicator (:class:`NotFound` with a translated reason if none)."""
    try:
        return catalogue.indicator(indicator_id)
    except catalogue.UnknownIndicator:
        raise NotFound(_("There is no indicator “%(indicator)s” in the catalogue.")
                       % {"indicator": indicator_id}) from None


def ranking(alliance: Alliance, indicator_id: str, org_kind: str, span: Span) -> list[Ranked]:
    """The alliance's institutions or townships by the indicator's value, best first
    (highest first unless lower is better); those without a value last, by name."""
    item = known_indicator(indicator_id)
    if org_kind not in BREAKDOWN_KINDS:
        raise BadFilter(_("Rank institutions or townships."))
    if item.id not in DEFINITIONS or org_kind not in org_kinds(item.id):
        raise BadFilter(_("“%(indicator)s” is not given for this kind of org unit.")
                        % {"indicator": item.name(_language())})
    members = scope.org_units(org_kind, alliance)
    found = _cells(org_kind, [u.key for u in members], [span])
    sign = 1 if item.direction == rules.Direction.LOWER else -1
    rows = [(u, found.get((item.id, u.key, span))) for u in members]
    valued = [(u, c) for u, c in rows if c is not None and c.value is not None]
    valued.sort(key=lambda r: (sign * (r[1].value or 0), r[0].name))
    empty = sorted(((u, c) for u, c in rows if c is None or c.value is None),
                   key=lambda r: r[0].name)
    out = [Ranked(n, org_kind, u.key, u.name, c.value, c.numerator, c.denominator)
           for n, (u, c) in enumerate(valued, 1)]
    out += [Ranked(None, org_kind, u.key, u.name, None, c.numerator if c else None,
                   c.denominator if c else None) for u, c in empty]
    return out


def ranking_table(alliance: Alliance, indicator_id: str, org_kind: str, span: Span,
                  language: str) -> Table:
    """:func:`ranking` as a table (rank, org unit, numerator, denominator, value)."""
    item = known_indicator(indicator_id)
    rows = ranking(alliance, indicator_id, org_kind, span)
    numerator_unit, denominator_unit = part_units(item.id)
    header = (_("Rank"), kind_label(org_kind), _("Numerator"), _("Denominator"),
              item.name(language))
    return Table(f"{alliance.name} · {item.name(language)} · "
                 f"{kind_label(org_kind)} · {span_text(span)}", header,
                 tuple((r.rank if r.rank is not None else "", r.name,
                        Num(r.numerator, numerator_unit), Num(r.denominator, denominator_unit),
                        Num(r.value, str(item.unit))) for r in rows),
                 keys=("", "", "", "", item.id), orgs=tuple((r.kind, r.key) for r in rows))


# --- referral flows ---------------------------------------------------------------------------

LEVEL_ORDER: list[str] = [Level.VILLAGE, Level.TOWNSHIP, Level.COUNTY, Level.CITY,
                          Level.PROVINCIAL]


@dataclass(frozen=True)
class FlowRow:
    """Referrals from one level to another in one direction, named for the page."""

    send_level: str
    recv_level: str
    direction: str
    count: int


@dataclass(frozen=True)
class FlowSummary:
    """The flows of a span: rows by level and direction, totals by direction, and the
    sankey chart's nodes and links (sending levels on the left, receiving on the right, so
    up and down flows do not form a cycle)."""

    rows: list[FlowRow]
    by_direction: list[tuple[str, int]]
    total: int
    chart: dict[str, Any]


def _level_name(level: str | None) -> str:
    return str(dict(Level.choices).get(level or "", _("unknown")))


def referral_flows(alliance: Alliance, span: Span) -> FlowSummary:
    """Referrals that happened in the span (the patient arrived) with a member of the
    alliance on either side, by sending and receiving level and direction
    (``engine.flows``)."""
    found: list[engine_flows.Flow] = _cached(
        ("flows", alliance.pk, span),
        lambda backend: engine_flows.flows(backend, alliance.pk, span))
    order = {level: n for n, level in enumerate(LEVEL_ORDER)}
    directions = dict(Direction.choices)
    ordered = sorted(found, key=lambda f: (order.get(f.send_level or "", 9),
                                           order.get(f.recv_level or "", 9), f.direction))
    rows = [FlowRow(_level_name(f.send_level), _level_name(f.recv_level),
                    str(directions.get(f.direction, f.direction)), f.count) for f in ordered]
    totals: dict[str, int] = {}
    links: dict[tuple[str, str], int] = {}
    for f, row in zip(ordered, rows, strict=True):
        totals[row.direction] = totals.get(row.direction, 0) + f.count
        source = _("%(level)s (sending)") % {"level": row.send_level}
        target = _("%(level)s (receiving)") % {"level": row.recv_level}
        links[(source, target)] = links.get((source, target), 0) + f.count
    names = list(dict.fromkeys([s for s, _t in links] + [t for _s, t in links]))
    chart = {"nodes": [{"name": n} for n in names],
             "links": [{"source": s, "target": t, "value": v} for (s, t), v in links.items()]}
    return FlowSummary(rows, sorted(totals.items(), key=lambda kv: -kv[1]),
                       sum(f.count for f in ordered), chart)


def flows_table(alliance: Alliance, span: Span) -> Table:
    """:func:`referral_flows` as a table (sending level, receiving level, direction,
    referrals)."""
    summary = referral_flows(alliance, span)
    return Table(f"{alliance.name} · {_('Referrals between levels')} · {span_text(span)}",
                 (_("Sending level"), _("Receiving level"), _("Direction"), _("Referrals")),
                 tuple((r.send_level, r.recv_level, r.direction, r.count)
                       for r in summary.rows))


# --- drill-down -------------------------------------------------------------------------------


def mask_name(name: str) -> str:
    """A resident's name as roles that may not search residents see it (rules.md §11:
    aggregates for administrators): the first character and, from three characters on, the
    last; the rest hidden — ``张三`` → ``张*``, ``欧阳明华`` → ``欧**华``."""
    text = (name or "").strip()
    if len(text) <= 1:
        return "*" * len(text)
    if len(text) == 2:
        return text[0] + "*"
    return text[0] + "*" * (len(text) - 2) + text[-1]


def sees_names(user: User) -> bool:
    """Whether the drill-down shows residents' names in full: only to roles that may search
    residents (regulators, auditors, system administrators); an alliance administrator
    sees them masked."""
    return has_capability(user, Capability.SEARCH_RESIDENTS)


@dataclass(frozen=True)
class DrillRow:
    """One record of a drill-down: its cells as text, the resident it is about and the
    record itself (object type label, id) for links."""

    cells: list[str]
    patient_id: int | None
    record: tuple[str, int] | None


@dataclass
class Drill:
    """One page of the records behind a cell."""

    indicator: catalogue.Indicator
    part: str
    org_kind: str
    org: str
    org_name: str
    alliance: Alliance
    span: Span
    header: list[str]
    rows: list[DrillRow]
    total: int
    page: Page[Any]
    masked: bool


def _language() -> str:
    return get_language() or "zh-hans"


def alliance_of(user: User, org_kind: str, org: str) -> Alliance:
    """The alliance an org unit belongs to, if ``user`` sees its indicators; else
    ``PermissionDenied`` (or :class:`NotFound` for an org unit that does not exist)."""
    if not scope.may_view(user):
        raise PermissionDenied(_("Your role does not give access to the indicators."))
    visible = list(scope.alliances_for(user))
    found: Alliance | None = None
    if org_kind == ALLIANCE:
        exists = org.isdigit() and len(org) < 19 and Alliance.objects.filter(
            pk=int(org)).exists()
        found = next((a for a in visible if str(a.pk) == org), None)
    elif org_kind == INSTITUTION:
        institution = (Institution.objects.filter(pk=int(org)).only("alliance_id").first()
                       if org.isdigit() and len(org) < 19 else None)
        exists = institution is not None
        if institution is not None:
            found = next((a for a in visible if a.pk == institution.alliance_id), None)
    elif org_kind == TOWNSHIP:
        exists = Division.objects.filter(code=org, kind=Division.Kind.TOWNSHIP).exists()
        found = next((a for a in visible if a.county_code and org.startswith(a.county_code)),
                     None)
    else:
        raise NotFound(_("Records are listed for an alliance, an institution or a township."))
    if not exists:
        raise NotFound(_("There is no such org unit."))
    if found is None:
        raise PermissionDenied(_("These records belong to an alliance you do not oversee."))
    return found


def drill(user: User, request: HttpRequest | None, indicator_id: str, part: str,
          org_kind: str, org: str, span: Span, page: int | str | None = 1) -> Drill:
    """One page of the records behind the ``part`` ("numerator" or "denominator") of an
    indicator for one org unit and span (``engine.drill``). Scope first
    (:func:`alliance_of`); residents' names masked unless the role may search residents
    (:func:`sees_names`); one audited VIEW event per record listed that concerns a resident
    (rules.md §11)."""
    item = known_indicator(indicator_id)
    alliance = alliance_of(user, org_kind, org)
    not_listed = NotFound(_("The records of this part of “%(indicator)s” cannot be listed.")
                          % {"indicator": item.name(_language())})
    if part not in drillable_parts(item.id):
        raise not_listed
    if org_kind not in org_kinds(item.id):
        raise NotFound(_("“%(indicator)s” is not given for this kind of org unit.")
                       % {"indicator": item.name(_language())})
    try:
        with snapshot.reader() as backend:
            total = engine_drill.records(backend, item.id, part, org_kind, org, span,
                                         limit=0).total
            shown = Paginator(range(total), PAGE_SIZE).get_page(page)
            result = engine_drill.records(backend, item.id, part, org_kind, org, span,
                                          limit=PAGE_SIZE,
                                          offset=(shown.number - 1) * PAGE_SIZE)
    except FileNotFoundError:
        raise NoSnapshot(str(snapshot.snapshot_path())) from None
    except engine_drill.NotDrillable:
        raise not_listed from None
    masked = not sees_names(user)
    header, rows, reads = _drill_rows(result, masked)
    summary = f"indicator drill-down: {item.id} {part} {org_kind}:{org} {span.label}"
    for object_type, batch in reads.items():
        audit.record_reads(object_type, [(pk, patient, summary) for pk, patient in batch],
                           user=user, request=request)
    shown.object_list = rows  # type: ignore[assignment]
    return Drill(item, part, org_kind, org, scope.org_name(org_kind, org), alliance, span,
                 header, rows, result.total, shown, masked)


def _headers() -> dict[str, str]:
    """Column headers of the drill-down, by the fact's column."""
    return {
        "patient_id": _("Resident"), "class": _("Class"), "month": _("Month"),
        "diagnosis": _("Diagnosis"), "inst_id": _("Institution"), "in_county": _("In county"),
        "total": _("Total cost"), "fund": _("Fund paid"), "direction": _("Direction"),
        "send_id": _("Sending institution"), "recv_id": _("Receiving institution"),
        "hours": _("Hours to answer"), "gp": _("General practitioner"), "title": _("Title"),
        "res_township": _("Township"), "kind": _("Kind"), "tcm": _("TCM services"),
        "tcm_hall": _("TCM hall"),
    }


def _record_type(kind_column: str, value: Any) -> tuple[str, str]:
    """(object type label for the audit trail, name shown) of a drill-down row, from the
    fact's first column (``drill.COLUMNS``)."""
    if kind_column == "source":
        if value == "S":
            return Settlement._meta.label, pgettext("record", "Settlement")
        return Encounter._meta.label, pgettext("record", "Encounter")
    if kind_column == "kind":
        return Referral._meta.label, pgettext("record", "Referral")
    if kind_column == "resident":
        return Patient._meta.label, pgettext("record", "Resident")
    if kind_column == "practitioner":
        return Practitioner._meta.label, pgettext("record", "Practitioner")
    return Institution._meta.label, pgettext("record", "Institution")


def _yes_no(value: Any) -> str:
    return _("yes") if value in (1, True, "1") else _("no")


def _month_text(value: Any) -> str:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return ""
    return f"{number // 100:04d}-{number % 100:02d}"


def _drill_rows(result: engine_drill.Page, masked: bool) -> tuple[
        list[str], list[DrillRow], dict[str, list[tuple[int, int]]]]:
    """The page's header and records as text (institutions, residents and townships by
    name, classes, directions and titles translated) and the resident records read, by
    object type. The first two columns identify the record (``drill.COLUMNS``)."""
    columns = list(result.columns)
    kind_column, rest = columns[0], columns[2:]
    headers = _headers()
    header = [_("Record"), _("No."), *(headers.get(c, c) for c in rest)]
    dicts = [dict(zip(columns, row, strict=True)) for row in result.rows]
    patient_label = Patient._meta.label
    institution_label = Institution._meta.label
    record_types = [_record_type(kind_column, d[kind_column]) for d in dicts]
    patients = {int(d["patient_id"]) for d in dicts if d.get("patient_id") is not None}
    patients |= {int(d[columns[1]]) for d, (label, _n) in zip(dicts, record_types, strict=True)
                 if label == patient_label}
    names = dict(Patient.objects.filter(pk__in=patients).values_list("pk", "name"))
    institution_ids = {int(d[c]) for d in dicts for c in ("inst_id", "send_id", "recv_id")
                       if d.get(c) is not None}
    institution_ids |= {int(d[columns[1]]) for d, (label, _n)
                        in zip(dicts, record_types, strict=True) if label == institution_label}
    institutions = dict(Institution.objects.filter(pk__in=institution_ids)
                        .values_list("pk", "name"))
    townships = dict(Division.objects.filter(
        code__in={str(d["res_township"]) for d in dicts if d.get("res_township")})
        .values_list("code", "name"))
    choices: dict[str, dict[Any, Any]] = {
        "class": dict(EncounterClass.choices), "direction": dict(Direction.choices),
        "title": dict(Practitioner.Title.choices), "kind": dict(Institution.Kind.choices)}
    language = _language()

    def person(pk: Any) -> str:
        name = names.get(int(pk), "")
        shown = mask_name(name) if masked else name
        return f"{shown} (#{int(pk)})" if shown else f"#{int(pk)}"

    def text(column: str, value: Any) -> str:
        if value is None:
            return ""
        if column == "patient_id":
            return person(value)
        if column in choices:
            return str(choices[column].get(value, value))
        if column == "month":
            return _month_text(value)
        if column == "diagnosis":
            name = icd10.display_name(str(value), language)
            return f"{value} {name}" if name != value else str(value)
        if column in ("inst_id", "send_id", "recv_id"):
            return institutions.get(int(value), f"#{value}")
        if column in ("in_county", "gp", "tcm", "tcm_hall"):
            return _yes_no(value)
        if column in ("total", "fund"):
            return format_yuan(Decimal(str(value)))
        if column == "hours":
            return plain(Decimal(str(value)).quantize(Decimal("0.01")))
        if column == "res_township":
            return townships.get(str(value), str(value))
        return str(value)

    rows: list[DrillRow] = []
    reads: dict[str, list[tuple[int, int]]] = {}
    for d, (label, shown_as) in zip(dicts, record_types, strict=True):
        object_id = int(d[columns[1]])
        patient = object_id if label == patient_label else d.get("patient_id")
        if label == patient_label:
            identity = person(object_id)
        elif label == institution_label:
            identity = institutions.get(object_id) or f"#{object_id}"
        else:
            identity = f"#{object_id}"
        cells = [shown_as, identity, *(text(c, d[c]) for c in rest)]
        if patient is not None:
            reads.setdefault(label, []).append((object_id, int(patient)))
        rows.append(DrillRow(cells, int(patient) if patient is not None else None,
                             (label, object_id)))
    return header, rows, reads


# --- alliances a user chooses among -----------------------------------------------------------


def choose_alliance(user: User, code: str | None) -> tuple[Alliance | None, list[Alliance]]:
    """The alliance whose indicators to show (``?alliance=CODE``, else the user's first by
    code) and every alliance the user may choose among; ``PermissionDenied`` for an
    alliance outside the user's scope, :class:`BadFilter` for a code that names none."""
    visible = list(scope.alliances_for(user))
    if code:
        chosen = next((a for a in visible if a.code == code), None)
        if chosen is None:
            if Alliance.objects.filter(code=code).exists():
                raise PermissionDenied(_("You do not oversee this alliance."))
            raise BadFilter(_("There is no alliance with the code %(code)s.") % {"code": code})
        return chosen, visible
    return (visible[0] if visible else None), visible
