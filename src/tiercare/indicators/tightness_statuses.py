"""Stages of a tightness evaluation, the allowed moves and who may make each one (DESIGN.md:
every status change goes through the transition table and writes an event row).

The appraisal procedure of seed 003 (section 县卫健委关于紧密型县域医共体的考核办法, item 1:
考核程序包括自评、实施考核、结果评定和绩效反馈改进; indicators.md "Appraisal procedure"):
self-assessment → assessment by the health commission → result → feedback and improvement.
``closed`` ends the record after the feedback (TierCare's own step).

``Stage`` — one-line meanings:

* self_assessment: the alliance office grades every criterion, with evidence (自评);
* assessment: the health commission grades every criterion, seeing the self-assessment
  (实施考核); it may send the evaluation back to the alliance with a reason;
* result: the verdict is computed from the assessor's grades with the evaluation's rule and
  kept with its reasons (结果评定);
* feedback: the alliance office has recorded its improvement note (反馈改进);
* closed: the health commission has closed the record (final).

Sides (``Side``), decided from the user and the evaluation by
``tightness_services.sides_of``: the alliance office (an alliance administrator of the
evaluated alliance) and the regulator (the health commission: ``Role.REGULATOR``).
"""

from __future__ import annotations

from types import MappingProxyType

from django.db import models
from django.utils.translation import gettext_lazy as _


class Stage(models.TextChoices):
    """Where an evaluation stands in the appraisal procedure (seed 003)."""

    SELF_ASSESSMENT = "self_assessment", _("Self-assessment")
    ASSESSMENT = "assessment", _("Assessment by the health commission")
    RESULT = "result", _("Result issued")
    FEEDBACK = "feedback", _("Feedback and improvement")
    CLOSED = "closed", _("Closed")


class Side(models.TextChoices):
    """Who acts on an evaluation."""

    ALLIANCE = "alliance", _("alliance office")
    REGULATOR = "regulator", _("health commission")


S = Stage
ALLIANCE, REGULATOR = Side.ALLIANCE, Side.REGULATOR

#: (from, to) → the step's name and the sides that may take it. Everything else is refused.
TRANSITIONS: MappingProxyType[tuple[str, str], tuple[str, frozenset[str]]] = MappingProxyType({
    (S.SELF_ASSESSMENT, S.ASSESSMENT): ("submit", frozenset({ALLIANCE})),
    (S.ASSESSMENT, S.SELF_ASSESSMENT): ("return", frozenset({REGULATOR})),
    (S.ASSESSMENT, S.RESULT): ("issue", frozenset({REGULATOR})),
    (S.RESULT, S.FEEDBACK): ("feedback", frozenset({ALLIANCE})),
    (S.FEEDBACK, S.CLOSED): ("close", frozenset({REGULATOR})),
})

#: step name → (from, to)
STEPS: MappingProxyType[str, tuple[str, str]] = MappingProxyType(
    {step: move for move, (step, _who) in TRANSITIONS.items()})

#: the stages in which criteria are graded, and by whom: the alliance grades itself, the
#: health commission assesses (both grades are kept)
GRADERS: MappingProxyType[str, str] = MappingProxyType({
    S.SELF_ASSESSMENT: ALLIANCE, S.ASSESSMENT: REGULATOR})

#: stages whose evaluation carries an issued verdict
DECIDED = frozenset({S.RESULT, S.FEEDBACK, S.CLOSED})
#: stages with no way out
FINAL = frozenset(s for s in S.values if not any(src == s for src, _t in TRANSITIONS))


def can_move(source: str, target: str) -> bool:
    """Whether the table has the move at all (for anyone)."""
    return (source, target) in TRANSITIONS


def may_move(source: str, target: str, sides: frozenset[str] | set[str]) -> bool:
    """Whether an actor on ``sides`` may make the move."""
    entry = TRANSITIONS.get((source, target))
    return entry is not None and bool(entry[1] & set(sides))


def steps(source: str, sides: frozenset[str] | set[str]) -> list[str]:
    """The steps an actor on ``sides`` may take from ``source``, in table order."""
    return [step for (s, _t), (step, who) in TRANSITIONS.items()
            if s == source and who & set(sides)]
