"""Back-office of the indicator policy: the pages load for a superuser, saves go through the
services (audited), refusals land on their fields, an alliance administrator sees only their
own alliance."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from tiercare.accounts.models import AuditEvent
from tiercare.indicators import services
from tiercare.indicators.models import IndicatorPolicy, TargetOverride

pytestmark = pytest.mark.django_db


@pytest.fixture
def root(client, superuser):
    client.force_login(superuser)
    return client


def test_the_pages_load(root, alliance):
    policy = services.choose_pack(alliance, "guangdong_2025")
    override = services.override_target(alliance, "htn_control_rate", comparison=">=",
                                        value=Decimal(55), note="县定目标")
    for url in (reverse("admin:index"), reverse("admin:app_list", args=["indicators"]),
                reverse("admin:indicators_indicatorpolicy_changelist"),
                reverse("admin:indicators_indicatorpolicy_changelist") + "?q=A1",
                reverse("admin:indicators_indicatorpolicy_add"),
                reverse("admin:indicators_indicatorpolicy_change", args=[policy.pk]),
                reverse("admin:indicators_indicatorpolicy_delete", args=[policy.pk]),
                reverse("admin:indicators_targetoverride_changelist"),
                reverse("admin:indicators_targetoverride_changelist") + "?comparison=%3E%3D",
                reverse("admin:indicators_targetoverride_add"),
                reverse("admin:indicators_targetoverride_change", args=[override.pk]),
                reverse("admin:indicators_targetoverride_delete", args=[override.pk])):
        assert root.get(url).status_code == 200, url


def test_the_policy_page_shows_the_targets_in_force_with_their_sources(root, alliance):
    policy = services.choose_pack(alliance, "guangdong_2025")
    page = root.get(reverse("admin:indicators_indicatorpolicy_change",
                            args=[policy.pk])).content.decode()
    assert "县域内住院率" in page and "seed 003" in page and "国家默认目标" in page


def test_choosing_a_pack_in_the_back_office_is_audited(root, alliance, superuser):
    response = root.post(reverse("admin:indicators_indicatorpolicy_add"),
                         {"alliance": alliance.pk, "pack": "yingkou_2020"})
    assert response.status_code == 302
    assert services.pack_for(alliance).id == "yingkou_2020"
    event = AuditEvent.objects.get(object_type="indicators.IndicatorPolicy")
    assert event.user == superuser and event.changes["pack"]["to"] == "yingkou_2020"


def test_an_unknown_pack_is_refused_on_its_field(root, alliance):
    response = root.post(reverse("admin:indicators_indicatorpolicy_add"),
                         {"alliance": alliance.pk, "pack": "hainan_2030"})
    assert response.status_code == 200
    assert "pack" in response.context["adminform"].form.errors
    assert not IndicatorPolicy.objects.exists()


def test_an_override_out_of_range_is_refused_on_the_value(root, alliance):
    response = root.post(reverse("admin:indicators_targetoverride_add"), {
        "alliance": alliance.pk, "indicator": "htn_control_rate", "comparison": ">=",
        "value": "120", "tolerance": "", "note": "县定目标"})
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert list(errors) == ["value"] and "120" in errors["value"][0]
    assert not TargetOverride.objects.exists()


def test_saving_and_deleting_an_override_go_through_the_services(root, alliance):
    response = root.post(reverse("admin:indicators_targetoverride_add"), {
        "alliance": alliance.pk, "indicator": "in_county_inpatient_rate",
        "comparison": "approx", "value": "88", "tolerance": "1.5", "note": "县政府目标"})
    assert response.status_code == 302
    row = TargetOverride.objects.get()
    assert (row.value, row.tolerance) == (Decimal(88), Decimal("1.5"))
    response = root.post(reverse("admin:indicators_targetoverride_change", args=[row.pk]), {
        "comparison": "approx", "value": "87", "tolerance": "1.5", "note": "县政府目标"})
    assert response.status_code == 302
    response = root.post(reverse("admin:indicators_targetoverride_delete", args=[row.pk]),
                         {"post": "yes"})
    assert response.status_code == 302 and not TargetOverride.objects.exists()
    actions = list(AuditEvent.objects.filter(object_type="indicators.TargetOverride")
                   .order_by("pk").values_list("action", flat=True))
    assert actions == ["create", "update", "delete"]


def test_an_alliance_administrator_sees_and_changes_only_their_alliance(
        client, alliance, other_alliance, office):
    services.choose_pack(alliance, "national")
    services.choose_pack(other_alliance, "guangdong_2025")
    office.is_staff = True
    office.save()
    from django.contrib.auth.models import Permission

    office.user_permissions.add(*Permission.objects.filter(content_type__app_label="indicators"))
    client.force_login(office)
    response = client.get(reverse("admin:indicators_indicatorpolicy_changelist"))
    assert [p.alliance for p in response.context["cl"].result_list] == [alliance]
    response = client.post(reverse("admin:indicators_targetoverride_add"), {
        "alliance": other_alliance.pk, "indicator": "htn_control_rate", "comparison": ">=",
        "value": "55", "note": "x"})
    assert response.status_code == 200
    assert "alliance" in response.context["adminform"].form.errors
    assert not TargetOverride.objects.exists()


def test_bulk_deletion_removes_row_by_row_through_the_services(root, alliance):
    for indicator in ("htn_control_rate", "t2d_control_rate"):
        services.override_target(alliance, indicator, comparison=">=", value=Decimal(55),
                                 note="县定目标")
    rows = list(TargetOverride.objects.values_list("pk", flat=True))
    response = root.post(reverse("admin:indicators_targetoverride_changelist"),
                         {"action": "delete_selected", "_selected_action": rows, "post": "yes"})
    assert response.status_code == 302 and not TargetOverride.objects.exists()
    assert AuditEvent.objects.filter(object_type="indicators.TargetOverride",
                                     action=AuditEvent.Action.DELETE).count() == 2
