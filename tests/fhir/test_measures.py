"""FHIR Measure and MeasureReport (issue 5 item 7; ADR 0019): every indicator of the catalogue
is a Measure; a MeasureReport (summary) is computed from the analytics snapshot for one
indicator, org unit and period and carries the numbers ``compute`` gives. Real clients
(fhirclient's strict R4 models, fhirpy) against the running server, on the golden county
(``tests/golden``: all care in March 2025, values worked out by hand there)."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from django.test import Client
from fhirclient import client as smart_client
from fhirclient.models.bundle import Bundle as SmartBundle
from fhirclient.models.measure import Measure as SmartMeasure
from fhirclient.models.measurereport import MeasureReport as SmartReport
from fhirpy import SyncFHIRClient

from tests.fhir.conftest import Fhir
from tests.golden.test_indicators_golden import build_county
from tests.web.factories import PASSWORD
from tiercare.accounts.models import AuditEvent, Role
from tiercare.accounts.services import create_user
from tiercare.fhir import export, structure, tokens
from tiercare.fhir.mappers.measure import measure_id, subject_kinds
from tiercare.indicators import rules, services
from tiercare.indicators.catalogue import load_catalogue
from tiercare.indicators.engine import DEFINITIONS, Span, compute, snapshot
from tiercare.kernel.periods import parse
from tiercare.registry.models import Division, Grid, Institution

pytestmark = pytest.mark.django_db(transaction=True)

BASE = "https://tiercare.org/fhir"
TARGET = f"{BASE}/StructureDefinition/indicator-target"
AMOUNT = f"{BASE}/StructureDefinition/population-amount"
TRANSLATION = "http://hl7.org/fhir/StructureDefinition/translation"
MARCH = "2025-03"
CST = dt.timezone(dt.timedelta(hours=8))


# -- fixtures -----------------------------------------------------------------------------------

@pytest.fixture
def data_dir(settings: Any, tmp_path: Path) -> Path:
    """The snapshot lives under the test's own directory (the live server shares settings)."""
    settings.DATA_DIR = tmp_path
    return tmp_path


@pytest.fixture
def county(db: Any, data_dir: Path) -> dict[str, Any]:
    made = build_county()
    snapshot.refresh(full=True)
    return made


def _secret(name: str = "dashboard", scope: str = "system/*.read", **reach: Any) -> str:
    return tokens.create_token(name, scope=scope, **(reach or {"whole_county": True}))[1]


@pytest.fixture
def secret(db: Any) -> str:
    return _secret()


@pytest.fixture
def smart(live_server: Any, secret: str) -> Any:
    fhir = smart_client.FHIRClient(settings={"app_id": "tiercare-tests",
                                             "api_base": f"{live_server.url}/fhir"})
    fhir.server.session.headers["Authorization"] = f"Bearer {secret}"
    return fhir


@pytest.fixture
def fhirpy(live_server: Any, secret: str) -> SyncFHIRClient:
    return SyncFHIRClient(f"{live_server.url}/fhir", authorization=f"Bearer {secret}")


@pytest.fixture
def fhir(client: Client, secret: str) -> Fhir:
    return Fhir(client, {"HTTP_AUTHORIZATION": f"Bearer {secret}"})


def as_system(client: Client, scope: str = "system/*.read", **reach: Any) -> Fhir:
    name = f"held-{len(reach)}-{scope}-{sorted(reach.items())}"
    return Fhir(client, {"HTTP_AUTHORIZATION": f"Bearer {_secret(name, scope, **reach)}"})


def matches(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle.get("entry", []) if e["search"]["mode"] == "match"]


def cells(kind: str, period: str, org: str) -> dict[str, Any]:
    """The engine's cells of one org unit and period, by indicator."""
    with snapshot.reader() as backend:
        return {c.indicator: c for c in compute(backend, [Span.of(parse(period))], kind,
                                                orgs=[org])}


def refreshed_at() -> dt.datetime:
    return dt.datetime.fromisoformat(snapshot.state()["refreshed_at"])


