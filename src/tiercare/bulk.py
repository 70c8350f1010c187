"""Fast bulk writes for the synthetic generator and the CSV importers.

The ORM's ``bulk_create`` builds model instances and is about ten times slower than the
database driver for millions of rows. These helpers write plain tuples straight through the
driver: ``executemany`` on SQLite, ``COPY`` (or pipelined ``INSERT … ON CONFLICT``) on
PostgreSQL. Column names come from the model's ``_meta`` so the schema has one source.
"""

from __future__ import annotations

import json
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


def insert_json_rows(model: type[models.Model], fields: Sequence[str],
                     rows: Sequence[Sequence[Any]]) -> None:
    """SQLite: insert short rows (ints and strings) in one statement over a JSON array,
    skipping rows that violate a unique constraint. For narrow child tables (an encounter's
    secondary diagnoses) this costs about half of ``executemany``: one statement, so SQLite
    updates its id sequence once instead of once per row."""
    if connection.vendor != "sqlite":
        raise NotImplementedError("insert_json_rows is for SQLite; use insert_rows")
    qn = connection.ops.quote_name
    cols = ", ".join(qn(c) for c in columns(model, fields))
    picks = ", ".join(f"json_extract(value, '$[{i}]')" for i in range(len(fields)))
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT OR IGNORE INTO {qn(table(model))} ({cols}) "
                       f"SELECT {picks} FROM json_each(%s)", [json.dumps(rows)])


def existing_ids(model: type[models.Model], ids: Iterable[int], *,
                 lock: bool = False) -> set[int]:
    """Which of ``ids`` are primary keys of ``model``'s table (one query over a JSON array
    on SQLite, ``= ANY`` on PostgreSQL: no limit on the number of ids). ``lock``: on
    PostgreSQL the rows found cannot be deleted until the transaction ends (``FOR KEY
    SHARE``, the lock a foreign key takes); SQLite's writer holds the database already."""
    wanted = list(ids)
    if not wanted:
        return set()
    qn = connection.ops.quote_name
    tbl = qn(table(model))
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(f"SELECT id FROM {tbl} WHERE id IN (SELECT value FROM json_each(%s))",
                           [json.dumps(wanted)])
        else:
            cursor.execute(f"SELECT id FROM {tbl} WHERE id = ANY(%s)"
                           f"{' FOR KEY SHARE' if lock else ''}", [wanted])
        return {row[0] for row in cursor.fetchall()}


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
