"""Family-doctor and chronic-care use cases as a user meets them (issue 6; rules.md §7–§8)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from tiercare.chronic import queues, rules, services
from tiercare.chronic.errors import ChronicConflict, ChronicInvalid, ChronicRefused
from tiercare.chronic.models import Contract, FollowUp, Registration, ServicePackage
from tiercare.referrals.models import Referral

pytestmark = pytest.mark.django_db


def package(code: str) -> ServicePackage:
    return ServicePackage.objects.get(alliance__isnull=True, code=code)


def sign(scene: Any, patient: Any, *codes: str) -> Contract:
    return services.sign_contract(patient=patient, team=scene.team,
                                  packages=[package(c) for c in ("basic", *codes)],
                                  consent=Contract.Consent.SIGNATURE, by=scene.gp)


def test_a_resident_signs_one_contract_and_a_second_is_refused(scene: Any) -> None:
    contract = sign(scene, scene.elderly, "elderly")
    assert contract.status == Contract.Status.ACTIVE
    assert contract.end_date == contract.start_date.replace(
        year=contract.start_date.year + 1) - dt.timedelta(days=1)
    assert contract.fee_resident == package("elderly").fee_resident
    with pytest.raises(ChronicConflict) as refused:
        sign(scene, scene.elderly)
    assert refused.value.code == "contract.duplicate"
    assert Contract.objects.filter(patient=scene.elderly).count() == 1


def test_a_priority_package_needs_the_group(scene: Any) -> None:
    with pytest.raises(ChronicInvalid) as refused:
        sign(scene, scene.young, "elderly")
    assert refused.value.code == "contract.package"


def test_contract_period_outside_limits_is_refused(scene: Any) -> None:
    with pytest.raises(ChronicInvalid) as refused:
        services.sign_contract(patient=scene.young, team=scene.team, packages=[package("basic")],
                               consent=Contract.Consent.SIGNATURE, by=scene.gp, years=4)
    assert refused.value.code == "contract.period"


def test_renew_and_switch_keep_one_active_contract(scene: Any) -> None:
    first = sign(scene, scene.young)
    second = services.renew_contract(first, by=scene.gp)
    first.refresh_from_db()
    assert first.end_reason == Contract.EndReason.RENEWED
    assert second.start_date == first.end_date + dt.timedelta(days=1)
    other = services.create_team(institution=scene.base.world.township, code="T001-B",
                                 name="城关镇二组", lead=scene.base.world.doctor_practitioner)
    third = services.switch_team(second, team=other, by=scene.gp,
                                 consent=Contract.Consent.TABLET)
    assert Contract.objects.filter(patient=scene.young, status="active").get() == third
    terminated = services.terminate_contract(third, by=scene.gp, reason="搬迁")
    assert terminated.end_reason == Contract.EndReason.TERMINATED
    assert services.active_contract(scene.young) is None


def test_urgent_follow_up_opens_a_green_channel_draft(scene: Any) -> None:
    registration = services.enrol(patient=scene.elderly, disease=rules.HYPERTENSION,
                                  source=Registration.Source.DIAGNOSIS,
                                  by=scene.village_doctor)
    result = services.record_follow_up(registration, by=scene.village_doctor,
                                       date=scene.today, values={"sbp": 185, "dbp": 112})
    assert result.finding.classification == rules.Classification.URGENT
    referral = Referral.objects.get(pk=result.referral.pk)
    assert referral.green_channel and referral.status == Referral.Status.DRAFT
    assert referral.receiving_institution == scene.base.world.county_hospital
    assert "185/112" in referral.clinical_summary
    registration.refresh_from_db()
    assert registration.next_due == scene.today + dt.timedelta(days=14)


def test_second_uncontrolled_follow_up_proposes_an_up_referral(scene: Any) -> None:
    registration = services.enrol(patient=scene.young, disease=rules.DIABETES,
                                  source=Registration.Source.DIAGNOSIS, by=scene.gp,
                                  on=scene.today - dt.timedelta(days=30))
    first = services.record_follow_up(registration, by=scene.gp,
                                      date=scene.today - dt.timedelta(days=14),
                                      values={"fasting_glucose": "8.2"})
    assert first.finding.classification == rules.Classification.RECHECK
    second = services.record_follow_up(registration, by=scene.gp, date=scene.today,
                                       values={"fasting_glucose": "9.0"})
    assert second.finding.classification == rules.Classification.REFER_UP
    assert second.referral is None
    referral = services.propose_up_referral(second.follow_up, by=scene.gp)
    assert not referral.green_channel and referral.diagnosis.startswith("E11")
    assert services.propose_up_referral(second.follow_up, by=scene.gp) == referral


@pytest.mark.parametrize("values, code", [
    ({"sbp": 400, "dbp": 20}, "reading.implausible"),
    ({"sbp": 120, "dbp": 130}, "reading.pressure_order"),
    ({"sbp": 120}, "reading.missing"),
    ({"fasting_glucose": "6.0"}, "reading.missing"),
    ({"sbp": "abc", "dbp": 80}, "reading.number"),
])
def test_impossible_readings_are_refused_and_nothing_is_saved(scene: Any, values: dict,
                                                               code: str) -> None:
    registration = services.enrol(patient=scene.elderly, disease=rules.HYPERTENSION,
                                  source=Registration.Source.DIAGNOSIS, by=scene.gp)
    with pytest.raises(ChronicInvalid) as refused:
        services.record_follow_up(registration, by=scene.gp, date=scene.today, values=values)
    assert refused.value.code == code
    assert str(refused.value)
    assert not FollowUp.objects.exists()


def test_glucose_of_90_and_a_future_date_are_refused(scene: Any) -> None:
    registration = services.enrol(patient=scene.young, disease=rules.DIABETES,
                                  source=Registration.Source.DIAGNOSIS, by=scene.gp)
    with pytest.raises(ChronicInvalid) as refused:
        services.record_follow_up(registration, by=scene.gp, date=scene.today,
                                  values={"fasting_glucose": "90"})
    assert refused.value.code == "reading.implausible"
    with pytest.raises(ChronicInvalid) as refused:
        services.record_follow_up(registration, by=scene.gp,
                                  date=scene.today + dt.timedelta(days=1),
                                  values={"fasting_glucose": "6.0"})
    assert refused.value.code == "follow_up.future"


def test_a_follow_up_for_a_resident_not_on_the_registry_is_refused(scene: Any) -> None:
    with pytest.raises(ChronicInvalid) as refused:
        services.record_follow_up_for(scene.young, rules.HYPERTENSION, by=scene.gp,
                                      date=scene.today, values={"sbp": 130, "dbp": 80})
    assert refused.value.code == "follow_up.not_registered"


def test_second_registration_is_refused(scene: Any) -> None:
    services.enrol(patient=scene.young, disease=rules.HYPERTENSION,
                   source=Registration.Source.DIAGNOSIS, by=scene.gp)
    with pytest.raises(ChronicConflict):
        services.enrol(patient=scene.young, disease=rules.HYPERTENSION,
                       source=Registration.Source.DIAGNOSIS, by=scene.gp)


def test_a_regulator_cannot_record_follow_ups(scene: Any) -> None:
    from tiercare.accounts.models import Role

    registration = services.enrol(patient=scene.young, disease=rules.HYPERTENSION,
                                  source=Registration.Source.DIAGNOSIS, by=scene.gp)
    with pytest.raises(ChronicRefused):
        services.record_follow_up(registration, by=scene.base.world.user(Role.REGULATOR),
                                  date=scene.today, values={"sbp": 130, "dbp": 80})


def test_elderly_check_enrols_newly_found_hypertension_by_screening(scene: Any) -> None:
    for days in (20, 10):
        services.record_screening(scene.old, by=scene.gp,
                                  date=scene.today - dt.timedelta(days=days),
                                  values={"sbp": 150, "dbp": 95})
    result = services.record_elderly_check(
        scene.old, by=scene.gp, date=scene.today, items=["assessment", "examination", "ecg"],
        values={"sbp": 152, "dbp": 88, "fasting_glucose": "5.6"})
    assert [r.disease for r in result.enrolled] == [rules.HYPERTENSION]
    assert result.enrolled[0].source == Registration.Source.SCREENING


def test_elderly_check_is_for_65_and_over(scene: Any) -> None:
    with pytest.raises(ChronicInvalid) as refused:
        services.record_elderly_check(scene.young, by=scene.gp, date=scene.today,
                                      items=["assessment"], values={})
    assert refused.value.code == "check.age"


def test_fulfilment_counts_follow_ups_against_the_package(scene: Any) -> None:
    registration = services.enrol(patient=scene.elderly, disease=rules.HYPERTENSION,
                                  source=Registration.Source.DIAGNOSIS, by=scene.gp,
                                  on=scene.today - dt.timedelta(days=5))
    contract = services.sign_contract(
        patient=scene.elderly, team=scene.team,
        packages=[package("basic"), package("hypertension")],
        consent=Contract.Consent.SIGNATURE, by=scene.gp,
        start=scene.today - dt.timedelta(days=3))
    services.record_follow_up(registration, by=scene.gp, date=scene.today,
                              values={"sbp": 130, "dbp": 80})
    result = services.fulfilment_of(contract)
    rows = {row.service.code: row for row in result.rows}
    assert rows["htn_follow_up"].delivered == 1
    assert rows["htn_follow_up"].owed == 4
    assert result.whole_term.owed == sum(r.owed for r in result.rows)


def test_the_team_queue_lists_overdue_and_rechecks(scene: Any) -> None:
    overdue = services.enrol(patient=scene.elderly, disease=rules.HYPERTENSION,
                             source=Registration.Source.DIAGNOSIS, by=scene.gp,
                             team=scene.team, on=scene.today - dt.timedelta(days=40))
    recheck = services.enrol(patient=scene.old, disease=rules.HYPERTENSION,
                             source=Registration.Source.DIAGNOSIS, by=scene.gp, team=scene.team)
    services.record_follow_up(recheck, by=scene.gp, date=scene.today,
                              values={"sbp": 165, "dbp": 92})
    queue = queues.work_queue(team=scene.team, today=scene.today)
    assert [r.pk for r in queue.lists["overdue"].rows] == [overdue.pk]
    assert [r.pk for r in queue.lists["rechecks"].rows] == [recheck.pk]
    assert (scene.today - queue.lists["overdue"].rows[0].next_due).days == 26


def test_a_down_referred_hypertensive_joins_the_registry_with_the_care_plan(scene: Any) -> None:
    from tiercare.referrals import services as referrals
    from tiercare.referrals.models import Direction

    draft = referrals.create_referral(
        patient=scene.elderly, direction=Direction.DOWN, diagnosis="I10",
        reason="出院后基层随访", by=scene.base.county_doctor,
        receiving_institution=scene.base.world.township,
        care_plan="氨氯地平 5 mg 每日一次；两周后复诊。")
    referrals.submit(draft, by=scene.base.county_doctor)
    assert not Registration.objects.exists()  # sent, not yet taken by primary care
    referrals.receive(draft, by=scene.gp)
    registration = Registration.objects.get(patient=scene.elderly)
    assert registration.source == Registration.Source.DOWN_REFERRAL
    assert registration.source_referral_id == draft.pk
    assert registration.care_plan.startswith("氨氯地平")
    assert registration.institution == scene.base.world.township
    assert registration.next_due == scene.today + dt.timedelta(days=14)


def test_a_registration_closes_once_with_a_reason_from_the_table(scene: Any) -> None:
    registration = services.enrol(patient=scene.young, disease=rules.HYPERTENSION,
                                  source=Registration.Source.DIAGNOSIS, by=scene.gp)
    with pytest.raises(ChronicInvalid) as refused:
        services.close_registration(registration, by=scene.gp, reason="bored")
    assert refused.value.code == "registration.reason"
    closed = services.close_registration(registration, by=scene.gp,
                                         reason=Registration.CloseReason.MOVED)
    assert closed.status == Registration.Status.CLOSED and closed.closed_on == scene.today
    with pytest.raises(ChronicConflict) as again:
        services.close_registration(registration, by=scene.gp,
                                    reason=Registration.CloseReason.DIED)
    assert again.value.code == "registration.closed"
    # enrolling again starts a new registration
    services.enrol(patient=scene.young, disease=rules.HYPERTENSION,
                   source=Registration.Source.DIAGNOSIS, by=scene.gp)
    assert Registration.objects.filter(patient=scene.young).count() == 2
