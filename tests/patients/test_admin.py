"""Back-office pages of the registry and the resident record load for a superuser; resident
pages are read-only, mask identifiers for roles that do not need them, and audit views."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.registry.factories import make_user
from tiercare.accounts.models import AuditEvent, Role
from tiercare.patients import services
from tiercare.patients.models import HealthRecordCounter, MatchCandidate, Merge, Patient
from tiercare.registry.models import (
    Alliance,
    Department,
    Division,
    Grid,
    Institution,
    Posting,
    Practitioner,
)

REGISTRY = [Division, Alliance, Grid, Institution, Department, Practitioner, Posting]
PATIENTS = [Patient, MatchCandidate, Merge, HealthRecordCounter]


@pytest.fixture
def superuser(county):
    return make_user("root", Role.SYSTEM_ADMIN, superuser=True)


@pytest.fixture
def filled(county, register):
    from datetime import date

    from tests.registry.factories import practitioner
    from tiercare.registry import services as registry

    doctor = practitioner("P1", county.lead)
    registry.create_department(county.lead, code="NK", name="内科")
    registry.create_posting(doctor, county.township_a, start_date=date(2025, 1, 1))
    a = register("单田芳", sequence=11, phone="13812345678")
    b = register("单田芳", id_number="", birth_date=a.birth_date, sex=a.sex)
    services.merge_patients(a, b)
    return a


def url(model, view, *args):
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


@pytest.mark.parametrize("model", REGISTRY + PATIENTS, ids=lambda m: m.__name__)
def test_changelists_load(client, superuser, filled, model):
    client.force_login(superuser)
    assert client.get(url(model, "changelist")).status_code == 200


@pytest.mark.parametrize("model", REGISTRY, ids=lambda m: m.__name__)
def test_registry_add_and_change_pages_load(client, superuser, filled, model):
    client.force_login(superuser)
    assert client.get(url(model, "add")).status_code == 200
    obj = model.objects.first()
    assert client.get(url(model, "change", obj.pk)).status_code == 200


def test_autocomplete_answers(client, superuser, filled):
    client.force_login(superuser)
    response = client.get(reverse("admin:autocomplete"), {
        "term": "卫生", "app_label": "registry", "model_name": "institution",
        "field_name": "parent"})
    assert response.status_code == 200 and response.json()["results"]


def test_patient_pages_are_read_only_and_audited(client, superuser, filled):
    client.force_login(superuser)
    assert client.get(url(Patient, "add")).status_code == 403
    response = client.get(url(Patient, "change", filled.pk))
    assert response.status_code == 200
    assert AuditEvent.objects.filter(action=AuditEvent.Action.VIEW,
                                     patient_id=filled.pk).exists()
    assert client.post(url(Patient, "delete", filled.pk), {"post": "yes"}).status_code == 403
    assert Patient.objects.filter(pk=filled.pk).exists()


def test_patient_search_uses_the_resident_search(client, superuser, filled):
    client.force_login(superuser)
    response = client.get(url(Patient, "changelist"), {"q": "dtf"})
    assert response.status_code == 200
    # the back-office lists merged records too (filter "active" to hide them)
    found = list(response.context["cl"].result_list)
    assert filled in found and {p.name for p in found} == {"单田芳"}
    assert client.get(url(Patient, "changelist"), {"q": "lisi"}).context["cl"].result_count == 0
    assert AuditEvent.objects.filter(action=AuditEvent.Action.SEARCH).exists()


def test_alliance_admin_sees_masked_identifiers(client, county, filled):
    staff = make_user("aadm2", Role.ALLIANCE_ADMIN, alliance=county.alliance)
    staff.is_staff = True
    staff.save()
    from django.contrib.auth.models import Permission

    staff.user_permissions.add(Permission.objects.get(codename="view_patient"))
    client.force_login(staff)
    page = client.get(url(Patient, "changelist")).content.decode()
    assert filled.id_number not in page
    assert filled.id_number[:6] + "********" + filled.id_number[-4:] in page
    assert "138****5678" in page


def test_institution_form_applies_the_level_kind_rule(client, superuser, county):
    client.force_login(superuser)
    response = client.post(url(Institution, "add"), {
        "code": "X1", "name": "错级", "level": "township", "kind": "village_clinic",
        "division_code": "330122100201", "beds": 0, "services": "[]", "is_active": "on",
        "departments-TOTAL_FORMS": 0, "departments-INITIAL_FORMS": 0,
    })
    assert response.status_code == 200
    assert not Institution.objects.filter(code="X1").exists()
    assert response.context["adminform"].form.errors["level"]