def population(report: dict[str, Any], code: str) -> dict[str, Any]:
    return next(p for p in report["group"][0]["population"]
                if p["code"]["coding"][0]["code"] == code)


def number(entry: dict[str, Any]) -> Decimal:
    """A population's count, or its amount of money."""
    if "count" in entry:
        return Decimal(entry["count"])
    money = next(e for e in entry["extension"] if e["url"] == AMOUNT)["valueMoney"]
    assert money["currency"] == "CNY"
    return Decimal(str(money["value"]))


def score(report: dict[str, Any]) -> Decimal | None:
    value = report.get("group", [{}])[0].get("measureScore")
    return None if value is None else Decimal(str(value["value"]))


# -- Measure ------------------------------------------------------------------------------------

def test_every_catalogue_indicator_is_a_measure_and_parses_with_the_r4_models(smart):
    catalogue = load_catalogue()
    bundle = SmartBundle(smart.server.request_json("Measure?_count=200&_total=accurate"))
    assert bundle.total == len(catalogue.indicators) == 37
    assert [e.resource.id for e in bundle.entry] == [measure_id(i.id) for i in
                                                     catalogue.indicators]
    for entry in bundle.entry:
        measure = entry.resource
        indicator = catalogue.indicator(measure.identifier[0].value)
        assert measure.url == f"{BASE}/Measure/{measure.id}"
        assert measure.status == ("active" if indicator.id in DEFINITIONS else "draft")
        assert measure.title == indicator.name_zh and measure.version == catalogue.edition
        assert measure.topic[0].coding[0].code == indicator.aspect
        assert (measure.group is not None) == (
            indicator.id in DEFINITIONS and DEFINITIONS[indicator.id].kind != "growth")

    visits = SmartMeasure.read("in-county-visit-rate", smart.server)
    assert visits.name == "InCountyVisitRate" and visits.scoring.coding[0].code == "proportion"
    assert visits.improvementNotation.coding[0].code == "increase"
    assert [p.code.coding[0].code for p in visits.group[0].population] == ["numerator",
                                                                         "denominator"]
    numerator = visits.group[0].population[0]
    assert numerator.description.startswith("Visits and admissions of county residents")
    assert numerator.criteria.language == "application/sql"
    assert "in_county = 1" in numerator.criteria.expression
    raw = smart.server.request_json("Measure/in-county-visit-rate")
    translation = raw["_title"]["extension"][0]
    assert translation["url"] == TRANSLATION
    assert {e["url"]: e.get("valueCode", e.get("valueString")) for e in
            translation["extension"]} == {"lang": "en", "content": "In-county visit rate"}
    kinds = {e["valueCode"] for e in raw["extension"] if e["url"].endswith("subject-kind")}
    assert kinds == {"alliance", "township"}


def test_measures_of_each_kind_say_how_they_score(fhir):
    def measure(indicator_id: str) -> dict[str, Any]:
        return fhir.get(f"Measure/{measure_id(indicator_id)}").json()

    def codes(resource: dict[str, Any]) -> list[str]:
        return [p["code"]["coding"][0]["code"] for p in resource["group"][0]["population"]]

    counted = measure("out_of_county_admissions")
    assert counted["scoring"]["coding"][0]["code"] == "cohort"
    assert codes(counted) == ["initial-population"]
    median = measure("referral_response_hours")
    assert median["scoring"]["coding"][0]["code"] == "continuous-variable"
    assert codes(median) == ["measure-population", "measure-observation"]
    assert "MEDIAN(hours)" in median["group"][0]["population"][1]["criteria"]["expression"]
    assert measure("gp_per_10k")["scoring"]["coding"][0]["code"] == "ratio"
    assert measure("cost_per_visit")["scoring"]["coding"][0]["code"] == "ratio"
    growth = measure("down_referral_growth")
    assert "scoring" not in growth and "group" not in growth
    assert {"type": "depends-on", "resource": f"{BASE}/Measure/down-referrals"} in growth[
        "relatedArtifact"]
    watched = measure("up_referrals")
    assert "improvementNotation" not in watched
    declared = measure("budget_execution")
    assert declared["status"] == "draft" and "group" not in declared
    assert not any(e["url"].endswith("subject-kind") for e in declared["extension"])


