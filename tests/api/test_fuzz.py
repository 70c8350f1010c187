"""The JSON API is fuzzed against its own OpenAPI schema (DESIGN.md, Testing: "The JSON API
and FHIR endpoints are fuzzed with schemathesis: no 5xx").

Given the schema Django Ninja serves at ``/api/openapi.json``, a seeded county and a logged-in
system administrator, when schemathesis sends generated requests (valid and invalid) to every
operation, then no answer is a server error, every documented answer matches its schema, and
every error is a problem+json document (RFC 9457) whose detail is in the request language
(Simplified Chinese by default).

Each generated request is sent twice: as generated (ids are random, so mostly unknown
records) and aimed at the seeded records (path ids and body references replaced by ones that
exist), so the fuzzer also reaches the services behind the happy path. Deterministic
(``derandomize``) and bounded (``max_examples``) so that CI is stable and fast.
"""

from __future__ import annotations

import json
import re
import sys
import traceback
from collections.abc import Iterator
from dataclasses import asdict
from typing import Any

import pytest
import schemathesis
from django.core.signals import got_request_exception
from django.test import Client
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from tests.api.conftest import Session, World
from tiercare.wsgi import application

PROBLEM_CONTENT_TYPE = "application/problem+json"
HAN = re.compile(r"[\u4e00-\u9fff]")

#: Path parameters and body fields the aimed request points at seeded records.
PATH_AIMS = {
    "alliance_id": "alliance_id", "institution_id": "institution_id",
    "patient_id": "patient_id", "encounter_id": "encounter_id", "merge_id": "merge_id",
    "county_code": "county_code",
}
BODY_AIMS = {
    "patient_id": "patient_id", "survivor_id": "patient_id", "merged_id": "other_patient_id",
    "institution_code": "institution_code", "resident_id_number": "id_number",
    "health_record_no": "health_record_no", "address_code": "village_code",
}


@pytest.fixture(autouse=True)
def _print_server_tracebacks() -> Iterator[None]:
    """A 500 from the WSGI app shows only Django's error page; print the traceback so that a
    failing run says where the server broke."""

    def report(sender: Any, request: Any = None, **kwargs: Any) -> None:
        traceback.print_exc(file=sys.stderr)

    got_request_exception.connect(report, dispatch_uid="fuzz-tracebacks")
    yield
    got_request_exception.disconnect(dispatch_uid="fuzz-tracebacks")


#: Loaded at collection (the schema needs no database). ``schemathesis.pytest.from_fixture``
#: would load it lazily, but schemathesis 4.32.5's lazy loader sets ``Node._nodeid``, which
#: pytest 9.2 no longer has.
schema = schemathesis.openapi.from_wsgi("/api/openapi.json", application)


def _problem_check(ctx: Any, response: Any, case: Any) -> None:
    """Every 4xx answer is problem+json with the status repeated and a translated detail."""
    if response.status_code < 400:
        return
    content_type = response.headers.get("content-type", [""])
    content_type = content_type[0] if isinstance(content_type, list) else content_type
    assert content_type.startswith(PROBLEM_CONTENT_TYPE), (
        f"{case.method} {case.formatted_path} answered {response.status_code} as "
        f"{content_type!r}, not problem+json")
    body = json.loads(response.content)
    assert body["status"] == response.status_code, body
    assert body["type"].startswith("https://"), body
    assert HAN.search(body["title"]) and HAN.search(body["detail"]), (
        f"untranslated problem: {body}")


def _aim(case: Any, world: World) -> bool:
    """Point the case at seeded records; ``False`` when it names none."""
    ids = asdict(world)
    aimed = False
    for name in list(case.path_parameters or {}):
        if name in PATH_AIMS:
            case.path_parameters[name] = ids[PATH_AIMS[name]]
            aimed = True
    if isinstance(case.body, dict):
        for name in list(case.body):
            if name in BODY_AIMS:
                case.body[name] = ids[BODY_AIMS[name]]
                aimed = True
    return aimed


@schema.parametrize()
@settings(max_examples=60, derandomize=True, deadline=None, database=None,
          phases=[Phase.explicit, Phase.generate],
          suppress_health_check=list(HealthCheck))
def test_api_answers_every_request_without_server_error(case: Any, world: World,
                                                        admin_session: Session) -> None:
    checks = [not_a_server_error, response_schema_conformance, _problem_check]
    kwargs = {"headers": admin_session.headers, "cookies": admin_session.cookies}
    case.call_and_validate(checks=checks, **kwargs)
    if _aim(case, world):
        case.call_and_validate(checks=checks, **kwargs)


# --------------------------------------------------------------------------- regressions
# What the fuzzer found, pinned so that a change cannot bring it back unnoticed. Each was a
# 500 or an HTML answer before; "P" stands for a seeded resident's id.

HUGE = str(2**80)
NUL_IN_BODY = {"survivor_id": "P", "merged_id": "O", "reason": "同一人\x00"}
FAR_FUTURE_START = {
    "patient_id": "P", "institution_code": "H1", "encounter_class": "outpatient",
    "start": "9999-12-31T23:59:59-12:00", "primary_diagnosis": "I10", "total": "0",
    "source_system": "HIS", "source_id": "far-future"}
YEAR_ONE_SETTLEMENT = {
    "patient_id": "P", "encounter_class": "outpatient", "start_date": "2025-01-01",
    "diagnosis": "I10", "total": "10", "fund_paid": "5", "self_paid": "5",
    "settled_at": "0001-01-01T00:00:00", "institution_name": "外院", "institution_level": "city",
    "division_code": "330102", "source_system": "YB", "source_id": "year-one"}


