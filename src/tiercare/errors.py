"""The base of TierCare's domain errors (DESIGN.md: bad input gets a clear, specific error in
the user's language). Apps subclass :class:`DomainError`; the UI shows ``str(error)``, the
JSON API maps it to problem+json (``tiercare.api_problems``), and ``code`` stays stable for
programs and tests. Kernel errors (no Django) are ``tiercare.kernel.errors.KernelError``."""

from __future__ import annotations

from django.utils.functional import Promise


class DomainError(ValueError):
    """A business rule is broken: stable ``code``, a (lazily) translated ``message`` with
    ``%(name)s`` placeholders, and the ``params`` that fill them."""

    def __init__(self, code: str, message: str | Promise, /, **params: object) -> None:
        self.code = code
        self.message = message
        self.params = params
        super().__init__(code)

    def __str__(self) -> str:
        text = str(self.message)
        return text % self.params if self.params else text


class BatchItemError(Exception):
    """Recording a batch failed at one item: its ``position`` in the batch and the error the
    one-at-a-time service would have raised for it (a ``ValidationError`` or a
    :class:`DomainError`). Batches are all or nothing."""

    def __init__(self, position: int, error: Exception) -> None:
        self.position = position
        self.error = error
        super().__init__(f"item {position}: {error}")
