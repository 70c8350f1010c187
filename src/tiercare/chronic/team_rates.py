"""A family-doctor team's own figures for its lead (issue 6 acceptance: "the team lead sees
coverage and fulfilment for the team"), computed live for one team over a span of days —
a team answers for a few thousand residents, so a handful of grouped queries and a pass in
Python are enough; the alliance-wide figures come from the indicator engine's snapshot.

Definitions (rules.md §7–§8; the engine's are the same, ADR 0021):

* catchment: residents living in the villages of the team's village clinics (the clinics of
  its village-doctor members and its base if that is a village clinic); a team with no village
  clinic covers its base township (the 9-digit township prefix of the address code);
* contract coverage: catchment residents with a contract of this team covering the span's
  last day ÷ catchment residents; priority coverage: the same over priority-group residents
  (65 and over, 0–6, on a registry, or declared);
* fulfilment: Σ over the team's contracts covering part of the span of min(delivered, owed)
  per package service ÷ Σ owed (owed pro rata to the days of the span the contract covered,
  ``rules.owed_in_span``; deliveries counted from the records in those days);
* standard-management and control rates of the team's registrations active in the span
  (``rules.is_standard``; latest follow-up at target).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone

from tiercare.chronic import rules, services
from tiercare.chronic.models import (
    Contract,
    ElderlyCheck,
    FamilyDoctorTeam,
    FollowUp,
    PackageService,
    PriorityGroupMembership,
    Registration,
    ServiceDelivery,
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


@dataclass
class TeamFigures:
    first: dt.date
    last: dt.date
    catchment: int = 0
    contracted: int = 0
    coverage: Rate = field(default_factory=lambda: Rate(Decimal(0), Decimal(0)))
    priority_coverage: Rate = field(default_factory=lambda: Rate(Decimal(0), Decimal(0)))
    fulfilment: Rate = field(default_factory=lambda: Rate(Decimal(0), Decimal(0)))
    management: dict[str, Rate] = field(default_factory=dict)
    control: dict[str, Rate] = field(default_factory=dict)
    registered: dict[str, int] = field(default_factory=dict)


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


def figures(team: FamilyDoctorTeam, first: dt.date, last: dt.date) -> TeamFigures:
    """The team's figures over ``first``–``last`` (both included). A handful of grouped
    queries whatever the team's size; resident ids stay in the database (sub-queries)."""
    result = TeamFigures(first, last)
    residents = Patient.objects.filter(catchment_q(team), is_active=True)
    result.catchment = residents.count()
    covering = Contract.objects.filter(team=team, start_date__lte=last).filter(
        Q(ended_on__isnull=True, end_date__gte=last) | Q(ended_on__gte=last))
    result.contracted = covering.values("patient_id").distinct().count()
    covered = residents.filter(pk__in=covering.values("patient_id"))
    result.coverage = Rate(Decimal(covered.count()), Decimal(result.catchment))
    priority = residents.filter(
        Q(birth_date__lte=_years_ago(last, 65))
        | Q(birth_date__gt=_years_ago(last, 7))
        | Q(pk__in=Registration.objects.filter(
            Q(closed_on__isnull=True) | Q(closed_on__gt=last),
            enrolled_on__lte=last).values("patient_id"))
        | Q(pk__in=PriorityGroupMembership.objects.filter(
            Q(end_date__isnull=True) | Q(end_date__gte=last), start_date__lte=last)
            .values("patient_id")))
    result.priority_coverage = Rate(
        Decimal(priority.filter(pk__in=covering.values("patient_id")).count()),
        Decimal(priority.count()))
    result.fulfilment = _fulfilment(team, first, last)
    _registry_rates(team, first, last, result)
    return result


