"""``tiercare indicators refresh [--full]`` and ``tiercare indicators show --period P
[--org CODE] [--format table|csv|json]`` (issue 5 item 8).

``refresh`` brings the analytics snapshot up to date (incremental unless ``--full`` or no
snapshot exists), with a progress bar. ``show`` prints every computed indicator of the
catalogue for a period (``2025``, ``2025Q3``, ``2025-07``) and an org unit — an alliance, an
institution (by code) or a township (its 9-digit division code) — or, without ``--org``,
for every alliance; each row names the indicator by id and gives numerator, denominator,
value, the target in force for the org unit's alliance and the status against it.
"""

from __future__ import annotations

import csv
import json
import sys
from decimal import Decimal
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop
from tqdm import tqdm

from tiercare.indicators import catalogue, rules, services
from tiercare.indicators.board import YEARS
from tiercare.indicators.engine import Span, compute, snapshot
from tiercare.indicators.engine.definitions import ALLIANCE, INSTITUTION, TOWNSHIP
from tiercare.kernel.errors import InvalidPeriod
from tiercare.kernel.periods import parse
from tiercare.registry.models import Alliance, Institution

FIELDS = ("indicator", "org_kind", "org", "period", "numerator", "denominator", "value",
          "unit", "target", "status")


class Command(BaseCommand):
    help = gettext_noop("Refresh the indicator snapshot, or show indicator values for a "
                        "period.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.description = _(self.help)
        verbs = parser.add_subparsers(dest="verb", required=True)
        refresh = verbs.add_parser("refresh",
                                   help=_("bring the analytics snapshot up to date"))
        refresh.add_argument("--full", action="store_true",
                             help=_("rebuild everything instead of copying changed rows"))
        show = verbs.add_parser("show", help=_("print indicator values"))
        show.add_argument("--period", required=True, help="2025, 2025Q3, 2025-07")
        show.add_argument("--org", help=_("alliance or institution code, or township code"))
        show.add_argument("--format", choices=("table", "csv", "json"), default="table")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["verb"] == "refresh":
            self._refresh(options["full"])
        else:
            self._show(options["period"], options.get("org"), options["format"])

    def _refresh(self, full: bool) -> None:
        bar = tqdm(total=len(snapshot.staging.STAGES) + 2, unit="step", file=sys.stderr,
                   disable=not sys.stderr.isatty())

        def progress(step: str, done: int, total: int) -> None:
            bar.set_description(step)
            bar.n = done
            bar.refresh()

        report = snapshot.refresh(full=full, progress=progress)
        bar.close()
        copied = sum(report.rows.values())
        done = (_("full refresh: %(rows)s rows copied in %(seconds)s s") if report.full
                else _("incremental refresh: %(rows)s rows copied in %(seconds)s s"))
        self.stdout.write(done % {"rows": f"{copied:,}", "seconds": f"{report.seconds:.1f}"})

    def _show(self, period_text: str, org_code: str | None, fmt: str) -> None:
        try:
            period = parse(period_text)
        except InvalidPeriod as err:
            raise CommandError(err.translated(_)) from None
        if not YEARS[0] <= period.year <= YEARS[1]:  # the dashboards' range
            raise CommandError(_("Periods run from year %(min)s to year %(max)s.")
                               % {"min": YEARS[0], "max": YEARS[1]})
        span = Span.of(period)
        kind, orgs, alliances = _org(org_code)
        try:
            with snapshot.reader() as backend:
                # a year before too: "falling" and "rising" targets compare with it
                cells = compute(backend, [span, span.a_year_before()], kind, orgs=orgs)
        except FileNotFoundError:
            raise CommandError(_("No indicator snapshot yet: run `tiercare indicators refresh` "
                                 "first.")) from None
        units = catalogue.load_catalogue()
        targets = {key: services.targets_for(alliance) for key, alliance in alliances.items()}
        before = {(c.indicator, c.org): c.value for c in cells if c.span != span}
        rows = []
        order = list(units.ids())
        for cell in sorted((c for c in cells if c.span == span),
                           key=lambda c: (c.org, order.index(c.indicator))):
            indicator = units.indicator(cell.indicator)
            target = targets.get(cell.org if kind == ALLIANCE else "*", {}).get(cell.indicator)
            status = (rules.status(cell.value, target, indicator.direction,
                                   previous=before.get((cell.indicator, cell.org)))
                      if target else None)
            rows.append({"indicator": cell.indicator, "org_kind": kind, "org": cell.org,
                         "period": span.label, "numerator": _text(cell.numerator),
                         "denominator": _text(cell.denominator), "value": _text(cell.value),
                         "unit": str(indicator.unit),
                         "target": _target_text(target),
                         "status": str(status) if status else ""})
        self._print(rows, fmt)

    def _print(self, rows: list[dict[str, str]], fmt: str) -> None:
        if fmt == "json":
            self.stdout.write(json.dumps(rows, ensure_ascii=False, indent=1))
        elif fmt == "csv":
            writer = csv.DictWriter(self.stdout, fieldnames=FIELDS, lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
        else:
            widths = {f: max([len(f), *(len(r[f]) for r in rows)]) for f in FIELDS}
            self.stdout.write("  ".join(f.ljust(widths[f]) for f in FIELDS))
            for row in rows:
                self.stdout.write("  ".join(row[f].ljust(widths[f]) for f in FIELDS))


def _target_text(target: rules.Target | None) -> str:
    if target is None:
        return ""
    parts = [str(target.comparison.value)]
    if target.value is not None:
        parts.append(format(target.value, "f"))
    if target.tolerance is not None:
        parts.append(f"±{format(target.tolerance, 'f')}")
    return " ".join(parts)


def _text(value: Decimal | None) -> str:
    return "" if value is None else format(value, "f")


def _org(code: str | None) -> tuple[str, list[str] | None, dict[str, Alliance]]:
    """Org kind, org keys and the alliances whose targets apply (``*``: the one alliance
    of an institution or township)."""
    if code is None:
        alliances = {str(a.pk): a for a in Alliance.objects.all()}
        return ALLIANCE, None, alliances
    alliance = Alliance.objects.filter(code=code).first()
    if alliance is not None:
        return ALLIANCE, [str(alliance.pk)], {str(alliance.pk): alliance}
    institution = Institution.objects.filter(code=code).select_related("alliance").first()
    if institution is not None:
        owner = {"*": institution.alliance} if institution.alliance else {}
        return INSTITUTION, [str(institution.pk)], owner
    if code.isdigit() and len(code) == 9:
        county = Alliance.objects.filter(county_code=code[:6]).first()
        return TOWNSHIP, [code], ({"*": county} if county else {})
    raise CommandError(_("No alliance, institution or township has the code %(code)s.")
                       % {"code": code})
