"""The PostgreSQL backend's per-request health check (``tiercare.db.postgresql``, ADR 0023):
a kept connection whose socket is quiet is used without a ``SELECT 1``; one the server has
closed is found out and replaced before the request's first statement."""

from __future__ import annotations

import psycopg
import pytest
from django.db import connections

pytestmark = pytest.mark.django_db(transaction=True)
connection = connections["default"]


@pytest.fixture(autouse=True)
def _postgresql_only() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("the health check of the PostgreSQL backend")


def _new_request() -> None:
    """What Django does at the start of a request (``request_started`` →
    ``close_old_connections``); the check itself comes with the first statement's cursor."""
    connection.close_if_unusable_or_obsolete()


def _backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return int(cursor.fetchone()[0])


def _count_round_trips(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    original = type(connection).is_usable

    def counted(self):
        calls.append(1)
        return original(self)

    monkeypatch.setattr(type(connection), "is_usable", counted)
    return calls


def test_a_quiet_kept_connection_is_used_without_a_round_trip(monkeypatch):
    pid = _backend_pid()
    assert connection.health_check_enabled
    calls = _count_round_trips(monkeypatch)
    for _request in range(3):
        _new_request()
        assert _backend_pid() == pid
    assert calls == []


def test_a_connection_the_server_closed_is_replaced_before_the_first_statement(monkeypatch):
    pid = _backend_pid()
    settings = connection.get_connection_params()
    with psycopg.connect(**{k: v for k, v in settings.items() if k != "cursor_factory"},
                         autocommit=True) as admin:
        # waits (up to 5 s) until the backend has ended, as a server going down would
        admin.execute("SELECT pg_terminate_backend(%s, 5000)", [pid])
    calls = _count_round_trips(monkeypatch)
    _new_request()
    assert _backend_pid() != pid
    assert calls == [1]  # the socket had the server's goodbye to read: Django's SELECT 1


def test_inside_a_transaction_the_check_is_django_s_own(monkeypatch):
    _backend_pid()
    connection.set_autocommit(False)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")  # the transaction is open on the server now
        connection.health_check_done = False
        calls = _count_round_trips(monkeypatch)
        connection.close_if_health_check_failed()
        assert calls == [1]
    finally:
        connection.rollback()
        connection.set_autocommit(True)
