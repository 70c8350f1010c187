"""The integrating-systems page (issue 3 "Admin UI"): a system administrator sees every
system's token, reach, scopes and recent traffic, issues a token whose secret is shown once,
and revokes one; FHIR requests are counted per system and day."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from tiercare.accounts.models import AuditEvent
from tiercare.fhir import tokens, traffic
from tiercare.fhir.models import ApiToken, ApiTraffic

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin(as_role):
    return as_role("system_admin")


def test_issuing_a_token_shows_the_secret_once_and_it_works(admin, world, client):
    response = admin.post(reverse("web:system_list"), {
        "name": "城关镇卫生院 HIS", "reach": "institution", "institution": world.township.pk,
        "scope": "system/*.read system/Encounter.write"})
    assert response.status_code == 200
    secret = response.context["secret"]
    assert secret.startswith("tc_") and secret in response.content.decode()
    token = ApiToken.objects.get(name="城关镇卫生院 HIS")
    assert token.institution == world.township and secret not in token.digest
    assert secret not in admin.get(reverse("web:system_list")).content.decode()
    answer = client.get("/fhir/Patient", HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert answer.status_code == 200


@pytest.mark.parametrize("form, field", [
    ({"name": "", "reach": "county", "scope": "system/*.read"}, "name"),
    ({"name": "LIS", "reach": "institution", "scope": "system/*.read"}, "institution"),
    ({"name": "LIS", "reach": "alliance", "scope": "system/*.read"}, "alliance"),
    ({"name": "LIS", "reach": "county", "scope": "user/*.read"}, "scope"),
    ({"name": "LIS", "reach": "county", "scope": ""}, "scope"),
])
def test_a_bad_form_is_400_with_the_reason_under_its_field(admin, world, form, field):
    response = admin.post(reverse("web:system_list"), form)
    assert response.status_code == 400
    assert response.context["form"].errors[field]
    assert not ApiToken.objects.exists()


def test_a_duplicate_name_is_refused_in_chinese(admin, world):
    tokens.create_token("LIS", scope="system/*.read", whole_county=True)
    response = admin.post(reverse("web:system_list"), {"name": "LIS", "reach": "county",
                                                       "scope": "system/*.read"})
    assert response.status_code == 400
    assert "已存在" in response.context["form"].errors["name"][0]


def test_requests_are_counted_per_system_and_day_and_shown(admin, world, client, settings):
    settings.TIERCARE_FHIR_TRAFFIC_FLUSH_SECONDS = 0
    token, secret = tokens.create_token("HIS", scope="system/Patient.read", whole_county=True)
    header = {"HTTP_AUTHORIZATION": f"Bearer {secret}"}
    for path in ("/fhir/Patient", f"/fhir/Patient/{world.patient.pk}", "/fhir/Patient/0",
                 "/fhir/Encounter"):
        client.get(path, **header)
    traffic.flush()
    row = ApiTraffic.objects.get(token=token, day=timezone.localdate())
    assert (row.requests, row.errors) == (4, 2)  # an unknown id and a type out of scope
    page = admin.get(reverse("web:system_list"))
    assert dict((t.name, counts) for t, counts in page.context["systems"])["HIS"] == {
        "token_id": token.pk, "requests": 4, "errors": 2}
    detail = admin.get(reverse("web:system_detail", args=[token.pk]))
    assert detail.status_code == 200
    assert any(e.patient_id == world.patient.pk for e in detail.context["events"])


def test_revoking_from_the_page_stops_the_system_and_is_audited(admin, world, client):
    token, secret = tokens.create_token("HIS", scope="system/*.read", whole_county=True)
    response = admin.post(reverse("web:system_detail", args=[token.pk]))
    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert client.get("/fhir/Patient", HTTP_AUTHORIZATION=f"Bearer {secret}").status_code == 401
    assert AuditEvent.objects.filter(object_type="fhir.ApiToken", summary="HIS: revoked").exists()


def test_other_roles_cannot_issue_tokens(as_role, world):
    response = as_role("alliance_admin").post(reverse("web:system_list"), {
        "name": "X", "reach": "county", "scope": "system/*.read"})
    assert response.status_code == 403 and not ApiToken.objects.exists()
