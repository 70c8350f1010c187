"""Simplified Chinese first: the browser's Accept-Language does not switch the UI; the
language switch does (issue 2 §7)."""

import pytest
from django.urls import reverse

from tiercare.accounts.models import Role

CHOSEN = "tiercare.web.middleware.ChosenLanguageMiddleware"


@pytest.fixture
def chosen_language_middleware(settings):
    settings.MIDDLEWARE = [CHOSEN if m == "django.middleware.locale.LocaleMiddleware" else m
                           for m in settings.MIDDLEWARE]
    assert CHOSEN in settings.MIDDLEWARE


def test_an_english_browser_still_gets_chinese_until_the_switch_is_used(
        world, as_role, chosen_language_middleware):
    client = as_role(Role.DOCTOR)
    body = client.get(reverse("web:home"), HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9").content
    assert "居民检索" in body.decode()
    client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    body = client.get(reverse("web:home"), HTTP_ACCEPT_LANGUAGE="zh-CN").content.decode()
    assert "Resident search" in body and "居民检索" not in body


def test_an_unknown_language_cookie_falls_back_to_chinese(world, as_role,
                                                          chosen_language_middleware):
    client = as_role(Role.DOCTOR)
    client.cookies["django_language"] = "klingon"
    assert "居民检索" in client.get(reverse("web:home")).content.decode()
