"""The back-office of family-doctor work: every list opens, an alliance administrator copies
the default packages to edit them, contracts and follow-ups are read-only."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from tests.web.factories import PASSWORD
from tiercare.accounts.models import Role
from tiercare.chronic.models import ServicePackage

pytestmark = pytest.mark.django_db


def test_every_chronic_list_opens_for_the_system_administrator(scene: Any) -> None:
    client = Client()
    assert client.login(username=scene.base.world.user(Role.SYSTEM_ADMIN).username,
                        password=PASSWORD)
    for model in ("familydoctorteam", "servicepackage", "chronicpolicy", "contract",
                  "registration", "followup", "elderlycheck"):
        assert client.get(reverse(f"admin:chronic_{model}_changelist")).status_code == 200
        assert client.get(reverse(f"admin:chronic_{model}_changelist"),
                          {"q": "1"}).status_code == 200
    package = ServicePackage.objects.get(alliance__isnull=True, code="hypertension")
    assert client.get(reverse("admin:chronic_servicepackage_change",
                              args=[package.pk])).status_code == 200


def test_an_alliance_copies_the_default_packages(scene: Any) -> None:
    office = scene.base.office
    client = Client()
    assert client.login(username=office.username, password=PASSWORD)
    defaults = ServicePackage.objects.filter(alliance__isnull=True)
    response = client.post(reverse("admin:chronic_servicepackage_changelist"), {
        "action": "adopt_for_my_alliance", "_selected_action": [defaults.first().pk]})
    assert response.status_code == 302
    assert ServicePackage.objects.filter(alliance=office.alliance).count() == defaults.count()


def test_an_alliance_administrator_cannot_change_the_default_packages(scene: Any) -> None:
    client = Client()
    assert client.login(username=scene.base.office.username, password=PASSWORD)
    package = ServicePackage.objects.get(alliance__isnull=True, code="basic")
    response = client.post(reverse("admin:chronic_servicepackage_change", args=[package.pk]),
                           {"code": "basic", "name": "改名"})
    assert response.status_code == 403
    package.refresh_from_db()
    assert package.name == "基础服务包"
