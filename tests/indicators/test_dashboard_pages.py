"""The dashboard pages (issue 5 item 4) as their users open them, on the hand-counted county
of ``dashboard_scene``: who may open them, the cards with targets and statuses, the aspect
pages, the ranking, the flows, the drill-down (masked, audited), the xlsx downloads, Chinese
and English, a missing snapshot and a bad period."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from tests.indicators.dashboard_scene import Q3, Scene, scene_fixture  # noqa: F401 (the fixture)
from tiercare.accounts.models import AuditEvent, Role, User

OVERVIEW = reverse("dashboards:overview")


def client_of(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def card(body: str, indicator: str) -> str:
    start = body.index(f'data-testid="card-{indicator}"')
    return body[start:start + 2500]


def test_the_alliance_admin_sees_cards_with_target_and_status(scene: Scene):
    response = client_of(scene.world.user(Role.ALLIANCE_ADMIN)).get(f"{OVERVIEW}?period={Q3}")
    body = response.content.decode()
    assert response.status_code == 200
    visit = card(body, "in_county_visit_rate")
    assert "县域就诊率" in visit and "66.67%" in visit and "≥ 90%" in visit
    assert 'data-status="missed"' in visit and "未达标" in visit
    primary = card(body, "primary_care_visit_share")
    assert "66.67%" in primary and 'data-status="met"' in primary
    assert "广东省紧密型县域医共体高质量发展" in body  # the pack's name
    assert 'data-testid="edit-pack"' in body and 'data-testid="edit-targets"' in body
    assert 'id="spark-data"' in body and '"2025-09"' in body
    assert 'data-nav="indicators"' in body


def test_the_regulator_reads_the_same_without_edit_links(scene: Scene):
    body = client_of(scene.world.user(Role.REGULATOR)).get(
        f"{OVERVIEW}?period={Q3}&alliance=LQ-YGT").content.decode()
    assert "66.67%" in card(body, "in_county_visit_rate")
    assert 'data-testid="edit-pack"' not in body and 'data-testid="edit-targets"' not in body
    assert 'data-testid="read-only"' in body
    assert 'name="alliance"' in body and "东昌府区医共体" in body  # chooses among alliances


def test_a_doctor_may_not_open_the_dashboards(scene: Scene):
    doctor = client_of(scene.world.user(Role.DOCTOR))
    for url in (OVERVIEW, reverse("dashboards:ranking"), reverse("dashboards:flows"),
                reverse("dashboards:drill", args=["out_of_county_admissions"])):
        assert doctor.get(url).status_code == 403


def test_the_admin_of_another_alliance_sees_only_theirs(scene: Scene):
    other = User.objects.create_user("dc_office", password="Dc-office-2026!",
                                     role=Role.ALLIANCE_ADMIN,
                                     alliance=scene.world.other_alliance)
    client = client_of(other)
    assert client.get(f"{OVERVIEW}?alliance=LQ-YGT").status_code == 403
    body = client.get(f"{OVERVIEW}?period={Q3}").content.decode()
    assert "东昌府区医共体" in body and "临清市人民医院医共体" not in body
    drill = reverse("dashboards:drill", args=["out_of_county_admissions"])
    assert client.get(f"{drill}?period={Q3}&kind=alliance&org="
                      f"{scene.world.alliance.pk}").status_code == 403
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.VIEW, user=other).exists()


def test_the_drill_down_is_masked_for_the_alliance_admin_and_audited(scene: Scene):
    admin = scene.world.user(Role.ALLIANCE_ADMIN)
    url = reverse("dashboards:drill", args=["out_of_county_admissions"])
    response = client_of(admin).get(f"{url}?period={Q3}&part=numerator")
    body = response.content.decode()
    assert response.status_code == 200
    assert "王*" in body and "王五" not in body and "姓名已脱敏" in body
    event = AuditEvent.objects.get(action=AuditEvent.Action.VIEW, user=admin)
    assert event.patient_id == scene.wangwu.pk and event.object_type == "encounters.Settlement"
    assert event.path.startswith(url)


def test_the_regulator_sees_names_in_the_drill_down(scene: Scene):
    url = reverse("dashboards:drill", args=["in_county_visit_rate"])
    body = client_of(scene.world.user(Role.REGULATOR)).get(
        f"{url}?period={Q3}&part=denominator&kind=township&org=371581002").content.decode()
    assert "王五" in body and "石桥乡" in body
    assert AuditEvent.objects.filter(action=AuditEvent.Action.VIEW,
                                     patient_id=scene.wangwu.pk).count() == 2


def test_aspect_page_with_its_breakdown(scene: Scene):
    client = client_of(scene.world.user(Role.ALLIANCE_ADMIN))
    url = reverse("dashboards:aspect", args=["ordered_care"])
    body = client.get(f"{url}?period={Q3}&kind=township").content.decode()
    assert "有序就医" in body and "75%" in body and "城关镇" in body
    body = client.get(f"{url}?period={Q3}&kind=institution").content.decode()
    assert "王家村卫生室" in body
    assert client.get(reverse("dashboards:aspect", args=["nothing"])).status_code == 404


def test_ranking_and_flows_pages(scene: Scene):
    client = client_of(scene.world.user(Role.ALLIANCE_ADMIN))
    body = client.get(f"{reverse('dashboards:ranking')}?period={Q3}"
                      "&indicator=primary_care_visit_share&kind=institution").content.decode()
    rows = re.findall(r'<tr data-org="(\d+)">', body)
    assert rows[:3] == [str(scene.world.township.pk), str(scene.world.village.pk),
                        str(scene.world.county_hospital.pk)]
    assert 'id="ranking-data"' in body
    # a rate of residents is ranked by township even when institutions were asked for
    body = client.get(f"{reverse('dashboards:ranking')}?period={Q3}"
                      "&indicator=in_county_visit_rate&kind=institution").content.decode()
    assert "城关镇" in body and "75%" in body
    body = client.get(f"{reverse('dashboards:flows')}?period={Q3}").content.decode()
    assert 'data-testid="flows-total">3<' in body and "县外转诊" in body
    assert 'id="flow-data"' in body


def test_every_table_downloads_as_xlsx(scene: Scene):
    from openpyxl import load_workbook

    admin = scene.world.user(Role.ALLIANCE_ADMIN)
    client = client_of(admin)
    response = client.get(f"{reverse('dashboards:overview_xlsx')}?period={Q3}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    book = load_workbook(io.BytesIO(response.content))
    sheet = book.worksheets[0]
    assert sheet["A2"].value == "指标"
    rows = {row[1]: row for row in sheet.iter_rows(min_row=3, values_only=True)}
    assert float(rows["in_county_visit_rate"][4]) == pytest.approx(66.67)
    assert rows["in_county_visit_rate"][2] == 4 and rows["in_county_visit_rate"][3] == 6
    assert rows["in_county_visit_rate"][7] == "未达标"

    aspect = load_workbook(io.BytesIO(client.get(
        f"{reverse('dashboards:aspect_xlsx', args=['ordered_care'])}?period={Q3}").content))
    assert len(aspect.worksheets) == 3
    towns = aspect.worksheets[2]
    header = [c.value for c in towns[2]]
    column = header.index("县域就诊率")
    values = {row[0]: row[column] for row in towns.iter_rows(min_row=3, values_only=True)}
    assert float(values["城关镇"]) == 75.0

    ranking = load_workbook(io.BytesIO(client.get(
        f"{reverse('dashboards:ranking_xlsx')}?period={Q3}&indicator=primary_care_visit_share"
        "&kind=institution").content)).worksheets[0]
    assert [row[1] for row in ranking.iter_rows(min_row=3, values_only=True)] == [
        "城关镇卫生院", "王家村卫生室", "临清市人民医院"]
    flows = load_workbook(io.BytesIO(client.get(
        f"{reverse('dashboards:flows_xlsx')}?period={Q3}").content)).worksheets[0]
    assert sum(row[3] for row in flows.iter_rows(min_row=3, values_only=True)) == 3
    assert AuditEvent.objects.filter(action=AuditEvent.Action.EXPORT, user=admin).count() == 4


def test_english_is_complete(scene: Scene):
    client = client_of(scene.world.user(Role.ALLIANCE_ADMIN))
    client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    body = client.get(f"{OVERVIEW}?period={Q3}").content.decode()
    assert "Indicator overview" in body and "In-county visit rate" in body
    assert "missed" in card(body, "in_county_visit_rate") and "指标总览" not in body
    shown = re.sub(r'title="[^"]*"', "", card(body, "primary_care_visit_share"))  # citations
    assert not re.search(r"[\u4e00-\u9fff]", shown[:shown.index("data-testid=\"card-", 10)])
    url = reverse("dashboards:drill", args=["out_of_county_admissions"])
    body = client.get(f"{url}?period={Q3}").content.decode()
    assert "Residents' names are masked for your role." in body


def test_chinese_is_the_default(scene: Scene):
    body = client_of(scene.world.user(Role.ALLIANCE_ADMIN)).get(
        f"{OVERVIEW}?period={Q3}").content.decode()
    assert "指标总览" in body and "Indicator overview" not in body
    assert '>指标<' in body  # the navigation entry


@pytest.mark.parametrize("query", ["period=2025Q5", "period=last-year", "ytd=2025", "period=0001",
                                   "ytd=2025-13", "alliance=NOPE", "kind=level"])
def test_a_bad_filter_is_a_400_with_the_reason(scene: Scene, query: str):
    url = reverse("dashboards:aspect", args=["ordered_care"])
    response = client_of(scene.world.user(Role.ALLIANCE_ADMIN)).get(f"{url}?{query}")
    assert response.status_code == 400
    message = re.search(r'data-testid="dashboard-problem">([^<]+)<',
                        response.content.decode())
    assert message is not None and re.search(r"[\u4e00-\u9fff]", message.group(1))


def test_a_bad_period_in_english(scene: Scene):
    client = client_of(scene.world.user(Role.ALLIANCE_ADMIN))
    client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    response = client.get(f"{OVERVIEW}?period=2025Q5")
    assert response.status_code == 400
    assert "is not a period" in response.content.decode()


def test_without_a_snapshot_the_page_says_how_to_make_one(db: Any, settings: Any,
                                                            tmp_path: Path):
    from tests.web.factories import make_world

    settings.DATA_DIR = tmp_path
    world = make_world()
    for url in (OVERVIEW, reverse("dashboards:flows"), reverse("dashboards:ranking"),
                reverse("dashboards:aspect", args=["ordered_care"]),
                reverse("dashboards:drill", args=["up_referrals"])):
        response = client_of(world.user(Role.REGULATOR)).get(url)
        assert response.status_code == 200
        assert "tiercare indicators refresh" in response.content.decode()


def test_the_landing_page_has_the_indicators_card(scene: Scene):
    body = client_of(scene.world.user(Role.AUDITOR)).get(reverse("web:home")).content.decode()
    assert 'data-card="indicators"' in body and "县域就诊率" in body
    body = client_of(scene.world.user(Role.DOCTOR)).get(reverse("web:home")).content.decode()
    assert 'data-card="indicators"' not in body
