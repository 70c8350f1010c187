"""Search parameter values of FHIR R4 (§3.1.1 "Search"): the value syntaxes this server
reads, turned into ORM filters. Pure parsing here; which parameter means which field is the
mapper's (``SearchParam``).

* date: ``[prefix]YYYY[-MM[-DD[Thh:mm[:ss][zone]]]]`` with prefixes eq, ne, gt, lt, ge, le;
  a value stands for the whole period of its precision (``2025-03`` is March).
* token: ``system|code``, ``|code`` (no system), ``system|`` (any code), ``code``.
* string: starts with, case-insensitive; ``:exact`` and ``:contains`` modifiers.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from tiercare.fhir.errors import FhirError

PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le")
_DATE = re.compile(
    r"^(?P<y>\d{4})(?:-(?P<m>\d{2})(?:-(?P<d>\d{2})"
    r"(?:T(?P<H>\d{2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?:\.\d+)?)?(?P<tz>Z|[+-]\d{2}:\d{2})?)?)?)?$")
CHINA = dt.timezone(dt.timedelta(hours=8))


@dataclass(frozen=True)
class Period:
    """A date parameter's value: ``[start, end)`` in aware datetimes, and its prefix."""

    prefix: str
    start: dt.datetime
    end: dt.datetime


def parse_date(name: str, text: str) -> Period:
    prefix = text[:2] if text[:2] in PREFIXES else "eq"
    value = text[2:] if text[:2] in PREFIXES else text
    match = _DATE.match(value)
    if match is None:
        raise FhirError(400, "invalid",
                        _("%(name)s: “%(value)s” is not a date (write 2025, 2025-03, "
                          "2025-03-01 or 2025-03-01T08:00+08:00, optionally after ge, le, gt, "
                          "lt, eq or ne)."), name=name, value=text)
    g = match.groupdict()
    try:
        zone = CHINA
        if g["tz"] == "Z":
            zone = dt.UTC
        elif g["tz"]:
            sign = 1 if g["tz"][0] == "+" else -1
            zone = dt.timezone(sign * dt.timedelta(hours=int(g["tz"][1:3]),
                                                   minutes=int(g["tz"][4:6])))
        year = int(g["y"])
        if g["m"] is None:
            start = dt.datetime(year, 1, 1, tzinfo=zone)
            end = dt.datetime(year + 1, 1, 1, tzinfo=zone) if year < 9999 else None
        elif g["d"] is None:
            month = int(g["m"])
            start = dt.datetime(year, month, 1, tzinfo=zone)
            end = start + dt.timedelta(days=calendar.monthrange(year, month)[1])
        elif g["H"] is None:
            start = dt.datetime(year, int(g["m"]), int(g["d"]), tzinfo=zone)
            end = start + dt.timedelta(days=1)
        else:
            seconds = g["S"] is not None
            start = dt.datetime(year, int(g["m"]), int(g["d"]), int(g["H"]), int(g["M"]),
                                int(g["S"] or 0), tzinfo=zone)
            end = start + dt.timedelta(seconds=1 if seconds else 60)
        if end is None or year < 1:
            raise OverflowError
        for moment in (start, end):  # the databases store UTC; dates are read in China time
            moment.astimezone(dt.UTC)
            moment.astimezone(CHINA)
    except (ValueError, OverflowError):
        raise FhirError(400, "invalid", _("%(name)s: “%(value)s” is not a valid date."),
                        name=name, value=text) from None
    return Period(prefix, start, end)


def date_q(field_name: str, period: Period, *, is_date: bool = False) -> Q:
    """The filter of a date parameter on a datetime field (or a date field, ``is_date``)."""
    start: Any = period.start
    end: Any = period.end
    if is_date:
        start = timezone.localtime(period.start, CHINA).date()
        end = timezone.localtime(period.end, CHINA).date()
        if timezone.localtime(period.end, CHINA).time() != dt.time(0):
            if end == dt.date.max:  # 9999-12-31T15:00Z: the day after cannot be written
                raise FhirError(400, "invalid", _("The date is outside the calendar this "
                                                  "server can search."))
            end += dt.timedelta(days=1)
    if period.prefix == "eq":
        return Q(**{f"{field_name}__gte": start, f"{field_name}__lt": end})
    if period.prefix == "ne":
        return Q(**{f"{field_name}__lt": start}) | Q(**{f"{field_name}__gte": end})
    if period.prefix == "gt":
        return Q(**{f"{field_name}__gte": end})
    if period.prefix == "ge":
        return Q(**{f"{field_name}__gte": start})
    if period.prefix == "lt":
        return Q(**{f"{field_name}__lt": start})
    return Q(**{f"{field_name}__lt": end})  # le


@dataclass(frozen=True)
class Token:
    system: str | None  # None: any system; "": explicitly no system
    code: str | None  # None: any code


def parse_token(text: str) -> Token:
    if "|" not in text:
        return Token(None, text)
    system, _sep, code = text.partition("|")
    return Token(system, code or None)


@dataclass(frozen=True)
class SearchParam:
    """One search parameter of a resource type: its FHIR type (for the CapabilityStatement),
    documentation, and the filter it makes from one value (``modifier`` may be empty).
    Repeated parameters are ANDed; comma-separated values in one are ORed."""

    type: str
    documentation: str
    filter: Callable[[str, str], Q]
    modifiers: tuple[str, ...] = field(default=())


def string_q(field_name: str, value: str, modifier: str) -> Q:
    if modifier == "exact":
        return Q(**{field_name: value})
    if modifier == "contains":
        return Q(**{f"{field_name}__icontains": value})
    return Q(**{f"{field_name}__istartswith": value})


def reference_id(text: str, resource_type: str) -> str | None:
    """The logical id in a reference parameter value: ``Type/id``, an absolute URL ending in
    ``Type/id``, or a bare ``id``; ``None`` when it names another resource type."""
    value = text.strip().rstrip("/")
    if "/" not in value:
        return value
    parts = value.split("/")
    if len(parts) >= 2 and parts[-2] == resource_type:
        return parts[-1]
    return None
