"""Use cases of family-doctor and chronic-care work, one transaction each (DESIGN.md: the only
place that changes state). Rules come from ``chronic.rules`` (rules.md §7–§8); views, the JSON
API, FHIR and synth call these functions.

Who may act: doctors and nurses of a member institution (``STAFF_ROLES``) for the work of
their own institution's teams and the teams they belong to; alliance administrators edit
their alliance's packages and policy; everyone else reads what their scope allows.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Count, Max, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from tiercare.accounts import audit
from tiercare.accounts.models import AuditEvent, Role, User
from tiercare.chronic import rules, statuses
from tiercare.chronic.errors import ChronicConflict, ChronicInvalid, ChronicRefused
from tiercare.chronic.models import (
    ChronicPolicy,
    Contract,
    ContractEvent,
    Disease,
    ElderlyCheck,
    FamilyDoctorTeam,
    FollowUp,
    PackageService,
    PriorityGroup,
    PriorityGroupMembership,
    Registration,
    ScreeningReading,
    ServiceDelivery,
    ServicePackage,
    TeamMember,
)
from tiercare.patients import access
from tiercare.patients.models import Patient
from tiercare.registry.models import Alliance, Institution, Level, Practitioner

STAFF_ROLES = frozenset({Role.DOCTOR, Role.NURSE})
PACKAGES_FILE = Path(__file__).parent / "data" / "packages.toml"

#: ICD-10 categories that put a resident on a registry (rules.md §8: primary hypertension;
#: type-2 diabetes): I10–I13, essential hypertension and its heart and kidney disease (I15,
#: secondary hypertension, is left out: its cause is treated, not the registry's); E11.
DIAGNOSIS_PREFIXES: dict[str, tuple[str, ...]] = {
    rules.HYPERTENSION: ("I10", "I11", "I12", "I13"),
    rules.DIABETES: ("E11",),
}
DEFAULT_DIAGNOSIS = {rules.HYPERTENSION: "I10", rules.DIABETES: "E11.9"}

#: rules.md §8: the registries are for residents aged 35 and over.
REGISTRY_MIN_AGE = 35


def disease_of(code: str) -> str | None:
    """The registry an ICD-10 code belongs to, or ``None``."""
    upper = (code or "").upper()
    for disease, prefixes in DIAGNOSIS_PREFIXES.items():
        if upper.startswith(prefixes):
            return disease
    return None


# --- who acts ---------------------------------------------------------------------------------

def _active(user: User | None) -> bool:
    return bool(user is not None and user.is_authenticated and user.is_active)


def _staff(by: User | None) -> User:
    if by is None or not _active(by) or by.role not in STAFF_ROLES or by.institution is None:
        raise ChronicRefused("not_staff", _("Only doctors and nurses of a member institution "
                                            "may record family-doctor and chronic-care work."))
    return by


def _in_scope(by: User, patient: Patient) -> Patient:
    current = Patient.objects.get(pk=patient.pk)
    if not current.is_active:
        raise ChronicInvalid("patient.inactive",
                             _("Record %(record)s is merged or closed; use the resident's "
                               "active record."), record=current.health_record_no)
    if not access.can_view(by, current):
        raise ChronicRefused("patient.out_of_scope",
                             _("Record %(record)s is outside the residents you care for."),
                             record=current.health_record_no)
    return current


def today(now: dt.datetime | None = None) -> dt.date:
    """Today in China Standard Time (DESIGN.md: store UTC, show Asia/Shanghai)."""
    return timezone.localdate(now or timezone.now())


def _audit(action: str, obj: Any, *, by: User | None, patient_id: int | None = None,
           summary: str = "", changes: dict[str, Any] | None = None) -> None:
    audit.record(action, user=by, object_type=obj._meta.label, object_id=obj.pk,
                 patient_id=patient_id, summary=summary, changes=changes)


def teams_of(user: User | None) -> QuerySet[FamilyDoctorTeam]:
    """The teams whose work ``user`` does: teams based at their institution and teams they
    are a member of."""
    if not _active(user) or user is None:
        return FamilyDoctorTeam.objects.none()
    condition = Q()
    if user.institution_id is not None:
        condition |= Q(institution_id=user.institution_id)
    if user.practitioner_id is not None:
        condition |= Q(members__practitioner_id=user.practitioner_id,
                       members__end_date__isnull=True)
    if not condition:
        return FamilyDoctorTeam.objects.none()
    return FamilyDoctorTeam.objects.filter(condition, is_active=True).distinct()


def visible_teams(user: User | None) -> QuerySet[FamilyDoctorTeam]:
    """The teams ``user`` may look at: system administrators and regulators every team;
    alliance administrators and auditors their alliance's; doctors and nurses their own
    (``teams_of``)."""
    if not _active(user) or user is None:
        return FamilyDoctorTeam.objects.none()
    if user.is_superuser or user.role in (Role.SYSTEM_ADMIN, Role.REGULATOR):
        return FamilyDoctorTeam.objects.all()
    if user.role in (Role.ALLIANCE_ADMIN, Role.AUDITOR):
        if user.alliance_id is None:
            return FamilyDoctorTeam.objects.all() if user.role == Role.AUDITOR else \
                FamilyDoctorTeam.objects.none()
        return FamilyDoctorTeam.objects.filter(alliance_id=user.alliance_id)
    if user.role in STAFF_ROLES:
        return teams_of(user)
    return FamilyDoctorTeam.objects.none()


def works_for(user: User, team: FamilyDoctorTeam) -> bool:
    return teams_of(user).filter(pk=team.pk).exists()


def _require_team(by: User, team: FamilyDoctorTeam) -> None:
    if not works_for(by, team):
        raise ChronicRefused("contract.team",
                             _("You are not a member of the team %(team)s."), team=team.name)


# --- policy -----------------------------------------------------------------------------------

def policy_for(alliance_id: int | None) -> ChronicPolicy:
    """The alliance's chronic-care policy, or the defaults (an unsaved row)."""
    if alliance_id is not None:
        found = ChronicPolicy.objects.filter(alliance_id=alliance_id).first()
        if found is not None:
            return found
    policy = ChronicPolicy()
    policy.alliance_id = alliance_id  # type: ignore[assignment]
    return policy


def targets_for(alliance_id: int | None) -> rules.Targets:
    return policy_for(alliance_id).targets()


# --- teams ------------------------------------------------------------------------------------

@transaction.atomic
def create_team(*, institution: Institution, code: str, name: str,
                lead: Practitioner | None = None, by: User | None = None,
                on: dt.date | None = None) -> FamilyDoctorTeam:
    """A family-doctor team based at a primary-care institution (rules.md §7); its lead
    becomes its first member."""
    if institution.level not in (Level.TOWNSHIP, Level.VILLAGE):
        raise ChronicInvalid("team.institution",
                             _("A family-doctor team is based at a township health centre or "
                               "a village clinic, not at %(name)s."), name=institution.name)
    team = FamilyDoctorTeam.objects.create(alliance_id=institution.alliance_id,
                                           institution=institution, code=code.strip(),
                                           name=name.strip(), lead=lead)
    if lead is not None:
        add_member(team, lead, role=TeamMember.Role.LEAD, by=by, on=on)
    _audit(AuditEvent.Action.CREATE, team, by=by, summary=team.name)
    return team