def test_measures_are_searched_by_name_title_status_topic_identifier_and_url(fhirpy):
    def ids(**params: Any) -> list[str]:
        return [m.id for m in fhirpy.resources("Measure").search(**params).limit(200)
                .fetch_all()]

    draft = ids(status="draft")
    assert draft and all(i.replace("-", "_") not in DEFINITIONS for i in draft)
    assert len(ids(status="active")) == len(DEFINITIONS)
    assert ids(title="县域内") == ["in-county-inpatient-rate", "primary-care-visit-share",
                                   "in-county-fund-share"]
    assert ids(title__contains="per 10") == ["gp-per-10k"]
    assert ids(name="InCounty") == ids(title="In-county")
    assert ids(name__exact="incountyvisitrate") == []
    assert set(ids(topic="insurance_fund")) == {
        measure_id(i.id) for i in load_catalogue().in_aspect("insurance_fund")}
    assert ids(identifier=f"{BASE}/identifier/indicator|drug_share") == ["drug-share"]
    assert ids(url=f"{BASE}/Measure/drug-share") == ["drug-share"]
    assert ids(url=f"{BASE}/Measure/drug-share|{load_catalogue().edition}") == ["drug-share"]
    assert ids(url=f"{BASE}/Measure/drug-share|1999.1") == []
    assert ids(_id="drug-share,gp-per-10k") == ["gp-per-10k", "drug-share"]


def test_a_session_in_english_reads_english_titles_with_the_chinese_beside(client, db):
    user = create_user("regulator", PASSWORD, Role.REGULATOR)
    client.force_login(user)
    client.cookies["django_language"] = "en"
    measure = client.get("/fhir/Measure/in-county-visit-rate").json()
    assert measure["title"] == "In-county visit rate"
    assert measure["_title"]["extension"][0]["extension"] == [
        {"url": "lang", "valueCode": "zh-Hans"}, {"url": "content", "valueString": "县域就诊率"}]
    assert measure["topic"][0]["coding"][0]["display"] == "Ordered care-seeking"


# -- MeasureReport: values ----------------------------------------------------------------------

def test_every_report_of_an_alliance_carries_the_numbers_compute_gives(fhirpy, smart, county):
    a = county["a"]
    expected = cells("alliance", MARCH, str(a.pk))
    reports = fhirpy.resources("MeasureReport").search(
        subject=f"Organization/alliance-{a.pk}", period=MARCH).limit(200).fetch_all()
    given = [i.id for i in load_catalogue().indicators if "alliance" in subject_kinds(i.id)]
    assert [r.id for r in reports] == [f"{measure_id(i)}.alliance-{a.pk}.{MARCH}" for i in given]
    assert set(expected) == set(given)
    for report in reports:
        indicator = report["measure"].rsplit("/", 1)[1].replace("-", "_")
        cell = expected[indicator]
        assert report["status"] == "complete" and report["type"] == "summary"
        assert report["period"] == {"start": "2025-03-01", "end": "2025-03-31"}
        assert report["subject"]["reference"] == f"Organization/alliance-{a.pk}"
        assert report["reporter"]["reference"] == f"Organization/alliance-{a.pk}"
        assert score(report) == cell.value, indicator
        kind = DEFINITIONS[indicator].kind
        if kind in ("ratio", "current", "posted"):
            assert number(population(report, "numerator")) == cell.numerator
            assert number(population(report, "denominator")) == cell.denominator
        elif kind == "count":
            assert number(population(report, "initial-population")) == cell.numerator
        elif kind == "median":
            assert number(population(report, "measure-population")) == cell.denominator
        SmartReport(dict(report.serialize()))  # fhirclient's R4 model, strict

    visits = next(r for r in reports if r.id.startswith("in-county-visit-rate."))
    assert score(visits) == Decimal("82.35")  # the golden test's hand value
    assert visits["group"][0]["measureScore"]["code"] == "%"
    assert [number(population(visits, c)) for c in ("numerator", "denominator")] == [14, 17]


