"""Slot ↔ ``scheduling.Slot``: the capacity of one schedule at one time in one pool (ADR 0011:
one row per schedule, start and pool, so a slot time shows as up to three Slots).

* ``schedule``: ``Schedule/N``; ``start``/``end`` in China time; ``overbooked``: false (a
  slot is never booked beyond its capacity).
* ``status``: ``busy-unavailable`` when the slot is closed, ``busy`` when every place is
  booked, ``free`` while a place is left.
* ``serviceCategory``: the pool (the glossary's ``Slot.pool``) under
  ``…/CodeSystem/slot-pool``: ``public`` | ``referral`` | ``internal``.
* extension ``…/StructureDefinition/slot-capacity``: ``capacity``, ``booked`` and, for a
  referral slot, ``released`` (places returned to the public pool), each ``valueInteger``.

Read and search only; slots are not residents' records (no audit of reads).
"""

from __future__ import annotations

from typing import Any

from django.db.models import F, Q, QuerySet
from django.utils import timezone

from tiercare.fhir.auth import Client
from tiercare.fhir.mapping import (
    BASE_URI,
    NOTHING,
    ResourceMapper,
    code_filter,
    reference_filter,
    register,
)
from tiercare.fhir.search import CHINA, SearchParam, date_q, parse_date, parse_token
from tiercare.scheduling.models import Pool, Schedule, Slot

POOL_SYSTEM = f"{BASE_URI}/CodeSystem/slot-pool"
CAPACITY_URL = f"{BASE_URI}/StructureDefinition/slot-capacity"
FREE, BUSY, UNAVAILABLE = "free", "busy", "busy-unavailable"


def slot_status(slot: Slot) -> str:
    if slot.status != Slot.Status.OPEN:
        return UNAVAILABLE
    return FREE if slot.booked < slot.capacity else BUSY


def _status_filter(value: str, modifier: str) -> Q:
    token = parse_token(value)
    if token.system not in (None, "", "http://hl7.org/fhir/slotstatus"):
        return NOTHING
    open_ = Q(status=Slot.Status.OPEN)
    return {
        FREE: open_ & Q(booked__lt=F("capacity")),
        BUSY: open_ & Q(booked__gte=F("capacity")),
        UNAVAILABLE: ~open_,
    }.get(token.code or "", NOTHING)


def _start_filter(value: str, modifier: str) -> Q:
    return date_q("start", parse_date("start", value))


def moment(value: Any) -> str:
    return str(timezone.localtime(value, CHINA).isoformat())


@register
class SlotMapper(ResourceMapper):
    resource_type = "Slot"
    model = Slot
    #: slots carry no change time; their creation stands for it
    search_params = {
        "schedule": SearchParam("reference", "The schedule (Schedule/N)",
                                reference_filter("schedule_id", "Schedule", Schedule)),
        "start": SearchParam("date", "Start of the slot (prefixes eq, ne, gt, lt, ge, le)",
                             _start_filter),
        "status": SearchParam("token", "free | busy | busy-unavailable", _status_filter),
        "service-category": SearchParam(
            "token", f"The pool: public | referral | internal ({POOL_SYSTEM})",
            code_filter("pool", POOL_SYSTEM, Pool.values)),
    }
    sorts = {"start": "start"}

    def queryset(self, client: Client) -> QuerySet[Any]:
        return Slot.objects.all()

    def to_resource(self, obj: Any, client: Client) -> dict[str, Any]:
        s: Slot = obj
        counts = [{"url": "capacity", "valueInteger": s.capacity},
                  {"url": "booked", "valueInteger": s.booked}]
        if s.pool == Pool.REFERRAL:
            counts.append({"url": "released", "valueInteger": s.released})
        return {
            "resourceType": "Slot",
            "id": str(s.pk),
            "meta": {"lastUpdated": s.updated_at.isoformat()},
            "extension": [{"url": CAPACITY_URL, "extension": counts}],
            "serviceCategory": [{"coding": [{"system": POOL_SYSTEM, "code": s.pool,
                                             "display": str(Pool(s.pool).label)}]}],
            "schedule": {"reference": f"Schedule/{s.schedule_id}"},
            "status": slot_status(s),
            "start": moment(s.start),
            "end": moment(s.end),
            "overbooked": False,
        }
