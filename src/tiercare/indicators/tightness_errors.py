"""Domain errors of the tightness evaluation: the indicators app's own
(:class:`~tiercare.indicators.errors.IndicatorInvalid`: a refusal that changes nothing, with a
stable ``code``, the ``field`` it concerns and a lazily translated message; DESIGN.md: bad input
gets a clear, specific error in the user's language, an illegal transition a domain error),
plus :class:`TightnessConflict` for a step the evaluation's stage does not allow.

Codes: ``tightness.transition`` (the stage table has no such step from the present stage),
``tightness.not_allowed`` (the step exists, not for this user), ``tightness.not_visible``,
``tightness.not_grading`` (no grades outside self-assessment and assessment),
``tightness.not_your_grade``, ``tightness.incomplete`` (criteria not graded yet),
``tightness.exists`` (one evaluation per alliance and period), ``tightness.kind`` (not a
county medical community), ``tightness.period``, ``tightness.step``,
``tightness.unknown_criterion``, ``tightness.grade``, ``tightness.comment_too_long``,
``tightness.note_required``, ``tightness.note_too_long``, ``tightness.too_many_files``,
``evidence.empty``, ``evidence.size``, ``evidence.type``.
"""

from __future__ import annotations

from tiercare.indicators.errors import IndicatorInvalid, IndicatorRefused

__all__ = ["TightnessConflict", "TightnessInvalid", "TightnessRefused"]

#: the request itself is incomplete or malformed (HTTP 400)
TightnessInvalid = IndicatorInvalid
#: the user may not take this step or see this evaluation (HTTP 403)
TightnessRefused = IndicatorRefused


class TightnessConflict(IndicatorInvalid):
    """The step contradicts the evaluation's present stage (HTTP 409)."""

    status = 409
