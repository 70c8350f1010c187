"""Pure rules of indicator targets: no ORM, plain data in, plain data out.

* An indicator has a **direction** (``indicators.md``, column "dir"): higher is better, lower
  is better, near a target value is best (budget execution ≈ 100 %), or none (a count that is
  watched, not judged: up- and down-referrals).
* A **target** says how a value is judged: ``>=`` / ``<=`` a value, ``approx`` a value with a
  tolerance ("85%左右", seed 003), ``falling`` / ``rising`` against the same period a year
  earlier ("外转率下降", seed 004), ``growth>=`` x % against that period (down-referrals
  +10 % a year, 2015 tiered-care pilot standard [nat]) or ``gain>=`` x percentage points
  (contract coverage +1–3 points a year [nat 2022]).
* :func:`status` judges a value: **met**, **near** (missed by at most 5 % of the reference
  value: the target, the threshold implied by last year's value, or last year's value
  itself), **missed**, or **none** (no value, no target, or an indicator that is not
  judged). The 5 % band is TierCare's own convention [conv], the same for every indicator.
* :func:`check_target` keeps targets meaningful: the comparison suits the direction, the
  value lies within the unit's range (a share in percent between 0 and 100), a tolerance
  goes with ``approx`` only. Packs (``data/packs``) and alliance overrides pass through it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop as N_

from tiercare.indicators.errors import IndicatorInvalid

#: A value judged "near" missed its target by at most this share of the reference value.
NEAR_BAND = Decimal("0.05")
#: No target value is larger than this in absolute terms (the database keeps 10 digits
#: before the decimal point).
MAX_ABS_VALUE = Decimal("1e10")


class Direction(models.TextChoices):
    """Which values are better (``indicators.md``, column "dir")."""

    HIGHER = "higher", _("higher is better")
    LOWER = "lower", _("lower is better")
    TARGET = "target", _("close to the target is best")
    NONE = "none", _("watched, not judged")


class Unit(models.TextChoices):
    """What a value counts. ``percent`` is a share of a whole (0–100); a change against last
    year is ``percent_change``; spending against a plan, which may exceed it, is
    ``percent_of_plan``."""

    PERCENT = "percent", _("percent")
    PERCENT_CHANGE = "percent_change", _("percent change")
    PERCENT_OF_PLAN = "percent_of_plan", _("percent of plan")
    COUNT = "count", _("count")
    RATIO = "ratio", _("ratio")
    HOURS = "hours", _("hours")
    YUAN = "yuan", _("yuan")
    PER_10K = "per_10k", _("per 10,000 residents")


class Comparison(models.TextChoices):
    """How a target judges a value (see :func:`status`)."""

    AT_LEAST = ">=", _("at least")
    AT_MOST = "<=", _("at most")
    APPROX = "approx", _("about")
    FALLING = "falling", _("falling against last year")
    RISING = "rising", _("rising against last year")
    GROWTH_AT_LEAST = "growth>=", _("growth against last year at least (%)")
    GAIN_AT_LEAST = "gain>=", _("gain against last year at least (points)")


class Status(models.TextChoices):
    """The verdict on one value (dashboard colours: green, amber, red, grey)."""

    MET = "met", _("met")
    NEAR = "near", _("near")
    MISSED = "missed", _("missed")
    NONE = "none", _("no verdict")


#: (lowest, highest) value of a target in each unit; ``None`` = unbounded.
UNIT_BOUNDS: dict[str, tuple[Decimal | None, Decimal | None]] = {
    Unit.PERCENT: (Decimal(0), Decimal(100)),
    Unit.PERCENT_CHANGE: (Decimal(-100), None),
    Unit.PERCENT_OF_PLAN: (Decimal(0), None),
    Unit.COUNT: (Decimal(0), None),
    Unit.RATIO: (Decimal(0), None),
    Unit.HOURS: (Decimal(0), None),
    Unit.YUAN: (None, None),
    Unit.PER_10K: (Decimal(0), None),
}

#: The comparisons that make sense for each direction: a "higher is better" indicator is never
#: held to a ceiling, a "near the target" one only to a value with a tolerance, and one that
#: is watched, not judged, to nothing.
ALLOWED: dict[str, frozenset[str]] = {
    Direction.HIGHER: frozenset({Comparison.AT_LEAST, Comparison.APPROX, Comparison.RISING,
                                 Comparison.GROWTH_AT_LEAST, Comparison.GAIN_AT_LEAST}),
    Direction.LOWER: frozenset({Comparison.AT_MOST, Comparison.APPROX, Comparison.FALLING}),
    Direction.TARGET: frozenset({Comparison.APPROX}),
    Direction.NONE: frozenset(),
}

#: Comparisons against the same period a year earlier: they need last year's value.
AGAINST_LAST_YEAR = frozenset({Comparison.FALLING, Comparison.RISING,
                               Comparison.GROWTH_AT_LEAST, Comparison.GAIN_AT_LEAST})


@dataclass(frozen=True)
class Target:
    """The target of one indicator for an alliance.

    ``origin`` is the id of the policy pack whose file states it, or ``"override"`` for an
    alliance's own target; ``citation`` names the source (seed file and article), ``quote``
    the source's words, ``note`` how TierCare reads them (or why the alliance overrode)."""

    indicator: str
    comparison: Comparison
    value: Decimal | None = None
    tolerance: Decimal | None = None
    year: int | None = None
    origin: str = ""
    citation: str = ""
    quote: str = ""
    note: str = ""
    set_by: str = ""
    set_at: dt.datetime | None = None


