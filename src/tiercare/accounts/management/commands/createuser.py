"""``tiercare createuser USERNAME --role ROLE [--institution CODE | --alliance CODE]
[--password-stdin]``: create a user whose scope fits the role (accounts.services.create_user).
Errors are translated messages, never tracebacks."""

from __future__ import annotations

import getpass
import sys
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from tiercare.accounts.models import Role
from tiercare.accounts.services import create_user
from tiercare.registry.models import Alliance, Institution


class Command(BaseCommand):
    help = "Create a TierCare user with a role and a scope (institution or alliance)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--role", required=True, choices=Role.values)
        scope = parser.add_mutually_exclusive_group()
        scope.add_argument("--institution", metavar="CODE",
                           help="institution code (doctors, nurses, pharmacists)")
        scope.add_argument("--alliance", metavar="CODE",
                           help="alliance code (alliance administrators, auditors)")
        parser.add_argument("--display-name", default="")
        parser.add_argument("--password-stdin", action="store_true",
                            help="read the password from the first line of standard input")

    def _password(self, from_stdin: bool) -> str:
        if from_stdin:
            line = sys.stdin.readline()
            password = line.rstrip("\r\n")
            if not password:
                raise CommandError(_("No password on standard input."))
            return password
        if not sys.stdin.isatty():
            raise CommandError(
                _("No terminal to ask for the password: use --password-stdin.")
            )
        first = getpass.getpass(_("Password: "))
        second = getpass.getpass(_("Password (again): "))
        if first != second:
            raise CommandError(_("The two passwords differ."))
        return first

    def handle(self, *args: Any, **options: Any) -> None:
        institution = alliance = None
        if options["institution"]:
            institution = Institution.objects.filter(code=options["institution"]).first()
            if institution is None:
                raise CommandError(
                    _("No institution with the code “%(code)s”.") % {"code": options["institution"]}
                )
        if options["alliance"]:
            alliance = Alliance.objects.filter(code=options["alliance"]).first()
            if alliance is None:
                raise CommandError(
                    _("No alliance with the code “%(code)s”.") % {"code": options["alliance"]}
                )
        password = self._password(options["password_stdin"])
        try:
            user = create_user(options["username"], password, options["role"],
                               institution=institution, alliance=alliance,
                               display_name=options["display_name"])
        except ValidationError as error:
            raise CommandError(" ".join(error.messages)) from error
        self.stdout.write(
            _("Created user %(name)s (%(role)s).") % {"name": user.username,
                                                     "role": user.get_role_display()}
        )
