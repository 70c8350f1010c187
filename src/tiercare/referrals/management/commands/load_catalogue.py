"""``tiercare load_catalogue``: load the shipped default tiered disease catalogue
(``referrals/data/default_catalogue.csv``) into the county default catalogue. Idempotent."""

from __future__ import annotations

from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from tiercare.referrals import services


class Command(BaseCommand):
    help = "Load the default tiered disease catalogue (rules.md §2) into the database."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--file", default=str(services.DEFAULT_FILE),
                            help="catalogue CSV (default: the shipped file)")

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["file"])
        if not path.is_file():
            raise CommandError(_("No such file: %(path)s") % {"path": path}, returncode=2)
        try:
            catalogue, result = services.load_default_catalogue(path)
        except ValueError as exc:
            raise CommandError(str(exc), returncode=2) from None
        self.stdout.write(_("%(name)s (edition %(edition)s): %(inserted)d inserted, %(updated)d "
                            "updated, %(unchanged)d unchanged.") % {
            "name": catalogue.name, "edition": catalogue.edition or "-",
            "inserted": result.inserted, "updated": result.updated,
            "unchanged": result.unchanged})
