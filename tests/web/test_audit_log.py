"""The audit log page: who viewed which record, when, from where (rules.md §11)."""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from tiercare.accounts.models import AuditEvent, Role


def test_the_auditor_sees_the_doctors_view_of_the_record(world, client):
    # given the doctor opened 张三's record from 10.0.0.7
    client.force_login(world.user(Role.DOCTOR))
    client.get(reverse("web:resident_record", args=[world.patient.pk]), REMOTE_ADDR="10.0.0.7")
    # when the auditor filters the log by that resident and the VIEW action
    client.force_login(world.user(Role.AUDITOR))
    response = client.get(reverse("web:audit_log"),
                          {"action": "view", "resident": world.patient.health_record_no})
    # then the event shows who, when, what and from which address
    body = response.content.decode()
    assert response.status_code == 200
    assert body.count('data-action="view"') == 1
    assert world.user(Role.DOCTOR).username in body
    assert "10.0.0.7" in body
    assert "张三" in body


def test_filters_narrow_by_user_and_date(world, client):
    client.force_login(world.user(Role.DOCTOR))
    client.get(reverse("web:resident_search"), {"q": "zs"})
    old = AuditEvent.objects.create(username="someone_else", action="search")
    AuditEvent.objects.filter(pk=old.pk).update(at=timezone.now() - dt.timedelta(days=40))
    client.force_login(world.user(Role.AUDITOR))
    today = timezone.localdate().isoformat()
    body = client.get(reverse("web:audit_log"),
                      {"action": "search", "date_from": today, "date_to": today}).content.decode()
    assert body.count('data-action="search"') == 1
    assert "someone_else" not in body
    body = client.get(reverse("web:audit_log"), {"user": "someone"}).content.decode()
    assert body.count("<tr data-action=") == 1


@pytest.mark.parametrize("params", [
    {"date_from": "not-a-date"},
    {"date_from": "2026-02-30"},
    {"date_from": "2026-05-02", "date_to": "2026-05-01"},
    {"resident": "abc"},
    {"resident": "12345678901234567"},
    {"action": "explode"},
])
def test_bad_filters_give_a_translated_form_error(world, client, params):
    client.force_login(world.user(Role.AUDITOR))
    response = client.get(reverse("web:audit_log"), params)
    assert response.status_code == 400
    assert 'data-testid="filter-error"' in response.content.decode()


def test_the_log_is_paged(world, client):
    AuditEvent.objects.bulk_create(
        [AuditEvent(username=f"u{i}", action="search") for i in range(75)])
    client.force_login(world.user(Role.SYSTEM_ADMIN))
    total = AuditEvent.objects.count()
    first = client.get(reverse("web:audit_log")).content.decode()
    assert first.count("<tr data-action=") == 30
    pages = (total + 29) // 30
    last = client.get(reverse("web:audit_log"), {"page": pages}).content.decode()
    assert last.count("<tr data-action=") == total - 30 * (pages - 1)
    junk = client.get(reverse("web:audit_log"), {"page": "zzz"})
    assert junk.status_code == 200


def test_the_pager_of_the_log_reads_newer_and_older(world, client):
    AuditEvent.objects.bulk_create(
        [AuditEvent(username=f"u{i}", action="search") for i in range(75)])
    client.force_login(world.user(Role.SYSTEM_ADMIN))
    middle = client.get(reverse("web:audit_log"), {"page": 2}).content.decode()
    assert "较新" in middle and "较早" in middle
    assert "第 2 页，共" in middle
