"""Back-office pages of encounters and settlements answer for an administrator."""

from __future__ import annotations

import pytest

from tests.encounters.factories import encounter_input
from tiercare.accounts.models import User
from tiercare.encounters import services

pytestmark = pytest.mark.django_db


def test_changelists_filters_and_change_page(client, county):
    admin = User.objects.create_superuser("root", password="x-Very-long-9")
    client.force_login(admin)
    encounter = services.record_encounter(encounter_input(
        county["patient"], county["hospital"], secondary_diagnoses=["E11.9"]))
    for url in ("/admin/encounters/encounter/",
                "/admin/encounters/encounter/?encounter_class=outpatient"
                "&institution__level=county",
                "/admin/encounters/settlement/?in_county__exact=0",
                f"/admin/encounters/encounter/{encounter.pk}/change/"):
        response = client.get(url)
        assert response.status_code == 200, url
    assert "E11.9" in client.get(f"/admin/encounters/encounter/{encounter.pk}/change/"
                                 ).content.decode()
