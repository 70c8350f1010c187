"""The report pages (issue 5 items 4 and 6): out-of-county analysis, cost structure, data
quality, the quarterly report and its PDF, on the county of ``report_scene``: who may open
them, both languages, bad filters, no snapshot yet, and no resident named."""

from __future__ import annotations

import re
import zlib
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from tests.indicators.report_scene import Scene, build_scene
from tiercare.accounts.models import Role, User
from tiercare.indicators import reports
from tiercare.indicators.engine import snapshot
from tiercare.kernel.periods import parse

PAGES = ("out_of_county", "cost_structure", "data_quality", "quarterly")


@pytest.fixture
def scene(db: Any, settings: Any, tmp_path: Path) -> Scene:
    settings.DATA_DIR = tmp_path
    world = build_scene()
    snapshot.refresh(full=True)
    return world


def _user(role: str, scene: Scene, **scope: Any) -> User:
    return User.objects.create_user(f"u_{role}", password="Pass-2026-x!", role=role, **scope)


def _client(user: User, language: str = "zh-hans") -> Client:
    client = Client()
    client.force_login(user)
    client.cookies["django_language"] = language
    return client


@pytest.fixture
def office(scene: Scene) -> Client:
    """The alliance office of A (an alliance administrator)."""
    return _client(_user(Role.ALLIANCE_ADMIN, scene, alliance=scene.a))


def _url(name: str, **query: Any) -> str:
    text = "&".join(f"{k}={v}" for k, v in query.items())
    return reverse(f"indicator_reports:{name}") + (f"?{text}" if text else "")


def pdf_pages(data: bytes) -> int:
    """The page count of a PDF, read from its (possibly compressed) page tree."""
    found = [int(n) for n in re.findall(rb"/Type\s*/Pages\b[^>]*?/Count\s+(\d+)", data)]
    for match in re.finditer(rb"stream\r?\n", data):
        end = data.find(b"endstream", match.end())
        try:
            text = zlib.decompress(data[match.end():end])
        except zlib.error:
            continue
        found += [int(n) for n in re.findall(rb"/Type\s*/Pages\b[^>]*?/Count\s+(\d+)", text)]
        found += [int(n) for n in re.findall(rb"/Count\s+(\d+)[^>]*?/Type\s*/Pages\b", text)]
    return max(found, default=0)


@pytest.mark.parametrize("name", PAGES)
def test_every_page_opens_in_chinese_and_english(scene: Scene, office: Client, name: str):
    zh = office.get(_url(name, period="2025Q3"))
    assert zh.status_code == 200
    body = zh.content.decode()
    assert scene.a.name in body
    assert "2025年第3季度" in body
    for resident in scene.residents.values():  # aggregates only: nobody is named
        assert resident.name not in body
    office.cookies["django_language"] = "en"
    en = office.get(_url(name, period="2025Q3"))
    assert en.status_code == 200
    assert "2025 Q3" in en.content.decode()


def test_the_out_of_county_page_shows_the_top_diagnosis_and_township(office: Client):
    body = office.get(_url("out_of_county", period="2025Q3")).content.decode()
    diagnoses = body[body.index('data-testid="outflow-diagnoses"'):]
    assert diagnoses.index("C34 支气管和肺恶性肿瘤") < diagnoses.index("I21 急性心肌梗死")
    assert "66.67%" in diagnoses and "+270.00%" in diagnoses
    townships = body[body.index('data-testid="outflow-townships"'):]
    assert townships.index("石桥乡") < townships.index("城关镇")
    assert 'id="chart-diagnoses"' in body  # the ECharts data
    by_fund = office.get(_url("out_of_county", period="2025Q3", order="fund")).content.decode()
    rows = by_fund[by_fund.index('data-testid="outflow-diagnoses"'):]
    assert rows.index("I21 ") < rows.index("C34 ")


def test_the_english_page_names_diagnoses_in_english(scene: Scene):
    client = _client(_user(Role.ALLIANCE_ADMIN, scene, alliance=scene.a), "en")
    body = client.get(_url("out_of_county", period="2025Q3")).content.decode()
    assert "Out-of-county analysis" in body
    assert "C34 Malignant neoplasm of bronchus and lung" in body


def test_the_cost_and_quality_pages_show_the_hand_values(scene: Scene, office: Client):
    costs = office.get(_url("cost_structure", period="2025Q3")).content.decode()
    assert "¥107.50" in costs and "¥10,500.00" in costs and scene.t1.name in costs
    quality = office.get(_url("data_quality", period="2025Q3")).content.decode()
    assert f"就诊 #{scene.encounters['E5'].pk}" in quality
    assert "U99 × 1" in quality
    assert f"结算 #{scene.settlements['S7'].pk}" in quality


