"""Running jobs at the same moment in threads (concurrency specifications of capacity and
workflow services). Each thread has its own database connection, closed when it ends."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable

from django.db import connection

from tiercare.errors import DomainError


def run_together(jobs: list[Callable[[], str]]) -> Counter[str]:
    """Run ``jobs`` in threads released at once by a barrier; count their outcomes: what a
    job returns, the code of the domain error it raised, or ``error: …`` for anything
    else (reported, so that a test sees it)."""
    barrier = threading.Barrier(len(jobs))
    outcomes: list[str] = []
    lock = threading.Lock()

    def worker(job: Callable[[], str]) -> None:
        try:
            barrier.wait(timeout=30)
            outcome = job()
        except DomainError as err:
            outcome = err.code
        except BaseException as err:  # reported to the test thread
            outcome = f"error: {err!r}"
        finally:
            connection.close()
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=worker, args=(job,)) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return Counter(outcomes)