@pytest.mark.parametrize(("method", "url", "body", "status", "field"), [
    # SQLite cannot bind integers beyond 64 bits (OverflowError, "datatype mismatch").
    ("get", f"/api/registry/institutions?alliance={HUGE}", None, 422, "alliance"),
    ("get", f"/api/encounters/patients/P/encounters?limit={HUGE}", None, 422, "limit"),
    ("get", f"/api/patients/{HUGE}", None, 422, "patient_id"),
    ("post", "/api/patients/merges", {"survivor_id": HUGE, "merged_id": "P"}, 422,
     "survivor_id"),
    # PostgreSQL cannot store or compare text with NUL (DataError).
    ("post", "/api/patients/merges", NUL_IN_BODY, 422, "reason"),
    ("get", "/api/patients?q=%E5%BC%A0%00", None, 422, "q"),
    # Times beyond the years 1-9999 once in UTC or China Standard Time (OverflowError).
    ("post", "/api/encounters/", FAR_FUTURE_START, 422, "start"),
    ("post", "/api/encounters/settlements", YEAR_ONE_SETTLEMENT, 422, "settled_at"),
    # Answered by Django, not the API, before: an HTML 404 for a non-integer id.
    ("get", "/api/encounters/null", None, 422, "encounter_id"),
    # Full-width digits passed str.isdigit() and answered 200 with an empty report.
    ("get", "/api/registry/coverage/%EF%BC%93%EF%BC%93%EF%BC%90%EF%BC%91%EF%BC%92%EF%BC%92",
     None, 422, "county_code"),
])
def test_inputs_the_fuzzer_broke_are_answered_as_problems(
        client: Any, world: World, admin_session: Session, method: str, url: str,
        body: dict[str, Any] | None, status: int, field: str) -> None:
    # given a logged-in system administrator
    for name, value in admin_session.cookies.items():
        client.cookies[name] = value
    url = url.replace("/P/", f"/{world.patient_id}/")
    kwargs: dict[str, Any] = {}
    if body is not None:
        ids = {"P": world.patient_id, "O": world.other_patient_id}
        payload = {k: ids.get(v, int(v) if v == HUGE else v) if isinstance(v, str) else v
                   for k, v in body.items()}
        kwargs = {"data": json.dumps(payload), "content_type": "application/json"}
    # when the request is sent
    response = getattr(client, method)(url, headers=admin_session.headers, **kwargs)
    # then it is refused as a problem naming the field, in Chinese
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith(PROBLEM_CONTENT_TYPE)
    problem = response.json()
    assert field in [e["field"] for e in problem["errors"]], problem
    assert HAN.search(problem["detail"]), problem


def test_unreadable_bodies_are_answered_400_as_problems(
        client: Any, world: World, admin_session: Session, settings: Any) -> None:
    # given a logged-in system administrator
    for name, value in admin_session.cookies.items():
        client.cookies[name] = value
    # when a body is not JSON, or a multipart body has no boundary
    broken_json = client.patch(f"/api/patients/{world.patient_id}", data=b"{not json",
                               content_type="application/json",
                               headers=admin_session.headers)
    no_boundary = client.post("/api/patients", data=b"--x\r\n", content_type="multipart/form-data",
                              headers=admin_session.headers)
    # or a body is larger than Django reads
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    too_large = client.patch(f"/api/patients/{world.patient_id}",
                             data=json.dumps({"address": "路" * 1000}),
                             content_type="application/json", headers=admin_session.headers)
    # then they are 400 (413 for the large one) problems with a translated detail, not
    # Ninja's English or Django's HTML
    for response, status in ((broken_json, 400), (no_boundary, 400), (too_large, 413)):
        assert response.status_code == status, response.content
        assert response["Content-Type"].startswith(PROBLEM_CONTENT_TYPE)
        assert HAN.search(response.json()["detail"]), response.content


def test_methods_an_address_does_not_take_are_answered_405_as_problems(
        client: Any, world: World, admin_session: Session) -> None:
    # given a logged-in system administrator
    for name, value in admin_session.cookies.items():
        client.cookies[name] = value
    # when an address is sent a method it does not take
    response = client.delete(f"/api/patients/{world.patient_id}", headers=admin_session.headers)
    # then the answer is a 405 problem that keeps the Allow header (GET and PATCH here)
    assert response.status_code == 405
    assert response["Content-Type"].startswith(PROBLEM_CONTENT_TYPE)
    assert set(response["Allow"].replace(" ", "").split(",")) == {"GET", "PATCH"}
    assert HAN.search(response.json()["detail"]), response.content


def test_a_request_without_csrf_token_is_refused_as_a_translated_problem(
        world: World, admin_session: Session) -> None:
    # given a logged-in system administrator whose request carries no CSRF token
    client = Client(enforce_csrf_checks=True)
    for name, value in admin_session.cookies.items():
        client.cookies[name] = value
    # when an unsafe method is sent
    response = client.post("/api/patients/merges", data={"survivor_id": world.patient_id,
                                                         "merged_id": world.other_patient_id},
                           content_type="application/json")
    # then it is refused 403 in Chinese (Ninja's message is English "CSRF check Failed")
    assert response.status_code == 403
    assert response["Content-Type"].startswith(PROBLEM_CONTENT_TYPE)
    assert HAN.search(response.json()["detail"]), response.content
