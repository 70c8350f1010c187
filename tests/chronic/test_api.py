"""JSON API of family-doctor and chronic-care work (``/api/chronic``; issue 6): every action
through the API, the bad inputs of issue 6 answered as problem+json (RFC 9457) with the
service's message and never a 500, reads audited, and another alliance's doctor kept out."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client

from tests.api_calls import api_call, ok, problem
from tests.chronic.scene import ChronicScene
from tests.web.factories import PASSWORD
from tiercare.accounts.models import AuditEvent, Role, User
from tiercare.accounts.services import create_user
from tiercare.chronic import rules, services
from tiercare.chronic.models import (
    Contract,
    FollowUp,
    PackageService,
    Registration,
    ServicePackage,
)
from tiercare.referrals.models import Referral
from tiercare.registry.models import Practitioner

HAN = re.compile(r"[\u4e00-\u9fff]")


def call(client: Client, user: Any, method: str, path: str, body: Any = None,
         lang: str = "en") -> Any:
    return api_call(client, user, method, f"/api/chronic{path}", body, lang)


def package_id(code: str) -> int:
    return ServicePackage.objects.get(alliance__isnull=True, code=code).pk


def days_ago(scene: ChronicScene, days: int) -> str:
    return (scene.today - dt.timedelta(days=days)).isoformat()


@pytest.fixture
def outsider(scene: ChronicScene) -> User:
    """A doctor of the other alliance's township health centre."""
    return create_user("o_doctor", PASSWORD, Role.DOCTOR,
                       institution=scene.base.world.other_township)


def enrolled(scene: ChronicScene, patient: Any, disease: str = rules.HYPERTENSION,
             days: int = 30) -> Registration:
    return services.enrol(patient=patient, disease=disease,
                          source=Registration.Source.DIAGNOSIS, by=scene.gp, team=scene.team,
                          on=scene.today - dt.timedelta(days=days))


def signed(scene: ChronicScene, patient: Any, *codes: str) -> Contract:
    return services.sign_contract(
        patient=patient, team=scene.team,
        packages=[ServicePackage.objects.get(alliance__isnull=True, code=c)
                  for c in ("basic", *codes)],
        consent=Contract.Consent.SIGNATURE, by=scene.gp)


def viewed(label: str, pk: int) -> bool:
    return AuditEvent.objects.filter(action=AuditEvent.Action.VIEW, object_type=label,
                                     object_id=str(pk)).exists()


# --- teams and packages ---------------------------------------------------------------------------


def test_a_doctor_lists_and_reads_their_team_with_its_members(client: Client,
                                                               scene: ChronicScene) -> None:
    # given the township GP, lead of 城关镇一组
    # when they list their teams and open theirs
    teams = ok(call(client, scene.gp, "get", "/teams"))
    detail = ok(call(client, scene.gp, "get", f"/teams/{scene.team.pk}"))
    # then the team is there with the GP as lead and the village doctor as member
    assert [t["code"] for t in teams["items"]] == ["T001-A"] and teams["count"] == 1
    assert detail["lead_name"] == "李医生"
    assert [(m["practitioner_name"], m["role"]) for m in detail["members"]] == [
        ("李医生", "lead"), ("赵村医", "village_doctor")]


