"""Counting integrating systems' requests for the integrating-systems page.

Each FHIR request of a token adds one to an in-memory counter of (token, day); a request
that finds the counters older than ``TIERCARE_FHIR_TRAFFIC_FLUSH_SECONDS`` (default 5)
adds them to the ``ApiTraffic`` rows, so a busy interface writes a few rows every few
seconds instead of one per request. Counts of a process that dies before its next flush are
lost (at most a few seconds of one worker's traffic): this is traffic statistics, not the
audit trail, which every read and write goes to directly."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time

from django.conf import settings
from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from tiercare.fhir.models import ApiToken, ApiTraffic

log = logging.getLogger(__name__)
_lock = threading.Lock()
_counts: dict[tuple[int, dt.date], list[int]] = {}
_flushed_at = time.monotonic()


def count(token_id: int, status: int) -> None:
    """One request of the token, answered with ``status``."""
    day = timezone.localdate()
    with _lock:
        counter = _counts.setdefault((token_id, day), [0, 0])
        counter[0] += 1
        counter[1] += status >= 400
        due = time.monotonic() - _flushed_at >= settings.TIERCARE_FHIR_TRAFFIC_FLUSH_SECONDS
    if due:
        flush()


def flush() -> None:
    """Add the counted requests to the database (kept for the next flush if it fails)."""
    global _flushed_at
    with _lock:
        pending = dict(_counts)
        _counts.clear()
        _flushed_at = time.monotonic()
    for index, ((token_id, day), (requests, errors)) in enumerate(pending.items()):
        try:
            _add(token_id, day, requests, errors)
        except DatabaseError:
            log.warning("traffic counts not written; kept for the next flush", exc_info=True)
            with _lock:
                for key, (n, e) in list(pending.items())[index:]:
                    counter = _counts.setdefault(key, [0, 0])
                    counter[0] += n
                    counter[1] += e
            return


def _add(token_id: int, day: dt.date, requests: int, errors: int) -> None:
    rows = ApiTraffic.objects.filter(token_id=token_id, day=day)
    if rows.update(requests=F("requests") + requests, errors=F("errors") + errors):
        return
    if not ApiToken.objects.filter(pk=token_id).exists():
        return  # deleted since it was counted: its traffic goes with it
    try:
        with transaction.atomic():
            ApiTraffic.objects.create(token_id=token_id, day=day, requests=requests,
                                      errors=errors)
    except IntegrityError:  # another worker created the day's row meanwhile
        rows.update(requests=F("requests") + requests, errors=F("errors") + errors)


def forget() -> None:
    """Drop the counts not yet written (a test starting from a clean database)."""
    with _lock:
        _counts.clear()
