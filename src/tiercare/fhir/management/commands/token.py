"""``tiercare token create --name NAME (--institution CODE | --alliance CODE | --all) --scope
'system/*.read system/Patient.write'`` prints a bearer token for an integrating system;
``tiercare token revoke NAME`` ends it; ``tiercare token list`` shows them."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from tiercare.fhir import tokens
from tiercare.fhir.models import ApiToken


class Command(BaseCommand):
    help = "Create, revoke or list the bearer tokens of integrating systems (FHIR)."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="issue a token (printed once)")
        create.add_argument("--name", required=True)
        reach = create.add_mutually_exclusive_group(required=True)
        reach.add_argument("--institution", metavar="CODE")
        reach.add_argument("--alliance", metavar="CODE")
        reach.add_argument("--all", action="store_true", help="the whole county")
        create.add_argument("--scope", required=True,
                            help="SMART system scopes, e.g. 'system/*.read system/Patient.write'")
        revoke = sub.add_parser("revoke", help="end a token")
        revoke.add_argument("name")
        sub.add_parser("list", help="list tokens")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            if options["action"] == "create":
                token, secret = tokens.create_token(
                    options["name"], scope=options["scope"], institution=options["institution"],
                    alliance=options["alliance"], whole_county=options["all"])
                self.stdout.write(secret)
                self.stderr.write(_("Token “%(name)s” created; keep the line above secret, it "
                                    "is not shown again.") % {"name": token.name})
            elif options["action"] == "revoke":
                token = tokens.revoke_token(options["name"])
                self.stdout.write(_("Token “%(name)s” revoked.") % {"name": token.name})
            else:
                for token in ApiToken.objects.select_related("institution", "alliance") \
                        .order_by("name"):
                    reach = (token.institution.code if token.institution else
                             token.alliance.code if token.alliance else "*")
                    state = _("revoked") if token.revoked_at else _("active")
                    self.stdout.write(f"{token.name}\t{reach}\t{token.scopes}\t{state}")
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