def test_the_alliance_office_sets_up_a_team_and_its_members(client: Client,
                                                            scene: ChronicScene) -> None:
    world = scene.base.world
    office = scene.base.office
    # when the alliance office sets up a team at the township centre
    team = ok(call(client, office, "post", "/teams",
                   {"institution_id": world.township.pk, "code": "T001-B", "name": "城关镇二组",
                    "lead_id": world.doctor_practitioner.pk}), 201)
    assert [m["role"] for m in team["members"]] == ["lead"]
    # then the same code again is a conflict, and a team at the county hospital is refused
    again = problem(call(client, office, "post", "/teams",
                         {"institution_id": world.township.pk, "code": "T001-B",
                          "name": "重复"}), 409)
    assert again["code"] == "team.code" and "T001-B" in again["detail"]
    county = problem(call(client, office, "post", "/teams",
                          {"institution_id": world.county_hospital.pk, "code": "H-1",
                           "name": "县医院组"}), 400)
    assert county["code"] == "team.institution"
    # a nurse joins, a second time is a conflict; she leaves, and cannot leave twice
    nurse = Practitioner.objects.get(code="P-T001-2")
    member = ok(call(client, office, "post", f"/teams/{team['id']}/members",
                     {"practitioner_id": nurse.pk, "role": "nurse"}), 201)
    problem(call(client, office, "post", f"/teams/{team['id']}/members",
                 {"practitioner_id": nurse.pk, "role": "nurse"}), 409)
    left = ok(call(client, office, "post", f"/teams/{team['id']}/members/{member['id']}/end",
                   {}))
    assert left["end_date"] == scene.today.isoformat()
    twice = problem(call(client, office, "post",
                         f"/teams/{team['id']}/members/{member['id']}/end", {}), 409)
    assert twice["code"] == "team.member_left"
    # an unknown role is a schema error, an unknown practitioner 404
    problem(call(client, office, "post", f"/teams/{team['id']}/members",
                 {"practitioner_id": nurse.pk, "role": "boss"}), 422)
    problem(call(client, office, "post", f"/teams/{team['id']}/members",
                 {"practitioner_id": 999999, "role": "nurse"}), 404)


def test_another_alliance_cannot_see_or_change_the_team(client: Client, scene: ChronicScene,
                                                        outsider: User) -> None:
    assert ok(call(client, outsider, "get", "/teams"))["count"] == 0
    problem(call(client, outsider, "get", f"/teams/{scene.team.pk}"), 403)
    problem(call(client, scene.base.other_office, "post", f"/teams/{scene.team.pk}/members",
                 {"practitioner_id": scene.base.world.doctor_practitioner.pk,
                  "role": "gp"}), 403)
    problem(call(client, scene.base.other_office, "post", "/teams",
                 {"institution_id": scene.base.world.township.pk, "code": "X-1",
                  "name": "外来组"}), 403)
    problem(call(client, outsider, "get", "/teams/999999"), 404)


def test_packages_are_listed_with_their_services(client: Client, scene: ChronicScene) -> None:
    packages = ok(call(client, scene.gp, "get", "/packages"))
    by_code = {p["code"]: p for p in packages}
    assert by_code["basic"]["kind"] == "basic"
    assert {s["code"]: s["yearly_count"] for s in by_code["hypertension"]["services"]}[
        "htn_follow_up"] == 4
    problem(call(client, scene.gp, "get", "/packages?alliance=999999"), 404)


# --- contracts ------------------------------------------------------------------------------------