def test_a_report_is_read_by_its_id(smart, county):
    a = county["a"]
    report_id = f"in-county-fund-share.alliance-{a.pk}.{MARCH}"
    report = SmartReport.read(report_id, smart.server)
    assert report.id == report_id and report.measure == f"{BASE}/Measure/in-county-fund-share"
    assert report.status == "complete" and report.type == "summary"
    raw = smart.server.request_json(f"MeasureReport/{report_id}")
    assert [number(population(raw, c)) for c in ("numerator", "denominator")] == [
        Decimal(9500), Decimal(19600)]  # yuan, as money: count is an integer of people
    assert score(raw) == Decimal("48.47")
    assert raw["date"] == raw["meta"]["lastUpdated"]
    assert dt.datetime.fromisoformat(raw["date"]) == refreshed_at()
    assert raw["date"].endswith("+08:00")
    found = smart.server.request_json(
        f"MeasureReport?measure={quote(f'{BASE}/Measure/in-county-fund-share')}"
        f"&subject=alliance-{a.pk}&period={MARCH}")
    assert [e["resource"] for e in found["entry"]] == [raw]


def test_units_of_hours_yuan_counts_and_rates_per_10000(fhir, county):
    a = county["a"].pk

    def report(indicator: str) -> dict[str, Any]:
        response = fhir.get(f"MeasureReport/{measure_id(indicator)}.alliance-{a}.{MARCH}")
        assert response.status_code == 200, response.content
        return response.json()

    hours = report("referral_response_hours")
    assert hours["group"][0]["measureScore"] == {"value": 3.0, "unit": "h",
                                                 "system": "http://unitsofmeasure.org",
                                                 "code": "h"}
    assert number(population(hours, "measure-population")) == 4
    cost = report("cost_per_visit")
    assert cost["group"][0]["measureScore"] == {"value": 158.18, "unit": "yuan",
                                                "system": "urn:iso:std:iso:4217", "code": "CNY"}
    assert number(population(cost, "numerator")) == 1740
    assert population(cost, "denominator")["count"] == 11
    assert report("gp_per_10k")["group"][0]["measureScore"]["code"] == "/10*4"
    outflow = report("out_of_county_admissions")
    assert population(outflow, "initial-population")["count"] == 2
    assert outflow["improvementNotation"]["coding"][0]["code"] == "decrease"
    growth = report("down_referral_growth")  # nothing in March 2024: no score, no populations
    assert "measureScore" not in growth.get("group", [{}])[0]


def test_the_target_in_force_and_the_verdict_come_with_the_value(fhir, county):
    a = county["a"]
    report = fhir.get(f"MeasureReport/in-county-visit-rate.alliance-{a.pk}.{MARCH}").json()
    target = services.targets_for(a)["in_county_visit_rate"]
    verdict = rules.status(Decimal("82.35"), target, "higher")
    parts = {e["url"]: next(v for k, v in e.items() if k.startswith("value"))
             for e in next(x for x in report["group"][0]["extension"]
                           if x["url"] == TARGET)["extension"]}
    assert parts == {"comparison": ">=", "value": float(target.value),
                     "source": target.origin, "status": verdict.value}
    assert verdict.value == "missed"  # 82.35 % against at least 90 %