@transaction.atomic
def add_member(team: FamilyDoctorTeam, practitioner: Practitioner, *, role: str,
               by: User | None = None, on: dt.date | None = None) -> TeamMember:
    """Add a practitioner of any level to the team from ``on`` (default today)."""
    if role not in TeamMember.Role.values:
        raise ChronicInvalid("team.member", _("“%(value)s” is not a valid choice."), value=role)
    if team.members.filter(practitioner=practitioner, end_date__isnull=True).exists():
        raise ChronicConflict("team.member", _("%(name)s is already in the team."),
                              name=practitioner.name)
    member = TeamMember.objects.create(team=team, practitioner=practitioner, role=role,
                                       start_date=on or today())
    _audit(AuditEvent.Action.UPDATE, team, by=by, summary=f"+{practitioner.name}",
           changes={"member": practitioner.code, "role": role})
    return member


@transaction.atomic
def end_membership(member: TeamMember, *, by: User | None = None,
                   on: dt.date | None = None) -> TeamMember:
    member.end_date = on or today()
    member.save(update_fields=["end_date"])
    _audit(AuditEvent.Action.UPDATE, member.team, by=by, summary=f"-{member.practitioner.name}",
           changes={"member_left": member.practitioner.code})
    return member


# --- service packages -------------------------------------------------------------------------

def read_packages_file(path: Path = PACKAGES_FILE) -> dict[str, Any]:
    with path.open("rb") as handle:
        return tomllib.load(handle)


@transaction.atomic
def load_default_packages(path: Path = PACKAGES_FILE) -> int:
    """Load (or update) the default package set shipped in ``data/packages.toml``; returns the
    number of packages. Idempotent: a package and its services are matched by code."""
    data = read_packages_file(path)
    count = 0
    for item in data["package"]:
        fees = {k: Decimal(str(item[k])) for k in
                ("fee_total", "fee_resident", "fee_public_health", "fee_insurance")}
        package, _created = ServicePackage.objects.update_or_create(
            alliance=None, code=item["code"],
            defaults={"name": item["name"], "name_en": item["name_en"], "kind": item["kind"],
                      "priority_group": item.get("priority_group", ""),
                      "source": item.get("source", data.get("source", "")), **fees})
        for service in item["service"]:
            PackageService.objects.update_or_create(
                package=package, code=service["code"],
                defaults={"name": service["name"], "name_en": service["name_en"],
                          "yearly_count": service["yearly_count"],
                          "delivered_by": service["delivered_by"]})
        count += 1
    return count


def ensure_default_packages() -> None:
    if not ServicePackage.objects.filter(alliance__isnull=True).exists():
        load_default_packages()


def packages_for(alliance_id: int | None) -> QuerySet[ServicePackage]:
    """The packages an alliance offers: its own set once it has one, else the defaults (loaded
    from ``data/packages.toml`` if the database lost them)."""
    own = ServicePackage.objects.filter(alliance_id=alliance_id) if alliance_id else None
    if own is not None and own.exists():
        return own.filter(is_active=True)
    ensure_default_packages()
    return ServicePackage.objects.filter(alliance__isnull=True, is_active=True)


@transaction.atomic
def adopt_packages(alliance: Alliance, *, by: User | None = None) -> int:
    """Give ``alliance`` its own editable copy of the default packages (rules.md §7: amounts
    are local); a no-op when it already has its own."""
    if ServicePackage.objects.filter(alliance=alliance).exists():
        return 0
    count = 0
    for package in ServicePackage.objects.filter(alliance__isnull=True).prefetch_related(
            "services"):
        services = list(package.services.all())
        package.pk = None
        package.alliance = alliance
        package.save()
        PackageService.objects.bulk_create(
            PackageService(package=package, code=s.code, name=s.name, name_en=s.name_en,
                           yearly_count=s.yearly_count, delivered_by=s.delivered_by)
            for s in services)
        count += 1
    audit.record(AuditEvent.Action.CREATE, user=by, object_type=ServicePackage._meta.label,
                 object_id=alliance.pk, summary=f"{alliance.code}: {count}")
    return count


# --- priority groups --------------------------------------------------------------------------

def priority_groups_of(patient: Patient, on: dt.date) -> set[str]:
    """The priority groups ``patient`` belongs to on ``on`` (rules.md §7): 65 and over, 0–6
    years, on the hypertension or diabetes registry, or declared (pregnancy, disability,
    tuberculosis, severe mental disorder, family-planning special family)."""
    groups: set[str] = set()
    age = rules.age_on(patient.birth_date, on)
    if age >= 65:
        groups.add(PriorityGroup.ELDERLY)
    if age <= 6:
        groups.add(PriorityGroup.CHILD)
    for disease in Registration.objects.filter(patient=patient, status=Registration.Status.ACTIVE,
                                               enrolled_on__lte=on).values_list("disease",
                                                                                flat=True):
        groups.add(PriorityGroup.HYPERTENSION if disease == rules.HYPERTENSION
                   else PriorityGroup.DIABETES)
    declared = PriorityGroupMembership.objects.filter(
        Q(end_date__isnull=True) | Q(end_date__gte=on), patient=patient, start_date__lte=on)
    groups.update(declared.values_list("group", flat=True))
    return groups


@transaction.atomic
def declare_priority_group(patient: Patient, group: str, *, by: User,
                           on: dt.date | None = None, note: str = "") -> PriorityGroupMembership:
    staff = _staff(by)
    current = _in_scope(staff, patient)
    if group not in PriorityGroup.values or group in {g.value for g in
                                                      (PriorityGroup.ELDERLY, PriorityGroup.CHILD,
                                                       PriorityGroup.HYPERTENSION,
                                                       PriorityGroup.DIABETES)}:
        raise ChronicInvalid("priority_group", _("“%(value)s” is not a valid choice."),
                             value=group)
    found = PriorityGroupMembership.objects.filter(patient=current, group=group,
                                                   end_date__isnull=True).first()
    if found is not None:
        return found
    membership = PriorityGroupMembership.objects.create(patient=current, group=group,
                                                        start_date=on or today(), note=note)
    _audit(AuditEvent.Action.CREATE, membership, by=staff, patient_id=current.pk, summary=group)
    return membership


# --- contracts --------------------------------------------------------------------------------

def _event(contract: Contract, action: str, source: str, target: str, *, by: User | None,
           at: dt.datetime, reason: str = "") -> None:
    ContractEvent.objects.create(contract=contract, action=action, from_status=source,
                                 to_status=target, by=by, at=at, reason=reason[:200])


def active_contract(patient: Patient | int) -> Contract | None:
    pk = patient if isinstance(patient, int) else patient.pk
    return Contract.objects.filter(patient_id=pk, status=Contract.Status.ACTIVE).first()