def plain_number(value: Decimal) -> str:
    """A value as people write it: ``85``, ``2.5``, ``100`` (no trailing zeros, no
    exponent)."""
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text


def check_target(direction: str, unit: str, comparison: str, value: Decimal | None,
                 tolerance: Decimal | None = None) -> None:
    """Refuse a target that cannot be judged (raises :class:`IndicatorInvalid`):

    * an indicator that is watched, not judged (direction ``none``) takes no target;
    * the comparison is one of :class:`Comparison` and suits the direction (:data:`ALLOWED`);
    * ``falling`` and ``rising`` take no value, every other comparison needs one;
    * a value compared directly (``>=``, ``<=``, ``approx``) lies within the unit's range
      (:data:`UNIT_BOUNDS`: a share in percent between 0 and 100) and a count is whole; a
      growth is more than −100 %;
    * ``approx`` needs a tolerance of 0 or more; no other comparison takes one."""
    if direction == Direction.NONE:
        raise IndicatorInvalid("indicator", "indicators.not_judged", N_(
            "This indicator is watched, not judged: it takes no target."))
    if comparison not in Comparison.values or comparison not in ALLOWED.get(direction, ()):
        raise IndicatorInvalid("comparison", "indicators.comparison", N_(
            "The comparison “%(comparison)s” does not suit this indicator; use one of: "
            "%(allowed)s."), comparison=comparison,
            allowed=", ".join(sorted(ALLOWED.get(direction, ()))))
    if comparison in (Comparison.FALLING, Comparison.RISING):
        if value is not None:
            raise IndicatorInvalid("value", "indicators.value_forbidden", N_(
                "A falling or rising target takes no value."))
    elif value is None:
        raise IndicatorInvalid("value", "indicators.value_required", N_(
            "This comparison needs a value."))
    else:
        low, high = _bounds(unit, comparison)
        _check_range("value", value, low, high)
        if (unit == Unit.COUNT and comparison not in AGAINST_LAST_YEAR
                and value != value.to_integral_value()):
            raise IndicatorInvalid("value", "indicators.value_whole", N_(
                "A count is a whole number, not %(value)s."), value=value)
    if comparison == Comparison.APPROX:
        if tolerance is None:
            raise IndicatorInvalid("tolerance", "indicators.tolerance_required", N_(
                "A target “about” a value needs a tolerance (0 or more)."))
        _check_range("tolerance", tolerance, Decimal(0), None)
    elif tolerance is not None:
        raise IndicatorInvalid("tolerance", "indicators.tolerance_forbidden", N_(
            "Only a target “about” a value takes a tolerance."))


def _bounds(unit: str, comparison: str) -> tuple[Decimal | None, Decimal | None]:
    if comparison == Comparison.GROWTH_AT_LEAST:
        return Decimal(-100), None
    if comparison == Comparison.GAIN_AT_LEAST:
        return None, None
    return UNIT_BOUNDS.get(unit, (None, None))


