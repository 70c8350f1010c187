"""Use cases of the tightness evaluation (issue 5 item 5; seed 003's appraisal procedure:
self-assessment → assessment → result → feedback): who may start, grade and move an
evaluation; both grades kept; evidence checked; the verdict issued with its reasons by the
rule copied at creation; every change an event and an audit record; every refusal translated
and changing nothing."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.utils import translation

from tests.indicators.tightness_scene import (  # commission: a fixture
    IDS,
    eight_a,
    grade_all,
    pdf,
    person,
    regulator,
    walk,
)
from tiercare.accounts.models import AuditEvent, Role
from tiercare.indicators import tightness_services as services
from tiercare.indicators.models import (
    CriterionEvidence,
    CriterionGrade,
    EvaluationEvent,
    TightnessEvaluation,
)
from tiercare.indicators.tightness import Code
from tiercare.indicators.tightness_errors import (
    TightnessConflict,
    TightnessInvalid,
    TightnessRefused,
)
from tiercare.indicators.tightness_statuses import Stage
from tiercare.registry.models import Alliance

pytestmark = pytest.mark.django_db


@pytest.fixture
def commission(db: Any):
    return regulator()


def audits() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(object_type=TightnessEvaluation._meta.label)
                .order_by("pk"))


def snapshot(evaluation: TightnessEvaluation) -> tuple[Any, ...]:
    """Everything a refused step must leave as it was."""
    row = TightnessEvaluation.objects.get(pk=evaluation.pk)
    return (row.stage, row.tight, row.reasons, row.feedback, row.stage_changed_at,
            list(CriterionGrade.objects.values_list("criterion", "stage", "grade", "comment")),
            CriterionEvidence.objects.count(), EvaluationEvent.objects.count(), len(audits()))


def steps_of(evaluation: TightnessEvaluation) -> list[tuple[str, str, str, str]]:
    return [(e.action, e.side, e.from_stage, e.to_stage)
            for e in EvaluationEvent.objects.filter(evaluation=evaluation).exclude(
                action="grade")]


# --- starting -----------------------------------------------------------------------------


def test_given_an_alliance_admin_when_starting_then_self_assessment_with_the_rule_copied(
        alliance, office):
    evaluation = services.create_evaluation(alliance, " 2025 ", by=office)
    assert evaluation.stage == Stage.SELF_ASSESSMENT and evaluation.period == "2025"
    assert evaluation.rule == {"min_grade_all": "B", "min_a_count": 8,
                               "min_a_per_dimension": 1, "mandatory_a": ["decision_authority"]}
    assert evaluation.criteria_edition == services.criteria().edition
    assert evaluation.created_by == office and evaluation.tight is None
    assert steps_of(evaluation) == [("create", "alliance", "", "self_assessment")]
    (record,) = audits()
    assert record.action == AuditEvent.Action.CREATE and record.user == office
    assert record.changes["alliance"] == "A1" and record.changes["period"] == "2025"


def test_the_health_commission_starts_an_evaluation_of_any_alliance(other_alliance,
                                                                    commission):
    evaluation = services.create_evaluation(other_alliance, "2025q3", by=commission)
    assert evaluation.period == "2025Q3"
    assert steps_of(evaluation) == [("create", "regulator", "", "self_assessment")]


@pytest.mark.parametrize("role", [Role.DOCTOR, Role.AUDITOR, Role.SYSTEM_ADMIN])
def test_others_may_not_start_one(alliance, other_alliance, role):
    scope = {Role.DOCTOR: None}.get(role)
    user = person("someone", role, scope)
    with pytest.raises(TightnessRefused) as caught:
        services.create_evaluation(alliance, "2025", by=user)
    assert caught.value.code == "tightness.not_allowed"
    assert not TightnessEvaluation.objects.exists() and not audits()


def test_an_administrator_of_another_alliance_may_not_start_one(alliance, other_alliance):
    stranger = person("other_office", Role.ALLIANCE_ADMIN, other_alliance)
    with pytest.raises(TightnessRefused):
        services.create_evaluation(alliance, "2025", by=stranger)


def test_one_evaluation_per_alliance_and_period(alliance, office):
    services.create_evaluation(alliance, "2025", by=office)
    with pytest.raises(TightnessConflict) as caught:
        services.create_evaluation(alliance, "2025", by=office)
    assert caught.value.code == "tightness.exists" and caught.value.field == "period"
    with translation.override("zh-hans"):
        assert "2025" in str(caught.value) and "已有" in str(caught.value)
    assert TightnessEvaluation.objects.count() == 1
    services.create_evaluation(alliance, "2026", by=office)  # another period is fine
    with pytest.raises(IntegrityError), transaction.atomic():
        TightnessEvaluation.objects.create(alliance=alliance, period="2026", rule={},
                                           criteria_edition="x")


@pytest.mark.parametrize("period", ["2025-07", "25", "next year", ""])
def test_a_period_is_a_year_or_a_quarter(alliance, office, period):
    with pytest.raises(TightnessInvalid) as caught:
        services.create_evaluation(alliance, period, by=office)
    assert caught.value.code == "tightness.period"
    with translation.override("en"):
        assert str(caught.value) == "Write the period as a year (2025) or a quarter (2025Q3)."


def test_only_county_medical_communities_are_evaluated(db, commission):
    group = Alliance.objects.create(code="U1", name="城市医疗集团",
                                    kind=Alliance.Kind.URBAN_GROUP, county_code="441882")
    with pytest.raises(TightnessInvalid) as caught:
        services.create_evaluation(group, "2025", by=commission)
    assert caught.value.code == "tightness.kind"


# --- grading ------------------------------------------------------------------------------


def test_the_alliance_grades_its_self_assessment_with_a_comment_and_evidence(alliance,
                                                                             office):
    evaluation = services.create_evaluation(alliance, "2025", by=office)
    row = services.grade_criterion(evaluation, "management_committee", "A", by=office,
                                   comment=" 每季度召开 ", evidence=[pdf()])
    assert (row.stage, row.grade, row.comment, row.graded_by) == (
        "self_assessment", "A", "每季度召开", office)
    (document,) = row.evidence.all()
    assert document.name == "管委会会议纪要.pdf" and document.content_type == "application/pdf"
    assert document.file.name.startswith(f"tightness/{evaluation.pk}/")
    assert document.file.name.endswith(".pdf") and document.file.size == document.size
    event = EvaluationEvent.objects.get(action="grade")
    assert (event.criterion, event.grade, event.side, event.reason) == (
        "management_committee", "A", "alliance", "每季度召开")
    record = audits()[-1]
    assert record.changes["to"] == {"grade": "A", "comment": "每季度召开"}
    assert record.changes["from"] is None and record.changes["evidence"] == ["管委会会议纪要.pdf"]


def test_grading_again_replaces_the_stage_grade_and_records_from_and_to(alliance, office):
    evaluation = services.create_evaluation(alliance, "2025", by=office)
    services.grade_criterion(evaluation, "unified_finance", "B", by=office)
    services.grade_criterion(evaluation, "unified_finance", "A", by=office, comment="已集中核算")
    assert CriterionGrade.objects.get().grade == "A"
    record = audits()[-1]
    assert record.action == AuditEvent.Action.UPDATE
    assert record.changes["from"] == {"grade": "B", "comment": ""}
    events = len(EvaluationEvent.objects.all())
    services.grade_criterion(evaluation, "unified_finance", "A", by=office, comment="已集中核算")
    assert len(EvaluationEvent.objects.all()) == events  # the same grade records nothing


def test_both_the_self_assessment_and_the_assessed_grade_are_kept(alliance, office,
                                                                 commission):
    evaluation = walk(alliance, office, commission, to="assessment")
    services.grade_criterion(evaluation, "unified_information", "C", by=commission,
                             comment="信息系统尚未统一")
    rows = CriterionGrade.objects.filter(criterion="unified_information").order_by("stage")
    assert [(r.stage, r.grade, r.graded_by) for r in rows] == [
        ("assessment", "C", commission), ("self_assessment", "B", office)]
    assert services.grades_of(evaluation, Stage.SELF_ASSESSMENT)["unified_information"] == "B"


def test_during_the_self_assessment_the_health_commission_does_not_grade(alliance, office,
                                                                         commission):
    evaluation = services.create_evaluation(alliance, "2025", by=office)
    before = snapshot(evaluation)
    with pytest.raises(TightnessRefused) as caught:
        services.grade_criterion(evaluation, "unified_finance", "A", by=commission)
    assert caught.value.code == "tightness.not_your_grade"
    with translation.override("zh-hans"):
        assert "自评" in str(caught.value) and "连州市医共体" in str(caught.value)
    assert snapshot(evaluation) == before


def test_during_the_assessment_the_alliance_does_not_grade(alliance, office, commission):
    evaluation = walk(alliance, office, commission, to="assessment")
    before = snapshot(evaluation)
    with pytest.raises(TightnessRefused) as caught:
        services.grade_criterion(evaluation, "unified_finance", "A", by=office)
    with translation.override("en"):
        assert str(caught.value) == "During the assessment only the health commission grades."
    assert snapshot(evaluation) == before


def test_after_the_result_nobody_grades(alliance, office, commission):
    evaluation = walk(alliance, office, commission, to="result")
    with pytest.raises(TightnessConflict) as caught:
        services.grade_criterion(evaluation, "unified_finance", "C", by=commission)
    assert caught.value.code == "tightness.not_grading"


@pytest.mark.parametrize(("criterion", "grade", "comment", "code"), [
    ("loyalty", "A", "", "tightness.unknown_criterion"),
    ("unified_finance", "D", "", "tightness.grade"),
    ("unified_finance", "", "", "tightness.grade"),
    ("unified_finance", "A", "长" * 2001, "tightness.comment_too_long"),
])
def test_bad_grades_are_refused_and_change_nothing(alliance, office, criterion, grade, comment,
                                                   code):
    evaluation = services.create_evaluation(alliance, "2025", by=office)
    before = snapshot(evaluation)
    with pytest.raises(TightnessInvalid) as caught:
        services.grade_criterion(evaluation, criterion, grade, by=office, comment=comment)
    assert caught.value.code == code and caught.value.status == 400
    assert snapshot(evaluation) == before


@pytest.mark.parametrize(("upload", "code"), [
    (pdf(size=services.EVIDENCE_MAX_BYTES), "evidence.size"),
    (ContentFile(b"", name="empty.pdf"), "evidence.empty"),
    (ContentFile(b"MZ\x90\x00 not a pdf", name="scan.pdf"), "evidence.type"),
])
def test_bad_evidence_is_refused_before_anything_is_written(alliance, office, upload, code):
    evaluation = services.create_evaluation(alliance, "2025", by=office)
    before = snapshot(evaluation)
    with pytest.raises(TightnessInvalid) as caught:
        services.grade_criterion(evaluation, "unified_finance", "A", by=office,
                                 evidence=[pdf("ok.pdf"), upload])
    assert caught.value.code == code and caught.value.field == "evidence"
    assert snapshot(evaluation) == before


def test_the_too_large_file_is_refused_in_chinese(alliance, office):
    evaluation = services.create_evaluation(alliance, "2025", by=office)
    with pytest.raises(TightnessInvalid) as caught:
        services.grade_criterion(evaluation, "unified_finance", "A", by=office,
                                 evidence=[pdf("大文件.pdf", services.EVIDENCE_MAX_BYTES)])
    with translation.override("zh-hans"):
        assert str(caught.value) == "文件 大文件.pdf 超过 10 MB。"


def test_at_most_five_evidence_files_at_a_time(alliance, office):
    evaluation = services.create_evaluation(alliance, "2025", by=office)
    with pytest.raises(TightnessInvalid) as caught:
        services.grade_criterion(evaluation, "unified_finance", "A", by=office,
                                 evidence=[pdf(f"{n}.pdf") for n in range(6)])
    assert caught.value.code == "tightness.too_many_files"


# --- the procedure ------------------------------------------------------------------------


def test_the_whole_procedure_issues_a_tight_verdict_with_its_reasons(alliance, office,
                                                                     commission):
    evaluation = walk(alliance, office, commission, to="closed")
    assert evaluation.stage == Stage.CLOSED and evaluation.tight is True
    assert evaluation.decided_by == commission and evaluation.decided_at is not None
    assert evaluation.feedback == "加强信息化建设"
    assert [r["code"] for r in evaluation.reasons] == [
        Code.ALL_GRADED, Code.AT_LEAST_MINIMUM, Code.A_COUNT_MET, Code.DIMENSIONS_HAVE_A,
        Code.MANDATORY_A]
    assert steps_of(evaluation) == [
        ("create", "alliance", "", "self_assessment"),
        ("submit", "alliance", "self_assessment", "assessment"),
        ("issue", "regulator", "assessment", "result"),
        ("feedback", "alliance", "result", "feedback"),
        ("close", "regulator", "feedback", "closed")]
    assert len(EvaluationEvent.objects.filter(action="grade")) == 2 * len(IDS)
    assert [a.changes.get("step") for a in audits() if "step" in a.changes] == [
        "submit", "issue", "feedback", "close"]


def test_the_verdict_is_the_assessors_not_the_self_assessments(alliance, office, commission):
    assessed = {**eight_a(), "unified_appraisal_pay": "B", "unified_information": "C"}
    evaluation = walk(alliance, office, commission, to="result", assessed=assessed)
    assert evaluation.tight is False
    failures = [r for r in evaluation.reasons if not r["passed"]]
    assert failures == [
        {"code": Code.BELOW_MINIMUM, "passed": False, "criterion": "unified_information",
         "grade": "C", "minimum": "B"},
        {"code": Code.A_COUNT_SHORT, "passed": False, "count": 7, "required": 8}]
    assert services.verdict_of(evaluation, Stage.SELF_ASSESSMENT).tight  # the self view
    assert evaluation.verdict is not None and not evaluation.verdict.tight
    issued = audits()[-1]
    assert issued.changes["tight"] is False and len(issued.changes["failures"]) == 2


def test_the_rule_copied_at_creation_judges_the_result(alliance, office, commission):
    evaluation = services.create_evaluation(alliance, "2025", by=office)
    TightnessEvaluation.objects.filter(pk=evaluation.pk).update(rule={
        "min_grade_all": "B", "min_a_count": 9, "min_a_per_dimension": 1,
        "mandatory_a": ["decision_authority"]})
    grade_all(evaluation, eight_a(), office)
    services.advance(evaluation, "submit", by=office)
    grade_all(evaluation, eight_a(), commission)
    result = services.advance(evaluation, "issue", by=commission)
    assert result.tight is False
    assert {"code": Code.A_COUNT_SHORT, "passed": False, "count": 8, "required": 9} in (
        result.reasons)


def test_submitting_an_incomplete_self_assessment_is_refused_naming_what_is_missing(
        alliance, office):
    evaluation = services.create_evaluation(alliance, "2025", by=office)
    grade_all(evaluation, {c: "A" for c in IDS if c not in ("global_budget",
                                                          "unified_drugs")}, office)
    before = snapshot(evaluation)
    with pytest.raises(TightnessConflict) as caught:
        services.advance(evaluation, "submit", by=office)
    assert caught.value.code == "tightness.incomplete"
    with translation.override("zh-hans"):
        assert "药品耗材统一管理、医保总额付费" in str(caught.value)
    with translation.override("en"):
        assert ("not graded yet: Unified drugs and consumables, Insurance global budget."
                in str(caught.value))
    assert snapshot(evaluation) == before


def test_issuing_needs_every_criterion_assessed(alliance, office, commission):
    evaluation = walk(alliance, office, commission, to="assessment")
    services.grade_criterion(evaluation, "decision_authority", "A", by=commission)
    with pytest.raises(TightnessConflict) as caught:
        services.advance(evaluation, "issue", by=commission)
    assert caught.value.code == "tightness.incomplete"
    assert TightnessEvaluation.objects.get().stage == Stage.ASSESSMENT


@pytest.mark.parametrize(("stage", "step", "actor", "error", "code"), [
    ("self_assessment", "issue", "commission", TightnessConflict, "tightness.transition"),
    ("self_assessment", "submit", "commission", TightnessRefused, "tightness.not_allowed"),
    ("assessment", "issue", "office", TightnessRefused, "tightness.not_allowed"),
    ("assessment", "feedback", "office", TightnessConflict, "tightness.transition"),
    ("result", "feedback", "commission", TightnessRefused, "tightness.not_allowed"),
    ("result", "close", "commission", TightnessConflict, "tightness.transition"),
    ("closed", "submit", "office", TightnessConflict, "tightness.transition"),
    ("result", "approve", "commission", TightnessInvalid, "tightness.step"),
])
def test_illegal_steps_are_refused_and_change_nothing(alliance, office, commission, stage,
                                                      step, actor, error, code):
    evaluation = walk(alliance, office, commission, to=stage)
    before = snapshot(evaluation)
    user = {"office": office, "commission": commission}[actor]
    with pytest.raises(error) as caught:
        services.advance(evaluation, step, by=user, note="理由")
    assert caught.value.code == code
    assert snapshot(evaluation) == before


def test_the_refusal_of_a_step_names_who_may_take_it(alliance, office, commission):
    evaluation = services.create_evaluation(alliance, "2025", by=office)
    grade_all(evaluation, eight_a(), office)
    with pytest.raises(TightnessRefused) as caught:
        services.advance(evaluation, "submit", by=commission)
    with translation.override("en"):
        assert str(caught.value) == ("Only the alliance office may move an evaluation from "
                                     "“Self-assessment” to “Assessment by the health "
                                     "commission”.")
    with translation.override("zh-hans"):
        assert "医共体管理办公室" in str(caught.value) and "自评" in str(caught.value)


def test_the_health_commission_sends_back_with_a_reason(alliance, office, commission):
    evaluation = walk(alliance, office, commission, to="assessment")
    with pytest.raises(TightnessInvalid) as caught:
        services.advance(evaluation, "return", by=commission, note="  ")
    assert caught.value.code == "tightness.note_required"
    back = services.advance(evaluation, "return", by=commission,
                            note="请补充人员统一管理的佐证材料")
    assert back.stage == Stage.SELF_ASSESSMENT
    event = EvaluationEvent.objects.filter(action="return").get()
    assert (event.from_stage, event.to_stage, event.reason, event.by) == (
        "assessment", "self_assessment", "请补充人员统一管理的佐证材料", commission)
    services.grade_criterion(back, "unified_personnel", "A", by=office)  # the alliance again
    assert services.advance(back, "submit", by=office).stage == Stage.ASSESSMENT


def test_feedback_needs_the_improvement_note(alliance, office, commission):
    evaluation = walk(alliance, office, commission, to="result")
    with pytest.raises(TightnessInvalid) as caught:
        services.advance(evaluation, "feedback", by=office)
    assert caught.value.code == "tightness.note_required" and caught.value.field == "note"
    with pytest.raises(TightnessInvalid):
        services.advance(evaluation, "feedback", by=office, note="改" * 4001)


def test_a_verdict_is_kept_exactly_once_decided(alliance, office, commission):
    evaluation = walk(alliance, office, commission, to="assessment")
    with pytest.raises(IntegrityError), transaction.atomic():
        TightnessEvaluation.objects.filter(pk=evaluation.pk).update(tight=True)
    with pytest.raises(IntegrityError), transaction.atomic():
        TightnessEvaluation.objects.filter(pk=evaluation.pk).update(stage=Stage.RESULT)


def test_an_inactive_administrator_takes_no_step(alliance, office):
    evaluation = services.create_evaluation(alliance, "2025", by=office)
    office.is_active = False
    office.save()
    with pytest.raises(TightnessRefused):
        services.grade_criterion(evaluation, "unified_finance", "A", by=office)


# --- reading --------------------------------------------------------------------------------


def test_the_live_verdict_reads_the_present_stage_and_a_what_if(alliance, office, commission):
    evaluation = services.create_evaluation(alliance, "2025", by=office)
    grade_all(evaluation, {**eight_a(), "unified_appraisal_pay": "B"}, office)
    live = services.current_verdict(evaluation)
    assert not live.tight and [r.code for r in live.failures] == [Code.A_COUNT_SHORT]
    what_if = services.verdict_of(evaluation, Stage.SELF_ASSESSMENT,
                                  {"unified_appraisal_pay": "A", "loyalty": "A", "x": "Z"})
    assert what_if.tight


def test_who_sees_which_evaluations(alliance, other_alliance, office, commission):
    mine = services.create_evaluation(alliance, "2025", by=office)
    theirs = services.create_evaluation(other_alliance, "2025", by=commission)
    other_office = person("other_office", Role.ALLIANCE_ADMIN, other_alliance)
    doctor = person("doctor", Role.DOCTOR)
    admin = person("sysadmin", Role.SYSTEM_ADMIN)
    assert list(services.visible_evaluations(office)) == [mine]
    assert list(services.visible_evaluations(other_office)) == [theirs]
    assert set(services.visible_evaluations(commission)) == {mine, theirs}
    assert set(services.visible_evaluations(admin)) == {mine, theirs}
    assert not services.visible_evaluations(doctor).exists()
    assert services.visible_evaluation(office, mine.pk) == mine
    with pytest.raises(TightnessRefused):
        services.visible_evaluation(office, theirs.pk)
    with pytest.raises(TightnessEvaluation.DoesNotExist):
        services.visible_evaluation(office, 999_999)
    assert not services.sides_of(admin, alliance.pk)  # a system administrator only reads


def test_the_history_lists_every_evaluation_of_the_alliance_latest_first(alliance, office):
    for period in ("2024", "2025Q2", "2023"):
        services.create_evaluation(alliance, period, by=office)
    assert [e.period for e in services.history(alliance.pk)] == ["2025Q2", "2024", "2023"]
