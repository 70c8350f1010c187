"""Calling the JSON API as a logged-in user in tests, and reading its answers."""

from __future__ import annotations

import json
from typing import Any

from django.test import Client

PROBLEM = "application/problem+json"


def api_call(client: Client, user: Any, method: str, path: str, body: Any = None,
             lang: str = "en") -> Any:
    """``method`` on ``path`` as ``user`` (logged in), a JSON ``body`` if given, answers in
    ``lang``."""
    client.force_login(user)
    kwargs: dict[str, Any] = {"HTTP_ACCEPT_LANGUAGE": lang}
    if body is not None:
        kwargs.update(data=json.dumps(body), content_type="application/json")
    return getattr(client, method)(path, **kwargs)


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.content
    return response.json()


def problem(response: Any, status: int) -> dict[str, Any]:
    """The problem+json body of a refusal with ``status`` (RFC 9457)."""
    assert response.status_code == status, response.content
    assert response["Content-Type"] == PROBLEM
    body = response.json()
    assert body["status"] == status and body["title"] and body["detail"]
    return body
