"""The tightness evaluation of a county medical community (紧密型县域医共体判定, issue 5 item 5):
the criteria's shapes and the judgement rule, pure (no ORM, no Django settings needed).

The rule [seed 003, section 县卫健委关于紧密型县域医共体的考核办法, item 3: the 2022 judgement
standard of the National Health Commission, the National Healthcare Security Administration and
the National Administration of TCM; indicators.md "Tightness evaluation"]: criteria in four
dimensions (responsibility, management, service, interest) are graded A, B or C, and an
alliance is **tight** when, at the same time,

1. every criterion is graded (a criterion without a grade cannot pass: TierCare's reading),
2. every grade is ``min_grade_all`` or better (B),
3. at least ``min_a_count`` criteria are A (8),
4. every dimension has at least ``min_a_per_dimension`` A (1), and
5. every criterion of ``mandatory_a`` is A (alliance decision authority, 医共体决策权限).

:func:`verdict` applies a :class:`Rule` (the parameters; defaults from seed 003, shipped in
``data/tightness.toml``) to the grades and says every reason the alliance passes or fails,
each naming the criterion or dimension concerned. The criteria themselves are data
(``data/tightness.toml``, read by :mod:`tiercare.indicators.tightness_data`); ADR 0017.

Reasons carry their facts (code, criterion, dimension, grade, counts), not text, so that a
stored verdict can be shown in either language: :func:`reason_text` renders one with the
``gettext`` it is given.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from types import MappingProxyType
from typing import Any

from django.db import models
from django.utils.translation import gettext_lazy as _

from tiercare.indicators.catalogue import Aspect, _name
from tiercare.kernel.errors import N_


class TightnessError(ValueError):
    """Grades or a rule that :func:`verdict` cannot judge (an unknown criterion or grade, a
    malformed rule); the message is English: a programming or data-file error, not a user's
    input (services check user input before the rule sees it)."""


class Grade(models.TextChoices):
    """The grade of one criterion; A is best. The meanings are TierCare's wording [conv]:
    the official table, which defines each criterion's grades, could not be obtained."""

    A = "A", _("A — met")
    B = "B", _("B — largely met")
    C = "C", _("C — not met")


#: A grade's rank: higher is better.
RANK: Mapping[str, int] = MappingProxyType({Grade.A: 3, Grade.B: 2, Grade.C: 1})


class Basis(models.TextChoices):
    """How a criterion is graded: attested by people with an evidence document, or with
    indicator values that can support the grade (indicators.md: "some criteria are attested
    …, some can be suggested from indicators")."""

    ATTESTED = "attested", _("attested with evidence")
    INDICATORS = "indicators", _("supported by indicators")


@dataclass(frozen=True)
class Dimension(Aspect):
    """One of the four dimensions (责任、管理、服务、利益共同体, seed 003): an id and its names,
    like an aspect of the indicator catalogue."""


@dataclass(frozen=True)
class Criterion:
    """One graded criterion: its dimension, names and description, how it is graded
    (``basis``), the catalogue indicators that can support it (``supported_by``), whether it
    must be A (``mandatory_a``) and where it comes from."""

    id: str
    dimension: str
    name_zh: str
    name_en: str
    description_zh: str = ""
    description_en: str = ""
    basis: str = Basis.ATTESTED
    supported_by: tuple[str, ...] = ()
    mandatory_a: bool = False
    provenance: str = ""

    def name(self, language: str) -> str:
        """The name in ``language`` (Chinese for ``zh…``, else English)."""
        return _name(self.name_zh, self.name_en, language)

    def description(self, language: str) -> str:
        """The description in ``language``."""
        return _name(self.description_zh, self.description_en, language)