def _packages(team: FamilyDoctorTeam, packages: Sequence[ServicePackage], patient: Patient,
              on: dt.date) -> list[ServicePackage]:
    """Check the chosen packages: offered by the team's alliance, the basic package among
    them, and a priority-group package only for a resident in that group."""
    if not packages:
        raise ChronicInvalid("contract.package", _("Choose at least the basic package."))
    offered = {p.pk for p in packages_for(team.alliance_id)}
    chosen = list(dict.fromkeys(packages))
    for package in chosen:
        if package.pk not in offered:
            raise ChronicInvalid("contract.package",
                                 _("The package %(name)s is not offered by this alliance."),
                                 name=package.name)
    if not any(p.kind == ServicePackage.Kind.BASIC for p in chosen):
        raise ChronicInvalid("contract.package", _("Choose at least the basic package."))
    groups: set[str] | None = None
    for package in chosen:
        if package.kind == ServicePackage.Kind.PRIORITY and package.priority_group:
            groups = priority_groups_of(patient, on) if groups is None else groups
            if package.priority_group not in groups:
                raise ChronicInvalid(
                    "contract.package",
                    _("The package %(name)s is for %(group)s; the resident is not in that "
                      "group."), name=package.name,
                    group=PriorityGroup(package.priority_group).label)
    return chosen


def _new_contract(*, patient: Patient, team: FamilyDoctorTeam, packages: list[ServicePackage],
                  start: dt.date, years: int, consent: str, doctor: Practitioner | None,
                  by: User, now: dt.datetime, previous: Contract | None,
                  action: str) -> Contract:
    terms = policy_for(team.alliance_id).terms()
    try:
        end = rules.contract_end(start, years, terms)
    except ValueError:
        raise ChronicInvalid("contract.period",
                             _("A contract runs from %(low)s to %(high)s years."),
                             low=terms.min_years, high=terms.max_years) from None
    if consent not in Contract.Consent.values:
        raise ChronicInvalid("contract.consent",
                             _("Record how the resident gave consent before signing."))
    if doctor is not None and not team.members.filter(practitioner=doctor,
                                                      end_date__isnull=True).exists():
        raise ChronicInvalid("team.member", _("%(name)s is not a member of the team."),
                             name=doctor.name)
    fee = sum((p.fee_resident for p in packages), Decimal("0.00"))
    try:
        with transaction.atomic():
            contract = Contract.objects.create(
                patient=patient, team=team, doctor=doctor or team.lead, start_date=start,
                end_date=end, consent=consent, consent_at=now, fee_resident=fee,
                previous=previous, signed_by=by)
    except IntegrityError:
        raise _second_contract() from None
    contract.packages.set(packages)
    _event(contract, action, "", Contract.Status.ACTIVE, by=by, at=now)
    _audit(AuditEvent.Action.CREATE, contract, by=by, patient_id=patient.pk,
           summary=f"{team.code} {start}–{end}",
           changes={"packages": [p.code for p in packages], "consent": consent,
                    "previous": previous.pk if previous else None})
    return contract


def _second_contract() -> ChronicConflict:
    return ChronicConflict("contract.duplicate",
                           _("The resident already has an active family-doctor contract; "
                             "renew it or switch team instead."))


@transaction.atomic
def sign_contract(*, patient: Patient, team: FamilyDoctorTeam,
                  packages: Sequence[ServicePackage], consent: str, by: User,
                  years: int | None = None, start: dt.date | None = None,
                  doctor: Practitioner | None = None,
                  now: dt.datetime | None = None) -> Contract:
    """Sign a family-doctor contract with the resident's recorded consent (rules.md §7): one
    active contract per resident, a period within the alliance's limits (default 1 year),
    the basic package plus priority-group packages the resident qualifies for."""
    now = now or timezone.now()
    staff = _staff(by)
    current = _in_scope(staff, patient)
    _require_team(staff, team)
    start = start or today(now)
    if active_contract(current) is not None:
        raise _second_contract()
    chosen = _packages(team, packages, current, start)
    years = years or policy_for(team.alliance_id).contract_default_years
    return _new_contract(patient=current, team=team, packages=chosen, start=start, years=years,
                         consent=consent, doctor=doctor, by=staff, now=now, previous=None,
                         action="sign")


def _lock(contract: Contract) -> Contract:
    return Contract.objects.select_for_update().select_related("team").get(pk=contract.pk)


def _end(contract: Contract, reason: str, *, by: User | None, now: dt.datetime,
         ended_on: dt.date, note: str = "") -> None:
    if not statuses.allowed(contract.status, Contract.Status.ENDED, reason):
        raise ChronicConflict("contract.not_active",
                              _("This contract has already ended (%(reason)s)."),
                              reason=contract.get_end_reason_display())
    contract.status = Contract.Status.ENDED
    contract.end_reason = reason
    contract.ended_on = max(min(ended_on, contract.end_date),
                            contract.start_date - dt.timedelta(days=1))
    contract.end_note = note[:200]
    contract.save(update_fields=["status", "end_reason", "ended_on", "end_note", "updated_at"])
    _event(contract, reason, Contract.Status.ACTIVE, Contract.Status.ENDED, by=by, at=now,
           reason=note)
    _audit(AuditEvent.Action.UPDATE, contract, by=by, patient_id=contract.patient_id,
           summary=reason, changes={"status": [Contract.Status.ACTIVE, Contract.Status.ENDED],
                                    "end_reason": reason})


@transaction.atomic
def renew_contract(contract: Contract, *, by: User, years: int | None = None,
                   packages: Sequence[ServicePackage] | None = None, consent: str = "",
                   now: dt.datetime | None = None) -> Contract:
    """Renew with the same team (rules.md §7): the old contract keeps running to its end date
    and the new one starts the day after (or today, if the old one already ran out)."""
    now = now or timezone.now()
    staff = _staff(by)
    current = _lock(contract)
    _require_team(staff, current.team)
    day = today(now)
    start = max(current.end_date + dt.timedelta(days=1), day)
    chosen = _packages(current.team, list(packages) if packages is not None
                       else list(current.packages.all()), current.patient, start)
    _end(current, Contract.EndReason.RENEWED, by=staff, now=now, ended_on=current.end_date)
    return _new_contract(patient=current.patient, team=current.team, packages=chosen,
                         start=start, years=years or policy_for(
                             current.team.alliance_id).contract_default_years,
                         consent=consent or current.consent, doctor=current.doctor, by=staff,
                         now=now, previous=current, action="renew")


@transaction.atomic
def switch_team(contract: Contract, *, team: FamilyDoctorTeam, by: User, consent: str,
                packages: Sequence[ServicePackage] | None = None, reason: str = "",
                years: int | None = None, now: dt.datetime | None = None) -> Contract:
    """The resident switches to another team (rules.md §7): the old contract ends yesterday,
    a new one with ``team`` starts today. Done by the new team's staff."""
    now = now or timezone.now()
    staff = _staff(by)
    current = _lock(contract)
    if team.pk == current.team_id:
        raise ChronicInvalid("contract.team", _("Choose a different team to switch to."))
    _require_team(staff, team)
    day = today(now)
    chosen = _packages(team, list(packages) if packages is not None else
                       [p for p in packages_for(team.alliance_id)
                        if p.kind == ServicePackage.Kind.BASIC][:1], current.patient, day)
    _end(current, Contract.EndReason.SWITCHED, by=staff, now=now,
         ended_on=day - dt.timedelta(days=1), note=reason)
    return _new_contract(patient=current.patient, team=team, packages=chosen, start=day,
                         years=years or policy_for(team.alliance_id).contract_default_years,
                         consent=consent, doctor=None, by=staff, now=now, previous=current,
                         action="switch")


