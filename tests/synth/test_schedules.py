"""The synthetic county's appointment capacity (issue 4 item 7): clinics, specialist clinics,
equipment and wards of the alliances' hospitals and township centres, with free slots for
the four weeks from today whatever year the history is for."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db.models import F, Sum
from django.utils import timezone

from tiercare.registry.models import Institution, Level
from tiercare.scheduling.models import Bed, Pool, Schedule, SchedulingPolicy, Slot
from tiercare.synth import generate
from tiercare.synth.schedules import NO_CLINIC, build_schedules

pytestmark = pytest.mark.django_db


@pytest.fixture
def county():
    generate(3_000, 5, 2023)


def test_every_outpatient_department_of_a_county_hospital_has_a_clinic(county):
    for hospital in Institution.objects.filter(level=Level.COUNTY, alliance__isnull=False) \
            .exclude(kind=Institution.Kind.PUBLIC_HEALTH):
        clinics = set(Schedule.objects.filter(institution=hospital, practitioner__isnull=True,
                                              kind=Schedule.Kind.CLINIC)
                      .values_list("department__specialty", flat=True))
        wanted = set(hospital.departments.exclude(specialty__in=NO_CLINIC)
                     .values_list("specialty", flat=True))
        assert clinics == wanted, hospital


def test_free_slots_cover_the_four_weeks_from_today_and_nothing_before(county):
    today = timezone.localdate()
    local = [timezone.localtime(s).date() for s in Slot.objects.values_list("start", flat=True)]
    assert max(local) <= today + dt.timedelta(days=27)
    assert max(local) >= today + dt.timedelta(days=20)
    # before today only the slots that the synthetic referrals' bookings used (synth.referrals)
    midnight = timezone.make_aware(dt.datetime.combine(today, dt.time()))
    assert not Slot.objects.filter(start__lt=midnight, appointments__isnull=True).exists()
    assert Slot.objects.filter(start__gte=midnight, booked__lt=F("capacity")).exists()
    township = Institution.objects.filter(level=Level.TOWNSHIP).first()
    assert Slot.objects.filter(schedule__institution=township).exists()


def test_the_first_alliance_reserves_referral_places_and_primary_care_can_book_ct(county):
    policy = SchedulingPolicy.objects.get()
    assert policy.preset == "beijing"
    assert Slot.objects.filter(pool=Pool.REFERRAL).exists()
    ct = Schedule.objects.get(kind=Schedule.Kind.EQUIPMENT, equipment__code="CT1")
    assert ct.slots.exists() and ct.institution.kind == Institution.Kind.GENERAL_HOSPITAL
    assert Schedule.objects.filter(is_specialist=True, practitioner__isnull=False).exists()


def test_beds_are_the_hospitals_beds_one_in_ten_reserved(county):
    for institution in Institution.objects.filter(wards__isnull=False).distinct():
        assert Bed.objects.filter(ward__institution=institution).count() == institution.beds
    total = Bed.objects.count()
    assert Bed.objects.filter(pool=Pool.REFERRAL).count() == pytest.approx(total / 10, abs=12)


def test_building_again_adds_nothing(county):
    before = (Schedule.objects.count(), Slot.objects.aggregate(n=Sum("capacity"))["n"],
              Bed.objects.count())
    again = build_schedules(seed=5)
    assert again.schedules == 0
    assert (Schedule.objects.count(), Slot.objects.aggregate(n=Sum("capacity"))["n"],
            Bed.objects.count()) == before
