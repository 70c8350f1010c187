"""``tiercare import_catalogue FILE [--alliance CODE]``: upsert the rows of an xlsx workbook
into a catalogue (the alliance's, created as a copy of the default when missing; else the
county default). Exit 0 when the file was processed, even with rejected rows (listed in
``FILE.rejects.csv``); 2 when the file cannot be read or its header is wrong."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import translation
from django.utils.translation import gettext as _

from tiercare.referrals import spreadsheets
from tiercare.referrals.management.commands._catalogue import find_catalogue


class Command(BaseCommand):
    help = "Import a tiered disease catalogue from an xlsx workbook."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("file", metavar="FILE", help="xlsx workbook (docs/referrals.md)")
        parser.add_argument("--alliance", default=None,
                            help="alliance code (default: the county default catalogue)")
        parser.add_argument("--rejects", default=None,
                            help="where to write rejected rows (default: FILE.rejects.csv)")
        parser.add_argument("--language", default=None,
                            help="language of messages and reasons (default: zh-hans)")

    def handle(self, *args: Any, **options: Any) -> None:
        with translation.override(options["language"] or settings.LANGUAGE_CODE):
            try:
                with transaction.atomic():  # a bad file leaves no new catalogue behind
                    report = spreadsheets.import_catalogue(
                        find_catalogue(options["alliance"], create=True), options["file"],
                        rejects_path=options["rejects"])
            except spreadsheets.SpreadsheetError as exc:
                raise CommandError(str(exc), returncode=2) from None
            self.stdout.write(report.summary())
            for reject in sorted(report.rejects, key=lambda r: r.row)[:50]:
                self.stdout.write(_("row %(row)d, %(column)s: %(reason)s") % {
                    "row": reject.row, "column": reject.column, "reason": reject.reason})
