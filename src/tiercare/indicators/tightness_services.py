"""Use cases of the tightness evaluation (紧密型县域医共体判定, issue 5 item 5): the only place
that changes :class:`~tiercare.indicators.models.TightnessEvaluation` and its grades, evidence
and events.

The appraisal procedure of seed 003 (section 县卫健委关于紧密型县域医共体的考核办法, item 1:
自评、实施考核、结果评定、绩效反馈改进):

* an administrator of the alliance or the health commission (``Role.REGULATOR``) starts an
  evaluation of a county medical community for a year or a quarter; the judgement rule of
  ``data/tightness.toml`` is copied into it;
* **self-assessment**: the alliance's administrators grade every criterion A/B/C with a
  comment and evidence documents, then submit;
* **assessment**: the health commission grades every criterion (the self-assessment grades
  stay), or sends the evaluation back with a reason;
* **result**: the health commission issues the result; the verdict of its grades by the
  evaluation's rule (``tightness.verdict``) is kept with its reasons;
* **feedback**: the alliance records its improvement note; the health commission closes.

One function per use case, one transaction each; every change writes an
:class:`~tiercare.indicators.models.EvaluationEvent` and an audit event
(``tiercare.accounts.audit``); a refusal raises a ``tightness_errors`` domain error with a
translated message and changes nothing. Stages move only through ``tightness_statuses``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from django.core.files import File
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.text import format_lazy
from django.utils.translation import get_language
from django.utils.translation import gettext_noop as N_

from tiercare.accounts import audit
from tiercare.accounts.models import AuditEvent, Role, User
from tiercare.indicators import tightness_statuses as statuses
from tiercare.indicators.models import (
    CriterionEvidence,
    CriterionGrade,
    EvaluationEvent,
    TightnessEvaluation,
)
from tiercare.indicators.tightness import Grade, Rule, TightnessCriteria, Verdict, verdict
from tiercare.indicators.tightness_data import load_criteria
from tiercare.indicators.tightness_errors import (
    TightnessConflict,
    TightnessInvalid,
    TightnessRefused,
)
from tiercare.indicators.tightness_statuses import Side, Stage
from tiercare.kernel import periods
from tiercare.kernel.errors import InvalidPeriod
from tiercare.referrals.services import ATTACHMENT_MAX_BYTES, ATTACHMENT_TYPES, sniff_type
from tiercare.registry.models import Alliance

EVALUATION_LABEL = TightnessEvaluation._meta.label
COMMENT_LIMIT = 2000
NOTE_LIMIT = 4000
#: evidence documents accepted with one grade
MAX_EVIDENCE_FILES = 5
#: evidence: the attachment rules of referrals (PDF, JPEG, PNG by content; at most 10 MB)
EVIDENCE_MAX_BYTES = ATTACHMENT_MAX_BYTES


def criteria() -> TightnessCriteria:
    """The shipped criteria and default rule (``data/tightness.toml``)."""
    return load_criteria()


# --- who ---------------------------------------------------------------------------------------


def _active(user: User | None) -> bool:
    return user is not None and user.is_active


def sides_of(user: User | None, alliance_id: int) -> frozenset[str]:
    """On which side ``user`` acts for an evaluation of the alliance: the alliance office (an
    administrator of that alliance) or the health commission (a regulator, for every
    alliance). Anyone else takes no step."""
    if user is None or not _active(user):
        return frozenset()
    if user.role == Role.ALLIANCE_ADMIN and user.alliance_id == alliance_id:
        return frozenset({Side.ALLIANCE})
    if user.role == Role.REGULATOR:
        return frozenset({Side.REGULATOR})
    return frozenset()


def _sees_all(user: User) -> bool:
    """Regulators and system administrators see the evaluations of every alliance (the
    latter read only: they take no step)."""
    return user.role in (Role.REGULATOR, Role.SYSTEM_ADMIN) or user.is_superuser


def may_view(user: User | None, alliance_id: int) -> bool:
    """Who sees an alliance's evaluations: its administrators, the health commission, and
    system administrators (rules.md §11: minimum necessary access)."""
    if user is None or not _active(user):
        return False
    return _sees_all(user) or bool(sides_of(user, alliance_id))


def visible_evaluations(user: User) -> QuerySet[TightnessEvaluation]:
    """The evaluations the user sees, newest first, with their alliance."""
    rows = TightnessEvaluation.objects.select_related("alliance")
    if not _active(user):
        return rows.none()
    if _sees_all(user):
        return rows
    if user.role == Role.ALLIANCE_ADMIN and user.alliance_id is not None:
        return rows.filter(alliance_id=user.alliance_id)
    return rows.none()


def visible_evaluation(user: User, pk: int) -> TightnessEvaluation:
    """The evaluation if the user sees it (``DoesNotExist`` when there is none,
    :class:`TightnessRefused` when it is not theirs to see)."""
    evaluation = TightnessEvaluation.objects.select_related("alliance").get(pk=pk)
    if not may_view(user, evaluation.alliance_id):
        raise TightnessRefused("evaluation", "tightness.not_visible", N_(
            "Only the administrators of %(alliance)s and the health commission see its "
            "tightness evaluations."), alliance=evaluation.alliance.name)
    return evaluation


def history(alliance_id: int) -> QuerySet[TightnessEvaluation]:
    """Every evaluation of the alliance, the latest period first."""
    return TightnessEvaluation.objects.filter(alliance_id=alliance_id).order_by("-period", "-pk")


def alliances_to_start(user: User) -> QuerySet[Alliance]:
    """The county medical communities the user may start an evaluation of."""
    communities = Alliance.objects.filter(kind=Alliance.Kind.COUNTY_COMMUNITY)
    if not _active(user):
        return communities.none()
    if user.role == Role.REGULATOR:
        return communities
    if user.role == Role.ALLIANCE_ADMIN and user.alliance_id is not None:
        return communities.filter(pk=user.alliance_id)
    return communities.none()


# --- reading grades and verdicts ---------------------------------------------------------------


def grades_of(evaluation: TightnessEvaluation, stage: str) -> dict[str, str]:
    """The grades given at ``stage`` (self-assessment or assessment), by criterion id;
    grades of criteria no longer in the data file are left out."""
    known = criteria()
    return {criterion: grade for criterion, grade in CriterionGrade.objects.filter(
        evaluation=evaluation, stage=stage).values_list("criterion", "grade")
        if criterion in known}


def rule_of(evaluation: TightnessEvaluation) -> Rule:
    """The rule the evaluation was created with; a mandatory criterion no longer in the data
    file is left out (it can no longer be graded)."""
    rule = Rule.from_dict(evaluation.rule)
    known = criteria()
    return Rule(min_grade_all=rule.min_grade_all, min_a_count=rule.min_a_count,
                min_a_per_dimension=rule.min_a_per_dimension,
                mandatory_a=tuple(c for c in rule.mandatory_a if c in known))


def verdict_of(evaluation: TightnessEvaluation, stage: str,
               changes: Mapping[str, str] | None = None) -> Verdict:
    """The verdict of the grades given at ``stage`` by the evaluation's rule; ``changes``
    (criterion → grade) replaces some of them (the page's "what if" while a grade is being
    chosen). Unknown criteria and grades in ``changes`` are ignored."""
    grades = grades_of(evaluation, stage)
    known = criteria()
    for criterion, grade in (changes or {}).items():
        if criterion in known and grade in Grade.values:
            grades[criterion] = grade
    return verdict(grades, known.criteria, rule_of(evaluation))


def grading_stage(evaluation: TightnessEvaluation) -> str:
    """The stage whose grades the live verdict reads: the present one while grading, the
    assessment's once it is over."""
    if evaluation.stage in statuses.GRADERS:
        return evaluation.stage
    return Stage.ASSESSMENT