@transaction.atomic
def terminate_contract(contract: Contract, *, by: User, reason: str,
                       now: dt.datetime | None = None) -> Contract:
    """End a contract early (the resident withdrew, moved away or died); a reason is
    required."""
    now = now or timezone.now()
    staff = _staff(by)
    current = _lock(contract)
    _require_team(staff, current.team)
    if not reason.strip():
        raise ChronicInvalid("contract.reason", _("Give the reason for ending the contract."))
    _end(current, Contract.EndReason.TERMINATED, by=staff, now=now, ended_on=today(now),
         note=reason.strip())
    return current


def expire_contracts(now: dt.datetime | None = None) -> int:
    """End the contracts whose period is over (the system, daily); returns how many."""
    now = now or timezone.now()
    day = today(now)
    count = 0
    for pk in Contract.objects.filter(status=Contract.Status.ACTIVE,
                                      end_date__lt=day).values_list("pk", flat=True):
        with transaction.atomic():
            current = Contract.objects.select_for_update().get(pk=pk)
            if current.status != Contract.Status.ACTIVE:
                continue
            _end(current, Contract.EndReason.EXPIRED, by=None, now=now,
                 ended_on=current.end_date)
            count += 1
    return count


@transaction.atomic
def record_delivery(contract: Contract, service: PackageService, *, by: User,
                    on: dt.date | None = None, note: str = "") -> ServiceDelivery:
    """Record by hand a package service the team gave (a home visit, a prenatal visit …)."""
    staff = _staff(by)
    _require_team(staff, contract.team)
    day = on or today()
    if contract.status != Contract.Status.ACTIVE:
        raise ChronicConflict("contract.not_active", _("This contract has already ended "
                                                       "(%(reason)s)."),
                              reason=contract.get_end_reason_display())
    if not contract.packages.filter(pk=service.package_id).exists():
        raise ChronicInvalid("contract.package",
                             _("The service %(name)s is not part of this contract's "
                               "packages."), name=service.name)
    if service.delivered_by != PackageService.DeliveredBy.RECORDED:
        raise ChronicInvalid("contract.delivery",
                             _("%(name)s counts by itself from the records; it is not "
                               "recorded by hand."), name=service.name)
    if day > today() or day < contract.start_date:
        raise ChronicInvalid("contract.delivery_date",
                             _("The date must lie within the contract and not in the "
                               "future."))
    delivery = ServiceDelivery.objects.create(contract=contract, service=service, date=day,
                                              recorded_by=staff, note=note[:200])
    _audit(AuditEvent.Action.CREATE, delivery, by=staff, patient_id=contract.patient_id,
           summary=service.code)
    return delivery


@dataclass
class FulfilmentRow:
    service: PackageService
    owed: Decimal
    delivered: int

    @property
    def counted(self) -> Decimal:
        return min(Decimal(self.delivered), self.owed)


@dataclass
class ContractFulfilment:
    """Owed vs delivered for one contract from its start to ``upto`` (rules.md §7)."""

    contract: Contract
    upto: dt.date
    rows: list[FulfilmentRow] = field(default_factory=list)
    whole_term: rules.Fulfilment = field(default_factory=rules.Fulfilment)
    so_far: rules.Fulfilment = field(default_factory=rules.Fulfilment)


def contract_last_day(contract: Contract) -> dt.date:
    """The last day the contract covered (its end date, or the day it ended early)."""
    return contract.ended_on if contract.ended_on is not None else contract.end_date


def delivered_counts(contract: Contract, first: dt.date, last: dt.date) -> dict[str, int]:
    """Services delivered between ``first`` and ``last``, per package service code, counted
    from the records (rules.md §7: fulfilment filled automatically): hypertension and
    diabetes follow-ups (face-to-face or not), elderly checks, outpatient visits at the
    team's institutions, and services recorded by hand."""
    from tiercare.encounters.models import Encounter, EncounterClass

    services = PackageService.objects.filter(package__contracts=contract).distinct()
    by_kind: dict[str, int] = {}
    kinds = {s.delivered_by for s in services}
    follow_ups = FollowUp.objects.filter(patient_id=contract.patient_id, date__gte=first,
                                         date__lte=last)
    if PackageService.DeliveredBy.HYPERTENSION_FOLLOW_UP in kinds:
        by_kind[PackageService.DeliveredBy.HYPERTENSION_FOLLOW_UP] = follow_ups.filter(
            disease=rules.HYPERTENSION).count()
    if PackageService.DeliveredBy.DIABETES_FOLLOW_UP in kinds:
        by_kind[PackageService.DeliveredBy.DIABETES_FOLLOW_UP] = follow_ups.filter(
            disease=rules.DIABETES).count()
    if PackageService.DeliveredBy.ELDERLY_CHECK in kinds:
        by_kind[PackageService.DeliveredBy.ELDERLY_CHECK] = ElderlyCheck.objects.filter(
            patient_id=contract.patient_id, date__gte=first, date__lte=last).count()
    if PackageService.DeliveredBy.PRIMARY_VISIT in kinds:
        places = team_institution_ids(contract.team)
        start = timezone.make_aware(dt.datetime.combine(first, dt.time.min))
        end = timezone.make_aware(dt.datetime.combine(last + dt.timedelta(days=1),
                                                      dt.time.min))
        by_kind[PackageService.DeliveredBy.PRIMARY_VISIT] = Encounter.objects.filter(
            patient_id=contract.patient_id, institution_id__in=places,
            encounter_class=EncounterClass.OUTPATIENT, start__gte=start,
            start__lt=end).count()
    recorded = dict(ServiceDelivery.objects.filter(contract=contract, date__gte=first,
                                                   date__lte=last)
                    .values_list("service__code").annotate(n=Count("id")).values_list(
                        "service__code", "n"))
    counts: dict[str, int] = {}
    for service in services:
        if service.delivered_by == PackageService.DeliveredBy.RECORDED:
            counts[service.code] = recorded.get(service.code, 0)
        else:
            counts[service.code] = by_kind.get(service.delivered_by, 0)
    return counts


def team_institution_ids(team: FamilyDoctorTeam) -> set[int]:
    """The team's base institution and its primary-care members' institutions (a village
    doctor's clinic). A county specialist's hospital is left out: the team's visits, referral
    follow-ups and down-referrals are those of primary care."""
    ids = {team.institution_id}
    ids.update(TeamMember.objects.filter(
        team=team, end_date__isnull=True,
        practitioner__institution__level__in=(Level.TOWNSHIP, Level.VILLAGE))
        .values_list("practitioner__institution_id", flat=True))
    return {i for i in ids if i is not None}


