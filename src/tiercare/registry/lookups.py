"""Registry look-ups that a batch of writes repeats (the institution, department and
practitioner of every encounter of a FHIR Bundle or an import): inside ``remembered()`` each
answer is read once and reused. Only for work that does not change the registry meanwhile;
outside the block every call reads the database."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

from tiercare.registry.models import Department, Institution, Practitioner

T = TypeVar("T")
_memo: ContextVar[dict[tuple[Any, ...], Any] | None] = ContextVar("registry_memo", default=None)


@contextmanager
def remembered() -> Iterator[None]:
    token = _memo.set({})
    try:
        yield
    finally:
        _memo.reset(token)


def _once(key: tuple[Any, ...], read: Callable[[], T]) -> T:
    memo = _memo.get()
    if memo is None:
        return read()
    if key not in memo:
        memo[key] = read()
    result: T = memo[key]
    return result


def institution(pk: int) -> Institution | None:
    return _once(("institution", pk), lambda: Institution.objects.filter(pk=pk).first())


def department_in(pk: int, institution_id: int) -> bool:
    """Whether department ``pk`` belongs to institution ``institution_id``."""
    return _once(("department", pk, institution_id), lambda: Department.objects.filter(
        pk=pk, institution_id=institution_id).exists())


def practitioner_exists(pk: int) -> bool:
    return _once(("practitioner", pk), lambda: Practitioner.objects.filter(pk=pk).exists())
