"""The out-of-county analysis, cost structure and data quality of the engine
(``engine.analysis``) on the hand-built county of ``report_scene`` (hand values in its
docstring), on DuckDB and — when the test database is PostgreSQL — on PostgreSQL with the
same SQL, which must give the same numbers."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from tests.indicators.report_scene import T1_CODE, T2_CODE, Scene, build_scene
from tiercare.indicators import svg_charts
from tiercare.indicators.engine import analysis, compute, snapshot
from tiercare.indicators.engine.backends import Backend, translate
from tiercare.indicators.engine.compute import Span
from tiercare.kernel.periods import parse

Q3 = Span.of(parse("2025Q3"))
D = Decimal


@pytest.fixture
def scene(db: Any, settings: Any, tmp_path: Path) -> Scene:
    settings.DATA_DIR = tmp_path
    world = build_scene()
    snapshot.refresh(full=True)
    return world


def _by_key(table: analysis.OutflowTable) -> dict[str | None, analysis.OutflowRow]:
    return {row.key: row for row in table.rows}


def test_out_of_county_by_diagnosis_has_the_hand_values(scene: Scene):
    with snapshot.reader() as backend:
        table = analysis.outflow(backend, scene.a.pk, Q3, analysis.DIAGNOSIS)
    assert [row.key for row in table.rows] == ["C34", "I21", "K35"]
    c34, i21, k35 = table.rows
    assert (c34.admissions, c34.admissions_all, c34.admission_rate, c34.admission_share) == (
        2, 3, D("66.67"), D("50.00"))
    assert (c34.fund, c34.fund_all, c34.fund_rate, c34.fund_share) == (
        D("18500"), D("24500"), D("75.51"), D("44.58"))
    assert (c34.admissions_before, c34.fund_before) == (1, D("5000"))
    assert (c34.admissions_change, c34.fund_change) == (D("100.00"), D("270.00"))
    assert (i21.admissions, i21.admissions_all, i21.admission_rate, i21.admission_share) == (
        1, 2, D("50.00"), D("25.00"))
    assert (i21.fund, i21.fund_rate, i21.fund_share) == (D("20000"), D("100.00"), D("48.19"))
    assert (i21.admissions_change, i21.fund_change) == (D("0.00"), D("0.00"))
    assert (k35.admissions, k35.fund, k35.fund_share) == (1, D("3000"), D("7.23"))
    assert (k35.admissions_change, k35.fund_change) == (None, None)
    total = table.total
    assert (total.admissions, total.admissions_all, total.admission_rate) == (4, 7, D("57.14"))
    assert (total.fund, total.fund_all, total.fund_rate) == (D("41500"), D("48200"),
                                                             D("86.10"))
    assert (total.admissions_change, total.fund_change) == (D("100.00"), D("66.00"))
    assert table.groups == 3


def test_the_out_of_county_total_is_the_engines_out_of_county_admissions(scene: Scene):
    with snapshot.reader() as backend:
        table = analysis.outflow(backend, scene.a.pk, Q3, analysis.DIAGNOSIS)
        cells = compute(backend, [Q3], "alliance", ids=["out_of_county_admissions"],
                        orgs=[str(scene.a.pk)])
    assert cells[0].value == table.total.admissions == 4


def test_out_of_county_by_fund_and_top_n(scene: Scene):
    with snapshot.reader() as backend:
        by_fund = analysis.outflow(backend, scene.a.pk, Q3, analysis.DIAGNOSIS,
                                   order=analysis.BY_FUND)
        top_two = analysis.outflow(backend, scene.a.pk, Q3, analysis.DIAGNOSIS, top=2)
    assert [row.key for row in by_fund.rows] == ["I21", "C34", "K35"]
    assert [row.key for row in top_two.rows] == ["C34", "I21"]
    assert top_two.total.admissions == 4 and top_two.groups == 3  # the total keeps them all


def test_out_of_county_by_township_of_residence(scene: Scene):
    with snapshot.reader() as backend:
        table = analysis.outflow(backend, scene.a.pk, Q3, analysis.TOWNSHIP)
    assert [row.key for row in table.rows] == [T2_CODE, T1_CODE]  # tie on 2: fund decides
    t2, t1 = table.rows
    assert (t2.admissions, t2.admissions_all, t2.admission_rate) == (2, 3, D("66.67"))
    assert (t2.fund, t2.fund_all, t2.fund_rate) == (D("23000"), D("23000"), D("100.00"))
    assert (t2.admissions_change, t2.fund_change) == (D("100.00"), D("15.00"))
    assert (t1.admissions, t1.admissions_all, t1.fund, t1.fund_all, t1.fund_rate) == (
        2, 4, D("18500"), D("25200"), D("73.41"))


def test_another_alliances_residents_stay_out(scene: Scene):
    with snapshot.reader() as backend:
        b = analysis.outflow(backend, scene.b.pk, Q3, analysis.DIAGNOSIS)
        a = analysis.outflow(backend, scene.a.pk, Q3, analysis.DIAGNOSIS)
    assert [(row.key, row.admissions, row.fund) for row in b.rows] == [("C34", 1, D("9999"))]
    assert a.total.fund == D("41500")


def test_cost_structure_has_the_hand_values(scene: Scene):
    with snapshot.reader() as backend:
        costs = analysis.cost_structure(backend, scene.a.pk, Q3,
                                        ["village", "township", "county"])
        engine = {c.indicator: c.value for c in compute(
            backend, [Q3], "alliance", ids=["cost_per_visit", "cost_per_admission"],
            orgs=[str(scene.a.pk)])}
    visit, admission = costs.total[analysis.VISIT], costs.total[analysis.ADMISSION]
    assert visit.per_event() == {"drugs": D("37.50"), "consumables": D("5.00"),
                                 "examinations": D("21.25"), "other": D("43.75"),
                                 "total": D("107.50")}
    assert admission.per_event() == {"drugs": D("3500.00"), "consumables": D("1500.00"),
                                     "examinations": D("2500.00"), "other": D("3000.00"),
                                     "total": D("10500.00")}
    assert admission.shares() == {"drugs": D("33.33"), "consumables": D("14.29"),
                                  "examinations": D("23.81"), "other": D("28.57")}
    assert engine == {"cost_per_visit": D("107.50"), "cost_per_admission": D("10500.00")}
    assert [(r.level, r.kind, r.events) for r in costs.levels] == [
        ("village", "visit", 1), ("township", "visit", 2), ("county", "visit", 1),
        ("county", "admission", 2)]
    township = costs.levels[1]
    assert township.per_event()["total"] == D("90.00")
    assert {(r.institution, r.kind) for r in costs.institutions} == {
        (scene.v1.pk, "visit"), (scene.t1.pk, "visit"), (scene.h.pk, "visit"),
        (scene.h.pk, "admission")}


def test_data_quality_counts_and_samples(scene: Scene):
    with snapshot.reader() as backend:
        checks = analysis.data_quality(backend, scene.a.pk, Q3)
    missing = checks[analysis.MISSING_DIAGNOSIS]
    assert (missing.count, missing.checked) == (1, 12)
    assert [(s.source, s.id, s.institution) for s in missing.samples] == [
        ("E", scene.encounters["E5"].pk, scene.h.pk)]
    invalid = checks[analysis.INVALID_DIAGNOSIS]
    assert (invalid.count, invalid.checked, invalid.codes) == (1, 11, [("U99", 1)])
    assert [(s.id, s.diagnosis) for s in invalid.samples] == [
        (scene.encounters["E6"].pk, "U99")]
    unmatched = checks[analysis.UNMATCHED_SETTLEMENT]
    assert (unmatched.count, unmatched.checked, unmatched.rate) == (1, 2, D("50.00"))
    sample = unmatched.samples[0]
    assert (sample.source, sample.id, sample.fund, str(sample.date)) == (
        "S", scene.settlements["S7"].pk, D("700"), "2025-08-12")


def test_the_latest_month_of_an_alliance(scene: Scene):
    with snapshot.reader() as backend:
        assert analysis.latest_month(backend, scene.a.pk) == 202508
        assert analysis.latest_month(backend, 999_999) is None


def test_the_sql_is_portable_to_postgres():
    """Translating never fails, and no DuckDB-only function survives the translation."""
    for sql in (analysis.outflow_sql(1, Q3, analysis.DIAGNOSIS),
                analysis.outflow_sql(1, Q3, analysis.TOWNSHIP), analysis.cost_sql(1, Q3)):
        translated = translate(sql, "postgres", "tiercare_analytics")
        assert "tiercare_analytics.fact_event" in translated


def _everything(backend: Backend, alliance: int) -> tuple[Any, ...]:
    return (analysis.outflow(backend, alliance, Q3, analysis.DIAGNOSIS),
            analysis.outflow(backend, alliance, Q3, analysis.TOWNSHIP, order=analysis.BY_FUND),
            analysis.cost_structure(backend, alliance, Q3, ["village", "township", "county"]),
            analysis.data_quality(backend, alliance, Q3),
            analysis.latest_month(backend, alliance))


@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL")
def test_postgres_gives_the_same_numbers_as_duckdb(scene: Scene):
    from tiercare.indicators.engine import postgres

    backend = postgres.build(schema="tiercare_analytics_reports")
    with snapshot.reader() as duck:
        for alliance in (scene.a.pk, scene.b.pk):
            assert _everything(backend, alliance) == _everything(duck, alliance)


# --- the SVG charts of the printable report ------------------------------------------------


def test_bar_chart_escapes_labels_and_scales_to_a_nice_number():
    svg = svg_charts.bar_chart(["<C34> 肺癌", "I21"], [svg_charts.Series("n", [2, 1])],
                               title="A & B")
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert "&lt;C34&gt; 肺癌" in svg and "A &amp; B" in svg and "<C34>" not in svg
    assert svg.count("<rect") == 2  # one bar each, no legend for a single series
    assert ">2</text>" in svg and ">1.5</text>" not in svg  # whole ticks for counts


def test_stacked_bars_have_a_legend_and_empty_charts_say_so():
    svg = svg_charts.bar_chart(["县级"], [svg_charts.Series("药品", [D("110.10")]),
                                         svg_charts.Series("耗材", [D("46.21")])])
    assert "药品" in svg and "耗材" in svg and ">156.31</text>" in svg
    assert "没有数据" in svg_charts.bar_chart([], [], empty="没有数据")


def test_line_chart_leaves_gaps_and_draws_the_target():
    svg = svg_charts.line_chart(["01", "02", "03", "04"],
                                [svg_charts.Series("rate", [D("80"), None, D("90"), D("95")])],
                                target=90, target_label="≥ 90%", y_max=100)
    assert svg.count("<polyline") == 1  # 01 alone, then 03–04
    assert svg.count("<circle") == 3
    assert "stroke-dasharray" in svg and "≥ 90%" in svg
    assert "—" in svg_charts.line_chart(["01"], [svg_charts.Series("x", [None])])


@pytest.mark.parametrize(("value", "whole", "expected"), [
    (0, False, 1), (2, True, 2), (2.49, False, 2.5), (17, True, 20), (333.66, False, 500),
    (0.3, False, 0.5), (1, True, 1)])
def test_nice_ceiling(value: float, whole: bool, expected: float):
    assert svg_charts.nice_ceiling(value, whole=whole) == expected
