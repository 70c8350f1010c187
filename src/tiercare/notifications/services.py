"""Use cases of the notifications inbox (issue 4 item 4). Notices are written by
``notify_step`` inside the referral step's transaction (``receivers``), by
``warn_deadlines`` from the periodic job, and by ``replay_events`` for a county built by
``synth``; people read them through ``inbox`` and ``unread_count``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.db.models import Exists, ExpressionWrapper, OuterRef, Q, QuerySet, Value
from django.db.models.fields import BooleanField
from django.utils import timezone

from tiercare.accounts.models import Role, User
from tiercare.notifications import rules
from tiercare.notifications.models import InboxState, Notification, NotificationRead
from tiercare.referrals import statuses
from tiercare.referrals.models import Referral, ReferralEvent
from tiercare.registry.models import Institution

#: who has an institution's inbox (the referral workflow's staff)
INBOX_STAFF = frozenset({Role.DOCTOR, Role.NURSE})
#: the unread badge says "99+" beyond this
UNREAD_CAP = 99


def _alliance_of(institution_id: int | None) -> int | None:
    if institution_id is None:
        return None
    return Institution.objects.filter(pk=institution_id).values_list(
        "alliance_id", flat=True).first()


def _rows(referral: Referral, notices: Iterable[rules.Notice], *, at: dt.datetime,
          text: str = "") -> list[Notification]:
    rows: list[Notification] = []
    office: int | None = None
    for notice in notices:
        kwargs: dict[str, Any] = {}
        if notice.audience == rules.Audience.SENDING:
            kwargs = {"institution_id": referral.sending_institution_id,
                      "user_id": referral.sending_user_id}
        elif notice.audience == rules.Audience.RECEIVING:
            if referral.receiving_institution_id is None:
                continue
            kwargs = {"institution_id": referral.receiving_institution_id}
        else:
            office = office or _alliance_of(referral.sending_institution_id)
            if office is None:
                continue
            kwargs = {"alliance_id": office}
        rows.append(Notification(kind=str(notice.kind), referral_id=referral.pk,
                                 green_channel=referral.green_channel, text=text[:300],
                                 created_at=at, **kwargs))
    return rows


def _text(event: ReferralEvent) -> str:
    """The reason a person gave with the step; the system's own notes (escalation, expiry)
    are records for the audit, in English, and the notice's kind already says them."""
    return "" if event.side == "system" else event.reason


def notify_step(referral: Referral, event: ReferralEvent) -> list[Notification]:
    """Leave the notices of one workflow step (``rules.notices_for``) in the inboxes it
    concerns, in the step's own transaction."""
    notices = rules.notices_for(event.action, event.from_status, event.to_status,
                                direction=referral.direction, side=event.side)
    if not notices:
        return []
    return Notification.objects.bulk_create(_rows(referral, notices, at=event.at,
                                                  text=_text(event)))


def warn_deadlines(now: dt.datetime | None = None) -> int:
    """Tell each receiving institution once when an unanswered referral's deadline is near
    (``rules.warning_time``). Idempotent (one "deadline near" per referral and inbox);
    returns how many notices were written."""
    now = now or timezone.now()
    candidates = Referral.objects.filter(
        status__in=statuses.AWAITING_ANSWER, deadline__gt=now,
        deadline__lte=now + rules.WARN_AT_MOST, receiving_institution__isnull=False,
    ).exclude(Exists(Notification.objects.filter(
        referral=OuterRef("pk"), kind=Notification.Kind.DEADLINE_NEAR)))
    rows: list[Notification] = []
    for referral in candidates.only("pk", "deadline", "submitted_at", "approved_at",
                                    "green_channel", "receiving_institution_id",
                                    "sending_institution_id", "sending_user_id"):
        sent = referral.approved_at or referral.submitted_at or now
        assert referral.deadline is not None
        if rules.warning_time(sent, referral.deadline) <= now:
            rows.extend(_rows(referral, [rules.Notice(rules.Kind.DEADLINE_NEAR,
                                                      rules.Audience.RECEIVING)], at=now))
    with transaction.atomic():
        Notification.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


