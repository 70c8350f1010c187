"""The analytics tables inside PostgreSQL (schema ``tiercare_analytics``): the same staging
SELECTs, reference rows and fact SQL as the DuckDB snapshot, for a county that computes
on its server and for the test that proves both engines give the same numbers (issue 5:
"the same definitions must run on PostgreSQL")."""

from __future__ import annotations

from django.db import connection

from tiercare.indicators.engine import staging
from tiercare.indicators.engine.backends import PG_SCHEMA, PostgresBackend, translate
from tiercare.indicators.engine.facts import FACTS

_TYPES = {"BIGINT": "bigint", "INTEGER": "integer", "VARCHAR": "text",
          "DOUBLE": "double precision", "DECIMAL(14,2)": "numeric(14,2)"}


def _columns(columns: tuple[tuple[str, str], ...]) -> str:
    return ", ".join(f"{name} {_TYPES[kind]}" for name, kind in columns)


def build(schema: str = PG_SCHEMA) -> PostgresBackend:
    """Drop and build every analytics table in ``schema`` from the operational tables of
    the same database; the backend that queries them."""
    if connection.vendor != "postgresql":
        raise RuntimeError("the analytics schema is built on PostgreSQL only")
    backend = PostgresBackend(schema)
    statements = [f"DROP SCHEMA IF EXISTS {schema} CASCADE", f"CREATE SCHEMA {schema}"]
    for stage in staging.STAGES:
        statements += [f"CREATE TABLE {schema}.{stage.name} ({_columns(stage.columns)})",
                       f"INSERT INTO {schema}.{stage.name} {stage.sql('postgresql')}"]
    backend.execute_raw(statements)
    with connection.cursor() as cursor:
        for name, rows in staging.reference_rows().items():
            columns = staging.REFERENCE_COLUMNS[name]
            cursor.execute(f"CREATE TABLE {schema}.{name} ({_columns(columns)})")
            if rows:
                cursor.executemany(
                    f"INSERT INTO {schema}.{name} VALUES ({', '.join(['%s'] * len(columns))})",
                    rows)
    for name, sql in FACTS.items():
        backend.execute_raw([f"CREATE TABLE {schema}.{name} AS "
                             f"{translate(sql, 'postgres', schema)}"])
    return backend
