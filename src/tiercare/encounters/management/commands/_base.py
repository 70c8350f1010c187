"""Shared body of the ``import_encounters`` and ``import_settlements`` commands.

Exit codes: 0 when the file was processed (even with rejected rows, which are listed in the
rejects file), 2 when the file cannot be read or its header is wrong. Never a traceback.
"""

from __future__ import annotations

from argparse import ArgumentParser
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import translation
from django.utils.translation import gettext as _

from tiercare.encounters.importers import ImportFileError, ImportReport


class ImportCommand(BaseCommand):
    kind = ""

    def importer(self) -> Callable[..., ImportReport]:
        raise NotImplementedError

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("file", metavar="FILE", help="CSV file (docs/import-templates.md)")
        parser.add_argument("--source-system", default=None,
                            help="source system of rows without a source_system column value")
        parser.add_argument("--rejects", default=None,
                            help="where to write rejected rows (default: FILE.rejects.csv)")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")
        parser.add_argument("--language", default=None,
                            help="language of messages and reasons (default: zh-hans)")

    def handle(self, *args: Any, **options: Any) -> None:
        language = options["language"] or settings.LANGUAGE_CODE
        with translation.override(language):
            try:
                report = self.importer()(
                    options["file"], source_system=options["source_system"],
                    progress=not options["no_progress"], rejects_path=options["rejects"],
                )
            except ImportFileError as exc:
                raise CommandError(str(exc), returncode=2) from None
            self.stdout.write(report.summary())
            if report.rejected:
                self.stdout.write(_("%(n)d rows were rejected; the file was processed.")
                                  % {"n": report.rejected})
