"""``tiercare indicators refresh`` and ``tiercare indicators show`` (issue 5 item 8): rows
name indicators by id; periods are written 2025, 2025Q3 or 2025-07; without ``--org`` every
alliance; table, csv and json; clear refusals of bad input."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.utils import translation

from tests.golden.test_indicators_golden import build_county


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("indicators", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def county(db: Any, settings: Any, tmp_path: Path) -> Iterator[dict[str, Any]]:
    settings.DATA_DIR = tmp_path
    with translation.override("en"):  # the English texts below; Chinese: the last test
        yield build_county()


def test_the_command_speaks_chinese_by_default(db: Any, settings: Any, tmp_path: Path):
    settings.DATA_DIR = tmp_path
    build_county()
    with translation.override("zh-hans"):
        assert "全量刷新" in run("refresh")
        with pytest.raises(CommandError, match="没有编码为 NOPE 的医共体"):
            run("show", "--period", "2025", "--org", "NOPE")


def test_show_before_any_refresh_says_what_to_run(county: dict[str, Any]):
    with pytest.raises(CommandError, match="indicators refresh"):
        run("show", "--period", "2025-03")


def test_refresh_then_show_every_alliance_as_json(county: dict[str, Any]):
    assert "full refresh" in run("refresh")
    assert "incremental refresh" in run("refresh")
    rows = json.loads(run("show", "--period", "2025-03", "--format", "json"))
    a = str(county["a"].pk)
    mine = {r["indicator"]: r for r in rows if r["org"] == a}
    assert mine["in_county_visit_rate"]["value"] == "82.35"
    assert mine["in_county_visit_rate"]["numerator"] == "14"
    assert mine["in_county_visit_rate"]["target"] == ">= 90"  # the national pack
    assert mine["in_county_visit_rate"]["status"] == "missed"
    assert mine["out_of_county_admissions"]["value"] == "2"
    assert {r["org"] for r in rows} == {a, str(county["b"].pk)}


def test_show_one_institution_or_township_as_csv_and_table(county: dict[str, Any]):
    run("refresh", "--full")
    rows = list(csv.DictReader(io.StringIO(run("show", "--period", "2025Q1", "--org", "V1",
                                               "--format", "csv"))))
    share = next(r for r in rows if r["indicator"] == "primary_care_visit_share")
    assert (share["org_kind"], share["value"]) == ("institution", "100.00")
    table = run("show", "--period", "2025", "--org", "371581001")
    assert table.splitlines()[0].split()[:3] == ["indicator", "org_kind", "org"]
    assert any(line.startswith("in_county_visit_rate") and "90.91" in line
               for line in table.splitlines())


@pytest.mark.parametrize("args, message", [
    (("--period", "2025-13"), "not a period"),
    (("--period", "0001"), "Periods run from"),
    (("--period", "2025", "--org", "NOPE"), "No alliance, institution or township"),
])
def test_bad_input_is_refused_with_a_reason(county: dict[str, Any], args: tuple[str, ...],
                                            message: str):
    run("refresh")
    with pytest.raises(CommandError, match=message):
        run("show", *args)
