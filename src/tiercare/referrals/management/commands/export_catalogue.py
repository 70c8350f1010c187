"""``tiercare export_catalogue [--alliance CODE] [-o FILE]``: the catalogue as an xlsx
workbook (format in ``docs/referrals.md``)."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from tiercare.referrals import spreadsheets
from tiercare.referrals.management.commands._catalogue import find_catalogue


class Command(BaseCommand):
    help = "Export a tiered disease catalogue to an xlsx workbook."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--alliance", default=None,
                            help="alliance code (default: the county default catalogue)")
        parser.add_argument("-o", "--output", default="catalogue.xlsx", help="xlsx file")

    def handle(self, *args: Any, **options: Any) -> None:
        catalogue = find_catalogue(options["alliance"], create=False)
        try:
            count = spreadsheets.export_catalogue(catalogue, options["output"])
        except OSError as exc:
            raise CommandError(str(exc), returncode=2) from None
        self.stdout.write(_("%(count)d entries written to %(path)s.")
                          % {"count": count, "path": options["output"]})