def test_a_contract_is_signed_read_with_its_fulfilment_and_delivered(
        client: Client, scene: ChronicScene) -> None:
    elderly = scene.elderly
    # given the GP signing the elderly resident up for the basic and elderly packages
    body = {"patient_id": elderly.pk, "team_id": scene.team.pk,
            "package_ids": [package_id("basic"), package_id("elderly")],
            "consent": "signature"}
    contract = ok(call(client, scene.gp, "post", "/contracts", body), 201)
    assert contract["status"] == "active" and contract["doctor_name"] == "李医生"
    assert {p["code"] for p in contract["packages"]} == {"basic", "elderly"}
    # when a second contract is signed, then it is refused 409 with the service's message
    second = problem(call(client, scene.gp, "post", "/contracts", body), 409)
    assert second["code"] == "contract.duplicate" and "already has an active" in second[
        "detail"]
    # a period of 4 years, an elderly package for a 40-year-old are refused 400
    period = problem(call(client, scene.gp, "post", "/contracts",
                          {**body, "patient_id": scene.young.pk, "years": 4,
                           "package_ids": [package_id("basic")]}), 400)
    assert period["code"] == "contract.period"
    young = problem(call(client, scene.gp, "post", "/contracts",
                         {**body, "patient_id": scene.young.pk}), 400)
    assert young["code"] == "contract.package"
    # a home visit is recorded by hand; the elderly check counts by itself
    visit = PackageService.objects.get(package_id=package_id("elderly"),
                                       code="elderly_home_visit")
    check = PackageService.objects.get(package_id=package_id("elderly"), code="elderly_check")
    delivery = ok(call(client, scene.gp, "post", f"/contracts/{contract['id']}/deliveries",
                       {"service_id": visit.pk, "note": "入户随访"}), 201)
    assert delivery["service_code"] == "elderly_home_visit"
    automatic = problem(call(client, scene.gp, "post", f"/contracts/{contract['id']}/deliveries",
                             {"service_id": check.pk}), 400)
    assert automatic["code"] == "contract.delivery"
    # the contract read shows the events and the fulfilment, and is audited
    detail = ok(call(client, scene.gp, "get", f"/contracts/{contract['id']}"))
    assert [e["action"] for e in detail["events"]] == ["sign"]
    rows = {r["code"]: r for r in detail["fulfilment"]["rows"]}
    assert rows["elderly_home_visit"]["delivered"] == 1
    assert rows["elderly_check"]["owed"] == "1.00"
    assert detail["fulfilment"]["whole_term"]["owed"] == str(sum(
        (rules.owed_in_span(r.yearly_count, 365) for r in PackageService.objects.filter(
            package_id__in=[package_id("basic"), package_id("elderly")])),
        Decimal(0)))
    assert viewed("chronic.Contract", contract["id"])
    # lists by team and by resident
    by_team = ok(call(client, scene.gp, "get", f"/contracts?team={scene.team.pk}"))
    by_patient = ok(call(client, scene.gp, "get", f"/contracts?patient={elderly.pk}"))
    assert [c["id"] for c in by_team["items"]] == [contract["id"]] == [
        c["id"] for c in by_patient["items"]]


def test_renew_switch_and_terminate_keep_one_active_contract(client: Client,
                                                             scene: ChronicScene) -> None:
    first = signed(scene, scene.young)
    other = services.create_team(institution=scene.base.world.township, code="T001-B",
                                 name="城关镇二组", lead=scene.base.world.doctor_practitioner)
    renewed = ok(call(client, scene.gp, "post", f"/contracts/{first.pk}/renew", {"years": 2}),
                 201)
    assert renewed["previous_id"] == first.pk
    problem(call(client, scene.gp, "post", f"/contracts/{first.pk}/renew", {}), 409)
    switched = ok(call(client, scene.gp, "post", f"/contracts/{renewed['id']}/switch",
                       {"team_id": other.pk, "consent": "tablet", "reason": "搬家"}), 201)
    assert switched["team_id"] == other.pk
    same = problem(call(client, scene.gp, "post", f"/contracts/{switched['id']}/switch",
                        {"team_id": other.pk, "consent": "tablet"}), 400)
    assert same["code"] == "contract.team"
    problem(call(client, scene.gp, "post", f"/contracts/{switched['id']}/terminate",
                 {"reason": "  "}), 422)
    ended = ok(call(client, scene.gp, "post", f"/contracts/{switched['id']}/terminate",
                    {"reason": "迁出本县"}))
    assert (ended["status"], ended["end_reason"]) == ("ended", "terminated")
    assert not Contract.objects.filter(patient=scene.young, status="active").exists()


# --- registrations and follow-ups -----------------------------------------------------------------


