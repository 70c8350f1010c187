"""``tiercare synth --residents N --seed S --year YYYY``: build a synthetic county (issue 2 §8)."""

from __future__ import annotations

from argparse import ArgumentParser
from datetime import date
from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from tiercare.synth import reference as ref
from tiercare.synth.generator import SynthError, generate


def _count(value: str) -> int:
    """A resident count; accepts 1_000_000 and 1,000,000."""
    return int(value.replace("_", "").replace(",", ""))


class Command(BaseCommand):
    help = gettext_noop(
        "Build a synthetic county (divisions, communities, institutions, staff, residents and "
        "a year of encounters and settlements) into the configured database.")

    def add_arguments(self, parser: ArgumentParser) -> None:
        # argparse needs plain strings: translate now, in the command's active language
        parser.description = _(self.help)
        parser.add_argument(
            "--residents", type=_count, default=100_000,
            help=_("number of residents (default 100,000)"))
        parser.add_argument(
            "--seed", type=int, default=1,
            help=_("random seed: the same seed gives the same data"))
        parser.add_argument(
            "--year", type=int, default=date.today().year - 1,
            help=_("the year of care to generate (default: last year)"))
        parser.add_argument(
            "--county", default=ref.DEFAULT_COUNTY,
            help=_("GB/T 2260 county code (default %(default)s)"))
        parser.add_argument(
            "--communities", type=int, choices=(1, 2), default=None,
            help=_(
                "county medical communities (default: 1 below 300,000 residents, else 2)"))
        parser.add_argument(
            "--append", "--force", action="store_true", dest="append",
            help=_("add the county to a database that already has residents"))
        parser.add_argument(
            "--no-progress", action="store_true",
            help=_("do not show a progress bar"))

    def handle(self, *args: Any, **options: Any) -> None:
        # a new data directory has no tables yet: create them first, as ``tiercare demo``
        # does (a database already migrated is left as it is)
        call_command("migrate", interactive=False, verbosity=0)
        try:
            summary = generate(
                options["residents"], options["seed"], options["year"],
                progress=not options["no_progress"], county=options["county"],
                communities=options["communities"], append=options["append"],
            )
        except SynthError as err:
            raise CommandError(str(err)) from err
        out = self.stdout
        out.write(_("Synthetic county %(name)s (%(code)s), year %(year)s, seed %(seed)s: "
                    "%(alliances)s county medical communities.")
                  % {"name": summary.county_name, "code": summary.county_code,
                     "year": summary.year, "seed": summary.seed,
                     "alliances": summary.alliances})
        width = max(len(label) for label in summary.counts)
        for label, count in summary.counts.items():
            out.write(f"  {label:<{width}}  {count:>12,}")
        out.write(self.style.SUCCESS(
            _("Done in %(seconds).1f s (%(vendor)s).")
            % {"seconds": summary.seconds, "vendor": summary.vendor}))
