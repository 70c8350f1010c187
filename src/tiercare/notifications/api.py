"""JSON API of the inbox (mounted at ``/api/notifications``; issue 4 item 4): the caller's
notices newest first, the unread count (what the page's badge polls), and marking read.
Roles without an inbox (regulators, auditors, system administrators, pharmacists) get an
empty inbox. Notices name a referral and its resident only by number: reading them reads no
resident's record, so they are not audited; opening the referral is."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema

from tiercare.notifications import services
from tiercare.notifications.models import Notification

router = Router(tags=["notifications"])


class NotificationOut(Schema):
    id: int
    kind: str
    kind_display: str
    referral_id: int | None
    green_channel: bool
    text: str
    created_at: datetime
    addressed_to_me: bool
    is_read: bool


class InboxPage(Schema):
    count: int
    unread: int
    results: list[NotificationOut]


class InboxParams(Schema):
    unread: bool = False
    mine: bool = False
    limit: Annotated[int, Field(ge=1, le=200)] = 50
    offset: Annotated[int, Field(ge=0, le=1_000_000)] = 0


class UnreadOut(Schema):
    unread: int
    capped: bool


class MarkReadIn(Schema):
    ids: Annotated[list[Annotated[int, Field(ge=1, le=2**63 - 1)]], Field(max_length=500)]


class MarkedOut(Schema):
    marked: int
    unread: int


def _out(n: Notification, user_id: int) -> dict[str, Any]:
    return {"id": n.pk, "kind": n.kind, "kind_display": n.get_kind_display(),
            "referral_id": n.referral_id, "green_channel": n.green_channel, "text": n.text,
            "created_at": n.created_at, "addressed_to_me": n.user_id == user_id,
            "is_read": bool(getattr(n, "is_read", False))}


@router.get("", response=InboxPage, summary="Your inbox, newest first")
def inbox(request: HttpRequest, params: Query[InboxParams]) -> dict[str, Any]:
    user: Any = request.user
    queryset = services.inbox(user, unread_only=params.unread, mine_only=params.mine)
    rows = list(queryset[params.offset:params.offset + params.limit])
    return {"count": queryset.count(), "unread": services.unread_count(user),
            "results": [_out(n, user.pk) for n in rows]}


@router.get("/unread", response=UnreadOut, summary="How many notices you have not read")
def unread(request: HttpRequest) -> dict[str, Any]:
    count = services.unread_count(request.user)
    return {"unread": min(count, services.UNREAD_CAP), "capped": count > services.UNREAD_CAP}


@router.post("/read", response=MarkedOut, summary="Mark notices as read")
def mark_read(request: HttpRequest, payload: MarkReadIn) -> dict[str, Any]:
    user: Any = request.user
    marked = services.mark_read(user, payload.ids)
    return {"marked": marked, "unread": services.unread_count(user)}


@router.post("/read-all", response=MarkedOut, summary="Mark your whole inbox as read")
def mark_all_read(request: HttpRequest) -> dict[str, Any]:
    user: Any = request.user
    services.mark_all_read(user)
    return {"marked": 0, "unread": services.unread_count(user)}
