"""Who may open which page and which alliances and institutions a user sees
(rules.md §11: minimum necessary access; users scoped to an institution or an alliance see
only theirs, system administrators and regulators choose among all)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import resolve_url
from django.utils.translation import gettext as _

from tiercare.accounts.models import Role, User
from tiercare.accounts.roles import Capability, has_capability
from tiercare.registry.models import Alliance, Institution

View = TypeVar("View", bound=Callable[..., Any])


def requires(capability: Capability) -> Callable[[View], View]:
    """Login required (redirect to the login page), then the role must grant
    ``capability`` (else 403 with a translated reason)."""

    def decorate(view: View) -> View:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            if not has_capability(request.user, capability):
                raise PermissionDenied(_("Your role does not give access to this page."))
            return view(request, *args, **kwargs)

        guarded = login_required(wrapped)

        @wraps(view)
        def entry(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            # An HTMX fragment request after the session expired: send the whole page to the
            # login page instead of swapping the login form into a fragment.
            if request.headers.get("HX-Request") and not request.user.is_authenticated:
                response = HttpResponse(status=204)
                response["HX-Redirect"] = resolve_url(settings.LOGIN_URL)
                return response
            return guarded(request, *args, **kwargs)

        return cast(View, entry)

    return decorate


def sees_all_alliances(user: User) -> bool:
    """System administrators and regulators see every alliance; so does an auditor who is
    not held to one alliance (e.g. at the county health commission)."""
    if has_capability(user, Capability.VIEW_ALL_ALLIANCES):
        return True
    return user.role == Role.AUDITOR and user.alliance_id is None


def home_alliance_id(user: User) -> int | None:
    """The alliance a scoped user belongs to: their own, or their institution's."""
    if user.alliance_id is not None:
        return user.alliance_id
    if user.institution_id is not None:
        return Institution.objects.filter(pk=user.institution_id).values_list(
            "alliance_id", flat=True).first()
    return None


def visible_alliances(user: User) -> QuerySet[Alliance]:
    """The alliances whose overview the user may see."""
    if sees_all_alliances(user):
        return Alliance.objects.all()
    alliance_id = home_alliance_id(user)
    if alliance_id is None:
        return Alliance.objects.none()
    return Alliance.objects.filter(pk=alliance_id)


def can_see_institution(user: User, institution: Institution) -> bool:
    """An institution page is visible when it belongs to an alliance the user sees, or is
    the user's own institution; institutions outside every alliance (out-of-county
    hospitals) only to those who see all alliances."""
    if sees_all_alliances(user):
        return True
    if institution.pk == user.institution_id:
        return True
    return institution.alliance_id is not None and institution.alliance_id == home_alliance_id(user)


def error_text(error: Exception) -> str:
    """A translated, user-facing text for a domain error (kernel, rules or Django)."""
    if isinstance(error, ValidationError):
        return " ".join(str(m) for m in error.messages)
    translated = getattr(error, "translated", None)
    if callable(translated):
        return str(translated(_))
    return str(error)