def test_enrol_follow_up_and_read_the_registration(client: Client,
                                                   scene: ChronicScene) -> None:
    # given the GP enrolling the 40-year-old resident on the hypertension registry a month ago
    registration = ok(call(client, scene.gp, "post", "/registrations",
                           {"patient_id": scene.young.pk, "disease": "hypertension",
                            "team_id": scene.team.pk, "date": days_ago(scene, 30)}), 201)
    rid = registration["id"]
    assert registration["diagnosis"] == "I10" and registration["status"] == "active"
    again = problem(call(client, scene.gp, "post", "/registrations",
                         {"patient_id": scene.young.pk, "disease": "hypertension"}), 409)
    assert again["code"] == "registration.duplicate"
    # when a follow-up finds 150/95 two weeks ago
    first = ok(call(client, scene.gp, "post", f"/registrations/{rid}/follow-ups",
                    {"date": days_ago(scene, 14), "sbp": 150, "dbp": 95,
                     "medication": "氨氯地平5mg"}), 201)
    # then it is a recheck within 2 weeks
    assert (first["classification"], first["reasons"], first["controlled"]) == (
        "recheck", ["uncontrolled"], False)
    assert first["next_due"] == (scene.today).isoformat()
    assert first["referral_id"] is None and first["reason_texts"] == ["not at target"]
    # and a second uncontrolled one today is "refer up", whose referral is then proposed
    second = ok(call(client, scene.gp, "post", f"/registrations/{rid}/follow-ups",
                     {"date": scene.today.isoformat(), "sbp": 160, "dbp": 96}), 201)
    assert (second["classification"], second["reasons"]) == ("refer_up", ["two_uncontrolled"])
    proposal = ok(call(client, scene.gp, "post", f"/follow-ups/{second['id']}/referral"), 201)
    assert proposal["status"] == "draft" and not proposal["green_channel"]
    problem(call(client, scene.gp, "post", f"/follow-ups/{first['id']}/referral"), 400)
    # the registration is read with its follow-ups, newest first; the reads are audited
    detail = ok(call(client, scene.gp, "get", f"/registrations/{rid}"))
    assert [f["id"] for f in detail["follow_ups"]] == [second["id"], first["id"]]
    assert detail["last_follow_up_on"] == scene.today.isoformat()
    assert viewed("chronic.Registration", rid)
    ok(call(client, scene.gp, "get", f"/follow-ups/{first['id']}"))
    assert viewed("chronic.FollowUp", first["id"])
    # lists filter by team, disease and status
    listed = ok(call(client, scene.gp, "get",
                     f"/registrations?team={scene.team.pk}&disease=hypertension&status=active"))
    assert [r["id"] for r in listed["items"]] == [rid]
    assert ok(call(client, scene.gp, "get", "/registrations?disease=t2d"))["count"] == 0
    # closing takes a reason from the list; closing twice is a conflict
    closed = ok(call(client, scene.gp, "post", f"/registrations/{rid}/close",
                     {"reason": "moved"}))
    assert closed["status"] == "closed"
    problem(call(client, scene.gp, "post", f"/registrations/{rid}/close",
                 {"reason": "moved"}), 409)
    problem(call(client, scene.gp, "post", f"/registrations/{rid}/close",
                 {"reason": "bored"}), 422)


def test_an_urgent_follow_up_returns_its_green_channel_referral(client: Client,
                                                                scene: ChronicScene) -> None:
    registration = enrolled(scene, scene.elderly)
    answer = ok(call(client, scene.village_doctor, "post",
                     f"/registrations/{registration.pk}/follow-ups",
                     {"date": scene.today.isoformat(), "sbp": 185, "dbp": 112,
                      "signs": ["severe_headache_or_dizziness"]}), 201)
    assert answer["classification"] == "urgent"
    assert answer["reasons"] == ["sbp_high", "dbp_high", "severe_headache_or_dizziness"]
    assert answer["next_due"] == (scene.today + dt.timedelta(days=14)).isoformat()
    referral = Referral.objects.get(pk=answer["referral_id"])
    assert referral.green_channel and referral.status == Referral.Status.DRAFT