def fulfilment_of(contract: Contract, upto: dt.date | None = None) -> ContractFulfilment:
    """What the contract owes over its term and up to ``upto`` (pro rata, rules.md §7), and
    what was delivered; a service's delivered count may exceed what is owed but counts only
    up to it."""
    upto = min(upto or today(), contract_last_day(contract))
    services = list(PackageService.objects.filter(package__contracts=contract)
                    .select_related("package").distinct().order_by("package__kind", "id"))
    delivered = delivered_counts(contract, contract.start_date, upto)
    term_days = (contract_last_day(contract) - contract.start_date).days + 1
    so_far_days = max(0, (upto - contract.start_date).days + 1)
    lines = [rules.ServiceLine(s.code, s.yearly_count, s.delivered_by) for s in services]
    result = ContractFulfilment(contract, upto)
    result.whole_term = rules.fulfilment(lines, delivered, term_days)
    result.so_far = rules.fulfilment(lines, delivered, so_far_days)
    for service, line in zip(services, result.whole_term.lines, strict=True):
        result.rows.append(FulfilmentRow(service, line.owed, line.delivered))
    return result


# --- registries -------------------------------------------------------------------------------

def _registry_age(patient: Patient, on: dt.date) -> None:
    if rules.age_on(patient.birth_date, on) < REGISTRY_MIN_AGE:
        raise ChronicInvalid("registration.age",
                             _("The hypertension and diabetes registries are for residents "
                               "aged %(age)s and over."), age=REGISTRY_MIN_AGE)


def _diagnosis(disease: str, code: str) -> str:
    from tiercare.kernel import icd10
    from tiercare.kernel.errors import KernelError

    code = (code or DEFAULT_DIAGNOSIS[disease]).strip().upper()
    try:
        normalised = icd10.validate(code).code
    except KernelError as error:
        raise ChronicInvalid("registration.diagnosis", "%(error)s", error=str(error)) from None
    if disease_of(normalised) != disease:
        raise ChronicInvalid("registration.diagnosis",
                             _("%(code)s is not a diagnosis of %(disease)s."),
                             code=normalised, disease=Disease(disease).label)
    return normalised


@transaction.atomic
def enrol(*, patient: Patient, disease: str, source: str, by: User | None,
          institution: Institution | None = None, team: FamilyDoctorTeam | None = None,
          diagnosis: str = "", on: dt.date | None = None, care_plan: str = "",
          source_referral: Any = None, doctor: Practitioner | None = None,
          check_scope: bool = True) -> Registration:
    """Put a resident on the hypertension or type-2 diabetes registry (rules.md §8), managed
    by ``institution`` (default: the acting doctor's) and the resident's contracted team; the
    first follow-up is due within 2 weeks."""
    if disease not in Disease.values:
        raise ChronicInvalid("registration.disease", _("“%(value)s” is not a valid choice."),
                             value=disease)
    if source not in Registration.Source.values:
        raise ChronicInvalid("registration.source", _("“%(value)s” is not a valid choice."),
                             value=source)
    day = on or today()
    if check_scope:
        staff = _staff(by)
        current = _in_scope(staff, patient)
        institution = institution or staff.institution
        doctor = doctor or staff.practitioner
    else:
        current = patient
    assert institution is not None
    if day > today():
        raise ChronicInvalid("follow_up.future", _("The date %(date)s is in the future."),
                             date=day.isoformat())
    _registry_age(current, day)
    code = _diagnosis(disease, diagnosis)
    if Registration.objects.filter(patient=current, disease=disease,
                                   status=Registration.Status.ACTIVE).exists():
        raise _already(disease)
    if team is not None and team.alliance_id != institution.alliance_id:
        raise ChronicInvalid("registration.team",
                             _("The team %(team)s is not of the managing institution's "
                               "alliance."), team=team.name)
    contract = active_contract(current)
    if team is None and contract is not None:
        team = contract.team
    if doctor is None and contract is not None:
        doctor = contract.doctor
    targets = targets_for(institution.alliance_id)
    try:
        with transaction.atomic():
            registration = Registration.objects.create(
                patient=current, disease=disease, diagnosis=code, source=source,
                institution=institution, team=team, doctor=doctor, enrolled_on=day,
                next_due=day + dt.timedelta(days=targets.recheck_days),
                care_plan=care_plan.strip(), source_referral=source_referral, created_by=by)
    except IntegrityError:
        raise _already(disease) from None
    _audit(AuditEvent.Action.CREATE, registration, by=by, patient_id=current.pk,
           summary=f"{disease} {code} ({source})")
    return registration


def _already(disease: str) -> ChronicConflict:
    return ChronicConflict("registration.duplicate",
                           _("The resident is already on the %(disease)s registry."),
                           disease=Disease(disease).label)


@transaction.atomic
def close_registration(registration: Registration, *, by: User, reason: str,
                       on: dt.date | None = None) -> Registration:
    staff = _staff(by)
    current = Registration.objects.select_for_update().get(pk=registration.pk)
    _in_scope(staff, current.patient)
    if current.status != Registration.Status.ACTIVE:
        raise ChronicConflict("registration.closed", _("This registration is already closed."))
    if not statuses.registration_allowed(current.status, Registration.Status.CLOSED, reason):
        raise ChronicInvalid("registration.reason", _("Give the reason for closing."))
    current.status = Registration.Status.CLOSED
    current.close_reason = reason
    current.closed_on = on or today()
    current.save(update_fields=["status", "close_reason", "closed_on", "updated_at"])
    _audit(AuditEvent.Action.UPDATE, current, by=staff, patient_id=current.patient_id,
           summary=f"closed: {reason}",
           changes={"status": [Registration.Status.ACTIVE, Registration.Status.CLOSED],
                    "close_reason": reason})
    return current


def registration_for(patient: Patient | int, disease: str) -> Registration | None:
    pk = patient if isinstance(patient, int) else patient.pk
    return Registration.objects.filter(patient_id=pk, disease=disease,
                                       status=Registration.Status.ACTIVE).first()


# --- follow-ups -------------------------------------------------------------------------------

#: Measurement fields of a follow-up and an elderly check, in form order.
READING_FIELDS = ("sbp", "dbp", "heart_rate", "temperature", "fasting_glucose", "weight_kg",
                  "height_cm")
FIELD_LABELS = {
    "sbp": _("systolic pressure"), "dbp": _("diastolic pressure"),
    "heart_rate": _("heart rate"), "temperature": _("temperature"),
    "fasting_glucose": _("fasting glucose"), "weight_kg": _("weight"),
    "height_cm": _("height"), "signs": _("danger signs"),
}
UNITS = {"sbp": "mmHg", "dbp": "mmHg", "heart_rate": "/min", "temperature": "°C",
         "fasting_glucose": "mmol/L", "weight_kg": "kg", "height_cm": "cm"}


