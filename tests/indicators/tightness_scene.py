"""Helpers of the tightness evaluation tests: the people of the appraisal (an administrator
of the alliance, the health commission, a doctor), evidence documents, and an evaluation
walked to a given stage through the services."""

from __future__ import annotations

from django.core.files.base import ContentFile

from tiercare.accounts.models import Role, User
from tiercare.indicators import tightness_services as services
from tiercare.indicators.models import TightnessEvaluation
from tiercare.indicators.tightness_data import load_criteria
from tiercare.registry.models import Alliance

IDS = [c.id for c in load_criteria().criteria]
PASSWORD = "Tight-pass-2026!"


def person(username: str, role: str, alliance: Alliance | None = None) -> User:
    return User.objects.create_user(username, password=PASSWORD, role=role, alliance=alliance)


def regulator() -> User:
    return person("commission", Role.REGULATOR)


def pdf(name: str = "管委会会议纪要.pdf", size: int = 200) -> ContentFile:
    return ContentFile(b"%PDF-1.7\n" + b"0" * size, name=name)


def eight_a() -> dict[str, str]:
    """Grades that make the alliance tight with exactly 8 A (one in every dimension,
    decision authority among them); the other three B."""
    grades = dict.fromkeys(IDS, "B")
    for c in ["decision_authority", "management_committee", "unified_personnel",
              "unified_finance", "unified_drugs", "shared_resource_centres", "global_budget",
              "unified_appraisal_pay"]:
        grades[c] = "A"
    return grades


def grade_all(evaluation: TightnessEvaluation, grades: dict[str, str], by: User) -> None:
    for criterion, grade in grades.items():
        services.grade_criterion(evaluation, criterion, grade, by=by)


def walk(alliance: Alliance, office: User, commission: User, *, to: str,
         self_grades: dict[str, str] | None = None,
         assessed: dict[str, str] | None = None, period: str = "2025") -> TightnessEvaluation:
    """An evaluation of ``alliance`` taken through the services up to stage ``to``."""
    evaluation = services.create_evaluation(alliance, period, by=office)
    if to == "self_assessment":
        return evaluation
    grade_all(evaluation, self_grades or eight_a(), office)
    services.advance(evaluation, "submit", by=office)
    if to == "assessment":
        return TightnessEvaluation.objects.get(pk=evaluation.pk)
    grade_all(evaluation, assessed or eight_a(), commission)
    services.advance(evaluation, "issue", by=commission)
    if to == "result":
        return TightnessEvaluation.objects.get(pk=evaluation.pk)
    services.advance(evaluation, "feedback", by=office, note="加强信息化建设")
    if to == "feedback":
        return TightnessEvaluation.objects.get(pk=evaluation.pk)
    return services.advance(evaluation, "close", by=commission)