def test_a_diabetic_follow_up_by_resident_and_disease(client: Client,
                                                      scene: ChronicScene) -> None:
    enrolled(scene, scene.young, rules.DIABETES)
    body = {"patient_id": scene.young.pk, "disease": "t2d", "date": scene.today.isoformat(),
            "fasting_glucose": "6.4", "heart_rate": 100, "temperature": "39.0"}
    controlled = ok(call(client, scene.gp, "post", "/follow-ups", body), 201)
    assert controlled["classification"] == "controlled"
    assert controlled["next_due"] == (scene.today + dt.timedelta(days=90)).isoformat()
    urgent = ok(call(client, scene.gp, "post", "/follow-ups", {**body, "heart_rate": 101}), 201)
    assert (urgent["classification"], urgent["reasons"]) == ("urgent", ["heart_rate_high"])


@pytest.mark.parametrize(("values", "status", "code", "words"), [
    ({"sbp": 400, "dbp": 20}, 400, "reading.implausible", "400"),
    ({"sbp": 120, "dbp": 130}, 400, "reading.pressure_order", "diastolic"),
    ({"sbp": 120}, 400, "reading.missing", "diastolic"),
    ({"fasting_glucose": "6.0"}, 400, "reading.missing", "systolic"),
    ({"sbp": 130.5, "dbp": 80}, 422, None, None),
    ({"sbp": 130, "dbp": 80, "signs": ["headache"]}, 422, None, None),
    ({"sbp": 130, "dbp": 80, "temperature": "NaN"}, 422, None, None),
    ({"sbp": 130, "dbp": 80, "method": "letter"}, 422, None, None),
    ({"sbp": 2**70, "dbp": 80}, 422, None, None),
])
def test_bad_hypertension_readings_are_problems_and_nothing_is_saved(
        client: Client, scene: ChronicScene, values: dict[str, Any], status: int,
        code: str | None, words: str | None) -> None:
    registration = enrolled(scene, scene.elderly)
    body = {"date": scene.today.isoformat(), **values}
    refused = problem(call(client, scene.gp, "post",
                           f"/registrations/{registration.pk}/follow-ups", body), status)
    if code is not None:
        assert refused["code"] == code and words in refused["detail"]
    assert not FollowUp.objects.exists()


def test_glucose_of_90_a_future_date_and_a_resident_off_the_registry_are_refused(
        client: Client, scene: ChronicScene) -> None:
    registration = enrolled(scene, scene.young, rules.DIABETES)
    path = f"/registrations/{registration.pk}/follow-ups"
    glucose = problem(call(client, scene.gp, "post", path,
                           {"date": scene.today.isoformat(), "fasting_glucose": "90"}), 400)
    assert glucose["code"] == "reading.implausible" and "90" in glucose["detail"]
    future = problem(call(client, scene.gp, "post", path,
                          {"date": (scene.today + dt.timedelta(days=1)).isoformat(),
                           "fasting_glucose": "6.0"}), 400)
    assert future["code"] == "follow_up.future"
    off = problem(call(client, scene.gp, "post", "/follow-ups",
                       {"patient_id": scene.elderly.pk, "disease": "hypertension",
                        "date": scene.today.isoformat(), "sbp": 130, "dbp": 80}), 400)
    assert off["code"] == "follow_up.not_registered" and "Hypertension" in off["detail"]
    ancient = problem(call(client, scene.gp, "post", path,
                           {"date": "0001-01-01", "fasting_glucose": "6.0"}), 422)
    assert ancient["errors"][0]["field"] == "date"
    problem(call(client, scene.gp, "post", "/registrations/999999/follow-ups",
                 {"date": scene.today.isoformat(), "fasting_glucose": "6.0"}), 404)
    problem(call(client, scene.gp, "post", "/follow-ups",
                 {"patient_id": 999999, "disease": "t2d", "date": scene.today.isoformat(),
                  "fasting_glucose": "6.0"}), 404)
    assert not FollowUp.objects.exists()