def reading_error(error: rules.ReadingError) -> ChronicInvalid:
    """A rules-level reading error as a translated refusal naming the field."""
    label = FIELD_LABELS.get(error.field_name, error.field_name)
    if error.code == "reading.missing":
        return ChronicInvalid(error.code, _("Enter the %(field)s; this reading needs it."),
                              field=label)
    if error.code == "reading.pressure_order":
        return ChronicInvalid(error.code, _("The diastolic pressure must be lower than the "
                                            "systolic pressure."))
    if error.code == "reading.sign":
        return ChronicInvalid(error.code, _("“%(value)s” is not a valid choice."),
                              value=error.value)
    low, high = rules.PLAUSIBLE[error.field_name]
    return ChronicInvalid(error.code,
                          _("%(value)s %(unit)s is not a possible %(field)s (expected "
                            "%(low)s–%(high)s %(unit)s); check the value."),
                          value=error.value, unit=UNITS[error.field_name], field=label,
                          low=low, high=high)


def _decimal(value: Any, name: str) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        number = Decimal("NaN")
    if not number.is_finite():
        raise ChronicInvalid("reading.number", _("The %(field)s must be a number."),
                             field=FIELD_LABELS.get(name, name))
    return number


def _int(value: Any, name: str) -> int | None:
    number = _decimal(value, name)
    if number is None:
        return None
    if number != number.to_integral_value():
        raise ChronicInvalid("reading.number", _("The %(field)s must be a whole number."),
                             field=FIELD_LABELS.get(name, name))
    return int(number)


def reading_from(values: Mapping[str, Any], disease: str) -> rules.Reading:
    """Build and check a reading from form or API values."""
    signs = values.get("signs") or ()
    if isinstance(signs, str):
        signs = [signs]
    reading = rules.Reading(
        sbp=_int(values.get("sbp"), "sbp"), dbp=_int(values.get("dbp"), "dbp"),
        heart_rate=_int(values.get("heart_rate"), "heart_rate"),
        temperature=_decimal(values.get("temperature"), "temperature"),
        fasting_glucose=_decimal(values.get("fasting_glucose"), "fasting_glucose"),
        weight_kg=_decimal(values.get("weight_kg"), "weight_kg"),
        height_cm=_decimal(values.get("height_cm"), "height_cm"),
        signs=frozenset(str(s) for s in signs),
        adverse_reaction=bool(values.get("adverse_reaction")),
        adverse_intolerable=bool(values.get("adverse_intolerable")),
        new_complication=bool(values.get("new_complication")))
    try:
        rules.check_reading(reading, disease)
    except rules.ReadingError as error:
        raise reading_error(error) from None
    return reading


@dataclass
class FollowUpResult:
    follow_up: FollowUp
    finding: rules.Finding
    referral: Any = None
    """The green-channel referral draft opened for an urgent finding."""


def _previous(registration: Registration, day: dt.date) -> FollowUp | None:
    return (FollowUp.objects.filter(registration=registration, date__lte=day)
            .order_by("-date", "-id").first())


REASON_TEXT = {
    "sbp_high": _("systolic pressure ≥180 mmHg"),
    "dbp_high": _("diastolic pressure ≥110 mmHg"),
    "glucose_high": _("fasting glucose ≥16.7 mmol/L"),
    "glucose_low": _("fasting glucose ≤3.9 mmol/L"),
    "heart_rate_high": _("heart rate above 100/min"),
    "fever": _("temperature above 39 °C"),
    "altered_consciousness": _("altered consciousness"),
    "severe_headache_or_dizziness": _("severe headache or dizziness"),
    "nausea_vomiting": _("nausea or vomiting"),
    "blurred_vision_eye_pain": _("blurred vision or eye pain"),
    "palpitations_chest_tightness": _("palpitations or chest tightness"),
    "breathless_lying_flat": _("breathless lying flat"),
    "ketoacidosis_signs": _("signs of ketoacidosis"),
    "sudden_vision_loss": _("sudden loss of vision"),
    "pregnant_or_breastfeeding": _("pregnant or breast-feeding and not at target"),
    "beyond_capacity": _("a condition the institution cannot handle"),
    "two_uncontrolled": _("second uncontrolled follow-up in a row"),
    "adverse_intolerable": _("adverse reaction not tolerated"),
    "new_complication": _("new or worse complication"),
    "uncontrolled": _("not at target"),
    "adverse_reaction": _("adverse drug reaction"),
}

CLASSIFICATION_TEXT = {
    rules.Classification.CONTROLLED: _("Controlled: next routine follow-up"),
    rules.Classification.RECHECK: _("Not controlled: adjust treatment and re-check within 2 "
                                    "weeks"),
    rules.Classification.REFER_UP: _("Refer up: follow up within 2 weeks"),
    rules.Classification.URGENT: _("Urgent: green-channel referral now"),
}


#: how the reasons of a finding are joined in a sentence (a full-width "；" in Chinese)
SEPARATOR = _("; ")


def reasons_text(reasons: Iterable[str]) -> str:
    return str(SEPARATOR).join(str(REASON_TEXT.get(r, r)) for r in reasons)


def _summary(follow_up: FollowUp) -> str:
    """The clinical summary a referral from a follow-up starts with: its readings and
    medication, in the language of the doctor who writes it."""
    parts = []
    if follow_up.sbp is not None:
        parts.append(str(_("BP %(sbp)s/%(dbp)s mmHg") % {"sbp": follow_up.sbp,
                                                          "dbp": follow_up.dbp}))
    if follow_up.fasting_glucose is not None:
        parts.append(str(_("fasting glucose %(value)s mmol/L")
                         % {"value": follow_up.fasting_glucose}))
    if follow_up.heart_rate is not None:
        parts.append(str(_("heart rate %(value)s/min") % {"value": follow_up.heart_rate}))
    if follow_up.temperature is not None:
        parts.append(str(_("temperature %(value)s °C") % {"value": follow_up.temperature}))
    if follow_up.medication:
        parts.append(follow_up.medication)
    return str(SEPARATOR).join(parts)


def referral_target(institution: Institution) -> Institution | None:
    """Where a chronic patient is referred up by default: the alliance's lead hospital."""
    alliance = institution.alliance
    if alliance is not None and alliance.lead_id is not None \
            and alliance.lead_id != institution.pk:
        return alliance.lead
    return None


def _open_referral(follow_up: FollowUp, finding: rules.Finding, *, by: User,
                   green_channel: bool) -> Any:
    from tiercare.referrals import services as referrals
    from tiercare.referrals.models import Direction

    reason = str(_("%(finding)s: %(reasons)s") % {
        "finding": CLASSIFICATION_TEXT[finding.classification],
        "reasons": reasons_text(finding.reasons)})
    return referrals.create_referral(
        patient=follow_up.patient, direction=Direction.UP,
        diagnosis=follow_up.registration.diagnosis, reason=reason, by=by,
        receiving_institution=referral_target(follow_up.institution),
        clinical_summary=_summary(follow_up), green_channel=green_channel)


