"""A "living" county (the demo's): the synthetic year is still running, so no care starts
after the last day, admissions not yet discharged are open and have no settlement yet."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import pytest
from django.db import transaction

from tiercare.encounters.models import Encounter, Settlement
from tiercare.synth import generate
from tiercare.synth.generator import SynthError, SynthSummary

UNTIL = date(2024, 6, 30)
END_OF_UNTIL = datetime.combine(UNTIL, time(23, 59, 59), tzinfo=ZoneInfo("Asia/Shanghai"))


@pytest.fixture(scope="module")
def living(django_db_setup, django_db_blocker) -> Iterator[SynthSummary]:
    with django_db_blocker.unblock(), transaction.atomic():
        yield generate(2_000, 11, 2024, until=UNTIL)
        transaction.set_rollback(True)


@pytest.mark.django_db
def test_no_care_starts_after_the_last_day(living):
    assert Encounter.objects.exists()
    assert not Encounter.objects.filter(start__gt=END_OF_UNTIL).exists()
    assert not Encounter.objects.filter(end__gt=END_OF_UNTIL).exists()
    assert not Settlement.objects.filter(start_date__gt=UNTIL).exists()
    assert not Settlement.objects.filter(end_date__gt=UNTIL).exists()


@pytest.mark.django_db
def test_admissions_still_running_are_open_and_not_yet_settled(living):
    open_admissions = Encounter.objects.filter(encounter_class="inpatient", end__isnull=True)
    assert open_admissions.exists()
    assert not Settlement.objects.filter(encounter__in=open_admissions).exists()


@pytest.mark.django_db
def test_half_a_year_holds_about_half_a_year_of_visits(living):
    visits = Encounter.objects.filter(encounter_class__in=("outpatient", "emergency")).count()
    per_resident = visits / living.residents
    assert 2.0 <= per_resident <= 3.5


@pytest.mark.django_db
def test_a_last_day_outside_the_year_is_refused():
    with pytest.raises(SynthError):
        generate(100, 1, 2024, until=date(2025, 1, 1))