def test_problems_are_in_the_users_language(client: Client, scene: ChronicScene) -> None:
    missing = problem(call(client, scene.gp, "get", "/contracts/999999", lang="zh-hans"), 404)
    assert HAN.search(missing["title"]) and HAN.search(missing["detail"])


# --- screening, elderly check, priority groups ----------------------------------------------------


def test_three_raised_screening_readings_enrol_the_resident(client: Client,
                                                            scene: ChronicScene) -> None:
    answers = [ok(call(client, scene.gp, "post", "/screenings",
                       {"patient_id": scene.young.pk, "date": days_ago(scene, days),
                        "sbp": 150, "dbp": 95}), 201) for days in (20, 10, 0)]
    assert [len(a["enrolled"]) for a in answers] == [0, 0, 1]
    assert answers[2]["enrolled"][0]["source"] == "screening"
    empty = problem(call(client, scene.gp, "post", "/screenings",
                         {"patient_id": scene.young.pk, "date": scene.today.isoformat()}), 400)
    assert empty["code"] == "reading.missing"


def test_the_elderly_check_is_recorded_for_65_and_over(client: Client,
                                                       scene: ChronicScene) -> None:
    body = {"date": scene.today.isoformat(), "items": ["assessment", "examination", "ecg"],
            "sbp": 132, "dbp": 80, "fasting_glucose": "7.8", "diagnosed": ["t2d"]}
    done = ok(call(client, scene.gp, "post", "/elderly-checks",
                   {**body, "patient_id": scene.old.pk}), 201)
    assert done["check"]["items"] == ["assessment", "examination", "ecg"]
    assert [r["disease"] for r in done["enrolled"]] == ["t2d"]
    young = problem(call(client, scene.gp, "post", "/elderly-checks",
                         {**body, "patient_id": scene.young.pk}), 400)
    assert young["code"] == "check.age"
    problem(call(client, scene.gp, "post", "/elderly-checks",
                 {**body, "patient_id": scene.old.pk, "items": []}), 422)


def test_a_priority_group_is_declared_once(client: Client, scene: ChronicScene) -> None:
    path = f"/patients/{scene.young.pk}/priority-groups"
    first = ok(call(client, scene.gp, "post", path, {"group": "disabled"}), 201)
    again = ok(call(client, scene.gp, "post", path, {"group": "disabled"}), 201)
    assert first["id"] == again["id"]
    problem(call(client, scene.gp, "post", path, {"group": "elderly"}), 422)


# --- work queue -----------------------------------------------------------------------------------


def test_the_team_queue_and_my_own_list_overdue_and_rechecks(client: Client,
                                                            scene: ChronicScene) -> None:
    overdue = enrolled(scene, scene.elderly, days=40)
    recheck = enrolled(scene, scene.old, days=0)
    services.record_follow_up(recheck, by=scene.gp, date=scene.today,
                              values={"sbp": 165, "dbp": 92})
    queue = ok(call(client, scene.gp, "get", f"/queue?team={scene.team.pk}"))
    lists = {q["key"]: q for q in queue["lists"]}
    assert [(r["kind"], r["id"], r["days_overdue"]) for r in lists["overdue"]["rows"]] == [
        ("registration", overdue.pk, 26)]
    assert [r["id"] for r in lists["rechecks"]["rows"]] == [recheck.pk]
    assert queue["team_id"] == scene.team.pk
    assert viewed("chronic.Registration", overdue.pk)
    mine = ok(call(client, scene.gp, "get", "/queue"))
    assert {q["key"] for q in mine["lists"]} == set(lists)
    assert [r["id"] for r in {q["key"]: q for q in mine["lists"]}["overdue"]["rows"]] == [
        overdue.pk]


# --- scope ----------------------------------------------------------------------------------------


