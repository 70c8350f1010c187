"""Django's PostgreSQL backend whose per-request health check asks the socket first.

With ``CONN_HEALTH_CHECKS`` Django checks a kept connection at the start of every request
by sending ``SELECT 1`` (Django docs, "Persistent connections"): one more round trip per
request, as long as the booking's own two statements in the storm's profile (ADR 0023,
docs/benchmarks.md). A connection the server has closed — a restart, ``pg_terminate_backend``,
an idle timeout — has something to read: PostgreSQL sends its ``FATAL`` notice and the
end of the stream. So an idle connection whose socket has nothing to read is taken as
usable without a round trip; one with anything to read, or not idle, gets Django's
``SELECT 1``, which reconnects when it fails. A connection lost without a word (a cable
pulled between two hosts) is not caught by either check before the first statement's
timeout."""

from __future__ import annotations

import select

from django.db.backends.postgresql import base
from psycopg.pq import TransactionStatus


class DatabaseWrapper(base.DatabaseWrapper):
    # set by Django's BaseDatabaseWrapper (not in django-stubs)
    health_check_enabled: bool
    health_check_done: bool

    def close_if_health_check_failed(self) -> None:
        if (self.connection is not None and self.health_check_enabled
                and not self.health_check_done and self._quiet()):
            self.health_check_done = True
            return
        super().close_if_health_check_failed()

    def _quiet(self) -> bool:
        """Open, idle (outside a transaction) and nothing waiting to be read."""
        connection = self.connection
        if connection.closed or connection.broken:
            return False
        if connection.info.transaction_status != TransactionStatus.IDLE:
            return False
        poll = select.poll()
        poll.register(connection.fileno(), select.POLLIN | select.POLLPRI)
        return not poll.poll(0)