def _check_range(field_name: str, value: Decimal, low: Decimal | None,
                 high: Decimal | None) -> None:
    if not value.is_finite() or abs(value) >= MAX_ABS_VALUE:
        raise IndicatorInvalid(field_name, "indicators.value_range", N_(
            "%(value)s is not a usable number."), value=value)
    if low is not None and high is not None and not low <= value <= high:
        raise IndicatorInvalid(field_name, "indicators.value_range", N_(
            "%(value)s is out of range: it must lie between %(low)s and %(high)s."),
            value=value, low=low, high=high)
    if low is not None and value < low:
        raise IndicatorInvalid(field_name, "indicators.value_range", N_(
            "%(value)s is out of range: it must be at least %(low)s."), value=value, low=low)


def status(value: Decimal | None, target: Target | None, direction: str, *,
           previous: Decimal | None = None) -> Status:
    """Judge ``value`` against ``target`` (``previous``: the same period a year earlier).

    * **none**: no value, no target, an indicator that is not judged (direction ``none``),
      or a comparison against last year without last year's value (or, for ``growth>=``,
      with last year at 0, where growth is undefined).
    * ``>=`` t: **met** when value ≥ t, **near** when value ≥ t − 5 %·|t|, else **missed**;
      ``<=`` t mirrors it (near up to t + 5 %·|t|). Boundaries count as met / near.
    * ``approx`` t ± d reads the direction: higher is better → met when value ≥ t − d
      (about reached; more is no failure), lower is better → met when value ≤ t + d, near
      the target → met when |value − t| ≤ d; near widens d by 5 %·|t|.
    * ``falling``: met when value < last year, near when it rose by at most 5 %;
      ``rising`` mirrors it (unchanged is near, not met).
    * ``growth>=`` x: as ``>=`` against last year × (1 + x/100); ``gain>=`` x: as ``>=``
      against last year + x (percentage points).
    """
    if value is None or target is None or direction == Direction.NONE:
        return Status.NONE
    comparison = target.comparison
    if comparison in AGAINST_LAST_YEAR:
        if previous is None:
            return Status.NONE
        if comparison == Comparison.FALLING:
            return _at_most(value, previous, strict=True)
        if comparison == Comparison.RISING:
            return _at_least(value, previous, strict=True)
        if target.value is None:
            return Status.NONE
        if comparison == Comparison.GROWTH_AT_LEAST:
            if previous == 0:
                return Status.NONE
            return _at_least(value, previous * (1 + target.value / 100))
        return _at_least(value, previous + target.value)
    if target.value is None:
        return Status.NONE
    if comparison == Comparison.AT_LEAST:
        return _at_least(value, target.value)
    if comparison == Comparison.AT_MOST:
        return _at_most(value, target.value)
    return _about(value, target.value, target.tolerance or Decimal(0), direction)


def _at_least(value: Decimal, reference: Decimal, *, band: Decimal | None = None,
              strict: bool = False) -> Status:
    """Met at or above ``reference`` (strictly above when ``strict``); near within ``band``
    below it (default: 5 % of the reference)."""
    if value > reference or (value == reference and not strict):
        return Status.MET
    band = NEAR_BAND * abs(reference) if band is None else band
    return Status.NEAR if value >= reference - band else Status.MISSED


def _at_most(value: Decimal, reference: Decimal, *, band: Decimal | None = None,
             strict: bool = False) -> Status:
    """Met at or below ``reference``; near within ``band`` above it."""
    if value < reference or (value == reference and not strict):
        return Status.MET
    band = NEAR_BAND * abs(reference) if band is None else band
    return Status.NEAR if value <= reference + band else Status.MISSED


def _about(value: Decimal, reference: Decimal, tolerance: Decimal, direction: str) -> Status:
    """``reference`` ± ``tolerance`` read by the direction; the near band is 5 % of the
    reference beyond the tolerance."""
    band = NEAR_BAND * abs(reference)
    if direction == Direction.HIGHER:
        return _at_least(value, reference - tolerance, band=band)
    if direction == Direction.LOWER:
        return _at_most(value, reference + tolerance, band=band)
    gap = abs(value - reference)
    if gap <= tolerance:
        return Status.MET
    return Status.NEAR if gap <= tolerance + band else Status.MISSED