def current_verdict(evaluation: TightnessEvaluation) -> Verdict:
    """The issued verdict once the result is out, else the live verdict of the grades given
    so far at the present stage."""
    issued = evaluation.verdict
    if issued is not None:
        return issued
    return verdict_of(evaluation, grading_stage(evaluation))


# --- steps -------------------------------------------------------------------------------------


def _name(by: User | None) -> str:
    return by.get_username()[:150] if by is not None else ""


def _event(evaluation: TightnessEvaluation, action: str, source: str, target: str, *,
           by: User | None, side: str, at: dt.datetime, reason: str = "",
           criterion: str = "", grade: str = "") -> EvaluationEvent:
    return EvaluationEvent.objects.create(
        evaluation=evaluation, at=at, by=by, by_name=_name(by), side=side, action=action,
        from_stage=source, to_stage=target, criterion=criterion, grade=grade, reason=reason)


def _audit(evaluation: TightnessEvaluation, action: str, summary: str, *, by: User | None,
           changes: dict[str, Any]) -> None:
    audit.record(action, user=by, object_type=EVALUATION_LABEL, object_id=evaluation.pk,
                 summary=summary, changes={"alliance": evaluation.alliance.code,
                                           "period": evaluation.period, **changes})


def _lock(evaluation: TightnessEvaluation | int) -> TightnessEvaluation:
    """The evaluation's row, locked for the rest of the transaction (SQLite: the IMMEDIATE
    transaction already holds the write lock)."""
    pk = evaluation if isinstance(evaluation, int) else evaluation.pk
    return TightnessEvaluation.objects.select_for_update().select_related("alliance").get(pk=pk)


