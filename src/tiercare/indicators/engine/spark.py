"""The indicator SQL on Spark (DESIGN.md "Scale-out plan": a province-wide lake of Parquet
facts queried by Spark). The staging and reference tables of a DuckDB snapshot are written
as Parquet (DuckDB writes it without extensions), read by Spark as temporary views, and the
fact tables built from them by the same SQL as everywhere, translated by SQLGlot.

``pyspark`` is not a dependency of the product: ``make test-spark`` installs it and runs the
equivalence test (``tests/indicators/test_engine_spark.py``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tiercare.indicators.engine import staging
from tiercare.indicators.engine.backends import translate
from tiercare.indicators.engine.facts import FACTS


class SparkBackend:
    """Runs analytics SQL (DuckDB dialect) on a Spark session."""

    name = "spark"

    def __init__(self, session: Any) -> None:
        self.session = session

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        return [tuple(row) for row in self.session.sql(translate(sql, "spark")).collect()]


def export_parquet(duckdb_connection: Any, directory: Path) -> list[str]:
    """Write the snapshot's staging and reference tables as Parquet files in
    ``directory``; the table names written."""
    directory.mkdir(parents=True, exist_ok=True)
    names = [stage.name for stage in staging.STAGES] + list(staging.REFERENCE_COLUMNS)
    for name in names:
        duckdb_connection.execute(
            f"COPY {name} TO '{directory / (name + '.parquet')}' (FORMAT parquet)")
    return names


def load(session: Any, directory: Path, names: list[str]) -> SparkBackend:
    """Register the Parquet tables as views and build the fact tables as cached views."""
    for name in names:
        session.read.parquet(str(directory / f"{name}.parquet")).createOrReplaceTempView(name)
    for name, sql in FACTS.items():
        frame = session.sql(translate(sql, "spark"))
        frame.cache()
        frame.createOrReplaceTempView(name)
    return SparkBackend(session)
