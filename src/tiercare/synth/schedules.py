"""The synthetic county's appointment capacity (issue 4 item 7): clinic, specialist and
equipment schedules with their weekly templates, wards with beds, and the free slots of the
four weeks from today — whatever year the care history is generated for — so that the
demo's slot calendars and referral bookings have real places to offer.

Assumptions (docs/synthetic-data.md, "Scheduling"):
* County hospitals run a general clinic in every outpatient department (not emergency,
  intensive care, imaging, laboratory or public health) on weekdays 08:00–12:00 and
  14:00–17:30 in 15-minute slots of 1–3 places; each chief or associate chief physician
  holds a specialist clinic (专家号) on two mornings a week, one place per 15 minutes.
* Township centres run a general-practice clinic Monday to Saturday 08:00–11:30, 20-minute
  slots of 3 places.
* A county general hospital has a CT scanner and an ultrasound room bookable by primary care
  (rules.md §4: equipment bookable by primary care), weekdays, 20-minute slots.
* Beds: each hospital's beds (``Institution.beds``) spread over its inpatient departments'
  wards; one bed in ten is reserved for referrals.
* The first alliance (by code) uses the Beijing preset (30 % of clinic slots reserved for
  referrals, half of them specialist slots, released 14 days ahead; rules.md §4), so the demo
  shows reserved places; other alliances keep the national default (nothing reserved).
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from tiercare.registry.models import Alliance, Department, Institution, Level, Practitioner
from tiercare.scheduling import services
from tiercare.scheduling.models import Bed, Equipment, Pool, Schedule, SlotTemplate, Ward

#: specialties without a bookable outpatient clinic
NO_CLINIC = frozenset({"emergency", "critical_care", "imaging", "laboratory", "public_health"})
#: specialties with wards
INPATIENT = frozenset({"internal_medicine", "surgery", "obstetrics_gynaecology", "paediatrics",
                       "orthopaedics", "critical_care", "tcm", "rehabilitation"})
WEEKDAYS = (0, 1, 2, 3, 4)
DAYS_AHEAD = 28
REFERRAL_BED_SHARE = 10  # one bed in ten


@dataclass
class ScheduleSummary:
    schedules: int = 0
    slot_times: int = 0
    wards: int = 0
    beds: int = 0


def _templates(schedule: Schedule, days: tuple[int, ...],
               hours: tuple[tuple[dt.time, dt.time], ...], minutes: int,
               capacity: int) -> list[SlotTemplate]:
    return [SlotTemplate(schedule=schedule, weekday=day, start_time=start, end_time=end,
                         slot_minutes=minutes, capacity=capacity)
            for day in days for start, end in hours]


@transaction.atomic
def build_schedules(*, seed: int, today: dt.date | None = None,
                    now: dt.datetime | None = None) -> ScheduleSummary:
    """Schedules, templates, wards, beds and the slots of the next four weeks for the
    alliances' county hospitals and township centres (idempotent per institution: an
    institution that has schedules already is left as it is). ``now`` (default: the clock)
    decides which reserved places are already released; ``today`` defaults to its date."""
    rng = random.Random(seed * 7919 + 4)
    now = now or timezone.now()
    today = today or timezone.localdate(now)
    summary = ScheduleSummary()
    alliances = list(Alliance.objects.order_by("code"))
    if alliances:
        services.apply_preset(alliances[0], "beijing")
    morning = (dt.time(8), dt.time(12))
    day_hours = (morning, (dt.time(14), dt.time(17, 30)))
    new: list[Schedule] = []
    templates: list[SlotTemplate] = []
    hospitals = Institution.objects.filter(level=Level.COUNTY, alliance__isnull=False,
                                           is_active=True).exclude(
        kind=Institution.Kind.PUBLIC_HEALTH).order_by("code")
    townships = Institution.objects.filter(level=Level.TOWNSHIP, alliance__isnull=False,
                                           is_active=True).order_by("code")
    busy = set(Schedule.objects.values_list("institution_id", flat=True))
    for hospital in hospitals:
        if hospital.pk in busy:
            continue
        departments = list(hospital.departments.filter(is_active=True).order_by("code"))
        for department in departments:
            if department.specialty in NO_CLINIC:
                continue
            clinic = Schedule(institution=hospital, department=department,
                              name=f"{department.name}普通门诊")
            new.append(clinic)
            templates += _templates(clinic, WEEKDAYS, day_hours, 15, rng.randint(1, 3))
        for doctor in Practitioner.objects.filter(
                institution=hospital, is_active=True, department__isnull=False,
                title__in=(Practitioner.Title.CHIEF, Practitioner.Title.ASSOCIATE_CHIEF),
        ).exclude(department__specialty__in=NO_CLINIC).select_related("department"):
            assert doctor.department is not None
            clinic = Schedule(institution=hospital, department=doctor.department,
                              practitioner=doctor, is_specialist=True,
                              name=f"{doctor.department.name}专家门诊（{doctor.name}）")
            new.append(clinic)
            templates += _templates(clinic, tuple(sorted(rng.sample(WEEKDAYS, 2))),
                                    (morning,), 15, 1)
        if hospital.kind == Institution.Kind.GENERAL_HOSPITAL:
            imaging = next((d for d in departments if d.specialty == "imaging"), None)
            for code, name, modality, places in (
                    ("CT1", "CT", Equipment.Modality.CT, 1),
                    ("US1", "彩超", Equipment.Modality.ULTRASOUND, 2)):
                device = Equipment.objects.create(institution=hospital, department=imaging,
                                                  code=code, name=name, modality=modality)
                room = Schedule(institution=hospital, kind=Schedule.Kind.EQUIPMENT,
                                equipment=device, name=f"{name}检查")
                new.append(room)
                templates += _templates(room, WEEKDAYS, day_hours, 20, places)
        _wards(hospital, departments, summary)
    for township in townships:
        if township.pk in busy:
            continue
        gp = township.departments.filter(specialty="general_practice").first() or \
            township.departments.order_by("code").first()
        if gp is None:
            continue
        clinic = Schedule(institution=township, department=gp, name=f"{gp.name}门诊")
        new.append(clinic)
        templates += _templates(clinic, (0, 1, 2, 3, 4, 5), ((dt.time(8), dt.time(11, 30)),),
                                20, 3)
        _wards(township, [gp], summary)
    Schedule.objects.bulk_create(new)
    SlotTemplate.objects.bulk_create(templates)
    last = today + dt.timedelta(days=DAYS_AHEAD - 1)
    for schedule in new:
        summary.slot_times += services.generate_slots(schedule, today, last, now=now)
    summary.schedules = len(new)
    return summary


def _wards(institution: Institution, departments: list[Department],
           summary: ScheduleSummary) -> None:
    """Wards of the institution's inpatient departments sharing its beds; one bed in ten
    reserved for referrals."""
    wards_of = [d for d in departments if d.specialty in INPATIENT] or departments[:1]
    if not institution.beds or not wards_of:
        return
    share, extra = divmod(institution.beds, len(wards_of))
    beds: list[Bed] = []
    for index, department in enumerate(wards_of):
        count = share + (1 if index < extra else 0)
        if not count:
            continue
        ward = Ward.objects.create(institution=institution, department=department,
                                   code=department.code, name=f"{department.name}病区")
        beds += [Bed(ward=ward, code=f"{department.code}-{n:02d}",
                     pool=Pool.REFERRAL if n % REFERRAL_BED_SHARE == 0 else Pool.PUBLIC)
                 for n in range(1, count + 1)]
        summary.wards += 1
    Bed.objects.bulk_create(beds)
    summary.beds += len(beds)