def parse_period(text: str) -> str:
    """A year (``2025``) or a quarter (``2025Q3``), written the kernel's way; evaluations are
    yearly, or quarterly for the city's reform assessment [seed 001 §25]. A month is
    refused."""
    try:
        period = periods.parse(text or "")
    except InvalidPeriod:
        period = None
    if period is None or period.kind == periods.MONTH:
        raise TightnessInvalid("period", "tightness.period", N_(
            "Write the period as a year (2025) or a quarter (2025Q3)."))
    return str(period)


@transaction.atomic
def create_evaluation(alliance: Alliance, period: str, *, by: User,
                      now: dt.datetime | None = None) -> TightnessEvaluation:
    """Start the evaluation of a county medical community for a period, at self-assessment.
    Started by an administrator of the alliance or by the health commission; one per
    alliance and period. The data file's rule and criteria edition are copied into it."""
    sides = sides_of(by, alliance.pk)
    if not sides:
        raise TightnessRefused("alliance", "tightness.not_allowed", N_(
            "Only an administrator of %(alliance)s or the health commission may start its "
            "tightness evaluation."), alliance=alliance.name)
    if alliance.kind != Alliance.Kind.COUNTY_COMMUNITY:
        raise TightnessInvalid("alliance", "tightness.kind", N_(
            "The tightness evaluation is for county medical communities; %(alliance)s is "
            "a “%(kind)s”."), alliance=alliance.name, kind=alliance.get_kind_display())
    label = parse_period(period)
    Alliance.objects.select_for_update().only("pk").get(pk=alliance.pk)
    if TightnessEvaluation.objects.filter(alliance=alliance, period=label).exists():
        raise TightnessConflict("period", "tightness.exists", N_(
            "%(alliance)s already has a tightness evaluation of %(period)s."),
            alliance=alliance.name, period=label)
    now = now or timezone.now()
    data = criteria()
    evaluation = TightnessEvaluation.objects.create(
        alliance=alliance, period=label, stage=Stage.SELF_ASSESSMENT,
        criteria_edition=data.edition, rule=data.rule.to_dict(), created_by=by,
        created_at=now, stage_changed_at=now)
    _event(evaluation, "create", "", Stage.SELF_ASSESSMENT, by=by, side=min(sides), at=now)
    _audit(evaluation, AuditEvent.Action.CREATE, f"tightness evaluation {label} started",
           by=by, changes={"stage": {"from": None, "to": Stage.SELF_ASSESSMENT},
                           "rule": evaluation.rule, "criteria_edition": data.edition})
    return evaluation


