"""Domain errors of the indicator targets: a refusal that changes nothing, with a stable
``code``, the ``field`` it concerns and a lazily translated message (DESIGN.md: bad input
gets a clear, specific error in the user's language).

The message is given as its English template (marked for translation with
``gettext_noop`` where it is written): ``str(error)`` translates it into the active language,
:meth:`IndicatorInvalid.english` renders it without translation, so that the file loader
(:mod:`tiercare.indicators.catalogue`) can report a bad target in a data file without Django
settings.

Codes: ``indicators.unknown_pack``, ``indicators.unknown_indicator``, ``indicators.not_judged``
(the indicator is watched, not judged: it takes no target), ``indicators.comparison``
(unknown, or not allowed for the indicator's direction), ``indicators.value_required``,
``indicators.value_forbidden``, ``indicators.value_range``, ``indicators.value_whole``,
``indicators.tolerance_required``, ``indicators.tolerance_forbidden``,
``indicators.tolerance_range``, ``indicators.note_required``, ``indicators.note_too_long``,
``indicators.no_override``, ``indicators.not_allowed``.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy

from tiercare.errors import DomainError


class IndicatorInvalid(DomainError):
    """The request itself is incomplete or malformed (HTTP 400)."""

    status = 400

    def __init__(self, field_name: str, code: str, template: str, /,
                 **params: object) -> None:
        super().__init__(code, gettext_lazy(template), **params)
        self.field = field_name
        self.template = template

    def english(self) -> str:
        """The message in English (its msgid), with its parameters."""
        return self.template % self.params if self.params else self.template


class IndicatorNotFound(IndicatorInvalid):
    """The thing to change does not exist (HTTP 404)."""

    status = 404


class IndicatorRefused(IndicatorInvalid):
    """The acting user may not change this alliance's targets (HTTP 403)."""

    status = 403
