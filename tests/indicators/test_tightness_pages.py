"""The tightness evaluation pages (issue 5 item 5), as the alliance office and the health
commission use them: the list with verdicts, the evaluation grouped by dimension with both
grades, evidence, the live verdict and the next step; Chinese and English; a doctor gets the
403 page; a file too large is refused with a translated message; never a 500."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tests.indicators import tightness_scene as scene
from tiercare.accounts.models import AuditEvent, Role
from tiercare.indicators import tightness_services as services
from tiercare.indicators.models import CriterionEvidence, CriterionGrade, TightnessEvaluation
from tiercare.indicators.tightness_statuses import Stage

pytestmark = pytest.mark.django_db


@pytest.fixture
def commission(db: Any):
    return scene.regulator()


def client_of(user, language: str = "zh-hans") -> Client:
    client = Client()
    client.force_login(user)
    client.cookies["django_language"] = language
    return client


def messages_of(body: str) -> str:
    return " ".join(re.findall(r'role="alert">\s*([^<]+)<', body))


def detail(evaluation: TightnessEvaluation) -> str:
    return reverse("indicators:tightness_detail", args=[evaluation.pk])


def grade_url(evaluation: TightnessEvaluation, criterion: str) -> str:
    return reverse("indicators:tightness_grade", args=[evaluation.pk, criterion])


def step_url(evaluation: TightnessEvaluation, step: str) -> str:
    return reverse("indicators:tightness_step", args=[evaluation.pk, step])


def post_grade(client: Client, evaluation, criterion: str, grade: str, **extra: Any):
    data = {f"{criterion}-grade": grade,
            **{f"{criterion}-{k}": v for k, v in extra.items()}}
    return client.post(grade_url(evaluation, criterion), data, follow=True)


# --- the list ---------------------------------------------------------------------------------


def test_the_alliance_office_starts_an_evaluation_from_the_list(alliance, office):
    client = client_of(office)
    page = client.get(reverse("indicators:tightness_list"))
    body = page.content.decode()
    assert page.status_code == 200 and "紧密型" in body and 'data-testid="start-form"' in body
    response = client.post(reverse("indicators:tightness_start"),
                           {"alliance": alliance.pk, "period": "2025"}, follow=True)
    evaluation = TightnessEvaluation.objects.get()
    assert response.redirect_chain[-1][0] == detail(evaluation)
    assert evaluation.stage == Stage.SELF_ASSESSMENT
    assert "自评" in messages_of(response.content.decode())


def test_starting_the_same_period_twice_says_why_in_chinese(alliance, office):
    client = client_of(office)
    client.post(reverse("indicators:tightness_start"), {"alliance": alliance.pk,
                                                        "period": "2025"})
    response = client.post(reverse("indicators:tightness_start"),
                           {"alliance": alliance.pk, "period": "2025"}, follow=True)
    assert response.status_code == 200
    assert "已有 2025 年度" in messages_of(response.content.decode())
    assert TightnessEvaluation.objects.count() == 1


def test_a_bad_period_is_refused_with_a_message(alliance, office):
    response = client_of(office, "en").post(reverse("indicators:tightness_start"),
                                            {"alliance": alliance.pk, "period": "2025-07"},
                                            follow=True)
    assert "Write the period as a year (2025) or a quarter (2025Q3)." in messages_of(
        response.content.decode())
    assert not TightnessEvaluation.objects.exists()


def test_the_list_shows_verdicts_and_an_office_sees_only_its_alliance(
        alliance, other_alliance, office, commission):
    scene.walk(alliance, office, commission, to="result")
    services.create_evaluation(other_alliance, "2025", by=commission)
    mine = client_of(office).get(reverse("indicators:tightness_list")).content.decode()
    assert mine.count('data-evaluation="') == 1 and "连州市医共体" in mine
    assert '<span class="badge text-bg-success">紧密型</span>' in mine
    everyone = client_of(commission).get(reverse("indicators:tightness_list")).content.decode()
    assert everyone.count('data-evaluation="') == 2 and "阳山县医共体" in everyone
    filtered = client_of(commission).get(reverse("indicators:tightness_list") + "?alliance=A2")
    assert filtered.content.decode().count('data-evaluation="') == 1


def test_a_long_list_is_paged_not_cut(alliance, office):
    for year in range(1970, 2025):  # 55 evaluations
        services.create_evaluation(alliance, str(year), by=office)
    client = client_of(office)
    first = client.get(reverse("indicators:tightness_list")).content.decode()
    assert first.count('data-evaluation="') == 50 and "第 1 页，共 2 页" in first
    second = client.get(reverse("indicators:tightness_list") + "?page=2").content.decode()
    assert second.count('data-evaluation="') == 5 and ">1970<" in second


# --- the evaluation page ------------------------------------------------------------------------


def test_the_page_groups_criteria_by_dimension_in_chinese_with_supporting_indicators(
        alliance, office):
    evaluation = services.create_evaluation(alliance, "2025", by=office)
    body = client_of(office).get(detail(evaluation)).content.decode()
    for name in ("责任共同体", "管理共同体", "服务共同体", "利益共同体", "医共体决策权限",
                 "资源共享中心运行"):
        assert name in body
    assert body.count('data-testid="criterion"') == len(scene.IDS)
    assert body.count('data-testid="grade-form"') == len(scene.IDS)
    (supporting,) = re.findall(r'data-testid="supporting-indicators" '
                               r'data-criterion="shared_resource_centres">(.*?)</div>', body,
                               re.S)
    assert "基层检查上级诊断量" in supporting and "报告时长" in supporting
    assert 'data-indicator="remote_reading_volume"' in supporting
    assert body.count('data-testid="supporting-indicators"') == 3
    assert 'data-testid="step-submit"' in body and "未评定" in body


def test_the_page_reads_in_english(alliance, office):
    evaluation = services.create_evaluation(alliance, "2025", by=office)
    body = client_of(office, "en").get(detail(evaluation)).content.decode()
    assert "Community of responsibility" in body and "Alliance decision authority" in body
    assert "Tightness evaluation" in body and "Not tight" in body
    assert "“Alliance decision authority” must be graded A but is not graded yet." in body
    assert "责任共同体" not in body


def test_grading_with_evidence_shows_both_grades_and_a_download(alliance, office,
                                                                 commission):
    evaluation = services.create_evaluation(alliance, "2025", by=office)
    client = client_of(office)
    upload = SimpleUploadedFile("决策权限文件.pdf", b"%PDF-1.7\n" + b"0" * 50,
                                content_type="application/pdf")
    response = post_grade(client, evaluation, "decision_authority", "A",
                          comment="人事、薪酬自主", evidence=upload)
    body = response.content.decode()
    assert response.status_code == 200 and "评定已保存" in messages_of(body)
    row = CriterionGrade.objects.get()
    assert (row.criterion, row.grade, row.comment) == ("decision_authority", "A", "人事、薪酬自主")
    document = CriterionEvidence.objects.get()
    link = reverse("indicators:tightness_evidence", args=[evaluation.pk, document.pk])
    assert link in body and "决策权限文件.pdf" in body
    download = client_of(commission).get(link)
    assert download.status_code == 200
    assert b"".join(download.streaming_content).startswith(b"%PDF-1.7")
    assert "attachment" in download["Content-Disposition"]
    assert AuditEvent.objects.filter(object_type=CriterionEvidence._meta.label,
                                     action=AuditEvent.Action.VIEW).count() == 1


def test_an_upload_too_large_is_refused_with_a_translated_message(alliance, office):
    evaluation = services.create_evaluation(alliance, "2025", by=office)
    big = SimpleUploadedFile("扫描件.pdf", b"%PDF-1.7\n" + b"0" * services.EVIDENCE_MAX_BYTES,
                             content_type="application/pdf")
    response = post_grade(client_of(office), evaluation, "unified_finance", "A", evidence=big)
    assert response.status_code == 200
    assert "文件 扫描件.pdf 超过 10 MB。" in messages_of(response.content.decode())
    assert not CriterionGrade.objects.exists() and not CriterionEvidence.objects.exists()


def test_a_file_of_another_type_is_refused_in_english(alliance, office):
    evaluation = services.create_evaluation(alliance, "2025", by=office)
    exe = SimpleUploadedFile("report.pdf", b"MZ\x90\x00\x03", content_type="application/pdf")
    response = post_grade(client_of(office, "en"), evaluation, "unified_finance", "A",
                          evidence=exe)
    assert "The file report.pdf is not a PDF, JPEG or PNG document." in messages_of(
        response.content.decode())


@pytest.mark.parametrize("grade", ["", "D"])
def test_a_missing_or_unknown_grade_is_refused(alliance, office, grade):
    evaluation = services.create_evaluation(alliance, "2025", by=office)
    response = post_grade(client_of(office), evaluation, "unified_finance", grade)
    assert response.status_code == 200 and "A、B 或 C" in messages_of(
        response.content.decode())
    assert not CriterionGrade.objects.exists()


def test_the_regulator_sees_no_grading_form_during_the_self_assessment(alliance, office,
                                                                       commission):
    evaluation = services.create_evaluation(alliance, "2025", by=office)
    body = client_of(commission).get(detail(evaluation)).content.decode()
    assert 'data-testid="grade-form"' not in body and 'data-testid="step-' not in body
    response = post_grade(client_of(commission), evaluation, "unified_finance", "A")
    assert "自评阶段" in messages_of(response.content.decode())
    assert not CriterionGrade.objects.exists()


def test_the_whole_procedure_through_the_pages(alliance, office, commission):
    evaluation = services.create_evaluation(alliance, "2025", by=office)
    office_client, commission_client = client_of(office), client_of(commission)
    # the submit button before every criterion is graded: refused, naming what is missing
    refused = office_client.post(step_url(evaluation, "submit"), follow=True)
    assert "尚未评定" in messages_of(refused.content.decode())
    for criterion, grade in scene.eight_a().items():
        post_grade(office_client, evaluation, criterion, grade)
    office_client.post(step_url(evaluation, "submit"))
    assert TightnessEvaluation.objects.get().stage == Stage.ASSESSMENT
    body = commission_client.get(detail(evaluation)).content.decode()
    assert body.count('data-testid="grade-form"') == len(scene.IDS)
    assert 'data-testid="step-issue"' in body and 'data-testid="step-return"' in body
    for criterion, grade in {**scene.eight_a(), "unified_information": "C"}.items():
        post_grade(commission_client, evaluation, criterion, grade)
    issued = commission_client.post(step_url(evaluation, "issue"), follow=True)
    body = issued.content.decode()
    assert TightnessEvaluation.objects.get().tight is False
    assert 'data-tight="false" data-issued="true"' in body
    assert "“信息系统统一”评为 C" in body and "低于" in body
    # the office records its improvement note; the commission closes
    office_client.post(step_url(evaluation, "feedback"), {"note": "年内统一信息系统"})
    commission_client.post(step_url(evaluation, "close"))
    final = client_of(office).get(detail(evaluation)).content.decode()
    assert 'data-stage="closed"' in final and "年内统一信息系统" in final
    assert final.count('data-action="grade"') == 2 * len(scene.IDS)


def test_a_step_that_is_not_the_users_is_refused_with_a_message(alliance, office,
                                                                 commission):
    evaluation = scene.walk(alliance, office, commission, to="assessment")
    response = client_of(office).post(step_url(evaluation, "issue"), follow=True)
    assert response.status_code == 200 and "卫生健康" in messages_of(response.content.decode())
    assert TightnessEvaluation.objects.get().stage == Stage.ASSESSMENT
    assert client_of(office).post(step_url(evaluation, "approve")).status_code == 404


def test_the_live_verdict_fragment_answers_what_if(alliance, office):
    evaluation = services.create_evaluation(alliance, "2025", by=office)
    scene.grade_all(evaluation, {**scene.eight_a(), "unified_appraisal_pay": "B"}, office)
    url = reverse("indicators:tightness_verdict", args=[evaluation.pk])
    client = client_of(office)
    live = client.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert 'data-tight="false"' in live and "至少需要 8 项" in live
    what_if = client.get(url, {"criterion": "unified_appraisal_pay",
                               "unified_appraisal_pay-grade": "A"}).content.decode()
    assert 'data-tight="true"' in what_if and "如果保存此评定" in what_if


# --- access -------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.DOCTOR, Role.NURSE, Role.AUDITOR, Role.PHARMACIST])
def test_others_get_the_403_page(alliance, office, role):
    evaluation = services.create_evaluation(alliance, "2025", by=office)
    user = scene.person("someone", role, alliance if role == Role.AUDITOR else None)
    client = client_of(user)
    for url in (reverse("indicators:tightness_list"), detail(evaluation)):
        response = client.get(url)
        assert response.status_code == 403 and 'data-status="403"' in response.content.decode()
        assert "您的角色无权访问此页面" in response.content.decode()
    assert client.post(grade_url(evaluation, "unified_finance"),
                       {"unified_finance-grade": "A"}).status_code == 403


def test_an_administrator_of_another_alliance_gets_403_with_the_reason(alliance,
                                                                       other_alliance,
                                                                       office):
    evaluation = services.create_evaluation(alliance, "2025", by=office)
    stranger = scene.person("other_office", Role.ALLIANCE_ADMIN, other_alliance)
    response = client_of(stranger).get(detail(evaluation))
    body = response.content.decode()
    assert response.status_code == 403 and 'data-testid="error-message"' in body
    assert "连州市医共体" in body
    document_url = reverse("indicators:tightness_evidence", args=[evaluation.pk, 1])
    assert client_of(stranger).get(document_url).status_code == 403


def test_a_system_administrator_reads_but_takes_no_step(alliance, office):
    evaluation = services.create_evaluation(alliance, "2025", by=office)
    admin = scene.person("sysadmin", Role.SYSTEM_ADMIN)
    body = client_of(admin).get(detail(evaluation)).content.decode()
    assert 'data-testid="criterion"' in body and 'data-testid="grade-form"' not in body
    assert 'data-testid="step-' not in body


def test_missing_things_are_404_not_500(alliance, office, commission):
    evaluation = scene.walk(alliance, office, commission, to="assessment")
    client = client_of(office)
    assert client.get(reverse("indicators:tightness_detail", args=[999_999])).status_code == 404
    missing = reverse("indicators:tightness_evidence", args=[evaluation.pk, 999_999])
    assert client.get(missing).status_code == 404
    grade = services.grade_criterion(evaluation, "unified_finance", "A", by=commission,
                                     evidence=[scene.pdf()])
    document = grade.evidence.get()
    document.file.delete(save=False)  # the file went missing on disk
    gone = reverse("indicators:tightness_evidence", args=[evaluation.pk, document.pk])
    assert client.get(gone).status_code == 404


def test_the_nav_entry_and_landing_card_follow_the_capability(alliance, office, commission):
    for user in (office, commission):
        body = client_of(user).get(reverse("web:home")).content.decode()
        assert 'data-nav="tightness"' in body and 'data-card="tightness"' in body
    doctor = scene.person("doctor", Role.DOCTOR)
    assert 'data-nav="tightness"' not in client_of(doctor).get(
        reverse("web:home")).content.decode()


# --- the back-office ----------------------------------------------------------------------------


def test_the_back_office_shows_evaluations_read_only(alliance, office, commission, superuser):
    evaluation = scene.walk(alliance, office, commission, to="result")
    root = client_of(superuser)
    for url in (reverse("admin:indicators_tightnessevaluation_changelist"),
                reverse("admin:indicators_tightnessevaluation_changelist") + "?stage=result",
                reverse("admin:indicators_tightnessevaluation_change", args=[evaluation.pk]),
                reverse("admin:indicators_criterionevidence_changelist")):
        response = root.get(url)
        assert response.status_code == 200, url
    page = root.get(reverse("admin:indicators_tightnessevaluation_change",
                            args=[evaluation.pk])).content.decode()
    assert "decision_authority" in page and "issue" in page
    assert root.get(reverse("admin:indicators_tightnessevaluation_add")).status_code == 403


def test_supporting_indicators_show_their_values_for_the_alliance_and_period(
        db, settings, tmp_path):
    """The golden county (tests/golden): in 2025Q1 alliance LQ had 2 up- and 1 down-referral
    (ratio 0.50) and half its township centres with a stationed physician all quarter
    (the attending's posting starts on 10 March)."""
    from tests.golden.test_indicators_golden import build_county
    from tiercare.accounts.models import User
    from tiercare.indicators.engine import snapshot

    settings.DATA_DIR = tmp_path
    county = build_county()
    snapshot.refresh(full=True)
    admin = User.objects.create_user("lq-office", password="Office-pass-2026!",
                                     role=Role.ALLIANCE_ADMIN, alliance=county["a"])
    evaluation = services.create_evaluation(county["a"], "2025Q1", by=admin)
    body = client_of(admin).get(detail(evaluation)).content.decode()
    referral = re.findall(r'data-testid="supporting-indicators" '
                          r'data-criterion="referral_and_posted_staff">(.*?)</div>', body,
                          re.S)[0]
    values = dict(re.findall(r'data-indicator="([a-z_0-9]+)">[^<]*<strong '
                             r'data-testid="supporting-value">([^<]+)</strong>', referral))
    assert values == {"up_referrals": "2", "down_referrals": "1", "down_up_ratio": "0.5",
                      "stationed_physician_coverage": "50%"}


# --- the back-office ----------------------------------------------------------------------------


def test_the_back_office_page_of_an_evaluation_reads_its_grades_and_events_in_a_few_queries(
        alliance, office, superuser):
    evaluation = services.create_evaluation(alliance, "2025", by=office)
    client = client_of(superuser)
    url = reverse("admin:indicators_tightnessevaluation_change", args=[evaluation.pk])
    with CaptureQueriesContext(connection) as empty:
        assert client.get(url).status_code == 200
    scene.grade_all(evaluation, scene.eight_a(), office)
    with CaptureQueriesContext(connection) as graded:
        assert client.get(url).status_code == 200
    assert len(graded) <= len(empty) + 2  # not one more query per grade or event
