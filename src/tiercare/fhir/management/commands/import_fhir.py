"""``tiercare import fhir FILE…``: load NDJSON files or a JSON Bundle (``fhir.importer``).

Exit codes: 0 when the files were processed (rejected resources are listed in the rejects
file), 2 when a file cannot be read. Never a traceback."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import translation
from django.utils.translation import gettext as _

from tiercare.fhir.importer import DEFAULT_CHUNK, FhirImportError, import_files


class Command(BaseCommand):
    help = "Load FHIR resources from NDJSON files or a JSON Bundle (idempotent)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("files", nargs="+", metavar="FILE",
                            help="NDJSON (one resource per line) or a JSON Bundle")
        parser.add_argument("--chunk", type=int, default=DEFAULT_CHUNK,
                            help="resources per batch (default %(default)s)")
        parser.add_argument("--rejects", default=None,
                            help="where to list rejected resources (default: "
                                 "FILE.rejects.csv)")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")
        parser.add_argument("--language", default=None,
                            help="language of messages and reasons (default: zh-hans)")

    def handle(self, *args: Any, **options: Any) -> None:
        with translation.override(options["language"] or settings.LANGUAGE_CODE):
            try:
                report = import_files(options["files"], chunk=max(1, options["chunk"]),
                                      progress=not options["no_progress"],
                                      rejects_path=options["rejects"])
            except FhirImportError as exc:
                raise CommandError(str(exc), returncode=2) from None
            self.stdout.write(report.summary())
            if report.rejects_path:
                self.stdout.write(_("Rejected resources are listed in %(path)s.")
                                  % {"path": report.rejects_path})
