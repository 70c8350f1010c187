"""The inbox page and the unread badge of the top bar (issue 4 item 4: unread counts that
refresh live in the page: the badge asks every 20 seconds through HTMX). Notices list
residents by name, so a page of the inbox is audited like a list of referrals."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from tiercare.accounts import audit
from tiercare.accounts.roles import Capability
from tiercare.notifications import services
from tiercare.notifications.models import Notification
from tiercare.referrals.models import Referral
from tiercare.web.access import requires

PAGE_SIZE = 30


def _user(request: HttpRequest) -> Any:
    return request.user


@requires(Capability.VIEW_REFERRALS)
def inbox(request: HttpRequest) -> HttpResponse:
    """The user's inbox: their institution's or alliance office's notices, newest first;
    unread ones marked; filters unread only / addressed to me."""
    user = _user(request)
    unread_only = request.GET.get("unread") == "1"
    mine_only = request.GET.get("mine") == "1"
    queryset = services.inbox(user, unread_only=unread_only, mine_only=mine_only)
    page = Paginator(queryset, PAGE_SIZE).get_page(request.GET.get("page"))
    audit.record_reads(Referral._meta.label, [
        (n.referral_id, n.referral.patient_id, "page: inbox")
        for n in page.object_list if n.referral is not None])
    return render(request, "notifications/inbox.html", {
        "page_obj": page, "unread_only": unread_only, "mine_only": mine_only,
        "has_inbox": services.has_inbox(user), "unread": services.unread_count(user),
        "cap": services.UNREAD_CAP})


def unread_badge(request: HttpRequest) -> HttpResponse:
    """Fragment: the unread count for the top bar (empty for roles without an inbox and for
    anonymous requests, so an expired session does not break the page it polls from)."""
    user = _user(request)
    count = services.unread_count(user) if user.is_authenticated else 0
    return render(request, "notifications/partials/badge.html",
                  {"unread": count, "cap": services.UNREAD_CAP})


@require_POST
@requires(Capability.VIEW_REFERRALS)
def open_notice(request: HttpRequest, pk: int) -> HttpResponse:
    """Mark one notice read and open its referral (or the page it leads to)."""
    user = _user(request)
    where = services.inbox_filter(user)
    notice = (Notification.objects.filter(where, pk=pk).first() if where is not None
              else None)
    if notice is None:
        raise Http404(_("No such notification in your inbox."))
    services.mark_read(user, [notice.pk])
    if notice.referral_id is None:
        return redirect(notice.link if notice.link.startswith("/") else "notifications:inbox")
    return redirect("referrals:detail", pk=notice.referral_id)


@require_POST
@requires(Capability.VIEW_REFERRALS)
def read_all(request: HttpRequest) -> HttpResponse:
    services.mark_all_read(_user(request))
    messages.success(request, _("Every notification is marked as read."))
    return redirect("notifications:inbox")