def replay_events(since: dt.datetime) -> int:
    """Write the notices of every referral step since ``since`` (a county written by
    ``synth`` has its referral history but no inbox). Returns the notices written."""
    events = (ReferralEvent.objects.filter(at__gte=since).select_related("referral")
              .order_by("at", "pk"))
    rows: list[Notification] = []
    for event in events.iterator(chunk_size=2000):
        referral = event.referral
        notices = rules.notices_for(event.action, event.from_status, event.to_status,
                                    direction=referral.direction, side=event.side)
        rows.extend(_rows(referral, notices, at=event.at, text=_text(event)))
    with transaction.atomic():
        Notification.objects.bulk_create(rows, batch_size=2000, ignore_conflicts=True)
    return len(rows)


# --- reading --------------------------------------------------------------------------------


def inbox_filter(user: Any) -> Q | None:
    """Which notices are in ``user``'s inbox: their institution's (doctors and nurses), their
    alliance office's (alliance administrators); ``None`` when the role has no inbox."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return None
    if user.role in INBOX_STAFF and user.institution_id is not None:
        return Q(institution_id=user.institution_id)
    if user.role == Role.ALLIANCE_ADMIN and user.alliance_id is not None:
        return Q(alliance_id=user.alliance_id)
    return None


def has_inbox(user: Any) -> bool:
    return inbox_filter(user) is not None


def _watermark(user: User) -> dt.datetime | None:
    return InboxState.objects.filter(user=user).values_list("read_through", flat=True).first()


def _unread(queryset: QuerySet[Notification], user: User) -> QuerySet[Notification]:
    watermark = _watermark(user)
    if watermark is not None:
        queryset = queryset.filter(created_at__gt=watermark)
    return queryset.exclude(Exists(NotificationRead.objects.filter(
        notification=OuterRef("pk"), user=user)))


def inbox(user: User, *, unread_only: bool = False, mine_only: bool = False,
          kind: str = "") -> QuerySet[Notification]:
    """The user's notices, newest first, each with ``is_read``."""
    where = inbox_filter(user)
    if where is None:
        return Notification.objects.none()
    queryset = Notification.objects.filter(where)
    if mine_only:
        queryset = queryset.filter(user=user)
    if kind:
        queryset = queryset.filter(kind=kind)
    if unread_only:
        queryset = _unread(queryset, user).annotate(
            is_read=Value(False, output_field=BooleanField()))
    else:
        watermark = _watermark(user)
        read = Exists(NotificationRead.objects.filter(notification=OuterRef("pk"), user=user))
        condition = read | Q(created_at__lte=watermark) if watermark is not None else read
        queryset = queryset.annotate(
            is_read=ExpressionWrapper(condition, output_field=BooleanField()))
    return queryset.select_related("referral", "referral__patient",
                                   "referral__sending_institution",
                                   "referral__receiving_institution").order_by(
        "-created_at", "-pk")


def unread_count(user: Any) -> int:
    """How many notices ``user`` has not read, counted up to :data:`UNREAD_CAP` + 1."""
    where = inbox_filter(user)
    if where is None:
        return 0
    return _unread(Notification.objects.filter(where), user)[:UNREAD_CAP + 1].count()


def mark_read(user: User, ids: Iterable[int], *, now: dt.datetime | None = None) -> int:
    """Mark notices of the user's inbox as read (others' notices are ignored)."""
    where = inbox_filter(user)
    if where is None:
        return 0
    wanted = Notification.objects.filter(where, pk__in=list(ids)).values_list("pk", flat=True)
    rows = [NotificationRead(notification_id=pk, user=user, read_at=now or timezone.now())
            for pk in wanted]
    NotificationRead.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


def mark_referral_read(user: User, referral_id: int) -> int:
    """Opening a referral's slip reads the notices about it in the user's inbox."""
    where = inbox_filter(user)
    if where is None:
        return 0
    ids = list(_unread(Notification.objects.filter(where, referral_id=referral_id), user)
               .values_list("pk", flat=True))
    return mark_read(user, ids) if ids else 0


@transaction.atomic
def mark_all_read(user: User, *, now: dt.datetime | None = None) -> None:
    """Everything in the inbox up to now counts as read."""
    now = now or timezone.now()
    InboxState.objects.update_or_create(user=user, defaults={"read_through": now})
    NotificationRead.objects.filter(user=user, notification__created_at__lte=now).delete()
