"""The tightness evaluation in a real browser (issue 5 item 5; seed 003's appraisal
procedure), as the people would walk it in Chinese: the alliance administrator starts the
2025 evaluation, grades all eleven criteria (with the decision-authority document attached)
and submits the self-assessment; the health commission grades every criterion — choosing a
grade shows the verdict it would give before it is saved — and issues the result; the page
shows the verdict with every reason it passes or fails."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.test_journey import log_in, log_out
from tests.indicators.tightness_scene import eight_a
from tests.web.factories import make_world
from tiercare.accounts.services import create_demo_accounts
from tiercare.indicators.models import CriterionEvidence, TightnessEvaluation

SHOTS = Path("/tmp/tiercare-e2e")


def grade(page: Page, criterion: str, value: str, column: str, *,
          evidence: bytes | None = None) -> None:
    """Choose the grade in the criterion's row, attach evidence, save; wait for the page to
    show the saved grade in ``column`` (``self-grade`` or ``assessed-grade``)."""
    row = page.locator(f"[data-testid=criterion][data-criterion={criterion}]")
    row.locator(f"input[type=radio][value={value}]").check()
    if evidence is not None:
        row.get_by_test_id("evidence-input").set_input_files(
            {"name": "决策权限文件.pdf", "mimeType": "application/pdf", "buffer": evidence})
    row.get_by_test_id("save-grade").click()
    saved = page.locator(f"[data-testid=criterion][data-criterion={criterion}]")
    expect(saved.get_by_test_id(column).locator(f"[data-grade={value}]")).to_be_visible()
    page.wait_for_load_state("load")


@pytest.mark.e2e
def test_self_assessment_assessment_and_the_verdict(live_server, page):
    world = make_world()
    create_demo_accounts(world.alliance)
    base = live_server.url
    SHOTS.mkdir(exist_ok=True)
    text: dict[str, str] = {}

    # 1. the alliance office starts the evaluation and grades itself
    log_in(page, base, "alliance_admin", text)
    page.get_by_role("link", name="紧密型判定").first.click()
    page.get_by_label("评价周期").fill("2025")
    page.get_by_test_id("start-evaluation").click()
    expect(page.get_by_test_id("evaluation-stage")).to_have_text("自评")
    page.wait_for_load_state("load")  # htmx (deferred) listens before we choose grades
    evaluation = TightnessEvaluation.objects.get()
    for criterion, value in eight_a().items():
        grade(page, criterion, value, "self-grade",
              evidence=b"%PDF-1.7\n" + b"0" * 64 if criterion == "decision_authority" else None)
    assert CriterionEvidence.objects.get().name == "决策权限文件.pdf"
    expect(page.get_by_test_id("verdict")).to_have_attribute("data-tight", "true")
    page.screenshot(path=str(SHOTS / "tightness-1-self-assessment.png"), full_page=True)
    page.get_by_test_id("step-submit").click()
    expect(page.get_by_test_id("evaluation-stage")).to_have_text("卫生健康委考核")
    log_out(page, text)

    # 2. the health commission assesses, sees the self-assessment, and issues the result
    log_in(page, base, "regulator", text)
    page.get_by_role("link", name="紧密型判定").first.click()
    page.get_by_test_id("open-evaluation").first.click()
    page.wait_for_load_state("load")
    authority = page.locator("[data-testid=criterion][data-criterion=decision_authority]")
    expect(authority.get_by_test_id("self-grade")).to_contain_text("A")
    expect(authority.get_by_test_id("evidence-link")).to_have_text("决策权限文件.pdf")
    assessed = {**eight_a(), "unified_appraisal_pay": "B"}  # 7 A: one short of 8
    for criterion, value in assessed.items():
        grade(page, criterion, value, "assessed-grade")
    verdict = page.get_by_test_id("verdict")
    expect(verdict).to_have_attribute("data-tight", "false")
    # what if 统一绩效考核与薪酬 were A? The verdict answers before anything is saved.
    page.locator("[data-criterion=unified_appraisal_pay] input[type=radio][value=A]").check()
    expect(verdict).to_contain_text("如果保存此评定")
    expect(verdict).to_have_attribute("data-tight", "true")
    page.reload()
    page.get_by_test_id("step-issue").click()
    expect(page.get_by_test_id("evaluation-stage")).to_have_text("结果评定")

    # 3. the verdict, with every reason it passes or fails
    verdict = page.get_by_test_id("verdict")
    expect(verdict).to_have_attribute("data-issued", "true")
    expect(verdict.get_by_test_id("verdict-label")).to_have_text("未达到紧密型")
    reasons = verdict.get_by_test_id("verdict-reasons")
    expect(reasons.locator("[data-passed=false]")).to_have_count(1)
    expect(reasons.locator("[data-passed=false]")).to_contain_text(
        "仅 7 项指标达 A，至少需要 8 项。")
    expect(reasons.locator("[data-code=mandatory_a]")).to_contain_text("医共体决策权限")
    expect(reasons.locator("[data-passed=true]")).to_have_count(4)
    page.screenshot(path=str(SHOTS / "tightness-2-result.png"), full_page=True)
    result = TightnessEvaluation.objects.get(pk=evaluation.pk)
    assert result.tight is False and result.stage == "result"
