"""One step of issue 5's acceptance in a real browser, in Chinese: the alliance administrator
opens the out-of-county analysis, sees the diagnosis that sends most residents out of the
county at the top (with its chart drawn), opens the quarterly report and downloads its PDF.
The county is ``tests/indicators/report_scene`` (C34 lung cancer leads with 2 admissions)."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.e2e.test_journey import log_in
from tests.indicators.report_scene import build_scene
from tiercare.accounts.models import Role, User
from tiercare.accounts.services import DEMO_PASSWORD
from tiercare.indicators.engine import snapshot

SHOTS = Path("/tmp/tiercare-e2e")


@pytest.mark.e2e
def test_the_office_reads_the_outflow_and_downloads_the_quarterly_pdf(live_server, page,
                                                                       settings, tmp_path):
    settings.DATA_DIR = tmp_path
    scene = build_scene()
    snapshot.refresh(full=True)
    User.objects.create_user("alliance_admin", password=DEMO_PASSWORD,
                             role=Role.ALLIANCE_ADMIN, alliance=scene.a)
    base = live_server.url
    SHOTS.mkdir(exist_ok=True)

    log_in(page, base, "alliance_admin", {})
    page.goto(f"{base}/indicators/reports/out-of-county/?period=2025Q3")
    expect(page.get_by_role("heading", name="县外就医分析")).to_be_visible()
    first = page.get_by_test_id("outflow-diagnoses").locator("tbody tr").first
    expect(first).to_contain_text("C34 支气管和肺恶性肿瘤")
    expect(first.locator("td").nth(1)).to_have_text("2")
    expect(page.get_by_test_id("chart-diagnoses").locator("canvas")).to_have_count(1)
    page.screenshot(path=str(SHOTS / "report-out-of-county.png"), full_page=True)

    page.get_by_test_id("quarterly-link").click()
    expect(page.get_by_test_id("quarterly-report")).to_contain_text("2025年第3季度指标监测报告")
    with page.expect_download(timeout=120_000) as info:
        page.get_by_test_id("quarterly-pdf").click()
    download = info.value
    assert download.suggested_filename == "tiercare-LQ-2025Q3.pdf"
    data = Path(download.path()).read_bytes()
    assert data.startswith(b"%PDF")
    page.screenshot(path=str(SHOTS / "report-quarterly.png"), full_page=True)
