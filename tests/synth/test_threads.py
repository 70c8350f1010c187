"""``synth.threads.made_in_thread``: the generator's pipeline gives the items in order, hands
an error over to the caller and stops when the caller stops."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from tiercare.synth.threads import made_in_thread


def test_items_come_in_order_from_another_thread():
    threads: set[int] = set()

    def items() -> Iterator[int]:
        for i in range(50):
            threads.add(threading.get_ident())
            yield i

    assert list(made_in_thread(items())) == list(range(50))
    assert threads and threading.get_ident() not in threads


def test_an_error_while_making_reaches_the_caller_after_the_items_before_it():
    def items() -> Iterator[int]:
        yield 1
        yield 2
        raise ValueError("broken row")

    got: list[int] = []
    with pytest.raises(ValueError, match="broken row"):
        for item in made_in_thread(items()):
            got.append(item)
    assert got == [1, 2]


def test_the_thread_stops_soon_after_the_caller_stops():
    made: list[int] = []

    def items() -> Iterator[int]:
        for i in range(10_000):
            made.append(i)
            yield i

    pipeline = made_in_thread(items(), ahead=2)
    assert next(pipeline) == 0
    pipeline.close()
    assert len(made) < 10
