"""The same indicator definitions give the same numbers on DuckDB and on PostgreSQL (issue 5
item 3: "a test computes the full catalogue on one dataset with DuckDB and PostgreSQL").
Runs in the PostgreSQL pass of ``make test``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from tests.golden.test_indicators_golden import build_county
from tests.indicators.engine_equivalence import catalogue_cells, differences
from tiercare.indicators.engine import DEFINITIONS, postgres, snapshot
from tiercare.synth import generate


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL pass of make test")
def test_the_whole_catalogue_is_the_same_on_duckdb_and_postgresql(
        db: Any, settings: Any, tmp_path: Path):
    settings.DATA_DIR = tmp_path
    generate(1500, seed=5, year=2025)
    build_county()  # the golden county too: out-of-county referrals, postings, TCM
    snapshot.refresh(full=True)
    with snapshot.reader() as duck:
        on_duckdb = catalogue_cells(duck)
    on_postgres = catalogue_cells(postgres.build())
    assert differences(on_duckdb, on_postgres) == []
    computed = {key[0] for key, numbers in on_duckdb.items() if numbers[2] is not None}
    assert computed == set(DEFINITIONS) - {"down_referral_growth", "cost_per_visit_growth",
                                           "cost_per_admission_growth"}  # no 2024 data
    assert len(on_duckdb) > 1000
