"""The dashboards' data layer (``indicators.board``, issue 5 item 4) on the hand-counted
county of ``dashboard_scene`` (values worked out in its docstring): cards with their targets,
statuses and trends, the aspect tables, the ranking, the referral flows, and the drill-down
with its scope, masking and audit trail."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied
from django.utils import translation

from tests.indicators.dashboard_scene import Q3, Scene, at, encounter, scene_fixture  # noqa: F401 (the fixture)
from tiercare.accounts.models import AuditEvent, Role, User
from tiercare.indicators import board
from tiercare.indicators.engine import snapshot
from tiercare.indicators.engine.compute import Span
from tiercare.kernel.periods import parse

SPAN = Span.of(parse(Q3))


@pytest.fixture(autouse=True)
def chinese() -> Any:
    with translation.override("zh-hans"):
        yield


def by_id(cards: list[board.Card]) -> dict[str, board.Card]:
    return {c.indicator: c for c in cards}


def test_cards_hold_the_hand_values_with_target_and_status(scene: Scene):
    cards = by_id(board.cards(scene.world.alliance, SPAN, "zh-hans"))

    visit = cards["in_county_visit_rate"]
    assert visit.name == "县域就诊率"
    assert (visit.numerator, visit.denominator, visit.value) == (4, 6, Decimal("66.67"))
    assert visit.target == "≥ 90%" and visit.status == "missed"
    assert visit.value_text == "66.67%" and visit.detail == "4 / 6"

    primary = cards["primary_care_visit_share"]
    assert (primary.numerator, primary.denominator, primary.value) == (2, 3, Decimal("66.67"))
    assert primary.target == "≥ 65%" and primary.status == "met"  # Guangdong 2025

    inpatient = cards["in_county_inpatient_rate"]
    assert inpatient.value == Decimal("50.00") and inpatient.target == "≈ 85% ± 2"
    assert inpatient.status == "missed"

    assert cards["out_of_county_admissions"].value == 1
    assert cards["managed_outflow_share"].value == Decimal("100.00")
    assert cards["up_referrals"].value == 1 and cards["down_referrals"].value == 1
    assert cards["up_referrals"].status == "none"  # watched, not judged


def test_a_card_trends_over_the_twelve_months_ending_with_the_period(scene: Scene):
    visit = by_id(board.cards(scene.world.alliance, SPAN, "zh-hans"))["in_county_visit_rate"]
    labels = [label for label, _value in visit.trend]
    assert labels[0] == "2024-10" and labels[-1] == "2025-09" and len(labels) == 12
    trend = dict(visit.trend)
    assert trend["2025-05"] == Decimal("100.00")
    assert trend["2025-07"] == Decimal("100.00") and trend["2025-08"] == Decimal("100.00")
    assert trend["2025-09"] == Decimal("0.00")
    assert trend["2025-06"] is None  # no care event, no rate


def test_the_year_adds_up_its_counts(scene: Scene):
    year = Span.of(parse("2025"))
    visit = by_id(board.cards(scene.world.alliance, year, "zh-hans"))["in_county_visit_rate"]
    assert (visit.numerator, visit.denominator, visit.value) == (5, 7, Decimal("71.43"))
    ytd = board.parse_span("", "2025-07")
    assert ytd == Span.year_to_date(2025, 7)
    july = by_id(board.cards(scene.world.alliance, ytd, "zh-hans"))["in_county_visit_rate"]
    assert (july.numerator, july.denominator) == (3, 3)  # E6 in May, E1 and E2 in July


def test_cells_are_cached_until_the_next_refresh(scene: Scene):
    orgs = [str(scene.world.alliance.pk)]
    first = board._cells("alliance", orgs, [SPAN])
    assert board._cells("alliance", orgs, [SPAN]) is first
    encounter(99, scene.wangwu, scene.world.county_hospital, "outpatient", at(9, 20))
    snapshot.refresh(full=True)  # a new refresh time: a new key, nothing stale
    visit = by_id(board.cards(scene.world.alliance, SPAN, "zh-hans"))["in_county_visit_rate"]
    assert (visit.numerator, visit.denominator) == (5, 7)


def test_the_aspect_table_and_its_breakdown_by_township(scene: Scene):
    table = board.alliance_table(scene.world.alliance, SPAN, "zh-hans", "ordered_care")
    first = table.rows[0]
    assert first[0] == "县域就诊率" and first[1] == "in_county_visit_rate"
    assert str(first[4]) == "66.67%" and first[6] == "≥ 90%" and first[7] == "未达标"
    # computed since ADR 0021, but the scene has no chronic registrations: no value, not judged
    chronic = next(row for row in table.rows if row[1] == "htn_control_rate")
    assert str(chronic[4]) == "" and chronic[7] == "不评判"

    towns = board.breakdown_table(scene.world.alliance, "ordered_care", SPAN, "township",
                                  "zh-hans")
    column = towns.keys.index("in_county_visit_rate")
    values = {row[0]: row[column] for row in towns.rows}
    assert str(values["城关镇"]) == "75%" and str(values["石桥乡"]) == "50%"
    assert towns.header[0] == "乡镇"


def test_rates_of_residents_are_not_broken_down_by_institution(scene: Scene):
    table = board.breakdown_table(scene.world.alliance, "ordered_care", SPAN, "institution",
                                  "zh-hans")
    assert "in_county_visit_rate" not in table.keys
    assert "primary_care_visit_share" in table.keys
    with pytest.raises(board.BadFilter):
        board.ranking(scene.world.alliance, "in_county_visit_rate", "institution", SPAN)


def test_the_ranking_puts_the_best_first_and_those_without_a_value_last(scene: Scene):
    rows = board.ranking(scene.world.alliance, "primary_care_visit_share", "institution", SPAN)
    assert [(r.rank, r.name, r.value) for r in rows] == [
        (1, "城关镇卫生院", Decimal("100.00")), (2, "王家村卫生室", Decimal("100.00")),
        (3, "临清市人民医院", Decimal("0.00"))]
    towns = board.ranking(scene.world.alliance, "in_county_visit_rate", "township", SPAN)
    assert [(r.name, r.value) for r in towns] == [("城关镇", Decimal("75.00")),
                                                  ("石桥乡", Decimal("50.00"))]


def test_referral_flows_between_levels(scene: Scene):
    flows = board.referral_flows(scene.world.alliance, SPAN)
    assert flows.total == 3
    assert [(r.send_level, r.recv_level, r.direction, r.count) for r in flows.rows] == [
        ("乡镇级", "县级", "上转", 1), ("县级", "乡镇级", "下转", 1),
        ("县级", "市级", "县外转诊", 1)]
    assert {link["value"] for link in flows.chart["links"]} == {1}
    assert board.referral_flows(scene.world.alliance, Span.of(parse("2025Q1"))).total == 0


def test_drill_down_lists_masked_records_for_the_alliance_admin_and_audits_them(
        scene: Scene):
    admin = scene.world.user(Role.ALLIANCE_ADMIN)
    result = board.drill(admin, None, "out_of_county_admissions", "numerator", "alliance",
                         str(scene.world.alliance.pk), SPAN)
    assert result.total == 1 and result.masked
    row = result.rows[0]
    assert row.record == ("encounters.Settlement", scene.s1.pk)
    assert "王*" in row.cells[2] and "王五" not in " ".join(row.cells)
    events = AuditEvent.objects.filter(action=AuditEvent.Action.VIEW, user=admin)
    assert [(e.object_type, e.object_id, e.patient_id) for e in events] == [
        ("encounters.Settlement", str(scene.s1.pk), scene.wangwu.pk)]


def test_one_audit_event_per_resident_record_listed(scene: Scene):
    regulator = scene.world.user(Role.REGULATOR)
    result = board.drill(regulator, None, "in_county_visit_rate", "denominator", "alliance",
                         str(scene.world.alliance.pk), SPAN)
    assert result.total == 6 and not result.masked
    assert "王五" in " ".join(" ".join(r.cells) for r in result.rows)
    events = AuditEvent.objects.filter(user=regulator, action=AuditEvent.Action.VIEW)
    assert events.count() == 6
    assert {e.object_type for e in events} == {"encounters.Encounter", "encounters.Settlement"}


def test_drill_down_outside_the_users_alliance_is_refused(scene: Scene):
    other = User.objects.create_user("dc_office", password="Dc-office-2026!",
                                     role=Role.ALLIANCE_ADMIN,
                                     alliance=scene.world.other_alliance)
    with pytest.raises(PermissionDenied):
        board.drill(other, None, "out_of_county_admissions", "numerator", "alliance",
                    str(scene.world.alliance.pk), SPAN)
    with pytest.raises(PermissionDenied):
        board.drill(other, None, "primary_care_visit_share", "numerator", "institution",
                    str(scene.world.township.pk), SPAN)
    with pytest.raises(PermissionDenied):
        board.drill(scene.world.user(Role.DOCTOR), None, "out_of_county_admissions",
                    "numerator", "alliance", str(scene.world.alliance.pk), SPAN)
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.VIEW).exists()


def test_a_township_drill_down_lists_its_residents_care(scene: Scene):
    regulator = scene.world.user(Role.REGULATOR)
    result = board.drill(regulator, None, "in_county_visit_rate", "numerator", "township",
                         "371581001", SPAN)
    assert result.total == 3 and result.org_name == "城关镇"
    with pytest.raises(board.NotFound):
        board.drill(regulator, None, "in_county_visit_rate", "numerator", "institution",
                    str(scene.world.township.pk), SPAN)
    with pytest.raises(board.NotFound):
        board.drill(regulator, None, "down_referral_growth", "numerator", "alliance",
                    str(scene.world.alliance.pk), SPAN)


@pytest.mark.parametrize(("period", "ytd", "label"), [
    ("2025", "", "2025"), ("2025Q3", "", "2025Q3"), ("2025-07", "", "2025-07"),
    ("", "2025-07", "2025-01..2025-07"), ("", "", None)])
def test_periods_from_the_query_string(period: str, ytd: str, label: str | None):
    span = board.parse_span(period, ytd)
    assert (span.label if span else None) == label


@pytest.mark.parametrize(("period", "ytd"), [("2025Q5", ""), ("yesterday", ""),
                                             ("", "2025"), ("", "2025-13")])
def test_a_bad_period_is_refused_with_a_translated_reason(period: str, ytd: str):
    with pytest.raises(board.BadFilter) as refused:
        board.parse_span(period, ytd)
    assert "2025" in str(refused.value) and any("\u4e00" <= ch <= "\u9fff"
                                                for ch in str(refused.value))


def test_no_snapshot_yet(db: Any, settings: Any, tmp_path: Path):
    settings.DATA_DIR = tmp_path
    with pytest.raises(board.NoSnapshot):
        board.default_span()


@pytest.mark.parametrize(("name", "masked"), [("张三", "张*"), ("欧阳明华", "欧**华"),
                                              ("李", "*"), ("", "")])
def test_names_are_masked(name: str, masked: str):
    assert board.mask_name(name) == masked


@pytest.mark.parametrize(("value", "unit", "text"), [
    (Decimal("89.69"), "percent", "89.69%"), (Decimal("68"), "count", "68"),
    (Decimal("189.69"), "yuan", "¥189.69"), (Decimal("12.50"), "percent_change", "+12.5%"),
    (Decimal("1.97"), "hours", "1.97 小时"), (None, "percent", "")])
def test_values_in_their_unit(value: Decimal | None, unit: str, text: str):
    assert board.format_value(value, unit) == text
