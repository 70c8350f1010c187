"""Where the fact tables live and the indicator SQL runs: DuckDB (the snapshot, the
default), PostgreSQL (the operational server, for a county that wants no snapshot file and
for the equivalence test) and Spark (``engine/spark.py``, for a province's lake). The SQL is
written once in DuckDB's dialect; :func:`translate` turns it into the backend's with SQLGlot
and, for PostgreSQL, puts the analytics tables in their own schema.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any, Protocol

import sqlglot
from sqlglot import exp

#: Tables of the analytics model (staging, reference, facts): the names SQL refers to.
PREFIXES = ("stg_", "dim_", "fact_", "cube_")
#: PostgreSQL schema holding the analytics tables (never the operational tables' schema).
PG_SCHEMA = "tiercare_analytics"


@functools.lru_cache(maxsize=2048)
def translate(sql: str, dialect: str, schema: str = "") -> str:
    """``sql`` (DuckDB) in ``dialect``; with ``schema``, analytics tables qualified by it."""
    if dialect == "duckdb" and not schema:
        return sql
    tree = sqlglot.parse_one(sql, read="duckdb")
    if schema:
        ctes = {cte.alias for cte in tree.find_all(exp.CTE)}
        for table in tree.find_all(exp.Table):
            if table.name.startswith(PREFIXES) and table.name not in ctes and not table.db:
                table.set("db", exp.to_identifier(schema))
    return tree.sql(dialect=dialect)


class Backend(Protocol):
    """Runs analytics SQL written in DuckDB's dialect."""

    name: str

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        """The rows of a query."""
        ...


class DuckDBBackend:
    """A DuckDB connection (the snapshot file, or an in-memory database in tests)."""

    name = "duckdb"

    def __init__(self, connection: Any) -> None:
        self.connection = connection

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        return list(self.connection.execute(sql).fetchall())


class PostgresBackend:
    """The Django connection to PostgreSQL; analytics tables in :data:`PG_SCHEMA`."""

    name = "postgres"

    def __init__(self, schema: str = PG_SCHEMA) -> None:
        self.schema = schema

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute(translate(sql, "postgres", self.schema))
            return list(cursor.fetchall())

    def execute_raw(self, statements: Sequence[str]) -> None:
        """Statements already in PostgreSQL's SQL (schema set-up, staging copies)."""
        from django.db import connection

        with connection.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)
