"""The landing page after login: what the user's role can do, with a few counts for the
user's alliance (rules.md §11: administrators see aggregates)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib.auth.decorators import login_required
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from tiercare.accounts.models import AuditEvent, User
from tiercare.accounts.roles import Capability, has_capability
from tiercare.patients.models import Patient
from tiercare.referrals import statuses as referral_statuses
from tiercare.referrals.models import FollowUpTask, Referral
from tiercare.registry.models import Institution, Level, Practitioner
from tiercare.web.access import sees_all_alliances, visible_alliances
from tiercare.web.context import nav_items_for

#: One line telling what each page is for, shown on the landing cards.
DESCRIPTIONS = {
    "search": _("Find a resident by ID number, phone, name or pinyin initials and open the "
                "shared record."),
    "overview": _("Member institutions by level, with practitioners, residents in the grid "
                  "and encounters this year."),
    "institutions": _("Every member institution with its level, kind and division."),
    "grid": _("Check that every township of the county is in exactly one alliance."),
    "audit": _("Who viewed or changed which record, when and from which address."),
    "admin": _("Master data: alliances, institutions, departments, practitioners, users."),
    "referrals": _("Write referrals, answer the incoming queue before its deadline, follow "
                   "residents up; the alliance office watches flows and missed deadlines."),
    "calendar": _("A week of a department's slots by pool: referral, public, internal."),
    "systems": _("Tokens and traffic of the hospital systems that use the FHIR interface."),
    "indicators": _("In-county visit rate, primary-care share, out-of-county admissions and "
                    "the other monitoring indicators against the alliance's targets, with "
                    "their trend, ranking, referral flows and the records behind each number."),
    "tightness": _("Grade the criteria of a tight county medical community: the alliance's "
                   "self-assessment, the health commission's assessment, the verdict with its "
                   "reasons and the improvement note."),
}


@login_required
def home(request: HttpRequest) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    cards = [(item, DESCRIPTIONS.get(item.key, "")) for item in nav_items_for(user)]
    alliances = list(visible_alliances(user).order_by("code"))
    institutions = Institution.objects.filter(is_active=True)
    if not sees_all_alliances(user):
        institutions = institutions.filter(alliance__in=alliances)
    else:
        institutions = institutions.exclude(alliance=None)
    by_level = dict(institutions.order_by().values_list("level").annotate(n=Count("id")))
    stats: list[tuple[Any, int]] = [
        (_("Alliances"), len(alliances)),
        (_("County-level institutions"), by_level.get(Level.COUNTY, 0)),
        (_("Township health centres"), by_level.get(Level.TOWNSHIP, 0)),
        (_("Village clinics"), by_level.get(Level.VILLAGE, 0)),
        (_("Practitioners"),
         Practitioner.objects.filter(institution__in=institutions, is_active=True).count()),
    ]
    if has_capability(user, Capability.SEARCH_RESIDENTS) and sees_all_alliances(user):
        stats.append((_("Residents"), Patient.objects.filter(is_active=True).count()))
    if has_capability(user, Capability.WORK_REFERRALS) and user.institution_id is not None:
        open_incoming = Referral.objects.filter(
            receiving_institution_id=user.institution_id,
            status__in=sorted(referral_statuses.AWAITING_ANSWER)).count()
        stats.append((_("Referrals waiting for an answer"), open_incoming))
        stats.append((_("Open follow-ups"), FollowUpTask.objects.filter(
            institution_id=user.institution_id, status=FollowUpTask.Status.OPEN).count()))
    if has_capability(user, Capability.VIEW_AUDIT):
        since = timezone.now() - timedelta(hours=24)
        stats.append((_("Audit events, last 24 hours"),
                      AuditEvent.objects.filter(at__gte=since).count()))
    return render(request, "web/home.html", {"cards": cards, "stats": stats,
                                             "alliances": alliances})
