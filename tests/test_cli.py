"""``tiercare serve``'s processes and threads by database (``tiercare.cli.web_processes``;
why: docs/benchmarks.md, booking storm)."""

from __future__ import annotations

import pytest

from tiercare import cli


@pytest.fixture(autouse=True)
def _no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TIERCARE_WEB_WORKERS", raising=False)
    monkeypatch.delenv("TIERCARE_WEB_THREADS", raising=False)


@pytest.mark.parametrize("cores, sqlite, postgresql",
                         [(1, 1, 2), (2, 2, 4), (8, 2, 16), (32, 2, 16)])
def test_postgresql_takes_two_processes_per_core_up_to_sixteen_sqlite_two_at_most(
        monkeypatch, cores, sqlite, postgresql):
    monkeypatch.setattr(cli.os, "cpu_count", lambda: cores)
    assert cli.web_processes("sqlite") == (sqlite, 4)
    assert cli.web_processes("postgresql") == (postgresql, 4)


def test_the_options_then_the_environment_win(monkeypatch):
    monkeypatch.setenv("TIERCARE_WEB_WORKERS", "3")
    monkeypatch.setenv("TIERCARE_WEB_THREADS", "2")
    assert cli.web_processes("sqlite") == (3, 2)
    assert cli.web_processes("postgresql", 5, 8) == (5, 8)
