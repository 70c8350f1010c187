"""JSON API of residents and the registry: status codes and problem+json bodies (RFC 9457)."""

from __future__ import annotations

import json
import re
from datetime import date

import pytest

from tests.patients.conftest import VILLAGE_A, VILLAGE_C, id_number

CJK = re.compile(r"[\u4e00-\u9fff]")
PROBLEM = "application/problem+json"


def api(client, user, method, path, body=None, lang="en"):
    if user is not None:
        client.force_login(user)
    kwargs = {"HTTP_ACCEPT_LANGUAGE": lang}
    if body is not None:
        kwargs.update(data=json.dumps(body), content_type="application/json")
    return getattr(client, method)(f"/api{path}", **kwargs)


def assert_problem(response, status):
    assert response.status_code == status, response.content
    assert response["Content-Type"] == PROBLEM
    body = response.json()
    assert body["status"] == status
    assert body["type"].startswith("https://") and body["title"] and body["detail"]
    return body


@pytest.fixture
def dan(register):
    return register("单田芳", sequence=11, phone="13812345678")


def test_search_masks_identifiers_for_roles_that_do_not_need_them(client, dan, people):
    full = api(client, people["doctor"], "get", "/patients?q=dtf").json()
    assert [p["id"] for p in full] == [dan.pk]
    assert full[0]["id_number"] == dan.id_number and full[0]["phone"] == "13812345678"
    masked = api(client, people["alliance_admin"], "get", "/patients?q=stf").json()
    assert masked[0]["id_number"] == dan.id_number[:6] + "********" + dan.id_number[-4:]
    assert masked[0]["phone"] == "138****5678"


def test_unauthenticated_requests_get_401(client, dan):
    assert_problem(api(client, None, "get", "/patients?q=stf"), 401)


def test_bad_search_query_is_422(client, people, county):
    body = assert_problem(api(client, people["doctor"], "get", "/patients?q=%E7%8E%8Ba!"), 422)
    assert body["errors"][0]["field"] == "q" and body["errors"][0]["code"] == "search.query"
    body = assert_problem(api(client, people["doctor"], "get", "/patients"), 422)
    assert body["errors"][0]["field"] == "q"


def test_create_returns_201_with_the_record(client, people, county):
    number = id_number(date(1990, 2, 3), 21)
    response = api(client, people["doctor"], "post", "/patients",
                   {"name": "李雷", "address_code": VILLAGE_A, "id_number": number})
    assert response.status_code == 201
    body = response.json()
    assert body["health_record_no"] == VILLAGE_A + "00001"
    assert (body["birth_date"], body["sex"]) == ("1990-02-03", "1")


@pytest.mark.parametrize("lang", ["en", "zh-hans"])
def test_create_with_bad_fields_is_422_in_the_users_language(client, people, county, lang):
    bad = id_number(date(1990, 2, 3), 21)
    bad = bad[:17] + ("0" if bad[17] != "0" else "1")
    response = api(client, people["doctor"], "post", "/patients",
                   {"name": "李雷", "address_code": "33012210020", "id_number": bad,
                    "phone": "123"}, lang=lang)
    body = assert_problem(response, 422)
    by_field = {e["field"]: e for e in body["errors"]}
    assert by_field["id_number"]["code"] == "id_number.check_digit"
    assert by_field["address_code"]["code"] == "address_code.format"
    assert by_field["phone"]["code"] == "phone.format"
    for error in body["errors"]:
        assert bool(CJK.search(error["message"])) == (lang == "zh-hans"), error
    assert bool(CJK.search(body["title"])) == (lang == "zh-hans")


def test_request_shape_errors_are_problem_json(client, people, county):
    body = assert_problem(api(client, people["doctor"], "post", "/patients",
                              {"address_code": VILLAGE_A, "birth_date": "not a date"}), 422)
    assert {e["field"] for e in body["errors"]} >= {"name", "birth_date"}


def test_duplicate_is_409_naming_the_existing_record(client, people, dan):
    body = assert_problem(api(client, people["doctor"], "post", "/patients",
                              {"name": "单田芳", "address_code": VILLAGE_A,
                               "id_number": dan.id_number}), 409)
    assert body["existing"] == {"id": dan.pk, "health_record_no": dan.health_record_no}
    assert body["code"] == "patient.duplicate"


def test_roles_that_do_not_register_get_403(client, people, county):
    body = assert_problem(api(client, people["pharmacist"], "post", "/patients",
                              {"name": "李雷", "address_code": VILLAGE_A}), 403)
    assert body["detail"]


