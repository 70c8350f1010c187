"""``manage.py import_encounters FILE``: import encounters from CSV (issue 2 §5)."""

from __future__ import annotations

from collections.abc import Callable

from tiercare.encounters.importers import ImportReport, import_encounters
from tiercare.encounters.management.commands._base import ImportCommand


class Command(ImportCommand):
    help = "Import encounters from a CSV file (template: docs/import-templates.md)."

    def importer(self) -> Callable[..., ImportReport]:
        return import_encounters