@dataclass(frozen=True)
class Rule:
    """The judgement rule's parameters (defaults: seed 003). An evaluation keeps the rule
    it was created with (:meth:`to_dict`, :meth:`from_dict`), so that a later change of the
    data file does not change a running or past evaluation."""

    min_grade_all: str = Grade.B
    min_a_count: int = 8
    min_a_per_dimension: int = 1
    mandatory_a: tuple[str, ...] = ("decision_authority",)

    def __post_init__(self) -> None:
        if self.min_grade_all not in RANK:
            raise TightnessError(f"min_grade_all {self.min_grade_all!r} is not one of A, B, C")
        for key in ("min_a_count", "min_a_per_dimension"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise TightnessError(f"{key} must be a whole number of 0 or more, not {value!r}")
        if (isinstance(self.mandatory_a, str)
                or not all(isinstance(c, str) and c for c in self.mandatory_a)):
            raise TightnessError("mandatory_a must list criterion ids")
        if len(set(self.mandatory_a)) != len(self.mandatory_a):
            raise TightnessError("mandatory_a lists a criterion twice")

    def to_dict(self) -> dict[str, Any]:
        """The parameters as JSON-ready data (the evaluation's snapshot)."""
        return {"min_grade_all": str(self.min_grade_all), "min_a_count": self.min_a_count,
                "min_a_per_dimension": self.min_a_per_dimension,
                "mandatory_a": list(self.mandatory_a)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Rule:
        """A rule from :meth:`to_dict`'s data; :class:`TightnessError` when it is not one."""
        keys = {"min_grade_all", "min_a_count", "min_a_per_dimension", "mandatory_a"}
        if not isinstance(data, Mapping) or set(data) != keys:
            raise TightnessError(f"a rule has exactly the keys {', '.join(sorted(keys))}")
        mandatory = data["mandatory_a"]
        if not isinstance(mandatory, list | tuple):
            raise TightnessError("mandatory_a must list criterion ids")
        return cls(min_grade_all=data["min_grade_all"], min_a_count=data["min_a_count"],
                   min_a_per_dimension=data["min_a_per_dimension"],
                   mandatory_a=tuple(mandatory))


@dataclass(frozen=True)
class TightnessCriteria:
    """The criteria file, checked: dimensions and criteria in file order, the default rule
    with its citation and the seed's words."""

    edition: str
    date: dt.date
    source: str
    status: str
    dimensions: tuple[Dimension, ...]
    criteria: tuple[Criterion, ...]
    rule: Rule
    rule_citation: str = ""
    rule_quote: str = ""

    @functools.cached_property
    def _by_id(self) -> Mapping[str, Criterion]:
        return MappingProxyType({c.id: c for c in self.criteria})

    @functools.cached_property
    def _dimensions(self) -> Mapping[str, Dimension]:
        return MappingProxyType({d.id: d for d in self.dimensions})

    def criterion(self, criterion_id: str) -> Criterion:
        """The criterion with this id (``KeyError`` when there is none)."""
        return self._by_id[criterion_id]

    def dimension(self, dimension_id: str) -> Dimension:
        """The dimension with this id (``KeyError`` when there is none)."""
        return self._dimensions[dimension_id]

    def __contains__(self, criterion_id: object) -> bool:
        return criterion_id in self._by_id

    def ids(self) -> tuple[str, ...]:
        return tuple(self._by_id)

    def in_dimension(self, dimension_id: str) -> tuple[Criterion, ...]:
        return tuple(c for c in self.criteria if c.dimension == dimension_id)


def check_rule(rule: Rule, criteria: Sequence[Criterion]) -> None:
    """Refuse a rule that cannot be met by these criteria (:class:`TightnessError`): more A
    required than there are criteria, more A per dimension than a dimension has criteria,
    or a mandatory criterion that is not one of them."""
    ids = {c.id for c in criteria}
    unknown = sorted(set(rule.mandatory_a) - ids)
    if unknown:
        raise TightnessError(f"mandatory_a names unknown criteria: {', '.join(unknown)}")
    if rule.min_a_count > len(ids):
        raise TightnessError(f"min_a_count {rule.min_a_count} is more than the "
                             f"{len(ids)} criteria")
    for dimension, members in _by_dimension(criteria).items():
        if rule.min_a_per_dimension > len(members):
            raise TightnessError(f"min_a_per_dimension {rule.min_a_per_dimension} is more than "
                                 f"the {len(members)} criteria of dimension {dimension!r}")


# --- the verdict ------------------------------------------------------------------------------


class Code:
    """The reasons a verdict gives (one-line meanings in :data:`REASON_TEXTS`)."""

    ALL_GRADED = "all_graded"
    NOT_GRADED = "not_graded"
    AT_LEAST_MINIMUM = "at_least_minimum"
    BELOW_MINIMUM = "below_minimum"
    A_COUNT_MET = "a_count_met"
    A_COUNT_SHORT = "a_count_short"
    DIMENSIONS_HAVE_A = "dimensions_have_a"
    DIMENSION_SHORT = "dimension_short"
    MANDATORY_A = "mandatory_a"
    MANDATORY_NOT_A = "mandatory_not_a"
    MANDATORY_NOT_GRADED = "mandatory_not_graded"


#: What each reason says (English msgid; ``%(criterion)s`` and ``%(dimension)s`` are names).
REASON_TEXTS: Mapping[str, str] = MappingProxyType({
    Code.ALL_GRADED: N_("All %(count)s criteria are graded."),
    Code.NOT_GRADED: N_("“%(criterion)s” is not graded yet."),
    Code.AT_LEAST_MINIMUM: N_("Every criterion is graded %(minimum)s or better."),
    Code.BELOW_MINIMUM: N_("“%(criterion)s” is graded %(grade)s, below the required "
                           "%(minimum)s."),
    Code.A_COUNT_MET: N_("%(count)s criteria are graded A; at least %(required)s are "
                         "required."),
    Code.A_COUNT_SHORT: N_("Only %(count)s criteria are graded A; at least %(required)s are "
                           "required."),
    Code.DIMENSIONS_HAVE_A: N_("Every dimension has at least %(required)s criteria graded A."),
    Code.DIMENSION_SHORT: N_("“%(dimension)s” has %(count)s criteria graded A; at least "
                             "%(required)s are required."),
    Code.MANDATORY_A: N_("“%(criterion)s” is graded A, as it must be."),
    Code.MANDATORY_NOT_A: N_("“%(criterion)s” must be graded A but is graded %(grade)s."),
    Code.MANDATORY_NOT_GRADED: N_("“%(criterion)s” must be graded A but is not graded yet."),
})


@dataclass(frozen=True)
class Reason:
    """One reason of a verdict: what it says (``code``), whether the alliance passes it, and
    the facts it names."""

    code: str
    passed: bool
    criterion: str = ""
    dimension: str = ""
    grade: str = ""
    minimum: str = ""
    count: int | None = None
    required: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data without the empty facts (stored with an issued result)."""
        return {k: v for k, v in asdict(self).items() if k == "passed" or v not in ("", None)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Reason:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


@dataclass(frozen=True)
class Verdict:
    """Whether the alliance is tight, and every reason it passes or fails."""

    tight: bool
    reasons: tuple[Reason, ...] = field(default=())

    @property
    def failures(self) -> tuple[Reason, ...]:
        return tuple(r for r in self.reasons if not r.passed)

    @property
    def passes(self) -> tuple[Reason, ...]:
        return tuple(r for r in self.reasons if r.passed)

    def to_list(self) -> list[dict[str, Any]]:
        return [r.to_dict() for r in self.reasons]

    @classmethod
    def from_list(cls, tight: bool, data: Iterable[Mapping[str, Any]]) -> Verdict:
        return cls(tight=tight, reasons=tuple(Reason.from_dict(d) for d in data))


def _by_dimension(criteria: Iterable[Criterion]) -> dict[str, list[Criterion]]:
    """The criteria per dimension, dimensions in the order they first appear."""
    groups: dict[str, list[Criterion]] = {}
    for criterion in criteria:
        groups.setdefault(criterion.dimension, []).append(criterion)
    return groups


def verdict(grades: Mapping[str, str], criteria: Sequence[Criterion], rule: Rule) -> Verdict:
    """Judge the grades of ``criteria`` by ``rule`` (the module's docstring, seed 003).

    Reasons, in this order: every criterion not graded (or "all graded"); every grade below
    ``min_grade_all`` (or "all at least the minimum"); the number of A against
    ``min_a_count``; every dimension with too few A (or "every dimension has its A"); each
    mandatory criterion, A or not. The alliance is tight when no reason fails.

    :class:`TightnessError` for a grade of an unknown criterion, a grade other than A, B or
    C, two criteria with one id, or a mandatory criterion that is not among ``criteria``."""
    ids = [c.id for c in criteria]
    if len(set(ids)) != len(ids):
        raise TightnessError("two criteria have the same id")
    unknown = sorted(set(grades) - set(ids))
    if unknown:
        raise TightnessError(f"grades of unknown criteria: {', '.join(unknown)}")
    bad = sorted({str(g) for g in grades.values() if g not in RANK})
    if bad:
        raise TightnessError(f"grades must be A, B or C, not {', '.join(bad)}")
    missing_mandatory = sorted(set(rule.mandatory_a) - set(ids))
    if missing_mandatory:
        raise TightnessError(f"mandatory criteria not among the criteria: "
                             f"{', '.join(missing_mandatory)}")

    reasons: list[Reason] = []
    ungraded = [c.id for c in criteria if c.id not in grades]
    reasons += [Reason(Code.NOT_GRADED, False, criterion=c) for c in ungraded]
    if not ungraded:
        reasons.append(Reason(Code.ALL_GRADED, True, count=len(ids)))

    minimum = RANK[rule.min_grade_all]
    below = [c.id for c in criteria if c.id in grades and RANK[grades[c.id]] < minimum]
    reasons += [Reason(Code.BELOW_MINIMUM, False, criterion=c, grade=str(grades[c]),
                       minimum=str(rule.min_grade_all)) for c in below]
    if not below:
        reasons.append(Reason(Code.AT_LEAST_MINIMUM, True, minimum=str(rule.min_grade_all)))

    a_count = sum(1 for c in ids if grades.get(c) == Grade.A)
    met = a_count >= rule.min_a_count
    reasons.append(Reason(Code.A_COUNT_MET if met else Code.A_COUNT_SHORT, met, count=a_count,
                          required=rule.min_a_count))

    short = []
    for dimension, members in _by_dimension(criteria).items():
        count = sum(1 for c in members if grades.get(c.id) == Grade.A)
        if count < rule.min_a_per_dimension:
            short.append(Reason(Code.DIMENSION_SHORT, False, dimension=dimension, count=count,
                                required=rule.min_a_per_dimension))
    reasons += short
    if not short:
        reasons.append(Reason(Code.DIMENSIONS_HAVE_A, True, required=rule.min_a_per_dimension))

    for criterion_id in rule.mandatory_a:
        grade = grades.get(criterion_id)
        if grade == Grade.A:
            reasons.append(Reason(Code.MANDATORY_A, True, criterion=criterion_id))
        elif grade is None:
            reasons.append(Reason(Code.MANDATORY_NOT_GRADED, False, criterion=criterion_id))
        else:
            reasons.append(Reason(Code.MANDATORY_NOT_A, False, criterion=criterion_id,
                                  grade=str(grade)))
    return Verdict(tight=all(r.passed for r in reasons), reasons=tuple(reasons))


def reason_text(reason: Reason, criteria: TightnessCriteria, language: str,
                gettext: Callable[[str], str]) -> str:
    """The reason in words: ``gettext`` translates the template (:data:`REASON_TEXTS`),
    criteria and dimensions are named in ``language``; an id no longer in the file is shown
    as it is. An unknown code is shown as the code."""
    template = REASON_TEXTS.get(reason.code)
    if template is None:
        return reason.code
    criterion = reason.criterion
    if criterion in criteria:
        criterion = criteria.criterion(criterion).name(language)
    dimension = reason.dimension
    with contextlib.suppress(KeyError):
        dimension = criteria.dimension(dimension).name(language)
    params = {"criterion": criterion, "dimension": dimension, "grade": reason.grade,
              "minimum": reason.minimum, "count": reason.count, "required": reason.required}
    text = gettext(template)
    try:
        return text % params
    except (KeyError, ValueError, TypeError):  # a broken translation must not break a page
        return template % params
