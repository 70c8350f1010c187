"""Specifications of the web pages: who may open which page, and what each page shows
(issue 2 §7; rules.md §11)."""

import pytest
from django.urls import reverse

from tests.web.factories import make_encounter
from tiercare.accounts.models import AuditEvent, Role

ALL_ROLES = list(Role.values)
SEARCHERS = {Role.DOCTOR, Role.NURSE, Role.PHARMACIST, Role.AUDITOR, Role.REGULATOR,
             Role.SYSTEM_ADMIN}
AUDIT_READERS = {Role.AUDITOR, Role.SYSTEM_ADMIN}
GRID_READERS = {Role.ALLIANCE_ADMIN, Role.REGULATOR, Role.SYSTEM_ADMIN}


def pages(world):
    """(url, roles allowed) for every page of the web UI."""
    return [
        (reverse("web:home"), set(ALL_ROLES)),
        (reverse("web:resident_search"), SEARCHERS),
        (reverse("web:resident_search") + "?q=zs", SEARCHERS),
        (reverse("web:resident_record", args=[world.patient.pk]), SEARCHERS),
        (reverse("web:alliance_detail", args=[world.alliance.code]), set(ALL_ROLES)),
        (reverse("web:institution_detail", args=[world.township.code]), set(ALL_ROLES)),
        (reverse("web:institution_list"), GRID_READERS),
        (reverse("web:grid_coverage"), GRID_READERS),
        (reverse("web:audit_log"), AUDIT_READERS),
        (reverse("web:system_list"), {Role.SYSTEM_ADMIN}),
    ]


@pytest.mark.parametrize("role", ALL_ROLES)
def test_each_page_answers_200_to_allowed_roles_and_403_to_the_others(world, as_role, role):
    # given a user of the role
    client = as_role(role)
    for url, allowed in pages(world):
        # when they open the page
        response = client.get(url)
        # then allowed roles see it and the others get the translated 403 page
        expected = 200 if role in allowed else 403
        assert response.status_code == expected, (role, url, response.status_code)
        if expected == 403:
            assert b'data-status="403"' in response.content


def test_anonymous_visitors_are_sent_to_the_login_page(client, world):
    for url, _allowed in pages(world):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("accounts:login"))


@pytest.mark.parametrize(("role", "masked"), [
    (Role.DOCTOR, False), (Role.NURSE, False), (Role.AUDITOR, True), (Role.REGULATOR, True),
    (Role.PHARMACIST, True),
])
def test_search_masks_id_numbers_for_roles_that_do_not_need_them(world, as_role, role, masked):
    # given a resident 张三 and a user of the role
    client = as_role(role)
    number = world.patient.id_number
    # when they search by pinyin initials
    response = client.get(reverse("web:resident_search"), {"q": "zs"})
    # then the resident is listed, with the ID number masked or not according to the role
    body = response.content.decode()
    assert "张三" in body
    assert (number in body) is not masked
    if masked:
        assert number[:6] + "********" + number[-4:] in body
        assert world.patient.phone not in body


def test_the_record_page_masks_identifiers_for_an_auditor(world, as_role):
    body = as_role(Role.AUDITOR).get(
        reverse("web:resident_record", args=[world.patient.pk])).content.decode()
    assert world.patient.id_number not in body
    assert world.patient.phone not in body
    assert world.patient.id_number[-4:] in body


def test_htmx_search_returns_only_the_results_fragment(world, as_role):
    response = as_role(Role.DOCTOR).get(reverse("web:resident_search"), {"q": "张"},
                                        HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in body
    assert 'data-testid="results-table"' in body and "张三" in body


@pytest.mark.parametrize("query", ["!!!", "@#$%^&*", "x" * 41, "12345", "张三'; DROP TABLE"])
def test_bad_search_text_gets_a_friendly_message_not_an_error(world, as_role, query):
    response = as_role(Role.DOCTOR).get(reverse("web:resident_search"), {"q": query})
    assert response.status_code == 200
    assert 'data-testid="search-message"' in response.content.decode() or \
        'data-testid="search-empty"' in response.content.decode()


def test_an_empty_search_explains_what_to_type(world, as_role):
    client = as_role(Role.DOCTOR)
    response = client.get(reverse("web:resident_search"), {"q": "   "})
    assert "zs" in response.content.decode()
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.SEARCH).exists()


