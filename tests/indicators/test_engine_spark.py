"""The same indicator definitions give the same numbers on DuckDB and on Spark in local
mode (issue 5 item 3: "with Spark (local mode) in make test-spark"). Skipped unless pyspark
is installed and ``TIERCARE_TEST_SPARK=1`` (``make test-spark`` installs pyspark and runs
this file; ``make test`` leaves it out: Spark's start and its queries take minutes)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.golden.test_indicators_golden import build_county
from tests.indicators.engine_equivalence import catalogue_cells, differences
from tiercare.indicators.engine import snapshot, spark
from tiercare.synth import generate

if os.environ.get("TIERCARE_TEST_SPARK") != "1":
    pytest.skip("make test-spark runs this", allow_module_level=True)
pyspark = pytest.importorskip("pyspark")


@pytest.fixture(scope="module")
def session() -> Any:
    from pyspark.sql import SparkSession

    spark_session = (SparkSession.builder.master("local[2]").appName("tiercare-test")
                     .config("spark.sql.shuffle.partitions", "4")
                     .config("spark.ui.enabled", "false")
                     .config("spark.sql.session.timeZone", "UTC").getOrCreate())
    yield spark_session
    spark_session.stop()


def test_the_whole_catalogue_is_the_same_on_duckdb_and_spark(
        db: Any, settings: Any, tmp_path: Path, session: Any):
    settings.DATA_DIR = tmp_path
    generate(1500, seed=5, year=2025)
    build_county()
    snapshot.refresh(full=True)
    with snapshot.reader() as duck:
        on_duckdb = catalogue_cells(duck)
        names = spark.export_parquet(duck.connection, tmp_path / "lake")
    on_spark = catalogue_cells(spark.load(session, tmp_path / "lake", names))
    assert differences(on_duckdb, on_spark) == []
    assert len(on_duckdb) > 1000