def test_get_record_200_403_404(client, people, dan):
    assert api(client, people["doctor"], "get", f"/patients/{dan.pk}").json()["id"] == dan.pk
    assert_problem(api(client, people["other_doctor"], "get", f"/patients/{dan.pk}"), 403)
    assert_problem(api(client, people["doctor"], "get", "/patients/999999"), 404)


def test_patch_changes_and_validates(client, people, dan):
    response = api(client, people["doctor"], "patch", f"/patients/{dan.pk}",
                   {"phone": "0571-87654321"})
    assert response.status_code == 200 and response.json()["phone"] == "0571-87654321"
    body = assert_problem(api(client, people["doctor"], "patch", f"/patients/{dan.pk}",
                              {"sex": "2"}), 422)
    assert body["errors"][0]["code"] == "id_number.sex_mismatch"
    cleared = api(client, people["doctor"], "patch", f"/patients/{dan.pk}", {"phone": None})
    assert cleared.status_code == 200 and cleared.json()["phone"] == ""
    body = assert_problem(api(client, people["doctor"], "patch", f"/patients/{dan.pk}",
                              {"name": None}), 422)
    assert body["errors"][0]["code"] == "name.required"


def test_matches_merge_and_undo(client, people, register, dan):
    twin = register("单田芳", id_number="", birth_date=dan.birth_date, sex=dan.sex,
                    phone="13812345678")
    matches = api(client, people["doctor"], "get", f"/patients/{dan.pk}/matches").json()
    assert [(m["patient_id"], m["candidate_id"]) for m in matches] == [(twin.pk, dan.pk)]
    # doctors do not merge
    assert_problem(api(client, people["doctor"], "post", "/patients/merges",
                       {"survivor_id": dan.pk, "merged_id": twin.pk}), 403)
    admin = people["system_admin"]
    response = api(client, admin, "post", "/patients/merges",
                   {"survivor_id": dan.pk, "merged_id": twin.pk, "reason": "同一人"})
    assert response.status_code == 201
    merge_id = response.json()["id"]
    assert api(client, admin, "get", f"/patients/{twin.pk}").json()["id"] == dan.pk
    assert_problem(api(client, admin, "post", "/patients/merges",
                       {"survivor_id": dan.pk, "merged_id": twin.pk}), 409)
    undone = api(client, admin, "post", f"/patients/merges/{merge_id}/undo")
    assert undone.status_code == 200 and undone.json()["undone_at"]
    body = assert_problem(api(client, admin, "post", f"/patients/merges/{merge_id}/undo"), 409)
    assert body["code"] == "merge.already_undone"
    assert_problem(api(client, admin, "post", "/patients/merges/999/undo"), 404)


def test_registry_lists_and_filters(client, people, county):
    alliances = api(client, people["doctor"], "get", "/registry/alliances").json()
    assert [a["code"] for a in alliances] == ["A", "B"]
    assert alliances[0]["grid"] == ["330122100", "330122101"]
    rows = api(client, people["doctor"], "get",
               f"/registry/institutions?alliance={county.alliance.pk}&level=township").json()
    assert [r["code"] for r in rows] == ["T100", "T101"]
    one = api(client, people["doctor"], "get", f"/registry/institutions/{county.lead.pk}")
    assert one.json()["level"] == "county"
    assert_problem(api(client, people["doctor"], "get", "/registry/institutions/99999"), 404)
    tree = api(client, people["doctor"], "get", f"/registry/alliances/{county.alliance.pk}/tree")
    assert [level["level"] for level in tree.json()] == ["county", "township", "village"]


def test_registry_coverage_report(client, people, county):
    from tiercare.registry import services

    services.set_grid(county.other, ["330122101"])
    body = api(client, people["alliance_admin"], "get", "/registry/coverage/330122").json()
    assert body["ok"] is False
    assert [g["code"] for g in body["gaps"]] == ["330122102"]
    assert [a["code"] for a in body["overlaps"][0]["alliances"]] == ["A", "B"]
    assert_problem(api(client, people["alliance_admin"], "get", "/registry/coverage/33"), 422)
    assert_problem(api(client, people["doctor"], "get", "/registry/coverage/330122"), 403)


def test_out_of_scope_patch_is_403(client, people, register, county):
    other = register("丙", sequence=15, address_code=VILLAGE_C)
    assert_problem(api(client, people["doctor"], "patch", f"/patients/{other.pk}",
                       {"phone": "13900000000"}), 403)


def test_openapi_schema_lists_the_routes(client, people):
    client.force_login(people["doctor"])
    schema = client.get("/api/openapi.json").json()
    paths = schema["paths"]
    for path in ("/api/patients", "/api/patients/{patient_id}", "/api/patients/merges",
                 "/api/registry/alliances", "/api/registry/coverage/{county_code}"):
        assert path in paths, sorted(paths)