@transaction.atomic
def record_follow_up(registration: Registration, *, by: User, date: dt.date,
                     values: Mapping[str, Any], method: str = FollowUp.Method.CLINIC,
                     medication: str = "", adherence: str = FollowUp.Adherence.REGULAR,
                     symptoms: str = "", complication_note: str = "", note: str = "",
                     now: dt.datetime | None = None) -> FollowUpResult:
    """Record a follow-up and classify it (rules.md §8, ``rules.classify``): the registry's
    next due date moves on; an urgent finding opens a green-channel referral draft to the
    alliance's lead hospital, prefilled from the follow-up (the doctor reviews and sends it);
    a "refer up" finding is offered as an up-referral (``propose_up_referral``)."""
    now = now or timezone.now()
    staff = _staff(by)
    assert staff.institution is not None
    current = Registration.objects.select_for_update().select_related(
        "patient", "institution").get(pk=registration.pk)
    if current.status != Registration.Status.ACTIVE:
        raise ChronicInvalid("follow_up.not_registered",
                             _("The resident is not on the %(disease)s registry; enrol them "
                               "first."), disease=current.get_disease_display())
    patient = _in_scope(staff, current.patient)
    if date > today(now):
        raise ChronicInvalid("follow_up.future", _("The date %(date)s is in the future."),
                             date=date.isoformat())
    if date < current.enrolled_on:
        raise ChronicInvalid("follow_up.before_enrolment",
                             _("The date is before the resident was enrolled (%(date)s)."),
                             date=current.enrolled_on.isoformat())
    if method not in FollowUp.Method.values:
        raise ChronicInvalid("follow_up.method", _("“%(value)s” is not a valid choice."),
                             value=method)
    if adherence not in FollowUp.Adherence.values:
        raise ChronicInvalid("follow_up.adherence", _("“%(value)s” is not a valid choice."),
                             value=adherence)
    reading = reading_from(values, current.disease)
    previous = _previous(current, date)
    targets = targets_for(current.institution.alliance_id)
    finding = rules.classify(current.disease, reading,
                             age=rules.age_on(patient.birth_date, date), day=date,
                             previous_uncontrolled=previous is not None
                             and not previous.controlled, targets=targets)
    follow_up = FollowUp.objects.create(
        registration=current, patient=patient, disease=current.disease, date=date,
        method=method, institution=staff.institution, practitioner=staff.practitioner,
        recorded_by=staff, sbp=reading.sbp, dbp=reading.dbp, heart_rate=reading.heart_rate,
        temperature=reading.temperature, fasting_glucose=reading.fasting_glucose,
        weight_kg=reading.weight_kg, height_cm=reading.height_cm,
        bmi=rules.bmi(reading.weight_kg, reading.height_cm), signs=sorted(reading.signs),
        symptoms=symptoms[:200], medication=medication[:300], adherence=adherence,
        adverse_reaction=reading.adverse_reaction,
        adverse_intolerable=reading.adverse_intolerable,
        new_complication=reading.new_complication, complication_note=complication_note[:200],
        classification=finding.classification, controlled=finding.controlled,
        reasons=list(finding.reasons), next_due=finding.next_due, note=note)
    if current.last_follow_up_on is None or date >= current.last_follow_up_on:
        current.last_follow_up_on = date
        current.last_controlled = finding.controlled
        current.next_due = finding.next_due
        current.save(update_fields=["last_follow_up_on", "last_controlled", "next_due",
                                    "updated_at"])
    _audit(AuditEvent.Action.CREATE, follow_up, by=staff, patient_id=patient.pk,
           summary=f"{current.disease} {finding.classification}",
           changes={"classification": finding.classification,
                    "reasons": list(finding.reasons)})
    result = FollowUpResult(follow_up, finding)
    if finding.classification == rules.Classification.URGENT:
        result.referral = _open_referral(follow_up, finding, by=staff, green_channel=True)
        follow_up.referral = result.referral
        follow_up.save(update_fields=["referral"])
    return result


@transaction.atomic
def propose_up_referral(follow_up: FollowUp, *, by: User) -> Any:
    """Write the up-referral a "refer up" finding proposes (rules.md §8), as a draft prefilled
    from the follow-up; returns the existing one when it was written already."""
    staff = _staff(by)
    current = FollowUp.objects.select_for_update().select_related(
        "registration", "patient", "institution").get(pk=follow_up.pk)
    _in_scope(staff, current.patient)
    if current.referral_id is not None:
        return current.referral
    if current.classification not in (rules.Classification.REFER_UP,
                                      rules.Classification.URGENT):
        raise ChronicInvalid("follow_up.no_referral",
                             _("This follow-up does not call for a referral."))
    finding = rules.Finding(rules.Classification(current.classification), current.controlled,
                            tuple(current.reasons), current.next_due)
    referral = _open_referral(current, finding, by=staff,
                              green_channel=finding.classification
                              == rules.Classification.URGENT)
    current.referral = referral
    current.save(update_fields=["referral"])
    return referral


def record_follow_up_for(patient: Patient, disease: str, **kwargs: Any) -> FollowUpResult:
    """``record_follow_up`` for a resident and disease (the API and FHIR way in): refused
    when the resident is not on that registry."""
    registration = registration_for(patient, disease)
    if registration is None:
        label = Disease(disease).label if disease in Disease.values else disease
        raise ChronicInvalid("follow_up.not_registered",
                             _("The resident is not on the %(disease)s registry; enrol them "
                               "first."), disease=label)
    return record_follow_up(registration, **kwargs)


# --- screening and the elderly check ----------------------------------------------------------

def _screen(patient: Patient, institution: Institution, *, by: User | None,
            day: dt.date) -> list[Registration]:
    """Enrol the resident where the screening rule is met (three raised readings on
    different days, rules.md §8) and no registration exists yet."""
    enrolled: list[Registration] = []
    if rules.age_on(patient.birth_date, day) < REGISTRY_MIN_AGE:
        return enrolled
    values = [rules.ScreeningValue(r.date, r.sbp, r.dbp, r.fasting_glucose)
              for r in ScreeningReading.objects.filter(patient=patient)]
    targets = targets_for(institution.alliance_id)
    for disease in rules.DISEASES:
        met = rules.provisional_diagnosis(disease, values, targets)
        if met is None or registration_for(patient, disease) is not None:
            continue
        enrolled.append(enrol(patient=patient, disease=disease,
                              source=Registration.Source.SCREENING, by=by,
                              institution=institution, on=min(met, day), check_scope=False,
                              doctor=getattr(by, "practitioner", None)))
    return enrolled


@dataclass
class ScreeningResult:
    reading: ScreeningReading
    enrolled: list[Registration]


@transaction.atomic
def record_screening(patient: Patient, *, by: User, date: dt.date,
                     values: Mapping[str, Any]) -> ScreeningResult:
    """Record a blood-pressure or glucose reading taken at a visit; three raised readings on
    different days enrol the resident provisionally (rules.md §8)."""
    staff = _staff(by)
    current = _in_scope(staff, patient)
    if date > today():
        raise ChronicInvalid("follow_up.future", _("The date %(date)s is in the future."),
                             date=date.isoformat())
    reading = reading_from(values, "")
    if reading.sbp is None and reading.fasting_glucose is None:
        raise ChronicInvalid("reading.missing",
                             _("Enter a blood pressure or a fasting glucose."))
    assert staff.institution is not None
    row = ScreeningReading.objects.create(patient=current, date=date,
                                          institution=staff.institution, sbp=reading.sbp,
                                          dbp=reading.dbp,
                                          fasting_glucose=reading.fasting_glucose,
                                          recorded_by=staff)
    _audit(AuditEvent.Action.CREATE, row, by=staff, patient_id=current.pk, summary="screening")
    return ScreeningResult(row, _screen(current, staff.institution, by=staff, day=date))


