"""The acceptance journey of issue 6 in a real browser, as new users would walk it: a village
doctor opens today's work queue, records a follow-up of 孙二 with BP 185/112, gets the urgent
classification and sends the green-channel referral prefilled from it; 钱一's second
uncontrolled diabetes follow-up proposes an up-referral, which the doctor writes; the team lead
sees the team's coverage and fulfilment."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from django.utils import timezone

from tests.e2e.test_journey import log_in, log_out
from tests.web.factories import make_patient, make_world
from tiercare.accounts.models import User
from tiercare.accounts.services import create_demo_accounts
from tiercare.chronic import rules, services
from tiercare.chronic.models import Contract, Registration, ServicePackage, TeamMember
from tiercare.referrals.models import Referral
from tiercare.referrals.services import ensure_default_catalogue

SHOTS = Path("/tmp/tiercare-e2e")
VILLAGE = "371581001001"


def _born(years: int) -> dt.date:
    today = timezone.localdate()
    return today.replace(year=today.year - years, day=min(today.day, 28)) - dt.timedelta(days=5)


@pytest.mark.e2e
def test_the_family_doctor_day(live_server, page, settings, tmp_path):
    ensure_default_catalogue()
    services.ensure_default_packages()  # a live-server test empties the tables migrations filled
    world = make_world()
    create_demo_accounts(world.alliance)
    lead_user = User.objects.get(username="doctor")
    village_user = User.objects.get(username="village_doctor")
    assert lead_user.practitioner and village_user.practitioner
    team = services.create_team(institution=world.township, code="T001-1",
                                name="城关镇家庭医生第一团队", lead=lead_user.practitioner)
    services.add_member(team, village_user.practitioner, role=TeamMember.Role.VILLAGE_DOCTOR)
    today = timezone.localdate()
    elder = make_patient("孙二", VILLAGE, birth=_born(66), phone="13900002222")
    younger = make_patient("钱一", VILLAGE, birth=_born(48), phone="13900003333")
    packages = {p.code: p for p in ServicePackage.objects.filter(alliance__isnull=True)}
    hypertension = services.enrol(patient=elder, disease=rules.HYPERTENSION,
                                  source=Registration.Source.DIAGNOSIS, by=village_user,
                                  team=team, on=today - dt.timedelta(days=110))
    services.record_follow_up(hypertension, by=village_user, date=today - dt.timedelta(days=100),
                              values={"sbp": 138, "dbp": 84})  # controlled: due again in 90
    diabetes = services.enrol(patient=younger, disease=rules.DIABETES,
                              source=Registration.Source.DIAGNOSIS, by=village_user,
                              team=team, on=today - dt.timedelta(days=100))
    services.record_follow_up(diabetes, by=village_user, date=today - dt.timedelta(days=13),
                              values={"fasting_glucose": Decimal("8.4")})  # re-check in 14
    for patient, package in ((elder, "hypertension"), (younger, "diabetes")):
        services.sign_contract(patient=patient, team=team,
                               packages=[packages["basic"], packages[package]],
                               consent=Contract.Consent.SIGNATURE, by=village_user,
                               start=today - dt.timedelta(days=90))
    base = live_server.url
    SHOTS.mkdir(exist_ok=True)
    text: dict[str, str] = {}

    # 1. the village doctor opens today's queue: 孙二 is 10 days overdue, 钱一 due a re-check
    log_in(page, base, "village_doctor", text)
    page.get_by_role("link", name="家庭医生").first.click()
    overdue = page.get_by_test_id("queue-overdue")
    row = overdue.locator("tr[data-patient-name=孙二]")
    assert "10" in row.get_by_test_id("days-overdue").inner_text()
    assert page.get_by_test_id("queue-rechecks").locator("tr[data-patient-name=钱一]").count() == 1
    page.screenshot(path=str(SHOTS / "family-1-queue.png"), full_page=True)

    # 2. the follow-up with BP 185/112 is urgent; the green-channel referral is sent
    row.get_by_test_id("record-follow-up").click()
    page.fill("input[name=sbp]", "185")
    page.fill("input[name=dbp]", "112")
    page.fill("input[name=heart_rate]", "96")
    page.fill("input[name=medication]", "硝苯地平控释片 30 mg qd")
    page.screenshot(path=str(SHOTS / "family-2-form.png"), full_page=True)
    page.get_by_test_id("save-follow-up").click()
    verdict = page.get_by_test_id("classification")
    assert verdict.get_attribute("data-classification") == "urgent"
    assert "绿色通道" in verdict.inner_text()
    page.screenshot(path=str(SHOTS / "family-3-urgent.png"), full_page=True)
    page.get_by_test_id("open-referral").click()
    page.get_by_test_id("step-submit").click()
    page.get_by_test_id("referral-status").wait_for()
    assert "绿色通道" in page.get_by_test_id("referral-status").inner_text()
    urgent = Referral.objects.get(green_channel=True)
    assert urgent.status == Referral.Status.SUBMITTED
    assert urgent.receiving_institution == world.county_hospital
    assert "185/112" in urgent.clinical_summary and urgent.diagnosis == "I10"

    # 3. 钱一's second uncontrolled follow-up proposes an up-referral
    page.get_by_role("link", name="家庭医生").first.click()
    page.get_by_test_id("queue-rechecks").locator("tr[data-patient-name=钱一]").get_by_test_id(
        "record-follow-up").click()
    page.fill("input[name=fasting_glucose]", "9.6")
    page.get_by_test_id("save-follow-up").click()
    verdict = page.get_by_test_id("classification")
    assert verdict.get_attribute("data-classification") == "refer_up"
    page.screenshot(path=str(SHOTS / "family-4-refer-up.png"), full_page=True)
    page.get_by_test_id("propose-referral").click()
    page.get_by_test_id("step-submit").wait_for()
    proposed = Referral.objects.get(green_channel=False, patient=younger)
    assert proposed.direction == "up" and proposed.diagnosis.startswith("E11")
    assert proposed.status == Referral.Status.DRAFT
    log_out(page, text)

    # 4. the team lead sees the team's coverage and fulfilment (the year's rates come from the
    # indicator snapshot, which the clock refreshes every 10 minutes; refreshed here at once)
    from tiercare.indicators.engine import snapshot

    settings.DATA_DIR = tmp_path
    snapshot.refresh(full=True)
    log_in(page, base, "doctor", text)
    page.get_by_role("link", name="家庭医生").first.click()
    page.get_by_test_id("tab-teams").click()
    page.get_by_role("link", name="城关镇家庭医生第一团队").click()
    coverage = page.get_by_test_id("team-coverage").inner_text()
    fulfilment = page.get_by_test_id("team-fulfilment").inner_text()
    assert coverage == "66.7%"  # 孙二 and 钱一 of the three residents of 王家村 (张三 too)
    assert fulfilment.endswith("%")
    rates = page.get_by_test_id("team-registry-rates").inner_text()
    assert "高血压" in rates and "糖尿病" in rates
    page.screenshot(path=str(SHOTS / "family-5-team.png"), full_page=True)
    log_out(page, text)