def test_a_search_outside_the_scope_finds_nothing(world, as_role):
    # given 赵四 lives in the other alliance's grid with no care at the doctor's centre
    response = as_role(Role.DOCTOR).get(reverse("web:resident_search"), {"q": "赵四"})
    assert "赵四" in response.content.decode()  # echoed in the "nothing found" message
    assert 'data-testid="resident-link"' not in response.content.decode()


def test_opening_a_record_writes_exactly_one_view_event(world, as_role):
    # given a doctor and no audit events for the resident
    client = as_role(Role.DOCTOR)
    AuditEvent.objects.all().delete()
    # when the doctor opens the record
    response = client.get(reverse("web:resident_record", args=[world.patient.pk]),
                          REMOTE_ADDR="10.1.2.3")
    # then one VIEW event names the doctor, the resident and the address
    assert response.status_code == 200
    views = AuditEvent.objects.filter(action=AuditEvent.Action.VIEW)
    assert views.count() == 1
    event = views.get()
    assert (event.user_id, event.patient_id, event.ip_address) == (
        world.user(Role.DOCTOR).pk, world.patient.pk, "10.1.2.3")


def test_the_record_shows_encounters_at_three_levels_with_chinese_diagnoses(world, as_role):
    body = as_role(Role.DOCTOR).get(
        reverse("web:resident_record", args=[world.patient.pk])).content.decode()
    for level in ("village", "township", "county"):
        assert f'data-level="{level}"' in body
    for name in ("王家村卫生室", "城关镇卫生院", "临清市人民医院", "聊城市人民医院"):
        assert name in body
    assert "¥9,876.50" in body
    assert "I63.9" in body and "E11.9" in body


def test_a_resident_outside_the_scope_is_refused_with_a_reason(world, as_role):
    response = as_role(Role.DOCTOR).get(
        reverse("web:resident_record", args=[world.stranger.pk]))
    assert response.status_code == 403
    assert 'data-testid="error-message"' in response.content.decode()
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.VIEW,
                                         patient_id=world.stranger.pk).exists()


def test_an_unknown_resident_gives_the_404_page(world, as_role):
    response = as_role(Role.DOCTOR).get(reverse("web:resident_record", args=[999999]))
    assert response.status_code == 404
    assert b'data-status="404"' in response.content


def test_the_record_page_costs_a_bounded_number_of_queries(
        world, as_role, django_assert_max_num_queries):
    from tests.web.factories import make_encounter

    client = as_role(Role.DOCTOR)
    url = reverse("web:resident_record", args=[world.patient.pk])
    client.get(url)
    for days in range(60, 90):
        make_encounter(world.patient, world.township, days_ago=days, secondary=("E11.9",))
    # the count does not grow with the number of encounters (no N+1)
    with django_assert_max_num_queries(25):
        response = client.get(url)
    assert response.status_code == 200


def test_the_timeline_pages_through_long_records(world, as_role):
    from tests.web.factories import make_encounter

    for days in range(100, 125):
        make_encounter(world.patient, world.village, days_ago=days)
    client = as_role(Role.DOCTOR)
    total = 3 + 25
    first = client.get(reverse("web:resident_record", args=[world.patient.pk])).content.decode()
    assert first.count("<tr data-level=") == 20
    assert 'data-testid="timeline-older"' in first
    second = client.get(reverse("web:resident_timeline", args=[world.patient.pk]),
                        {"page": 2}, HTTP_HX_REQUEST="true").content.decode()
    assert second.count("<tr data-level=") == total - 20
    assert 'data-testid="timeline-older"' not in second
    assert 'data-testid="timeline-newer"' in second


@pytest.mark.parametrize("page", ["abc", "0", "-1", "1e9", "99999999999"])
def test_a_bad_page_number_gives_a_friendly_400(world, as_role, page):
    response = as_role(Role.DOCTOR).get(
        reverse("web:resident_record", args=[world.patient.pk]), {"page": page})
    assert response.status_code == 400
    assert 'data-testid="error-message"' in response.content.decode()


def test_the_overview_takes_a_scoped_user_to_their_alliance(world, as_role):
    response = as_role(Role.DOCTOR).get(reverse("web:alliance_overview"))
    assert response.status_code == 302
    assert response["Location"] == reverse("web:alliance_detail", args=[world.alliance.code])


