"""Resident search and the shared resident record (issue 2 §7; rules.md §11).

Views are thin: searching and opening a record go through ``patients.services`` which check
the user's scope and write the audit trail (one SEARCH per search, one VIEW per read of the
record); identifiers are masked for roles that do not need them (``patients.access``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

from tiercare.accounts.models import User
from tiercare.accounts.roles import Capability, has_capability
from tiercare.chronic import services as chronic_services
from tiercare.encounters import services as encounter_services
from tiercare.kernel.errors import KernelError
from tiercare.patients import services as patient_services
from tiercare.patients.access import can_see_identifiers
from tiercare.patients.models import Patient
from tiercare.patients.rules import RuleError, mask_id_number, mask_phone
from tiercare.registry.models import Level
from tiercare.web.access import error_text, requires
from tiercare.web.places import place_name, place_names

SEARCH_LIMIT = 50
MAX_QUERY_LENGTH = 40
TIMELINE_PAGE_SIZE = 20


@dataclass(frozen=True)
class ResidentRow:
    """A resident as shown in lists: identifiers already masked for the viewer's role."""

    patient: Patient
    id_number: str
    phone: str
    place: str


def _shown(value: str, show: bool) -> str:
    return value if show else mask_id_number(value) if value else ""


def _rows(user: User, patients: list[Patient]) -> list[ResidentRow]:
    show = can_see_identifiers(user)
    places = place_names(p.address_code for p in patients)
    return [
        ResidentRow(
            patient=p,
            id_number=_shown(p.id_number, show),
            phone=p.phone if show else mask_phone(p.phone),
            place=places.get(p.address_code, p.address_code),
        )
        for p in patients
    ]


def _search(user: User, query: str) -> dict[str, Any]:
    text = query.strip()
    context: dict[str, Any] = {"query": text, "rows": None, "message": "", "limit": SEARCH_LIMIT}
    if not text:
        context["message"] = _("Type an ID number, a phone number, a health record number, a "
                               "name or pinyin initials (e.g. “zs” for 张三).")
        context["hint"] = True
        return context
    if len(text) > MAX_QUERY_LENGTH:
        context["message"] = _("The search text is too long: at most %(n)d characters.") % {
            "n": MAX_QUERY_LENGTH}
        return context
    try:
        patients = patient_services.search_patients(user, text, limit=SEARCH_LIMIT)
    except (ValidationError, KernelError, RuleError) as error:
        context["message"] = error_text(error)
        return context
    context["rows"] = _rows(user, patients)
    return context


@requires(Capability.SEARCH_RESIDENTS)
def resident_search(request: HttpRequest) -> HttpResponse:
    """One search box (ID number, phone, name, pinyin initials); HTMX requests get only
    the results table."""
    context = _search(request.user, request.GET.get("q", ""))  # type: ignore[arg-type]
    # HTMX asks for the fragment; a history restore (back button, cache miss) needs the page.
    if request.headers.get("HX-Request") and not request.headers.get(
            "HX-History-Restore-Request"):
        return render(request, "web/partials/resident_results.html", context)
    return render(request, "web/resident_search.html", context)


def _page_number(request: HttpRequest) -> int | None:
    raw = request.GET.get("page", "1").strip()
    if not raw.isdigit() or not 1 <= int(raw) <= 10_000:
        return None
    return int(raw)


def _timeline_page(patient: Patient, page: int) -> dict[str, Any]:
    """One page of the shared record, newest first; one extra row tells whether more
    follow."""
    upto = page * TIMELINE_PAGE_SIZE
    encounters = encounter_services.timeline(patient, limit=upto + 1)
    return {
        "encounters": encounters[upto - TIMELINE_PAGE_SIZE:upto],
        "page": page,
        "has_next": len(encounters) > upto,
        "has_previous": page > 1,
    }


def _open(request: HttpRequest, pk: int) -> Patient:
    """Open the record through the audited, scope-checked service (rules.md §11)."""
    try:
        return patient_services.get_record(request.user, pk)
    except Patient.DoesNotExist as error:
        raise Http404(_("No resident with this number.")) from error


def _bad_page(request: HttpRequest) -> HttpResponse:
    return render(request, "web/error.html",
                  {"status": 400, "message": _("The page number must be a whole number from 1.")},
                  status=400)


@requires(Capability.SEARCH_RESIDENTS)
def resident_record(request: HttpRequest, pk: int) -> HttpResponse:
    """Demographics, identifiers (masked per role), insurance, address, the timeline of
    encounters at every member institution and care outside the county."""
    page = _page_number(request)
    if page is None:
        return _bad_page(request)
    patient = _open(request, pk)
    user: User = request.user  # type: ignore[assignment]
    show = can_see_identifiers(user)
    summary = encounter_services.patient_summary(patient)
    places = place_names([patient.address_code])
    insured = place_name(patient.insured_county) if patient.insured_county else ""
    identifiers = [
        (ident.get_type_display(), ident.system, ident.value if show else mask_id_number(
            ident.value))
        for ident in patient.identifiers.all()
    ]
    by_level = [(Level(level).label, level, n) for level, n in sorted(
        summary.by_level.items(), key=lambda item: _LEVEL_ORDER.get(item[0], 9))]
    context = {
        "patient": patient,
        "requested_pk": pk,
        "row": ResidentRow(patient, _shown(patient.id_number, show),
                           patient.phone if show else mask_phone(patient.phone),
                           places.get(patient.address_code, patient.address_code)),
        "identifiers_shown": show,
        "identifiers": identifiers,
        "insured_county": insured,
        "summary": summary,
        "by_level": by_level,
        "settlements": encounter_services.out_of_county_settlements(patient),
        **_timeline_page(patient, page),
        "can_refer": has_capability(user, Capability.WORK_REFERRALS)
        and user.institution_id is not None,
        "family_doctor": chronic_services.record_panel(patient),
        "sees_family_doctors": has_capability(user, Capability.VIEW_FAMILY_DOCTORS),
    }
    return render(request, "web/resident_record.html", context)


_LEVEL_ORDER: dict[str, int] = {Level.VILLAGE: 0, Level.TOWNSHIP: 1, Level.COUNTY: 2, Level.CITY: 3,
                Level.PROVINCIAL: 4}


@requires(Capability.SEARCH_RESIDENTS)
def resident_timeline(request: HttpRequest, pk: int) -> HttpResponse:
    """One page of the timeline (HTMX paging). A read of the record, so audited too."""
    page = _page_number(request)
    if page is None:
        return _bad_page(request)
    patient = _open(request, pk)
    context = {"patient": patient, **_timeline_page(patient, page)}
    return render(request, "web/partials/timeline.html", context)
