"""A family-doctor team's own figures for its lead (issue 6 acceptance: "the team lead sees
coverage and fulfilment for the team").

* **Standard-management and control rates, fulfilment, contracts in force** come from the
  indicator engine (``indicators.engine.chronic.team_rates`` on the analytics snapshot,
  refreshed every 10 minutes): the same definitions as the alliance's dashboards (ADR 0021),
  year to date.
* **Coverage** is the team's own and computed live, because the engine has no population per
  team: the *catchment* is the residents living in the villages of the team's village clinics
  (the clinics of its village-doctor members, and its base if that is a village clinic); a
  team with no village clinic covers its base township (the 9-digit township prefix of the
  address code). Contract coverage: catchment residents with a contract of this team covering
  the day ÷ catchment residents; priority coverage: the same over the priority-group residents
  of the catchment (65 and over, 0–6, a registration active that day, or a declared
  membership; as the engine's priority coverage, rules.md §7). Three counts on indexes,
  whatever the team's size.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Q

from tiercare.chronic import rules
from tiercare.chronic.models import (
    Contract,
    FamilyDoctorTeam,
    PriorityGroupMembership,
    Registration,
    TeamMember,
)
from tiercare.patients.models import Patient
from tiercare.registry.models import Institution, Level


@dataclass
class Rate:
    numerator: Decimal
    denominator: Decimal

    @property
    def value(self) -> Decimal | None:
        if not self.denominator:
            return None
        return (self.numerator * 100 / self.denominator).quantize(Decimal("0.1"))


def _nothing() -> Rate:
    return Rate(Decimal(0), Decimal(0))


@dataclass
class TeamCoverage:
    day: dt.date
    catchment: int = 0
    contracted: int = 0
    coverage: Rate = field(default_factory=_nothing)
    priority_coverage: Rate = field(default_factory=_nothing)


def catchment_q(team: FamilyDoctorTeam) -> Q:
    """Residents the team answers for by address (see the module's docstring)."""
    clinics = set(Institution.objects.filter(
        level=Level.VILLAGE, practitioners__team_memberships__team=team,
        practitioners__team_memberships__end_date__isnull=True)
        .values_list("division_code", flat=True))
    if team.institution.level == Level.VILLAGE:
        clinics.add(team.institution.division_code)
    clinics = {c for c in clinics if c}
    if clinics:
        return Q(address_code__in=sorted(clinics))
    return Q(address_code__startswith=team.institution.division_code[:9])


def _years_ago(day: dt.date, years: int) -> dt.date:
    return rules.add_years(day, -years)


def coverage(team: FamilyDoctorTeam, day: dt.date) -> TeamCoverage:
    """The team's contract and priority-group coverage of its catchment on ``day``."""
    residents = Patient.objects.filter(catchment_q(team), is_active=True)
    result = TeamCoverage(day, residents.count())
    covering = Contract.objects.filter(team=team, start_date__lte=day).filter(
        Q(ended_on__isnull=True, end_date__gte=day) | Q(ended_on__gte=day))
    result.contracted = covering.values("patient_id").distinct().count()
    result.coverage = Rate(Decimal(residents.filter(
        pk__in=covering.values("patient_id")).count()), Decimal(result.catchment))
    priority = residents.filter(
        Q(birth_date__lte=_years_ago(day, 65))
        | Q(birth_date__gt=_years_ago(day, 7))
        | Q(pk__in=Registration.objects.filter(
            Q(closed_on__isnull=True) | Q(closed_on__gt=day),
            enrolled_on__lte=day).values("patient_id"))
        | Q(pk__in=PriorityGroupMembership.objects.filter(
            Q(end_date__isnull=True) | Q(end_date__gte=day), start_date__lte=day)
            .values("patient_id")))
    result.priority_coverage = Rate(
        Decimal(priority.filter(pk__in=covering.values("patient_id")).count()),
        Decimal(priority.count()))
    return result


@dataclass
class EngineFigures:
    """The engine's figures of one team for one span (``None`` where it has no value)."""

    span_label: str
    refreshed_at: dt.datetime | None
    rates: dict[str, Rate] = field(default_factory=dict)
    contracted: int = 0


def engine_figures(team: FamilyDoctorTeam, year: int, today: dt.date) -> EngineFigures:
    """The team's standard-management, control and fulfilment rates for ``year`` to date from
    the snapshot. Raises ``FileNotFoundError`` (``SnapshotUnavailable``) when there is no
    snapshot yet."""
    from tiercare.indicators import board
    from tiercare.indicators.engine import chronic as engine
    from tiercare.indicators.engine import snapshot
    from tiercare.indicators.engine.compute import Span

    month = today.month if year == today.year else 12
    span = Span.year_to_date(year, month)
    with snapshot.reader() as backend:
        found = engine.team_rates(backend, team.alliance_id or 0, [span], team_ids=[team.pk]) \
            if team.alliance_id else []
    result = EngineFigures(span.label, board.refreshed_at())
    for rate in found:
        if rate.figure == "contracted":
            result.contracted = int(rate.numerator)
        else:
            result.rates[rate.figure] = Rate(rate.numerator, rate.denominator or Decimal(0))
    return result


def members(team: FamilyDoctorTeam) -> list[TeamMember]:
    return list(team.members.filter(end_date__isnull=True)
                .select_related("practitioner__institution").order_by("role", "id"))
