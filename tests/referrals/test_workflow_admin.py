"""Back-office of the referral workflow: read-only pages with the timeline load and are
audited; the alliance's deadlines are edited and audited."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from tests.referrals.workflow_scene import Scene, draft_up, make_scene
from tiercare.accounts.models import AuditEvent, Role, User
from tiercare.referrals import services
from tiercare.referrals.models import FollowUpTask, Referral, ReferralPolicy


@pytest.fixture
def scene(db: Any) -> Scene:
    return make_scene()


@pytest.fixture
def root_client(client: Any, db: Any) -> Any:
    user = User.objects.create_superuser("root", "root@example.org", "Root-pass-2026!",
                                         role=Role.SYSTEM_ADMIN)
    client.force_login(user)
    return client


def test_referral_pages_are_read_only_and_audited(scene: Scene, root_client: Any) -> None:
    referral = services.submit(draft_up(scene), by=scene.village_doctor).referral
    services.receive(referral, by=scene.county_doctor)
    listing = root_client.get(reverse("admin:referrals_referral_changelist"))
    assert listing.status_code == 200
    page = root_client.get(reverse("admin:referrals_referral_change", args=[referral.pk]))
    assert page.status_code == 200
    body = page.content.decode()
    assert "receive" in body and "submit" in body  # the timeline inline
    assert 'name="_save"' not in body
    assert root_client.get(reverse("admin:referrals_referral_add")).status_code == 403
    assert AuditEvent.objects.filter(action=AuditEvent.Action.VIEW,
                                     object_type=Referral._meta.label).exists()
    tasks = root_client.get(reverse("admin:referrals_followuptask_changelist"))
    assert tasks.status_code == 200 and FollowUpTask.objects.count() == 1


def test_policy_is_edited_and_audited(scene: Scene, root_client: Any) -> None:
    response = root_client.post(reverse("admin:referrals_referralpolicy_add"), {
        "alliance": scene.world.alliance.pk, "routine_hours": 12, "green_channel_minutes": 10,
        "expiry_days": 5, "follow_up_days": 14})
    assert response.status_code == 302
    policy = ReferralPolicy.objects.get()
    assert (policy.routine_hours, policy.green_channel_minutes) == (12, 10)
    assert services.deadline_policy(scene.world.alliance.pk).expiry_days == 5
    assert AuditEvent.objects.filter(object_type=ReferralPolicy._meta.label).exists()
