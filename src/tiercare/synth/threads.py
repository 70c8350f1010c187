"""Making rows in a thread while the caller writes them (the synthetic generator's
pipeline): the database driver lets go of the GIL while the database works, so making and
writing overlap on two cores without copying rows between processes."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import Any, TypeVar

T = TypeVar("T")


def made_in_thread(items: Iterator[T], ahead: int = 2) -> Iterator[T]:
    """The items of ``items``, produced in a thread of their own at most ``ahead`` before
    the caller takes them. An exception raised while producing is raised to the caller;
    stopping early (``close``, an exception in the caller) stops the thread after the item
    it is making. ``items`` must not touch the caller's database connection (Django's
    connections belong to their thread)."""
    q: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=ahead)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                if stop.is_set():
                    return
                q.put(("item", item))
            q.put(("done", None))
        except BaseException as exc:  # handed to the caller
            q.put(("error", exc))

    thread = threading.Thread(target=produce, daemon=True)
    thread.start()
    try:
        while True:
            kind, payload = q.get()
            if kind == "item":
                yield payload
            elif kind == "done":
                return
            else:
                raise payload
    finally:
        stop.set()
        while thread.is_alive():
            try:
                q.get_nowait()
            except queue.Empty:
                thread.join(0.05)
