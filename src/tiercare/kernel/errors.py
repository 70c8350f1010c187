"""Domain errors of the kernel, translatable at the Django boundary.

The kernel has no Django import, so it cannot call ``gettext`` itself. Every error carries a
stable machine ``code`` (for APIs, rejects files and tests), an English ``template`` with
``%(name)s`` placeholders, and its ``params``. ``str(err)`` is the English text; the web, API
and import layers call ``err.translated(gettext)`` to show it in the user's language
(DESIGN.md, "Bad input gets a clear, specific error in the user's language").

Templates are written as ``N_("…")`` literals so that
``django-admin makemessages --keyword=N_`` extracts them into the project catalogue
(``src/tiercare/locale/<lang>/LC_MESSAGES/django.po``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping


def N_(s: str) -> str:
    """Mark a string for translation extraction without translating it (gettext_noop)."""
    return s


class KernelError(ValueError):
    """Bad input detected by a kernel rule.

    ``code`` is stable (e.g. ``"id_number.check_digit"``), ``template`` is the English message
    with ``%(name)s`` placeholders, ``params`` fills them.
    """

    code: str
    template: str
    params: dict[str, object]

    def __init__(
        self, code: str, template: str, params: Mapping[str, object] | None = None
    ) -> None:
        self.code = code
        self.template = template
        self.params = dict(params or {})
        super().__init__(self._render(template))

    def _render(self, template: str) -> str:
        try:
            return template % self.params if self.params else template
        except (KeyError, ValueError, TypeError):
            # A translation with a broken placeholder must not turn bad input into a crash.
            return template

    def __str__(self) -> str:
        return self._render(self.template)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, params={self.params!r})"

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.code, self.template, self.params))

    def translated(self, gettext: Callable[[str], str]) -> str:
        """The message in the active language: ``gettext(template) % params``."""
        return self._render(gettext(self.template))


class InvalidIdNumber(KernelError):
    """A resident ID number that breaks GB 11643 or contradicts the record (rules.md §10)."""


class InvalidDivisionCode(KernelError):
    """An administrative division code that is malformed or not in the GB/T 2260 table."""


class InvalidIcd10Code(KernelError):
    """A diagnosis code that is malformed or does not exist in ICD-10 (rules.md §10)."""


class InvalidPeriod(KernelError):
    """A reporting period (month, quarter, year) that cannot be parsed or does not exist."""


class InvalidMoney(KernelError):
    """An amount of money that is not an exact decimal number of yuan (rules.md §9)."""
