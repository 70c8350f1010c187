"""The synthetic county's family-doctor teams, contracts, chronic registries and follow-ups
(issue 6 item 9, ``synth.chronic``): plausible counts and rates, the invariants the services
keep (one active contract, classifications from ``rules.classify``, the registry's next due
date from its latest follow-up) and work queues with rows relative to today, whatever year
the history is for.

One county of 6,000 residents (history year 2025) is generated per module inside a
transaction rolled back at the end; ``now`` is fixed on a Wednesday so that "due this week"
spans five days.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.db import transaction
from django.db.models import Count

from tiercare import bulk
from tiercare.chronic import rules
from tiercare.chronic.models import (
    Contract,
    ContractEvent,
    ElderlyCheck,
    FamilyDoctorTeam,
    FollowUp,
    PriorityGroupMembership,
    Registration,
    ScreeningReading,
    ServiceDelivery,
    TeamMember,
)
from tiercare.chronic.queues import work_queue
from tiercare.chronic.services import DIAGNOSIS_PREFIXES
from tiercare.patients.models import Patient
from tiercare.referrals.models import Direction
from tiercare.registry.models import Institution, Level, Posting
from tiercare.synth import chronic as synth_chronic
from tiercare.synth import generate
from tiercare.synth.generator import SynthSummary

CHINA = ZoneInfo("Asia/Shanghai")
_today = dt.datetime.now(CHINA).date()
TODAY = _today - dt.timedelta(days=(_today.weekday() - 2) % 7)  # the latest Wednesday
NOW = dt.datetime.combine(TODAY, dt.time(10), tzinfo=CHINA)
YEAR = 2025
RESIDENTS = 6_000


@pytest.fixture(scope="module")
def county(django_db_setup, django_db_blocker) -> Iterator[SynthSummary]:
    with django_db_blocker.unblock(), transaction.atomic():
        yield generate(RESIDENTS, 17, YEAR, now=NOW)
        transaction.set_rollback(True)


def age(patient: Patient, day: dt.date) -> int:
    return rules.age_on(patient.birth_date, day)


@pytest.mark.django_db
def test_teams_are_based_at_township_centres_with_their_gps_village_doctors_and_specialist(
        county):
    centres = Institution.objects.filter(level=Level.TOWNSHIP, kind="township_centre")
    for centre in centres:
        teams = list(FamilyDoctorTeam.objects.filter(institution=centre))
        assert 1 <= len(teams) <= 3
        for number, team in zip("一二三", teams, strict=False):
            township, _sep, rest = team.name.partition("家庭医生")
            assert centre.name.endswith(f"{township}卫生院") and rest == f"第{number}团队"
            assert team.alliance_id == centre.alliance_id
        posted = set(Posting.objects.filter(institution=centre)
                     .values_list("practitioner_id", flat=True))
        villages = set()
        for team in teams:
            members = {m.practitioner_id: m for m in TeamMember.objects.filter(team=team)
                       .select_related("practitioner")}
            lead = members[team.lead_id]
            assert lead.role == TeamMember.Role.LEAD
            assert lead.practitioner.institution_id == centre.pk
            assert lead.practitioner.is_general_practitioner
            roles = Counter(m.role for m in members.values())
            assert roles[TeamMember.Role.NURSE] == 1
            assert roles[TeamMember.Role.VILLAGE_DOCTOR] >= 1
            for m in members.values():
                if m.role == TeamMember.Role.VILLAGE_DOCTOR:
                    assert m.practitioner.institution.parent_id == centre.pk
                    villages.add(m.practitioner.institution_id)
            specialists = {p for p, m in members.items()
                           if m.role == TeamMember.Role.SPECIALIST}
            assert specialists == posted
        # every village clinic with a doctor belongs to one of the township's teams
        clinics = set(Institution.objects.filter(parent=centre, practitioners__isnull=False)
                      .values_list("id", flat=True))
        assert clinics == villages


@pytest.mark.django_db
def test_registries_hold_plausible_shares_of_residents_35_and_over(county):
    end = dt.date(YEAR, 12, 31)
    adults = sum(1 for b in Patient.objects.values_list("birth_date", flat=True)
                 if rules.age_on(b, end) >= 35)
    htn = Registration.objects.filter(disease=rules.HYPERTENSION).count()
    t2d = Registration.objects.filter(disease=rules.DIABETES).count()
    assert 0.08 <= htn / adults <= 0.12
    assert 0.03 <= t2d / adults <= 0.045
    sources = Counter(Registration.objects.values_list("source", flat=True))
    assert sources[Registration.Source.DIAGNOSIS] > 0.75 * (htn + t2d)
    assert sources[Registration.Source.SCREENING] > 0
    # screening enrolments have their three raised readings, the last on the enrolment day
    for reg in Registration.objects.filter(source=Registration.Source.SCREENING)[:20]:
        days = sorted(ScreeningReading.objects.filter(patient=reg.patient)
                      .values_list("date", flat=True))
        assert len(days) >= 3 and reg.enrolled_on in days
    for reg in Registration.objects.select_related("patient", "institution"):
        assert age(reg.patient, reg.enrolled_on) >= 35
        assert reg.enrolled_on <= TODAY
        assert reg.institution.level == Level.TOWNSHIP
        assert reg.institution.division_code == reg.patient.address_code[:9]
        assert reg.team is not None and reg.team.alliance_id == reg.institution.alliance_id
        assert TeamMember.objects.filter(team=reg.team, practitioner=reg.doctor).exists()


@pytest.mark.django_db
def test_down_referral_enrolments_carry_the_referral_and_its_care_plan(county):
    linked = Registration.objects.filter(source_referral__isnull=False) \
        .select_related("source_referral")
    for reg in linked:
        referral = reg.source_referral
        assert referral.direction == Direction.DOWN and referral.patient_id == reg.patient_id
        assert referral.diagnosis.startswith(DIAGNOSIS_PREFIXES[reg.disease])
        assert reg.care_plan
    assert not Registration.objects.filter(source=Registration.Source.DOWN_REFERRAL,
                                           source_referral__isnull=True).exists()


@pytest.mark.django_db
def test_follow_ups_are_classified_by_the_rules(county):
    follow_ups = list(FollowUp.objects.select_related("patient").order_by("id")[::7])
    assert len(follow_ups) > 200
    for follow_up in follow_ups:
        previous = (FollowUp.objects.filter(registration_id=follow_up.registration_id,
                                            date__lte=follow_up.date)
                    .exclude(pk=follow_up.pk).order_by("-date", "-id").first())
        rules.check_reading(follow_up.reading(), follow_up.disease)
        finding = rules.classify(follow_up.disease, follow_up.reading(),
                                 age=age(follow_up.patient, follow_up.date), day=follow_up.date,
                                 previous_uncontrolled=previous is not None
                                 and not previous.controlled)
        assert follow_up.classification == finding.classification
        assert follow_up.controlled == finding.controlled
        assert tuple(follow_up.reasons) == finding.reasons
        assert follow_up.next_due == finding.next_due
        assert follow_up.bmi == rules.bmi(follow_up.weight_kg, follow_up.height_cm)


@pytest.mark.django_db
def test_registrations_show_their_latest_follow_up(county):
    latest: dict[int, FollowUp] = {}
    for follow_up in FollowUp.objects.order_by("registration_id", "date", "id"):
        latest[follow_up.registration_id] = follow_up
    for reg in Registration.objects.all():
        last = latest.get(reg.pk)
        if last is None:
            assert reg.last_follow_up_on is None and reg.last_controlled is None
            assert reg.next_due == reg.enrolled_on + dt.timedelta(days=14)
        else:
            assert reg.last_follow_up_on == last.date
            assert reg.last_controlled == last.controlled
            assert reg.next_due == last.next_due
            assert last.date >= reg.enrolled_on
    assert not FollowUp.objects.filter(date__gt=TODAY).exists()


@pytest.mark.django_db
def test_adherence_control_and_urgent_cases_look_like_primary_care(county):
    for disease, low, high in ((rules.HYPERTENSION, 0.5, 0.75), (rules.DIABETES, 0.4, 0.7)):
        regs = Registration.objects.filter(disease=disease,
                                           enrolled_on__lte=dt.date(YEAR, 12, 31))
        managed = set(regs.values_list("id", flat=True))
        in_year = FollowUp.objects.filter(disease=disease, date__year=YEAR)
        face = dict(in_year.exclude(method=FollowUp.Method.PHONE).values_list("registration")
                    .annotate(n=Count("id")).order_by())
        standard = sum(1 for r in managed if face.get(r, 0) >= 4) / len(managed)
        assert 0.55 <= standard <= 0.85, (disease, standard)
        last: dict[int, bool] = {}
        for rid, controlled in in_year.order_by("date", "id").values_list("registration",
                                                                        "controlled"):
            last[rid] = controlled
        control = sum(1 for r in managed if last.get(r)) / len(managed)
        assert low <= control <= high, (disease, control)
        assert any(r not in last for r in managed)  # some lost to follow-up in the year
    urgent = FollowUp.objects.filter(classification=rules.Classification.URGENT)
    assert urgent.exists()
    for follow_up in urgent.filter(referral__isnull=False).select_related("referral"):
        referral = follow_up.referral
        assert referral.green_channel and referral.direction == Direction.UP
        assert referral.patient_id == follow_up.patient_id
        assert referral.submitted_at.astimezone(CHINA).date() == follow_up.date
        assert follow_up.institution_id == referral.sending_institution_id
    for follow_up in urgent:
        assert (follow_up.sbp or 0) >= 180 or (follow_up.dbp or 0) >= 110 or \
            (follow_up.fasting_glucose or Decimal(0)) >= Decimal("16.7")
    # the tail: follow-ups in the weeks before today although the history is for 2025
    assert FollowUp.objects.filter(date__gt=TODAY - dt.timedelta(days=30)).exists()


@pytest.mark.django_db
def test_contracts_one_active_per_resident_with_valid_packages_and_events(county):
    residents = Patient.objects.count()
    active = Contract.objects.filter(status=Contract.Status.ACTIVE)
    per_patient = Counter(active.values_list("patient_id", flat=True))
    assert max(per_patient.values()) == 1
    assert 0.35 <= len(per_patient) / residents <= 0.45
    assert not active.filter(end_date__lt=TODAY).exists()
    assert not Contract.objects.filter(start_date__gt=TODAY).exists()
    reasons = Counter(Contract.objects.filter(status=Contract.Status.ENDED)
                      .values_list("end_reason", flat=True))
    assert reasons[Contract.EndReason.RENEWED] > 0
    assert reasons[Contract.EndReason.TERMINATED] > 0
    assert reasons[Contract.EndReason.EXPIRED] > 0
    registered = {(p, d): e for p, d, e in Registration.objects.values_list(
        "patient_id", "disease", "enrolled_on")}
    declared = {(p, g): s for p, g, s in PriorityGroupMembership.objects.values_list(
        "patient_id", "group", "start_date")}
    for contract in Contract.objects.select_related("patient").prefetch_related("packages")[:600]:
        packages = list(contract.packages.all())
        assert any(p.kind == "basic" for p in packages)
        assert all(p.alliance_id is None for p in packages)
        assert contract.fee_resident == sum((p.fee_resident for p in packages), Decimal(0))
        assert contract.consent and contract.consent_at is not None
        years = rules.age_on(contract.patient.birth_date, contract.start_date)
        for package in packages:
            group = package.priority_group
            if group == "elderly":
                assert years >= 65
            elif group == "child":
                assert years <= 6
            elif group in ("hypertension", "diabetes"):
                disease = rules.HYPERTENSION if group == "hypertension" else rules.DIABETES
                assert registered[(contract.patient_id, disease)] <= contract.start_date
            elif group:
                assert declared[(contract.patient_id, group)] <= contract.start_date
        events = list(ContractEvent.objects.filter(contract=contract).order_by("at", "id"))
        assert events[0].to_status == Contract.Status.ACTIVE and events[0].from_status == ""
        if contract.status == Contract.Status.ENDED:
            assert events[-1].to_status == Contract.Status.ENDED
            assert events[-1].action == contract.end_reason
            assert contract.ended_on is not None
        if contract.previous_id is not None:
            assert events[0].action in ("renew", "switch")
            assert contract.previous.status == Contract.Status.ENDED
    # priority groups are covered more often than the rest
    pri = set(Registration.objects.values_list("patient_id", flat=True))
    pri |= set(PriorityGroupMembership.objects.values_list("patient_id", flat=True))
    pri |= {p for p, b in Patient.objects.values_list("id", "birth_date")
            if rules.age_on(b, TODAY) >= 65 or rules.age_on(b, TODAY) <= 6}
    covered = set(per_patient)
    assert 0.65 <= len(covered & pri) / len(pri) <= 0.85


@pytest.mark.django_db
def test_elderly_checks_and_recorded_services(county):
    end = dt.date(YEAR, 12, 31)
    old = {p for p, b in Patient.objects.values_list("id", "birth_date")
           if rules.age_on(b, end) >= 65}
    checked = set(ElderlyCheck.objects.values_list("patient_id", flat=True))
    assert 0.55 <= len(checked) / len(old) <= 0.75
    for check in ElderlyCheck.objects.select_related("patient")[:100]:
        assert check.date.year == YEAR and age(check.patient, check.date) >= 65
        assert set(check.items) <= set(ElderlyCheck.Item.values) and check.sbp and check.findings
    deliveries = ServiceDelivery.objects.select_related("contract", "service")
    assert deliveries.exists()
    for delivery in deliveries[:200]:
        assert delivery.service.delivered_by == "recorded"
        assert delivery.contract.start_date <= delivery.date <= TODAY
        assert delivery.contract.packages.filter(pk=delivery.service.package_id).exists()


@pytest.mark.django_db
def test_every_team_has_a_living_work_queue_today(county):
    teams = list(FamilyDoctorTeam.objects.all())
    assert teams
    for team in teams:
        queue = work_queue(team=team, today=TODAY)
        for key in ("due_this_week", "overdue", "rechecks", "contracts_expiring"):
            assert queue.lists[key].total > 0, (team.code, key)
        overdue = queue.lists["overdue"].rows
        assert all(row.next_due < TODAY for row in overdue)


@pytest.mark.django_db
def test_the_same_seed_gives_the_same_rows_made_in_a_thread_or_not(monkeypatch):
    def snapshot() -> list[list[tuple[object, ...]]]:
        out = []
        for model in synth_chronic.TABLES:
            fields = [f.attname for f in model._meta.concrete_fields]
            out.append(list(model._default_manager.filter(pk__gte=first[model]).order_by("pk")
                            .values_list(*fields)))
        return out

    first = {model: bulk.next_id(model) for model in synth_chronic.TABLES}
    runs = []
    for pipeline in (10**9, 0):  # rows made in this thread, then in a thread of their own
        monkeypatch.setattr(synth_chronic, "PIPELINE_RESIDENTS", pipeline)
        with transaction.atomic():
            # a second county beside the module's (rolled back each time)
            generate(1_500, 23, YEAR, now=NOW, county="341126", append=True)
            runs.append(snapshot())
            transaction.set_rollback(True)
    assert runs[0] == runs[1]
    assert sum(len(table) for table in runs[0]) > 1_000


@pytest.mark.django_db
def test_residents_and_diagnoses_taken_from_the_chunks_are_those_in_the_database(
        county, monkeypatch):
    # given a county generated beside the module's, whose residents and chronic diagnoses
    # the generator took from its chunks as it wrote them
    seen: dict[str, object] = {}
    real = synth_chronic.generate

    def spy(plan, **kwargs):  # type: ignore[no-untyped-def]
        seen.update(plan=plan, **kwargs)
        return real(plan, **kwargs)

    monkeypatch.setattr(synth_chronic, "generate", spy)
    with transaction.atomic():
        generate(1_500, 29, YEAR, now=NOW, county="341126", append=True)
        observed = seen["observed"]
        assert isinstance(observed, synth_chronic.Observed)
        # when the chronic step reads them back from the database instead
        reader = synth_chronic.ChronicGenerator(
            seen["plan"], seed=29, year=YEAR, until=None, now=NOW,  # type: ignore[arg-type]
            patients=seen["patients"], write=seen["write"])  # type: ignore[arg-type]
        # then both give the same residents and the same first days and codes
        assert observed.people == reader.people()
        assert len(observed.people) == 1_500
        assert observed.diagnosed() == reader.diagnosed()
        assert observed.diagnosed()
        transaction.set_rollback(True)