def _fulfilment(team: FamilyDoctorTeam, first: dt.date, last: dt.date) -> Rate:
    in_span = Contract.objects.filter(team=team, start_date__lte=last).filter(
        Q(ended_on__isnull=True, end_date__gte=first) | Q(ended_on__gte=first))
    contracts = list(in_span.values_list("pk", "patient_id", "start_date", "end_date",
                                         "ended_on"))
    if not contracts:
        return Rate(Decimal(0), Decimal(0))
    packages: dict[int, list[int]] = defaultdict(list)
    for contract_id, package_id in Contract.packages.through.objects.filter(
            contract_id__in=in_span.values("pk")).values_list("contract_id",
                                                                "servicepackage_id"):
        packages[contract_id].append(package_id)
    lines: dict[int, list[tuple[int, str, int]]] = defaultdict(list)
    for package_id, pk, kind, count in PackageService.objects.filter(
            package_id__in={p for ids in packages.values() for p in ids}).values_list(
            "package_id", "pk", "delivered_by", "yearly_count"):
        lines[package_id].append((pk, kind, count))
    patients = in_span.values("patient_id")
    seen: dict[tuple[str, int], list[dt.date]] = defaultdict(list)
    D = PackageService.DeliveredBy
    for patient_id, disease, day in FollowUp.objects.filter(
            patient_id__in=patients, date__gte=first, date__lte=last).values_list(
            "patient_id", "disease", "date"):
        kind = D.HYPERTENSION_FOLLOW_UP if disease == rules.HYPERTENSION \
            else D.DIABETES_FOLLOW_UP
        seen[(kind, patient_id)].append(day)
    for patient_id, day in ElderlyCheck.objects.filter(
            patient_id__in=patients, date__gte=first, date__lte=last).values_list(
            "patient_id", "date"):
        seen[(D.ELDERLY_CHECK, patient_id)].append(day)
    _visits(team, patients, first, last, seen)
    recorded: dict[tuple[int, int], list[dt.date]] = defaultdict(list)
    for contract_id, service_id, day in ServiceDelivery.objects.filter(
            contract_id__in=in_span.values("pk"), date__gte=first, date__lte=last
            ).values_list("contract_id", "service_id", "date"):
        recorded[(contract_id, service_id)].append(day)
    owed_total = counted_total = Decimal(0)
    for contract_id, patient_id, start_date, end_date, ended_on in contracts:
        start = max(start_date, first)
        end = min(ended_on if ended_on is not None else end_date, last)
        days = (end - start).days + 1
        if days <= 0:
            continue
        for package_id in packages[contract_id]:
            for service_id, kind, count in lines[package_id]:
                owed = rules.owed_in_span(count, days)
                dates = recorded[(contract_id, service_id)] if kind == D.RECORDED \
                    else seen[(kind, patient_id)]
                delivered = sum(1 for d in dates if start <= d <= end)
                owed_total += owed
                counted_total += min(Decimal(delivered), owed)
    return Rate(counted_total, owed_total)


def _visits(team: FamilyDoctorTeam, patients: QuerySet[Any], first: dt.date, last: dt.date,
            seen: dict[tuple[str, int], list[dt.date]]) -> None:
    from tiercare.encounters.models import Encounter, EncounterClass

    places = services.team_institution_ids(team)
    start = timezone.make_aware(dt.datetime.combine(first, dt.time.min))
    end = timezone.make_aware(dt.datetime.combine(last + dt.timedelta(days=1), dt.time.min))
    for patient_id, moment in Encounter.objects.filter(
            patient_id__in=patients, institution_id__in=places,
            encounter_class=EncounterClass.OUTPATIENT, start__gte=start,
            start__lt=end).values_list("patient_id", "start"):
        seen[(PackageService.DeliveredBy.PRIMARY_VISIT, patient_id)].append(
            timezone.localdate(moment))


def _registry_rates(team: FamilyDoctorTeam, first: dt.date, last: dt.date,
                    result: TeamFigures) -> None:
    targets = services.targets_for(team.alliance_id)
    registrations = list(Registration.objects.filter(team=team, enrolled_on__lte=last).filter(
        Q(closed_on__isnull=True) | Q(closed_on__gte=first)).values_list("pk", "disease",
                                                                          "patient_id"))
    follow_ups: dict[int, list[tuple[dt.date, int, bool, str]]] = defaultdict(list)
    for registration_id, day, pk, ok, method in FollowUp.objects.filter(
            registration_id__in=[r[0] for r in registrations], date__gte=first,
            date__lte=last).values_list("registration_id", "date", "pk", "controlled",
                                        "method"):
        follow_ups[registration_id].append((day, pk, ok, method))
    checked = set(ElderlyCheck.objects.filter(
        patient_id__in=[r[2] for r in registrations], date__gte=first,
        date__lte=last).values_list("patient_id", flat=True))
    for disease in rules.DISEASES:
        mine = [r for r in registrations if r[1] == disease]
        standard = 0
        at_target = 0
        for pk, _disease, patient_id in mine:
            rows = follow_ups.get(pk, [])
            face = sum(1 for row in rows if row[3] != FollowUp.Method.PHONE)
            if rules.is_standard(face, patient_id in checked, targets):
                standard += 1
            if rows and max(rows)[2]:
                at_target += 1
        result.registered[disease] = len(mine)
        result.management[disease] = Rate(Decimal(standard), Decimal(len(mine)))
        result.control[disease] = Rate(Decimal(at_target), Decimal(len(mine)))


def members(team: FamilyDoctorTeam) -> list[TeamMember]:
    return list(team.members.filter(end_date__isnull=True)
                .select_related("practitioner__institution").order_by("role", "id"))
