"""Fast bulk writes for the synthetic generator and the CSV importers.

The ORM's ``bulk_create`` builds model instances and is about ten times slower than the
database driver for millions of rows. These helpers write plain tuples straight through the
driver: ``executemany`` on SQLite, ``COPY`` (or pipelined ``INSERT … ON CONFLICT``) on
PostgreSQL. Column names come from the model's ``_meta`` so the schema has one source.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django.db import connection, models


def table(model: type[models.Model]) -> str:
    return model._meta.db_table


def columns(model: type[models.Model], fields: Sequence[str]) -> list[str]:
    """Database column names for the given field names (``patient`` → ``patient_id``)."""
    return [model._meta.get_field(name).column for name in fields]  # type: ignore[union-attr,misc]


def insert_rows(
    model: type[models.Model],
    fields: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    ignore_conflicts: bool = False,
) -> None:
    """Insert ``rows`` (tuples in ``fields`` order) into ``model``'s table.

    With ``ignore_conflicts`` rows that violate a unique constraint are skipped (idempotent
    imports keyed on source system + source id). The caller owns the transaction.
    """
    cols = columns(model, fields)
    qn = connection.ops.quote_name
    col_sql = ", ".join(qn(c) for c in cols)
    tbl = qn(table(model))
    if connection.vendor == "sqlite":
        # Straight to the sqlite3 cursor: one ``executemany`` over the whole iterable (SQLite
        # streams it row by row), without Django's wrapper and its ``%s`` rewriting.
        verb = "INSERT OR IGNORE" if ignore_conflicts else "INSERT"
        # Driver errors are still raised as Django's (``IntegrityError``, ``DatabaseError``).
        sql = f"{verb} INTO {tbl} ({col_sql}) VALUES ({', '.join(['?'] * len(cols))})"
        connection.ensure_connection()
        with connection.wrap_database_errors:
            raw_cursor = connection.connection.cursor()
            try:
                raw_cursor.executemany(sql, rows)
            finally:
                raw_cursor.close()
        return
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql" and not ignore_conflicts:
            raw = cursor.cursor  # psycopg 3 cursor under Django's wrapper
            with connection.wrap_database_errors, \
                    raw.copy(f"COPY {tbl} ({col_sql}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            return
        placeholders = ", ".join(["%s"] * len(cols))
        verb = "INSERT"
        suffix = ""
        if ignore_conflicts:
            suffix = " ON CONFLICT DO NOTHING"
        sql = f"{verb} INTO {tbl} ({col_sql}) VALUES ({placeholders}){suffix}"
        batch: list[Sequence[Any]] = []
        for row in rows:
            batch.append(row)
            if len(batch) >= 5000:
                cursor.executemany(sql, batch)
                batch = []
        if batch:
            cursor.executemany(sql, batch)


def next_id(model: type[models.Model]) -> int:
    """The first free primary key of ``model`` (for generators that assign ids themselves;
    call ``reset_sequence`` afterwards on PostgreSQL)."""
    with connection.cursor() as cursor:
        tbl = connection.ops.quote_name(table(model))
        cursor.execute(f"SELECT COALESCE(MAX(id), 0) + 1 FROM {tbl}")
        value = cursor.fetchone()
    return int(value[0]) if value else 1


def reset_sequence(*models_: type[models.Model]) -> None:
    """After inserting explicit ids, move PostgreSQL's id sequences past them."""
    if connection.vendor != "postgresql":
        return
    from django.core.management.color import no_style

    statements = connection.ops.sequence_reset_sql(no_style(), list(models_))
    with connection.cursor() as cursor:
        for sql in statements:
            cursor.execute(sql)