def test_townships_are_locations_and_institutions_organizations(fhirpy, county):
    # the golden county keeps no divisions: the township of R1–R6, in A's grid
    town = Division.objects.create(code="371581001", name="城关镇", kind=Division.Kind.TOWNSHIP)
    Grid.objects.create(alliance=county["a"], division=town)
    reports = fhirpy.resources("MeasureReport").search(
        measure="in-county-visit-rate", subject=f"Location/division-{town.pk}",
        period=MARCH).fetch_all()
    assert [r.id for r in reports] == [f"in-county-visit-rate.division-{town.pk}.{MARCH}"]
    assert score(reports[0]) == Decimal("90.91")
    assert reports[0]["reporter"]["reference"] == f"Organization/alliance-{county['a'].pk}"
    assert reports[0]["subject"]["display"] == town.name
    v1 = county["v1"]
    share = fhirpy.resources("MeasureReport").search(
        measure="primary_care_visit_share", subject=f"Organization/institution-{v1.pk}",
        period=MARCH).fetch_all()
    assert score(share[0]) == Decimal("100.00")
    assert share[0]["reporter"]["reference"] == f"Organization/alliance-{county['a'].pk}"
    # residents' rates are not given for institutions: no report (an empty searchset)
    assert fhirpy.resources("MeasureReport").search(
        measure="in-county-visit-rate", subject=f"Organization/institution-{v1.pk}",
        period=MARCH).fetch_all() == []
    # a type modifier names the subject's type
    typed = fhirpy.resources("MeasureReport").search(
        measure="in-county-visit-rate", **{"subject:Location": f"division-{town.pk}"},
        period=MARCH).fetch_all()
    assert [r.id for r in typed] == [reports[0].id]


def test_fhir_date_bounds_are_rounded_out_to_whole_months(fhir, county):
    a = county["a"].pk
    base = f"MeasureReport?measure=in-county-visit-rate&subject=alliance-{a}"

    def ids(query: str) -> list[str]:
        response = fhir.get(f"{base}&{query}")
        assert response.status_code == 200, response.content
        return [r["id"] for r in matches(response.json())]

    quarter = f"in-county-visit-rate.alliance-{a}.2025Q1"
    assert ids("period=2025Q1") == [quarter]
    assert ids("period=ge2025-01-01&period=le2025-03-31") == [quarter]
    assert ids("period=gt2024-12&period=lt2025-04") == [quarter]
    assert ids("period=ge2025-03-15&period=le2025-03-20") == [
        f"in-county-visit-rate.alliance-{a}.2025-03"]
    two = f"in-county-visit-rate.alliance-{a}.202502-202503"
    assert ids("period=ge2025-02&period=le2025-03") == [two]
    assert fhir.get(f"MeasureReport/{two}").json()["period"] == {"start": "2025-02-01",
                                                                 "end": "2025-03-31"}
    assert ids("period=2025,2025Q1,2025-03") == [f"in-county-visit-rate.alliance-{a}.{p}"
                                                for p in ("2025", "2025Q1", "2025-03")]
    assert ids("period=eq2025") == [f"in-county-visit-rate.alliance-{a}.2025"]
    # named periods within bounds; bounds that hold no whole month
    assert ids("period=2025,2025Q1&period=ge2025-01-01&period=le2025-06-30") == [quarter]
    assert ids("period=ge2025-04-01&period=le2025-03-31") == []
    # the same months as 2025Q1, the same report, whichever way they are asked for
    year = fhir.get(f"{base}&period=2025").json()
    assert score(matches(year)[0]) == Decimal("82.35")  # nothing happened after March


