"""Login, lockout and logout with their audit events (issue 2 §6; GB/T 22239-2019 login
failure handling: 5 failures ⇒ locked for 15 minutes, configurable)."""

import datetime as dt
from unittest import mock

import pytest
from django.urls import reverse
from django.utils import timezone, translation

from tests.web.factories import PASSWORD
from tiercare.accounts.models import AuditEvent, Role, User

LOGIN = "/accounts/login/"


def attempt(client, username, password, addr="192.0.2.10"):
    return client.post(LOGIN, {"username": username, "password": password}, REMOTE_ADDR=addr)


def events(action):
    return AuditEvent.objects.filter(action=action)


def test_a_good_login_lands_on_the_home_page_and_is_audited(world, client):
    user = world.user(Role.DOCTOR)
    response = attempt(client, user.username, PASSWORD)
    assert response.status_code == 302
    assert response["Location"] == reverse("web:home")
    login = events(AuditEvent.Action.LOGIN).get()
    assert (login.user_id, login.ip_address) == (user.pk, "192.0.2.10")


def test_a_wrong_password_is_refused_with_a_translated_message_and_audited(world, client):
    user = world.user(Role.NURSE)
    response = attempt(client, user.username, "wrong-Password-1")
    assert response.status_code == 200
    assert "用户名或密码错误" in response.content.decode()
    failed = events(AuditEvent.Action.LOGIN_FAILED).get()
    assert (failed.user_id, failed.username, failed.ip_address) == (
        user.pk, user.username, "192.0.2.10")


def test_an_unknown_user_name_is_audited_under_the_name_typed(world, client):
    attempt(client, "nobody-here", "whatever-Pass-1")
    failed = events(AuditEvent.Action.LOGIN_FAILED).get()
    assert (failed.user_id, failed.username) == (None, "nobody-here")


def test_five_failures_lock_the_account_for_fifteen_minutes_then_it_opens(world, client, settings):
    # given a doctor and the default policy
    assert (settings.TIERCARE_LOCKOUT_THRESHOLD, settings.TIERCARE_LOCKOUT_MINUTES) == (5, 15)
    user = world.user(Role.DOCTOR)
    start = timezone.now()
    # when the password is wrong four times, the account is still open
    for _ in range(4):
        attempt(client, user.username, "wrong-Password-1")
    user.refresh_from_db()
    assert user.locked_until is None and user.failed_logins == 4
    # and the fifth failure locks it, and the page says until when
    response = attempt(client, user.username, "wrong-Password-1")
    user.refresh_from_db()
    assert user.locked_until is not None
    expected = start + dt.timedelta(minutes=15)
    assert abs((user.locked_until - expected).total_seconds()) < 60
    body = response.content.decode()
    assert "已被锁定" in body
    assert timezone.localtime(user.locked_until).strftime("%H:%M") in body
    assert events(AuditEvent.Action.LOCKED).filter(user=user).count() == 1
    assert events(AuditEvent.Action.LOGIN_FAILED).filter(user=user).count() == 5
    # then even the right password is refused while locked
    response = attempt(client, user.username, PASSWORD)
    assert response.status_code == 200 and "已被锁定" in response.content.decode()
    assert not events(AuditEvent.Action.LOGIN).exists()
    # and 15 minutes later the right password works again
    later = user.locked_until + dt.timedelta(seconds=1)
    with mock.patch("django.utils.timezone.now", return_value=later):
        response = attempt(client, user.username, PASSWORD)
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.failed_logins == 0 and user.locked_until is None
    assert events(AuditEvent.Action.LOGIN).filter(user=user).count() == 1


def test_the_lock_message_is_in_english_too(world, client):
    user = world.user(Role.DOCTOR)
    User.objects.filter(pk=user.pk).update(
        locked_until=timezone.now() + dt.timedelta(minutes=10))
    client.cookies["django_language"] = "en"
    with translation.override("en"):
        response = client.post(LOGIN, {"username": user.username, "password": PASSWORD})
    assert "This account is locked after too many failed logins" in response.content.decode()


def test_a_success_resets_the_failure_count(world, client):
    user = world.user(Role.DOCTOR)
    for _ in range(4):
        attempt(client, user.username, "wrong-Password-1")
    attempt(client, user.username, PASSWORD)
    client.logout()
    for _ in range(4):
        attempt(client, user.username, "wrong-Password-1")
    user.refresh_from_db()
    assert user.locked_until is None


def test_logout_is_a_post_and_is_audited(world, client):
    user = world.user(Role.AUDITOR)
    attempt(client, user.username, PASSWORD)
    response = client.post(reverse("accounts:logout"), REMOTE_ADDR="192.0.2.99")
    assert response.status_code == 302
    event = events(AuditEvent.Action.LOGOUT).get()
    assert (event.user_id, event.ip_address) == (user.pk, "192.0.2.99")
    assert client.get(reverse("web:home")).status_code == 302


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_the_login_page_renders_in_both_languages(db, client, language):
    client.cookies["django_language"] = language
    response = client.get(LOGIN)
    body = response.content.decode()
    assert response.status_code == 200
    assert ("用户名" in body) == (language == "zh-hans")
    assert ("User name" in body) == (language == "en")