def check_evidence(upload: File) -> str:
    """The content type of an acceptable evidence document: PDF, JPEG or PNG recognised by
    its first bytes (not its name), not empty, at most 10 MB (the rules of referral
    attachments)."""
    size = upload.size or 0
    if size <= 0:
        raise TightnessInvalid("evidence", "evidence.empty", N_("The file %(file)s is empty."),
                               file=_display(upload))
    if size > EVIDENCE_MAX_BYTES:
        raise TightnessInvalid("evidence", "evidence.size", N_(
            "The file %(file)s is larger than %(limit)s MB."), file=_display(upload),
            limit=EVIDENCE_MAX_BYTES // (1024 * 1024))
    content_type = _sniffed(upload)
    if content_type is None:
        raise TightnessInvalid("evidence", "evidence.type", N_(
            "The file %(file)s is not a PDF, JPEG or PNG document."), file=_display(upload))
    return content_type


def _sniffed(upload: File) -> str | None:
    """The accepted type whose signature starts the file (read, then rewound)."""
    upload.seek(0)
    try:
        return sniff_type(upload.read(16))
    finally:
        upload.seek(0)


def _display(upload: File) -> str:
    return Path(upload.name or "evidence").name[:200]


def _grader_refusal(grader: str, alliance: Alliance) -> TightnessRefused:
    if grader == Side.ALLIANCE:
        return TightnessRefused("grade", "tightness.not_your_grade", N_(
            "During the self-assessment only the administrators of %(alliance)s grade."),
            alliance=alliance.name)
    return TightnessRefused("grade", "tightness.not_your_grade", N_(
        "During the assessment only the health commission grades."))


@transaction.atomic
def grade_criterion(evaluation: TightnessEvaluation, criterion_id: str, grade: str, *,
                    by: User, comment: str = "", evidence: Sequence[File] = (),
                    now: dt.datetime | None = None) -> CriterionGrade:
    """Grade one criterion at the evaluation's present stage (seed 003): the alliance's
    administrators during the self-assessment, the health commission during the
    assessment; both grades are kept. Grading again replaces that stage's grade and comment
    and adds the evidence. Evidence is checked (:func:`check_evidence`) before anything is
    written; an identical grade without new evidence changes and records nothing."""
    current = _lock(evaluation)
    now = now or timezone.now()  # after the lock: events in commit order
    stage = current.stage
    grader = statuses.GRADERS.get(stage)
    if grader is None:
        raise TightnessConflict("grade", "tightness.not_grading", N_(
            "Criteria are graded during the self-assessment and the assessment; this "
            "evaluation is at “%(stage)s”."), stage=Stage(stage).label)
    if grader not in sides_of(by, current.alliance_id):
        raise _grader_refusal(grader, current.alliance)
    known = criteria()
    criterion_id = (criterion_id or "").strip()
    if criterion_id not in known:
        raise TightnessInvalid("criterion", "tightness.unknown_criterion", N_(
            "There is no criterion “%(criterion)s”."), criterion=criterion_id)
    if grade not in Grade.values:
        raise TightnessInvalid("grade", "tightness.grade", N_("Choose a grade: A, B or C."))
    text = (comment or "").strip()
    if len(text) > COMMENT_LIMIT:
        raise TightnessInvalid("comment", "tightness.comment_too_long", N_(
            "The comment has more than %(limit)s characters."), limit=COMMENT_LIMIT)
    if len(evidence) > MAX_EVIDENCE_FILES:
        raise TightnessInvalid("evidence", "tightness.too_many_files", N_(
            "Attach at most %(limit)s evidence files at a time."), limit=MAX_EVIDENCE_FILES)
    types = [check_evidence(upload) for upload in evidence]

    row = CriterionGrade.objects.filter(evaluation=current, criterion=criterion_id,
                                        stage=stage).first()
    before = None if row is None else {"grade": row.grade, "comment": row.comment}
    if before == {"grade": grade, "comment": text} and not evidence:
        assert row is not None
        return row
    if row is None:
        row = CriterionGrade(evaluation=current, criterion=criterion_id, stage=stage)
    row.grade, row.comment, row.graded_by, row.graded_at = grade, text, by, now
    row.save()
    names = []
    for upload, content_type in zip(evidence, types, strict=True):
        document = CriterionEvidence(grade=row, name=_display(upload), content_type=content_type,
                                     size=upload.size or 0, uploaded_by=by, uploaded_at=now)
        document.file.save(f"evidence{ATTACHMENT_TYPES[content_type][1]}", upload, save=False)
        document.save()
        names.append(document.name)
    _event(current, "grade", stage, stage, by=by, side=grader, at=now, reason=text,
           criterion=criterion_id, grade=grade)
    _audit(current, AuditEvent.Action.CREATE if before is None else AuditEvent.Action.UPDATE,
           f"tightness {current.period}: {criterion_id} graded {grade} at {stage}", by=by,
           changes={"criterion": criterion_id, "stage": stage,
                    "from": before, "to": {"grade": grade, "comment": text},
                    "evidence": names})
    return row


def _missing(evaluation: TightnessEvaluation, stage: str) -> list[str]:
    graded = grades_of(evaluation, stage)
    return [c.id for c in criteria().criteria if c.id not in graded]


class _CriterionNames:
    """Criteria named in the language active when the message is shown (a refusal is
    rendered after the request's language is known)."""

    def __init__(self, criterion_ids: Sequence[str]) -> None:
        self.criterion_ids = list(criterion_ids)

    def __str__(self) -> str:
        language = get_language() or "zh-hans"
        known = criteria()
        names = [known.criterion(c).name(language) for c in self.criterion_ids]
        return ("、" if language.startswith("zh") else ", ").join(names)


def _incomplete(evaluation: TightnessEvaluation, stage: str) -> TightnessConflict | None:
    """The refusal of a step that needs every criterion graded at ``stage``, naming those
    that are not; ``None`` when all are."""
    missing = _missing(evaluation, stage)
    if not missing:
        return None
    return TightnessConflict("step", "tightness.incomplete", N_(
        "Grade every criterion first; not graded yet: %(criteria)s."),
        criteria=_CriterionNames(missing))


def _check_step(evaluation: TightnessEvaluation, step: str, sides: frozenset[str]
                ) -> tuple[str, str]:
    """The step's (from, to), or a refusal: an unknown step, a step not possible from the
    present stage, or one that is not the user's to take."""
    move = statuses.STEPS.get(step)
    if move is None:
        raise TightnessInvalid("step", "tightness.step", N_("There is no step “%(step)s”."),
                               step=step)
    source, target = move
    if evaluation.stage != source:
        raise TightnessConflict("step", "tightness.transition", N_(
            "An evaluation at “%(stage)s” cannot move to “%(target)s”."),
            stage=Stage(evaluation.stage).label, target=Stage(target).label)
    if not statuses.may_move(source, target, sides):
        who = statuses.TRANSITIONS[move][1]
        raise TightnessRefused("step", "tightness.not_allowed", N_(
            "Only the %(who)s may move an evaluation from “%(stage)s” to “%(target)s”."),
            who=format_lazy(" / ".join("{}" for _s in who),
                            *(Side(s).label for s in sorted(who))),
            stage=Stage(source).label, target=Stage(target).label)
    return source, target


@transaction.atomic
def advance(evaluation: TightnessEvaluation, step: str, *, by: User, note: str = "",
            now: dt.datetime | None = None) -> TightnessEvaluation:
    """Take one step of the appraisal procedure (``tightness_statuses.TRANSITIONS``):

    * ``submit`` (alliance office): the self-assessment is complete — every criterion
      graded — and goes to the health commission;
    * ``return`` (health commission): sent back to the alliance, with a reason;
    * ``issue`` (health commission): every criterion assessed; the verdict of the assessed
      grades by the evaluation's rule is kept with its reasons;
    * ``feedback`` (alliance office): the improvement note, required;
    * ``close`` (health commission): the record is closed.

    ``note`` is the step's reason (kept in the event). Refusals change nothing."""
    current = _lock(evaluation)
    now = now or timezone.now()
    sides = sides_of(by, current.alliance_id)
    source, target = _check_step(current, step, sides)
    text = (note or "").strip()
    if len(text) > NOTE_LIMIT:
        raise TightnessInvalid("note", "tightness.note_too_long", N_(
            "The note has more than %(limit)s characters."), limit=NOTE_LIMIT)
    extra: dict[str, Any] = {}
    if step in ("submit", "issue"):
        problem = _incomplete(current, Stage.SELF_ASSESSMENT if step == "submit"
                              else Stage.ASSESSMENT)
        if problem is not None:
            raise problem
    if step == "return" and not text:
        raise TightnessInvalid("note", "tightness.note_required", N_(
            "Say why the self-assessment is sent back."))
    if step == "feedback":
        if not text:
            raise TightnessInvalid("note", "tightness.note_required", N_(
                "Write the improvement note."))
        current.feedback = text
    if step == "issue":
        result = verdict_of(current, Stage.ASSESSMENT)
        current.tight, current.reasons = result.tight, result.to_list()
        current.decided_at, current.decided_by = now, by
        extra = {"tight": result.tight, "failures": [r.to_dict() for r in result.failures]}
    current.stage, current.stage_changed_at = target, now
    current.save()
    side = min(statuses.TRANSITIONS[(source, target)][1] & sides)
    _event(current, step, source, target, by=by, side=side, at=now, reason=text)
    _audit(current, AuditEvent.Action.UPDATE, f"tightness {current.period}: {step}", by=by,
           changes={"step": step, "stage": {"from": source, "to": target}, "note": text[:500],
                    **extra})
    return current


def evidence_of(evaluation: TightnessEvaluation, evidence_pk: int) -> CriterionEvidence:
    """An evidence document of the evaluation (``DoesNotExist`` otherwise)."""
    return CriterionEvidence.objects.select_related("grade").get(
        pk=evidence_pk, grade__evaluation=evaluation)