def test_bad_periods_are_400_and_unknown_measures_or_subjects_match_nothing(fhir, county):
    a = county["a"].pk
    for bad in ("2025-03-01", "ne2025", "2025Q5", "2025-13", "March", "1899",
                "le2025-03-31", "ge2025-01-01,le2025-03-31", "eq2025-03-01", "sa2025",
                "ge2025-02-30"):
        response = fhir.get(f"MeasureReport?subject=alliance-{a}&period={quote(bad)}")
        assert response.status_code == 400, (bad, response.content)
        assert response.json()["resourceType"] == "OperationOutcome"
    for nothing in ("measure=no-such-measure", "measure=budget-execution",
                    "measure=http://example.org/fhir/Measure/in-county-visit-rate",
                    "subject=Patient/1", "subject=Organization/department-1",
                    f"subject=Organization/alliance-{a + 1000}", "status=draft"):
        response = fhir.get(f"MeasureReport?{nothing}&period={MARCH}")
        assert response.status_code == 200, (nothing, response.content)
        assert matches(response.json()) == [], nothing
    for missing in (f"in-county-visit-rate.alliance-{a}.2025q1",
                    f"in-county-visit-rate.alliance-{a}.202501-202503",
                    f"in-county-visit-rate.institution-{county['v1'].pk}.2025Q1",
                    f"budget-execution.alliance-{a}.2025Q1",
                    f"in-county-visit-rate.alliance-{a}.1899", "x", "a.b.c.d",
                    f"in-county-visit-rate.alliance-{a}.2999"):
        response = fhir.get(f"MeasureReport/{missing}")
        assert response.status_code == 404, (missing, response.content)
        assert response.json()["resourceType"] == "OperationOutcome"
    # an indicator id is no FHIR id (no "_"): not even an address of the FHIR interface
    assert fhir.get(f"MeasureReport/in_county_visit_rate.alliance-{a}.2025Q1"
                    ).status_code == 404


def test_the_periods_of_the_snapshot_year_page_and_count(fhir, county):
    """Without a period: the year of the snapshot's refresh (running: ``pending``); without
    a subject: every alliance the caller sees; without a measure: every measure given for
    alliances."""
    per_alliance = sum(1 for i in load_catalogue().indicators
                       if "alliance" in subject_kinds(i.id))
    first = fhir.get("MeasureReport?_count=7&_total=accurate").json()
    assert first["total"] == 2 * per_alliance
    year = str(refreshed_at().astimezone(CST).year)
    reports = matches(first)
    assert len(reports) == 7 and {r["status"] for r in reports} == {"pending"}
    assert {r["period"]["start"] for r in reports} == {f"{year}-01-01"}
    seen = [r["id"] for r in reports]
    url = next(link["url"] for link in first["link"] if link["relation"] == "next")
    while url:
        page = fhir.get(url.split("/fhir/", 1)[1]).json()
        seen += [r["id"] for r in matches(page)]
        url = next((link["url"] for link in page["link"] if link["relation"] == "next"), "")
    assert len(seen) == len(set(seen)) == 2 * per_alliance
    assert fhir.get("MeasureReport?_count=0").json()["total"] == 2 * per_alliance
    assert fhir.get(f"MeasureReport?period={MARCH}&status=complete&_count=0").json()[
        "total"] == 2 * per_alliance
    assert fhir.get(f"MeasureReport?period={year}&status=complete&_count=0").json()[
        "total"] == 0
    bounds = matches(fhir.get(f"MeasureReport?measure=drug-share&subject=alliance-"
                              f"{county['a'].pk}&period=ge{year}-01-01&period=le{year}-12-31")
                     .json())  # the same report as period=<year>, still running
    assert [(r["id"].rsplit(".", 1)[1], r["status"]) for r in bounds] == [(year, "pending")]
    after = str(int(year) + 1)
    assert fhir.get(f"MeasureReport?period={after}&_count=0").json()["total"] == 0
    descending = matches(fhir.get(f"MeasureReport?period={MARCH}&_sort=-_id&_count=200")
                         .json())
    assert [r["id"] for r in descending] == sorted(seen_march := [
        r["id"] for r in descending], reverse=True) and len(seen_march) == 2 * per_alliance


# -- who sees what ------------------------------------------------------------------------------