@dataclass
class ElderlyCheckResult:
    check: ElderlyCheck
    enrolled: list[Registration]


ELDERLY_MIN_AGE = 65


@transaction.atomic
def record_elderly_check(patient: Patient, *, by: User, date: dt.date, items: Iterable[str],
                         values: Mapping[str, Any], findings: str = "",
                         diagnosed: Iterable[str] = ()) -> ElderlyCheckResult:
    """Record the yearly service of a resident aged 65 or over (rules.md §8) and enrol newly
    found hypertension or diabetes: diagnosed by the doctor at the check (``diagnosed``), or
    by the screening rule with the check's readings counted as one day's."""
    staff = _staff(by)
    current = _in_scope(staff, patient)
    if date > today():
        raise ChronicInvalid("follow_up.future", _("The date %(date)s is in the future."),
                             date=date.isoformat())
    if rules.age_on(current.birth_date, date) < ELDERLY_MIN_AGE:
        raise ChronicInvalid("check.age", _("The elderly health check is for residents aged "
                                            "%(age)s and over."), age=ELDERLY_MIN_AGE)
    done = list(dict.fromkeys(items))
    if not done or any(item not in ElderlyCheck.Item.values for item in done):
        raise ChronicInvalid("check.items", _("Tick the items of the check that were done."))
    reading = reading_from(values, "")
    assert staff.institution is not None
    check = ElderlyCheck.objects.create(
        patient=current, date=date, institution=staff.institution,
        practitioner=staff.practitioner, recorded_by=staff, items=done, sbp=reading.sbp,
        dbp=reading.dbp, heart_rate=reading.heart_rate, fasting_glucose=reading.fasting_glucose,
        weight_kg=reading.weight_kg, height_cm=reading.height_cm,
        bmi=rules.bmi(reading.weight_kg, reading.height_cm), findings=findings.strip())
    _audit(AuditEvent.Action.CREATE, check, by=staff, patient_id=current.pk,
           summary="elderly check")
    enrolled: list[Registration] = []
    for disease in dict.fromkeys(diagnosed):
        if disease not in Disease.values:
            raise ChronicInvalid("registration.disease", _("“%(value)s” is not a valid "
                                                           "choice."), value=disease)
        if registration_for(current, disease) is None:
            enrolled.append(enrol(patient=current, disease=disease,
                                  source=Registration.Source.ELDERLY_CHECK, by=staff,
                                  institution=staff.institution, on=date, check_scope=False,
                                  doctor=staff.practitioner))
    if reading.sbp is not None or reading.fasting_glucose is not None:
        ScreeningReading.objects.create(patient=current, date=date,
                                        institution=staff.institution, sbp=reading.sbp,
                                        dbp=reading.dbp,
                                        fasting_glucose=reading.fasting_glucose,
                                        recorded_by=staff)
        enrolled.extend(_screen(current, staff.institution, by=staff, day=date))
    return ElderlyCheckResult(check, enrolled)


# --- down-referrals join the registry ---------------------------------------------------------

def enrol_down_referral(referral: Any, *, by: User | None = None,
                        on: dt.date | None = None) -> Registration | None:
    """A resident referred down with hypertension or type-2 diabetes joins the registry at the
    receiving primary-care institution with the hospital's care plan (issue 6 item 4); when
    already registered, the care plan is added and the next follow-up comes within 2 weeks.
    Called by ``chronic.receivers`` inside the referral step's transaction, ``on`` the day of
    the step (a step recorded late or imported keeps its own day)."""
    disease = disease_of(referral.diagnosis)
    institution = referral.receiving_institution
    if disease is None or institution is None or institution.level not in (Level.TOWNSHIP,
                                                                          Level.VILLAGE):
        return None
    patient = referral.patient
    day = min(on or today(), today())
    if rules.age_on(patient.birth_date, day) < REGISTRY_MIN_AGE:
        return None
    found = registration_for(patient, disease)
    plan = (referral.care_plan or "").strip()
    if found is not None:
        if found.source_referral_id == referral.pk:
            return found
        found.source_referral = referral
        if plan:
            found.care_plan = plan
        found.next_due = min(found.next_due, day + dt.timedelta(days=14))
        found.save(update_fields=["source_referral", "care_plan", "next_due", "updated_at"])
        return found
    team = FamilyDoctorTeam.objects.filter(institution=institution, is_active=True).first()
    try:
        code = _diagnosis(disease, referral.diagnosis)
    except ChronicInvalid:
        code = DEFAULT_DIAGNOSIS[disease]
    return enrol(patient=patient, disease=disease, source=Registration.Source.DOWN_REFERRAL,
                 by=by, institution=institution, team=team, diagnosis=code, on=day,
                 care_plan=plan, source_referral=referral, check_scope=False)


def candidates_from_diagnoses(institution: Institution, *, limit: int = 100) -> list[Any]:
    """Residents with a hypertension or type-2 diabetes diagnosis at an encounter of the
    institution's alliance in the last year who are not on that registry (enrolment from
    diagnoses, issue 6 item 4): (patient id, disease, last seen) rows, most recent first."""
    from tiercare.encounters.models import Encounter

    since = timezone.now() - dt.timedelta(days=365)
    places = Institution.objects.filter(alliance_id=institution.alliance_id) \
        if institution.alliance_id else Institution.objects.filter(pk=institution.pk)
    rows: list[Any] = []
    for disease, prefixes in DIAGNOSIS_PREFIXES.items():
        condition = Q()
        for prefix in prefixes:
            condition |= Q(primary_diagnosis__startswith=prefix)
        registered = Registration.objects.filter(disease=disease,
                                                 status=Registration.Status.ACTIVE)
        found = (Encounter.objects.filter(condition, start__gte=since,
                                          institution__in=places,
                                          patient__is_active=True)
                 .exclude(patient_id__in=registered.values("patient_id"))
                 .values("patient_id").annotate(last=Max("start"))
                 .order_by("-last")[:limit])
        for row in found:
            rows.append((row["patient_id"], disease, row["last"]))
    return rows



@dataclass
class RecordPanel:
    """What the shared health record shows of family-doctor care (rules.md §7–§8): the
    contract in force, the registries with their next due dates, the last elderly check."""

    contract: Contract | None
    registrations: list[Registration]
    last_check: ElderlyCheck | None


def record_panel(patient: Patient) -> RecordPanel:
    contract = (Contract.objects.filter(patient=patient, status=Contract.Status.ACTIVE)
                .select_related("team", "doctor").first())
    registrations = list(Registration.objects.filter(patient=patient,
                                                     status=Registration.Status.ACTIVE)
                         .select_related("team", "institution"))
    last_check = ElderlyCheck.objects.filter(patient=patient).order_by("-date").first()
    return RecordPanel(contract, registrations, last_check)
