"""Back-office pages that show residents' encounters are audited like the record page
(rules.md §11): a list is one SEARCH event, opening an encounter is a VIEW of its resident."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.encounters.factories import aware
from tiercare.accounts.models import AuditEvent, Role, User
from tiercare.encounters.models import Encounter


@pytest.fixture
def admin_client(client, county):
    user = User.objects.create_superuser("root", "root@example.org", "Root-pass-2026!",
                                         role=Role.SYSTEM_ADMIN)
    client.force_login(user)
    return client


@pytest.fixture
def encounter(county):
    return Encounter.objects.create(
        patient=county["patient"], encounter_class="outpatient", institution=county["township"],
        start=aware(2025, 3, 1, 9, 0), primary_diagnosis="J06.9", total="50.00", drugs="50.00",
        source_system="test", source_id="E-admin")


def test_the_encounter_list_is_one_search_event(admin_client, encounter):
    response = admin_client.get(reverse("admin:encounters_encounter_changelist"))
    assert response.status_code == 200
    events = AuditEvent.objects.filter(action=AuditEvent.Action.SEARCH,
                                       object_type="encounters.Encounter")
    assert events.count() == 1


def test_opening_an_encounter_is_a_view_of_its_resident(admin_client, encounter, county):
    url = reverse("admin:encounters_encounter_change", args=[encounter.pk])
    assert admin_client.get(url).status_code == 200
    view = AuditEvent.objects.get(action=AuditEvent.Action.VIEW,
                                  object_type="encounters.Encounter")
    assert view.patient_id == county["patient"].pk
    assert view.object_id == str(encounter.pk)