def test_another_alliances_doctor_sees_and_changes_nothing(client: Client, scene: ChronicScene,
                                                           outsider: User) -> None:
    contract = signed(scene, scene.elderly)
    registration = enrolled(scene, scene.young)
    result = services.record_follow_up(registration, by=scene.gp, date=scene.today,
                                       values={"sbp": 150, "dbp": 95})
    # lists are empty
    assert ok(call(client, outsider, "get", "/contracts"))["count"] == 0
    assert ok(call(client, outsider, "get", "/registrations"))["count"] == 0
    # reads and steps on the records are refused
    for method, path, body in [
            ("get", f"/contracts/{contract.pk}", None),
            ("post", f"/contracts/{contract.pk}/terminate", {"reason": "x"}),
            ("post", f"/contracts/{contract.pk}/renew", {}),
            ("get", f"/registrations/{registration.pk}", None),
            ("post", f"/registrations/{registration.pk}/close", {"reason": "moved"}),
            ("post", f"/registrations/{registration.pk}/follow-ups",
             {"date": scene.today.isoformat(), "sbp": 130, "dbp": 80}),
            ("get", f"/follow-ups/{result.follow_up.pk}", None),
            ("post", f"/follow-ups/{result.follow_up.pk}/referral", None),
            ("get", f"/queue?team={scene.team.pk}", None)]:
        problem(call(client, outsider, method, path, body), 403)
    # a resident of the other county is not theirs to enrol, screen or sign up either
    for path, body in [
            ("/registrations", {"patient_id": scene.young.pk, "disease": "t2d"}),
            ("/screenings", {"patient_id": scene.young.pk, "date": scene.today.isoformat(),
                             "sbp": 150, "dbp": 95}),
            ("/contracts", {"patient_id": scene.young.pk, "team_id": scene.team.pk,
                            "package_ids": [package_id("basic")], "consent": "signature"})]:
        assert problem(call(client, outsider, "post", path, body), 403)["code"] in (
            "patient.out_of_scope", "contract.team")
    # unknown records are 404
    problem(call(client, outsider, "get", "/contracts/999999"), 404)
    problem(call(client, outsider, "get", "/registrations/999999"), 404)
    # and nothing was read or changed
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.VIEW,
                                         user=outsider).exists()
    assert Contract.objects.get(pk=contract.pk).status == "active"


def test_a_regulator_reads_but_cannot_record(client: Client, scene: ChronicScene) -> None:
    registration = enrolled(scene, scene.young)
    regulator = scene.base.world.user(Role.REGULATOR)
    assert ok(call(client, regulator, "get", "/registrations"))["count"] == 1
    refused = problem(call(client, regulator, "post",
                           f"/registrations/{registration.pk}/follow-ups",
                           {"date": scene.today.isoformat(), "sbp": 130, "dbp": 80}), 403)
    assert refused["code"] == "not_staff"


def test_without_a_session_the_api_answers_401(scene: ChronicScene) -> None:
    response = Client().get("/api/chronic/teams")
    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"


def test_a_resident_is_enrolled_only_in_a_team_the_doctor_sees(client: Client,
                                                                scene: ChronicScene) -> None:
    # given a team of the other alliance
    foreign = services.create_team(institution=scene.base.world.other_township, code="T101-A",
                                   name="柳园镇一组")
    # when the GP enrols a resident in it, then it is refused and nothing is enrolled
    problem(call(client, scene.gp, "post", "/registrations",
                 {"patient_id": scene.young.pk, "disease": "hypertension",
                  "team_id": foreign.pk}), 403)
    assert not Registration.objects.exists()


def test_a_contract_names_known_packages_and_a_consent(client: Client,
                                                       scene: ChronicScene) -> None:
    body = {"patient_id": scene.young.pk, "team_id": scene.team.pk,
            "package_ids": [package_id("basic"), 999999], "consent": "signature"}
    problem(call(client, scene.gp, "post", "/contracts", body), 404)
    problem(call(client, scene.gp, "post", "/contracts",
                 {**body, "package_ids": [package_id("basic")], "consent": ""}), 422)
    problem(call(client, scene.gp, "post", "/contracts", {**body, "package_ids": []}), 422)
    assert not Contract.objects.exists()
