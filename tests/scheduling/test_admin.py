"""Back-office pages of scheduling: they load; slots, appointments and beds are read-only;
the actions go through the services; appointment pages are audited."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse

from tests.registry.factories import make_user
from tests.scheduling.conftest import Scene, make_slot
from tiercare.accounts.models import AuditEvent, Role
from tiercare.scheduling import services
from tiercare.scheduling.models import (
    Appointment,
    Bed,
    Equipment,
    Pool,
    Schedule,
    SchedulingPolicy,
    Slot,
    SlotTemplate,
    Ward,
)

MODELS = [SchedulingPolicy, Equipment, Schedule, Slot, Appointment, Ward, Bed]


@pytest.fixture
def admin_client_(client, scene: Scene):
    client.force_login(make_user("root", Role.SYSTEM_ADMIN, superuser=True))
    return client


@pytest.fixture
def filled(scene: Scene) -> dict[str, object]:
    services.apply_preset(scene.world.alliance, "beijing")
    SlotTemplate.objects.create(schedule=scene.schedule, weekday=0, start_time=dt.time(8),
                                end_time=dt.time(10), slot_minutes=30, capacity=2)
    slot = make_slot(scene.schedule, hour=14)  # away from the template's morning
    appointment = services.book(slot, scene.world.patient, by=scene.township_doctor)
    ward = Ward.objects.create(institution=scene.world.county_hospital, code="W1", name="病区")
    bed = Bed.objects.create(ward=ward, code="01", pool=Pool.PUBLIC)
    services.occupy_bed(bed, scene.world.patient, by=scene.hospital_doctor)
    Equipment.objects.create(institution=scene.world.county_hospital, code="CT1", name="CT",
                             modality=Equipment.Modality.CT)
    return {"slot": slot, "appointment": appointment, "bed": bed, "ward": ward}


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_lists_and_pages_load(admin_client_, filled, model):
    meta = model._meta
    assert admin_client_.get(reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist")
                             ).status_code == 200
    obj = model.objects.first()
    url = reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[obj.pk])
    assert admin_client_.get(url).status_code == 200


def test_state_rows_cannot_be_added_or_edited_by_hand(admin_client_, filled):
    for model in (Slot, Appointment, Bed):
        meta = model._meta
        assert admin_client_.get(reverse(f"admin:{meta.app_label}_{meta.model_name}_add")
                                 ).status_code == 403
    slot = filled["slot"]
    url = reverse("admin:scheduling_slot_change", args=[slot.pk])
    admin_client_.post(url, {"capacity": 99, "booked": 0})
    slot.refresh_from_db()
    assert (slot.capacity, slot.booked) == (2, 1)


def test_opening_an_appointment_is_audited(admin_client_, filled):
    appointment = filled["appointment"]
    admin_client_.get(reverse("admin:scheduling_appointment_change", args=[appointment.pk]))
    assert AuditEvent.objects.filter(action=AuditEvent.Action.VIEW,
                                     object_type="scheduling.Appointment",
                                     patient_id=appointment.patient_id).exists()


def test_actions_go_through_the_services(admin_client_, filled, scene: Scene):
    # generate four weeks of slots for the schedule (4 Monday mornings of 4 slot times)
    admin_client_.post(reverse("admin:scheduling_schedule_changelist"),
                       {"action": "generate_four_weeks", "_selected_action": [scene.schedule.pk]})
    generated = Slot.objects.filter(schedule=scene.schedule, template__isnull=False)
    assert generated.values("start").distinct().count() == 16
    # close a slot
    slot = filled["slot"]
    admin_client_.post(reverse("admin:scheduling_slot_changelist"),
                       {"action": "close_slots", "_selected_action": [slot.pk]})
    slot.refresh_from_db()
    assert slot.status == Slot.Status.CLOSED
    # free the occupied bed: event row written
    bed = filled["bed"]
    admin_client_.post(reverse("admin:scheduling_bed_changelist"),
                       {"action": "free_beds", "_selected_action": [bed.pk]})
    bed.refresh_from_db()
    assert bed.status == Bed.Status.FREE and bed.events.count() == 2
    # the preset action
    admin_client_.post(reverse("admin:scheduling_schedulingpolicy_changelist"),
                       {"action": "apply_default",
                        "_selected_action": [SchedulingPolicy.objects.get().pk]})
    assert SchedulingPolicy.objects.get().preset == "default"


def test_an_impossible_template_is_a_form_error_not_a_crash(admin_client_, scene: Scene):
    url = reverse("admin:scheduling_schedule_change", args=[scene.schedule.pk])
    data = {"institution": scene.schedule.institution_id, "kind": "clinic",
            "department": scene.schedule.department_id, "name": scene.schedule.name,
            "is_active": "on",
            "templates-TOTAL_FORMS": 1, "templates-INITIAL_FORMS": 0,
            "templates-MIN_NUM_FORMS": 0, "templates-MAX_NUM_FORMS": 1000,
            "templates-0-weekday": 0, "templates-0-start_time": "12:00",
            "templates-0-end_time": "08:00", "templates-0-slot_minutes": 30,
            "templates-0-capacity": 2, "templates-0-internal_capacity": 0,
            "templates-0-is_active": "on"}
    response = admin_client_.post(url, data)
    assert response.status_code == 200
    assert "template_times_ordered" not in response.content.decode()
    assert not SlotTemplate.objects.filter(schedule=scene.schedule).exists()