def test_the_overview_lets_a_regulator_choose_among_alliances(world, as_role):
    body = as_role(Role.REGULATOR).get(reverse("web:alliance_overview")).content.decode()
    assert world.alliance.name in body and world.other_alliance.name in body


def test_a_scoped_user_cannot_open_another_alliance(world, as_role):
    response = as_role(Role.DOCTOR).get(
        reverse("web:alliance_detail", args=[world.other_alliance.code]))
    assert response.status_code == 403


def test_the_overview_tree_nests_village_clinics_under_their_township_centre(world, as_role):
    body = as_role(Role.ALLIANCE_ADMIN).get(
        reverse("web:alliance_detail", args=[world.alliance.code])).content.decode()
    tree = body[body.index('data-testid="alliance-tree"'):]
    township_at = tree.index("城关镇卫生院")
    assert tree.index("王家村卫生室") > township_at
    assert "临清市人民医院" in tree
    assert "东昌府区" not in tree


def test_the_institution_page_shows_the_full_division_name_and_postings(world, as_role):
    body = as_role(Role.DOCTOR).get(
        reverse("web:institution_detail", args=[world.township.code])).content.decode()
    assert "山东省 聊城市 临清市 城关镇" in body
    assert "陈主任" in body  # posted from the lead hospital
    assert "王家村卫生室" in body  # the clinic it runs


def test_an_institution_outside_the_scope_is_refused(world, as_role):
    assert as_role(Role.DOCTOR).get(reverse(
        "web:institution_detail", args=[world.other_township.code])).status_code == 403
    assert as_role(Role.REGULATOR).get(reverse(
        "web:institution_detail", args=[world.other_township.code])).status_code == 200


def test_grid_coverage_reports_the_counties_of_the_scope(world, as_role):
    client = as_role(Role.ALLIANCE_ADMIN)
    body = client.get(reverse("web:grid_coverage")).content.decode()
    assert 'data-testid="grid-report"' in body
    bad = client.get(reverse("web:grid_coverage"), {"county": "xyz"})
    assert bad.status_code == 400
    assert 'data-testid="grid-message"' in bad.content.decode()


def test_institution_list_rejects_an_unknown_level_politely(world, as_role):
    response = as_role(Role.SYSTEM_ADMIN).get(reverse("web:institution_list"), {"level": "moon"})
    assert response.status_code == 400
    assert "moon" in response.content.decode()
    ok = as_role(Role.SYSTEM_ADMIN).get(reverse("web:institution_list"), {"level": "village"})
    assert "王家村卫生室" in ok.content.decode() and "城关镇卫生院" not in ok.content.decode()


def test_unknown_pages_use_the_translated_404_page(world, as_role):
    response = as_role(Role.DOCTOR).get("/no-such-page/")
    assert response.status_code == 404
    assert "页面不存在" in response.content.decode() or "找不到" in response.content.decode()


def test_an_htmx_request_after_logout_redirects_the_whole_page(world, client):
    response = client.get(reverse("web:resident_search"), {"q": "zs"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 204
    assert response["HX-Redirect"] == reverse("accounts:login")


def test_an_htmx_history_restore_gets_the_whole_page(world, as_role):
    response = as_role(Role.DOCTOR).get(reverse("web:resident_search"), {"q": "zs"},
                                        HTTP_HX_REQUEST="true",
                                        HTTP_HX_HISTORY_RESTORE_REQUEST="true")
    assert "<html" in response.content.decode()


def test_the_500_page_renders_in_the_layout_in_chinese(world, rf):
    from django.contrib.auth.models import AnonymousUser

    from tiercare.web.views.errors import server_error

    request = rf.get("/boom/")
    request.user = AnonymousUser()
    response = server_error(request)
    assert response.status_code == 500
    assert "系统出现错误" in response.content.decode()


def test_an_admission_not_yet_discharged_shows_in_hospital(world, as_role):
    admission = make_encounter(world.patient, world.county_hospital, days_ago=2,
                               encounter_class="inpatient", diagnosis="I63.9")
    admission.end = None
    admission.save()
    body = as_role(Role.DOCTOR).get(
        reverse("web:resident_record", args=[world.patient.pk])).content.decode()
    assert body.count('data-testid="in-hospital"') == 1
    assert "在院" in body
