"""Simplified Chinese first (issue 2 §7: Simplified Chinese by default, a complete English
switch). Django's ``LocaleMiddleware`` follows the browser's ``Accept-Language``, so an
English-language browser in a county hospital would get English without asking; this
middleware uses the language the user chose with the switch (the language cookie set by
``/i18n/setlang/``) and otherwise ``settings.LANGUAGE_CODE`` (zh-hans).

To use it, replace ``django.middleware.locale.LocaleMiddleware`` in ``settings.MIDDLEWARE``
with ``tiercare.web.middleware.ChosenLanguageMiddleware`` (same position)."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest
from django.middleware.locale import LocaleMiddleware
from django.utils import translation


def chosen_language(request: HttpRequest) -> str:
    """The language of the switch (cookie) when it is one of ``settings.LANGUAGES``, else
    the default language."""
    supported = {code for code, _name in settings.LANGUAGES}
    cookie = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME, "")
    return cookie if cookie in supported else settings.LANGUAGE_CODE


class ChosenLanguageMiddleware(LocaleMiddleware):
    """Pages: the switch's language or Chinese. Machine clients of the JSON API (no language
    cookie) are answered in the language their ``Accept-Language`` asks for."""

    def process_request(self, request: HttpRequest) -> None:
        has_cookie = settings.LANGUAGE_COOKIE_NAME in request.COOKIES
        if request.path.startswith("/api/") and not has_cookie:
            super().process_request(request)
            return
        translation.activate(chosen_language(request))
        request.LANGUAGE_CODE = translation.get_language()