def test_the_quarterly_report_judges_the_indicators_against_the_pack(scene: Scene,
                                                                     office: Client):
    body = office.get(_url("quarterly", period="2025Q3")).content.decode()
    assert 'data-testid="quarterly-report"' in body
    assert 'data-indicator="out_of_county_admissions"' in body
    assert "<svg" in body  # server-side charts, printable
    assert "县外住院最多的诊断是 C34 支气管和肺恶性肿瘤" in body
    assert reverse("indicator_reports:quarterly_pdf") in body


def test_a_doctor_is_refused(scene: Scene):
    doctor = _client(_user(Role.DOCTOR, scene, institution=scene.t1))
    for name in (*PAGES, "quarterly_pdf"):
        assert doctor.get(_url(name)).status_code == 403


def test_regulators_see_every_alliance_and_an_office_its_own(scene: Scene, office: Client):
    regulator = _client(_user(Role.REGULATOR, scene))
    response = regulator.get(_url("out_of_county", alliance=scene.b.pk, period="2025Q3"))
    assert response.status_code == 200 and scene.b.name in response.content.decode()
    assert regulator.get(_url("out_of_county", alliance="DC")).status_code == 200
    refused = office.get(_url("out_of_county", alliance=scene.b.pk))
    assert refused.status_code == 403
    assert "您只能查看本医共体的指标" in refused.content.decode()
    assert office.get(_url("out_of_county", alliance="NOPE")).status_code == 404


def test_the_default_period_is_the_quarter_of_the_latest_data(office: Client):
    body = office.get(_url("out_of_county")).content.decode()
    assert 'value="2025Q3"' in body


@pytest.mark.parametrize("name", [*PAGES, "quarterly_pdf"])
def test_a_bad_period_is_a_400_in_the_users_language(office: Client, name: str):
    response = office.get(_url(name, period="2025Q9"))
    assert response.status_code == 400
    assert "2025Q9 不是统计期" in response.content.decode()
    office.cookies["django_language"] = "en"
    assert "2025Q9 is not a period" in office.get(_url(name, period="2025Q9")).content.decode()


def test_without_a_snapshot_the_pages_say_so(db: Any, settings: Any, tmp_path: Path):
    settings.DATA_DIR = tmp_path
    scene = build_scene()  # no refresh
    client = _client(_user(Role.ALLIANCE_ADMIN, scene, alliance=scene.a))
    for name in PAGES:
        response = client.get(_url(name))
        assert response.status_code == 200
        assert 'data-testid="no-snapshot"' in response.content.decode()
    pdf = client.get(_url("quarterly_pdf"))
    assert pdf.status_code == 404 and "分析快照" in pdf.content.decode()


def test_the_quarterly_pdf(office: Client, scene: Scene):
    response = office.get(_url("quarterly_pdf", period="2025Q3", alliance=scene.a.pk))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == 'attachment; filename="tiercare-LQ-2025Q3.pdf"'
    assert response.content.startswith(b"%PDF")
    assert pdf_pages(response.content) > 1
    # the same page again: the PDF comes from the cache, byte for byte
    assert len(list(reports.pdf_cache_dir().glob("*.pdf"))) == 1
    again = office.get(_url("quarterly_pdf", period="2025Q3", alliance=scene.a.pk))
    assert again.content == response.content


def test_the_pdf_cache_keeps_the_newest(settings: Any, tmp_path: Path, monkeypatch: Any):
    settings.DATA_DIR = tmp_path
    monkeypatch.setattr(reports, "PDF_CACHE_FILES", 2)
    monkeypatch.setattr(reports, "render_pdf", lambda html: b"%PDF " + html.encode())
    for n in range(4):
        assert reports.cached_pdf(f"<p>{n}</p>") == f"%PDF <p>{n}</p>".encode()
    assert len(list(reports.pdf_cache_dir().glob("*.pdf"))) == 2


def test_targets_and_values_are_written_as_people_read_them():
    from decimal import Decimal

    from tiercare.indicators.rules import Comparison, Target, Unit

    assert reports.format_value(Decimal("89.7"), Unit.PERCENT) == "89.70%"
    assert reports.format_value(Decimal("-3"), Unit.PERCENT_CHANGE) == "-3.00%"
    assert reports.format_value(Decimal("17"), Unit.COUNT) == "17"
    assert reports.format_value(None, Unit.COUNT) == "—"
    assert reports.format_value(Decimal("6.666"), Unit.PER_10K) in (
        "6.67 per 10,000", "6.67 /万人")
    assert reports.format_target(Target("x", Comparison.AT_LEAST, Decimal("65")),
                                 Unit.PERCENT) == "≥ 65%"
    assert reports.format_target(Target("x", Comparison.APPROX, Decimal("85"), Decimal("2")),
                                 Unit.PERCENT) == "≈ 85% ± 2"
    assert reports.default_period(202508) == parse("2025Q3")