def test_each_caller_sees_the_reports_of_its_reach(client, county):
    a, b = county["a"], county["b"]
    of_b = as_system(client, alliance=b.code)
    ids = [r["id"] for r in matches(of_b.get(f"MeasureReport?measure=in-county-visit-rate"
                                             f"&period={MARCH}").json())]
    assert ids == [f"in-county-visit-rate.alliance-{b.pk}.{MARCH}"]
    assert of_b.get(f"MeasureReport/in-county-visit-rate.alliance-{a.pk}.{MARCH}"
                    ).status_code == 404
    assert matches(of_b.get(f"MeasureReport?subject=alliance-{a.pk}&period={MARCH}").json()) == []
    assert score(of_b.get(f"MeasureReport/in-county-visit-rate.alliance-{b.pk}.{MARCH}")
                 .json()) == Decimal("0.00")  # the golden test's value for B
    v1 = county["v1"]
    held = as_system(client, institution="V1")
    mine = matches(held.get(f"MeasureReport?period={MARCH}").json())
    assert mine and {r["subject"]["reference"] for r in mine} == {
        f"Organization/institution-{v1.pk}"}
    h = Institution.objects.get(code="H")
    assert matches(held.get(f"MeasureReport?subject=institution-{h.pk}&period={MARCH}")
                   .json()) == []
    no_scope = as_system(client, scope="system/Patient.read")
    assert no_scope.get("MeasureReport").status_code == 403
    assert no_scope.get("Measure").status_code == 403

    client.force_login(create_user("office", PASSWORD, Role.ALLIANCE_ADMIN,
                                   alliance=a))
    office = [r["subject"]["reference"] for r in matches(client.get(
        f"/fhir/MeasureReport?measure=drug-share&period={MARCH}").json())]
    assert office == [f"Organization/alliance-{a.pk}"]
    client.force_login(create_user("doc", PASSWORD, Role.DOCTOR, institution=v1))
    assert matches(client.get(f"/fhir/MeasureReport?period={MARCH}").json()) == []
    assert client.get("/fhir/Measure/drug-share").status_code == 200  # definitions: everyone


# -- without a snapshot, and odd input ----------------------------------------------------------

def test_before_any_refresh_a_search_says_so_and_a_read_is_404(fhir, data_dir):
    bundle = fhir.get(f"MeasureReport?period={MARCH}&_total=accurate").json()
    assert bundle["total"] == 0 and matches(bundle) == []
    issue = bundle["entry"][0]["resource"]["issue"][0]
    assert issue["severity"] == "information" and "tiercare indicators refresh" in issue[
        "diagnostics"]
    response = fhir.get(f"MeasureReport/in-county-visit-rate.alliance-1.{MARCH}")
    assert response.status_code == 404
    assert "tiercare indicators refresh" in response.json()["issue"][0]["diagnostics"]
    assert fhir.get("MeasureReport?period=2025Q5").status_code == 400  # checked first
    assert fhir.get("Measure/in-county-visit-rate").status_code == 200
    for name in ("measure", "subject", "period", "status", "_id"):
        for value in ODD:
            response = fhir.get(f"MeasureReport?{name}={quote(value)}")
            assert response.status_code < 500, (name, value, response.content[:300])


ODD = ["", "x", "|", "Measure/", "Organization/", "alliance-", "alliance-99999999999999999999",
       "ge", "le9999-12-31", "gt9999", "lt0001-01-01", "ge0001-01-01", "9999", "9999Q4",
       "2025-03-01T25:00", "%00", "男", "ge2025-01-01T00:00+14:00", "le2025-03-31T23:59Z",
       "Location/division-x", "http://hl7.org/fhir/measure-report-status|complete",
       "https://tiercare.org/fhir/Measure/drug-share|", "a.b.c", "..", "-1"]


def test_no_input_makes_a_server_error(fhir, county):
    for name in ("measure", "subject", "period", "status", "_id", "_sort", "subject:Location",
                 "subject:Organization", "period:missing"):
        for value in ODD:
            response = fhir.get(f"MeasureReport?{name}={quote(value)}&period={MARCH}")
            assert response.status_code < 500, (name, value, response.content[:300])
            assert response.json()["resourceType"] in ("Bundle", "OperationOutcome")
    for name in ("url", "identifier", "name", "title", "status", "topic", "_id",
                 "name:exact", "title:contains", "title:missing"):
        for value in ODD:
            assert fhir.get(f"Measure?{name}={quote(value)}").status_code < 500, (name, value)
    for value in ODD:
        path = quote(value, safe="")
        assert fhir.get(f"MeasureReport/{path}").status_code < 500, value
        assert fhir.get(f"Measure/{path}").status_code < 500, value


