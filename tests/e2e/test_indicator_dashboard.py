"""The dashboards of issue 5 in a real browser, in Chinese and in English: the alliance
administrator opens the indicator overview, asks for 2025Q3, sees the in-county visit rate
with its target and status under the Guangdong 2025 pack (and its twelve-month sparkline),
opens the records behind the out-of-county admissions (names masked, the read audited);
then the regulator opens the same shared URL and reads the same numbers without the links
that edit targets. Values: ``tests/indicators/dashboard_scene``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_journey import log_in, log_out
from tests.indicators.dashboard_scene import build
from tiercare.accounts.models import AuditEvent
from tiercare.accounts.services import create_demo_accounts
from tiercare.indicators import board
from tiercare.indicators.engine import snapshot

SHOTS = Path("/tmp/tiercare-e2e")

TEXT = {
    "zh-hans": {"switch": "中文", "nav": "指标", "title": "指标总览", "visit": "县域就诊率",
                "missed": "未达标", "met": "达标", "records": "1 条记录", "masked": "王*"},
    "en": {"switch": "English", "nav": "Indicators", "title": "Indicator overview",
           "visit": "In-county visit rate", "missed": "missed", "met": "met",
           "records": "1 record", "masked": "王*"},
}


@pytest.mark.e2e
@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_the_overview_drill_down_and_the_read_only_regulator(live_server: Any, page: Any,
                                                              settings: Any, tmp_path: Path,
                                                              language: str):
    settings.DATA_DIR = tmp_path
    scene = build()  # chooses the Guangdong 2025 pack for the alliance
    create_demo_accounts(scene.world.alliance)
    snapshot.refresh(full=True)
    board.forget_cache()
    text = TEXT[language]
    base = live_server.url
    SHOTS.mkdir(exist_ok=True)

    page.goto(f"{base}/accounts/login/")
    page.locator("[data-testid=language-switch]").get_by_role(
        "button", name=text["switch"]).click()
    page.wait_for_selector("[data-testid=login-form]")

    # 1. the alliance administrator: the overview, then 2025Q3 through the filter
    log_in(page, base, "alliance_admin", text)
    page.locator("[data-card=indicators]").click()
    page.get_by_test_id("dashboard-title").wait_for()
    assert page.get_by_test_id("dashboard-title").inner_text() == text["title"]
    page.get_by_test_id("period-input").fill("2025Q3")
    page.get_by_test_id("apply-filters").click()
    page.wait_for_url("**period=2025Q3**")
    visit = page.get_by_test_id("card-in_county_visit_rate")
    assert text["visit"] in visit.get_by_test_id("card-name").inner_text()
    assert visit.get_by_test_id("card-value").inner_text() == "66.67%"
    assert "≥ 90%" in visit.get_by_test_id("card-target").inner_text()
    status = visit.get_by_test_id("status")
    assert status.get_attribute("data-status") == "missed"
    assert status.inner_text() == text["missed"]
    primary = page.get_by_test_id("card-primary_care_visit_share")
    assert primary.get_by_test_id("status").get_attribute("data-status") == "met"
    assert "≥ 65%" in primary.get_by_test_id("card-target").inner_text()
    assert page.get_by_test_id("edit-targets").count() == 1
    visit.locator("[data-spark] svg").first.wait_for()  # the ECharts sparkline is drawn
    shared = page.url
    page.screenshot(path=str(SHOTS / f"indicators-overview-{language}.png"), full_page=True)

    # 2. the records behind the out-of-county admissions: masked, and audited
    page.get_by_test_id("drill-out_of_county_admissions").click()
    page.get_by_test_id("drill-table").wait_for()
    assert page.get_by_test_id("drill-total").inner_text() == text["records"]
    rows = page.locator("[data-testid=drill-table] tbody tr")
    assert rows.count() == 1
    assert text["masked"] in rows.first.inner_text() and "王五" not in rows.first.inner_text()
    assert AuditEvent.objects.filter(action=AuditEvent.Action.VIEW,
                                     patient_id=scene.wangwu.pk,
                                     username="alliance_admin").count() == 1
    page.screenshot(path=str(SHOTS / f"indicators-drill-{language}.png"), full_page=True)
    log_out(page, text)

    # 3. the regulator opens the shared URL: the same numbers, read only
    log_in(page, base, "regulator", text)
    page.goto(shared)
    visit = page.get_by_test_id("card-in_county_visit_rate")
    assert visit.get_by_test_id("card-value").inner_text() == "66.67%"
    assert visit.get_by_test_id("status").get_attribute("data-status") == "missed"
    assert page.get_by_test_id("edit-targets").count() == 0
    assert page.get_by_test_id("edit-pack").count() == 0
    assert page.get_by_test_id("read-only").count() == 1
    assert page.locator("[data-nav=indicators]").inner_text() == text["nav"]
    page.screenshot(path=str(SHOTS / f"indicators-regulator-{language}.png"), full_page=True)
    log_out(page, text)
