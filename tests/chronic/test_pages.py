"""The family-doctor pages as their users open them (issue 6): every page answers for the roles
that may use it, the queue shows overdue residents with their days overdue, a follow-up saved
from the form is classified and an urgent one links its green-channel referral, bad input is
refused on the form, and reads are audited."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from tests.web.factories import PASSWORD
from tiercare.accounts.models import AuditEvent, Role
from tiercare.chronic import rules, services
from tiercare.chronic.models import Contract, FollowUp, Registration, ServicePackage

pytestmark = pytest.mark.django_db


def client_for(user: Any) -> Client:
    client = Client()
    assert client.login(username=user.username, password=PASSWORD)
    return client


@pytest.fixture
def registered(scene: Any) -> Registration:
    registration = services.enrol(patient=scene.elderly, disease=rules.HYPERTENSION,
                                  source=Registration.Source.DIAGNOSIS, by=scene.gp,
                                  team=scene.team, on=scene.today - dt.timedelta(days=40))
    services.sign_contract(patient=scene.elderly, team=scene.team,
                           packages=list(ServicePackage.objects.filter(
                               alliance__isnull=True, code__in=["basic", "hypertension"])),
                           consent=Contract.Consent.SIGNATURE, by=scene.gp)
    return registration


def test_every_page_answers_for_a_doctor(scene: Any, registered: Registration) -> None:
    client = client_for(scene.village_doctor)
    contract = Contract.objects.get()
    for name, args in [("chronic:queue", []), ("chronic:registrations", []),
                       ("chronic:registration", [registered.pk]),
                       ("chronic:follow_up_new", [registered.pk]), ("chronic:teams", []),
                       ("chronic:team", [scene.team.pk]), ("chronic:contracts", []),
                       ("chronic:contract", [contract.pk]), ("chronic:contract_new", []),
                       ("chronic:enrol", []), ("chronic:elderly_check", []),
                       ("chronic:screening", [])]:
        response = client.get(reverse(name, args=args))
        assert response.status_code == 200, name
    assert client.get(reverse("chronic:home")).status_code == 302


def test_the_alliance_office_sees_teams_but_not_the_queue(scene: Any,
                                                          registered: Registration) -> None:
    client = client_for(scene.base.office)
    assert client.get(reverse("chronic:teams")).status_code == 200
    assert client.get(reverse("chronic:team", args=[scene.team.pk])).status_code == 200
    assert client.get(reverse("chronic:registration", args=[registered.pk])).status_code == 200
    assert client.get(reverse("chronic:queue")).status_code == 403
    other = client_for(scene.base.other_office)
    assert other.get(reverse("chronic:team", args=[scene.team.pk])).status_code == 404


def test_the_queue_shows_days_overdue_and_audits_the_residents(scene: Any,
                                                               registered: Registration) -> None:
    response = client_for(scene.village_doctor).get(reverse("chronic:queue"),
                                                    {"team": scene.team.pk})
    text = response.content.decode()
    assert "孙二" in text and 'data-testid="days-overdue"' in text
    assert "26" in text
    assert AuditEvent.objects.filter(action="view", patient_id=scene.elderly.pk).exists()


def test_an_urgent_follow_up_from_the_form_links_its_green_channel_referral(
        scene: Any, registered: Registration) -> None:
    client = client_for(scene.village_doctor)
    response = client.post(reverse("chronic:follow_up_new", args=[registered.pk]), {
        "date": scene.today.isoformat(), "method": "clinic", "sbp": "185", "dbp": "112",
        "adherence": "regular"})
    follow_up = FollowUp.objects.get()
    assert response.status_code == 302
    page = client.get(response["Location"]).content.decode()
    assert 'data-classification="urgent"' in page
    assert reverse("referrals:detail", args=[follow_up.referral_id]) in page


def test_impossible_readings_are_refused_on_the_form(scene: Any,
                                                     registered: Registration) -> None:
    client = client_for(scene.village_doctor)
    response = client.post(reverse("chronic:follow_up_new", args=[registered.pk]), {
        "date": scene.today.isoformat(), "method": "clinic", "sbp": "400", "dbp": "20",
        "adherence": "regular"}, HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert response.status_code == 200
    assert 'data-testid="form-error"' in response.content.decode()
    future = client.post(reverse("chronic:follow_up_new", args=[registered.pk]), {
        "date": (scene.today + dt.timedelta(days=2)).isoformat(), "method": "clinic",
        "sbp": "130", "dbp": "80", "adherence": "regular"})
    assert future.status_code == 200
    assert not FollowUp.objects.exists()


def test_a_second_contract_is_refused_on_the_form(scene: Any, registered: Registration) -> None:
    client = client_for(scene.gp)
    basic = ServicePackage.objects.get(alliance__isnull=True, code="basic")
    response = client.post(reverse("chronic:contract_new") + f"?patient={scene.elderly.pk}", {
        "patient": scene.elderly.pk, "team": scene.team.pk, "packages": [basic.pk],
        "years": 1, "consent": "signature"})
    assert response.status_code == 200
    assert 'data-testid="form-error"' in response.content.decode()
    assert Contract.objects.filter(patient=scene.elderly).count() == 1


def test_the_team_page_shows_coverage_and_fulfilment(scene: Any, registered: Registration,
                                                     settings: Any, tmp_path: Any) -> None:
    from tiercare.indicators.engine import snapshot

    settings.DATA_DIR = tmp_path
    client = client_for(scene.gp)
    before = client.get(reverse("chronic:team", args=[scene.team.pk])).content.decode()
    # the catchment is 王家村 (the village doctor's clinic): 张三, 钱一, 孙二 and 周三; only 孙二
    # has a contract; the priority groups hold 张三 (68), 孙二 (66, registered), 周三 (70)
    assert 'data-testid="team-coverage">25.0%' in before
    assert 'data-testid="team-priority-coverage">33.3%' in before
    assert 'data-testid="team-fulfilment">—' in before  # no snapshot yet: said, not a 500
    snapshot.refresh(full=True)
    text = client.get(reverse("chronic:team", args=[scene.team.pk])).content.decode()
    assert 'data-testid="team-fulfilment">' in text
    fulfilment = text.split('data-testid="team-fulfilment">')[1].split("<")[0]
    assert fulfilment.endswith("%"), fulfilment


def test_a_pharmacist_has_no_family_doctor_pages(scene: Any) -> None:
    client = client_for(scene.base.world.user(Role.PHARMACIST))
    assert client.get(reverse("chronic:teams")).status_code == 403


def test_the_shared_record_shows_the_contract_and_the_registries(scene: Any,
                                                                 registered: Registration) -> None:
    response = client_for(scene.gp).get(reverse("web:resident_record", args=[scene.elderly.pk]))
    text = response.content.decode()
    assert 'data-testid="family-doctor-panel"' in text
    assert reverse("chronic:registration", args=[registered.pk]) in text
    assert scene.team.name in text


def test_the_pages_speak_english_when_asked(scene: Any, registered: Registration) -> None:
    client = client_for(scene.village_doctor)
    client.cookies["django_language"] = "en"
    text = client.get(reverse("chronic:queue"), {"team": scene.team.pk}).content.decode()
    assert "Work queue" in text and "Overdue" in text


def test_the_registry_lists_every_overdue_resident_of_the_team(scene: Any,
                                                               registered: Registration) -> None:
    services.enrol(patient=scene.old, disease=rules.HYPERTENSION,
                   source=Registration.Source.DIAGNOSIS, by=scene.gp, team=scene.team)
    client = client_for(scene.gp)
    text = client.get(reverse("chronic:registrations"),
                      {"due": "overdue", "team": scene.team.pk}).content.decode()
    assert "孙二" in text and "周三" not in text
    text = client.get(reverse("chronic:registrations"), {"due": "week"}).content.decode()
    assert "孙二" not in text


def test_the_team_list_counts_members_contracts_and_registrations(
        scene: Any, registered: Registration) -> None:
    text = client_for(scene.base.office).get(reverse("chronic:teams")).content.decode()
    row = text.split(scene.team.name)[1].split("</tr>")[0]
    cells = [c.split("<")[0] for c in row.split('<td class="text-end">')[1:]]
    assert cells == ["2", "1", "1"]  # 李医生 and 赵村医; 孙二's contract; 孙二's registration


def test_a_resident_is_found_with_the_shared_search_and_the_search_is_audited(
        scene: Any) -> None:
    client = client_for(scene.gp)
    text = client.get(reverse("chronic:contract_new"), {"q": "孙二"}).content.decode()
    assert f"?patient={scene.elderly.pk}" in text
    assert AuditEvent.objects.filter(action="search", summary__contains="孙二").exists()
    pinyin = client.get(reverse("chronic:elderly_check"), {"q": "se"}).content.decode()
    assert f"?patient={scene.elderly.pk}" in pinyin
    odd = client.get(reverse("chronic:screening"), {"q": "@@@"})
    assert odd.status_code == 200


def test_the_elderly_check_form_records_the_check(scene: Any) -> None:
    from tiercare.chronic.models import ElderlyCheck

    client = client_for(scene.gp)
    page = client.get(reverse("chronic:elderly_check"), {"patient": scene.old.pk})
    assert 'value="ecg"' in page.content.decode()
    response = client.post(reverse("chronic:elderly_check"), {
        "patient": scene.old.pk, "date": scene.today.isoformat(),
        "items": ["assessment", "examination", "ecg"], "sbp": "132", "dbp": "80"})
    assert response.status_code == 302
    assert ElderlyCheck.objects.get(patient=scene.old).items == ["assessment", "examination",
                                                                 "ecg"]