# -- capability and export ----------------------------------------------------------------------

def test_the_capability_statement_lists_both_types(client):
    statement = client.get("/fhir/metadata").json()
    resources = {r["type"]: r for r in statement["rest"][0]["resource"]}
    for kind, params in (("Measure", {"_id", "url", "identifier", "name", "title", "status",
                                      "topic"}),
                         ("MeasureReport", {"_id", "measure", "subject", "period", "status"})):
        assert {i["code"] for i in resources[kind]["interaction"]} == {"read", "search-type"}
        assert {p["name"] for p in resources[kind]["searchParam"]} == params


def test_an_export_holds_the_measures_and_no_reports(fhir, county):
    """Measures are definitions: every system export has them, except one ``_since`` a time
    after the catalogue's edition date (they change only with the catalogue). Reports are
    computed for a period and org unit a search names: ``_type=MeasureReport`` is
    refused."""
    assert "Measure" in export.served_types() and "MeasureReport" not in export.served_types()
    response = fhir.get("$export?_type=MeasureReport", HTTP_PREFER="respond-async")
    assert response.status_code == 400
    assert "MeasureReport" in json.dumps(response.json(), ensure_ascii=False)
    later = fhir.get("$export?_type=Measure&_since=2099-01-01T00:00:00%2B08:00",
                     HTTP_PREFER="respond-async")
    export.run_export.call(later["Content-Location"].rsplit("/", 1)[1])
    assert fhir.get(later["Content-Location"].split("/fhir/", 1)[1]).json()["output"] == []
    kicked = fhir.get("$export?_type=Measure&_since=2025-01-01T00:00:00%2B08:00",
                      HTTP_PREFER="respond-async")
    assert kicked.status_code == 202, kicked.content
    status = kicked["Content-Location"].split("/fhir/", 1)[1]
    export.run_export.call(status.rsplit("/", 1)[1])
    manifest = fhir.get(status).json()
    assert [(o["type"], o["count"]) for o in manifest["output"]] == [("Measure", 37)]
    body = b"".join(fhir.get(manifest["output"][0]["url"].split("/fhir/", 1)[1])
                    .streaming_content).decode()
    first = json.loads(body.splitlines()[0])
    assert first == fhir.get("Measure/in-county-visit-rate").json()
    assert AuditEvent.objects.filter(action=AuditEvent.Action.EXPORT,
                                     object_type="fhir.Measure").count() == 2  # two exports


def test_both_types_pass_the_servers_structural_check(fhir, county):
    """``fhir.resources`` (R4B), the check the server applies to what it is sent."""
    for measure in matches(fhir.get("Measure?_count=200").json()):
        structure.check(measure)
    a = county["a"].pk
    for report in matches(fhir.get(f"MeasureReport?subject=alliance-{a}&period={MARCH}"
                                   "&_count=200").json()):
        structure.check(report)


def test_every_declared_parameter_of_both_types_answers(client, fhir, county):
    """What ``test_capability`` does for every type, for these two with a snapshot made (it
    has none: see ADR 0019)."""
    statement = client.get("/fhir/metadata").json()
    samples = {"token": "x", "string": "a", "date": "2025", "reference": "1", "uri": "x"}
    for resource in statement["rest"][0]["resource"]:
        if resource["type"] not in ("Measure", "MeasureReport"):
            continue
        kind = resource["type"]
        existing = matches(fhir.get(kind).json())[0]["id"]
        for param in resource["searchParam"]:
            value = existing if param["name"] == "_id" else samples[param["type"]]
            response = fhir.get(f"{kind}?{param['name']}={value}", HTTP_PREFER="handling=strict")
            assert response.status_code == 200, (kind, param, response.content)
        assert fhir.get(f"{kind}/{existing}").json()["id"] == existing
        assert fhir.get(f"{kind}?_id={existing}").json()["entry"][0]["resource"]["id"] == existing
        response = fhir.get(f"{kind}?colour=red", HTTP_PREFER="handling=strict")
        assert response.status_code == 400
