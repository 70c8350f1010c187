"""What the WSGI server is handed (``tiercare.wsgi.served``, ADR 0023): requests without the
server process's environment; answers in memory as one-item lists, closed first."""

from __future__ import annotations

from typing import Any

from django.core.signals import request_finished
from django.db import close_old_connections
from django.http import HttpResponse, StreamingHttpResponse

from tiercare.wsgi import served


def _call(app: Any, environ: dict[str, Any]) -> Any:
    return app(environ, lambda status, headers, exc_info=None: None)


def test_the_process_environment_does_not_reach_the_request():
    seen: dict[str, Any] = {}

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        seen.update(environ)
        return [b""]

    wrapped = served(app, process=["TIERCARE_SECRET_KEY", "TIERCARE_DATABASE_URL", "PATH",
                                   "REQUEST_METHOD", "HTTP_HOST"])
    _call(wrapped, {"TIERCARE_SECRET_KEY": "s3cret", "TIERCARE_DATABASE_URL": "postgres://u:pw@db/x",
                    "PATH": "/usr/bin", "REQUEST_METHOD": "POST", "HTTP_HOST": "county.example",
                    "HTTP_X_TIERCARE_SECRET_KEY": "a header", "wsgi.input": None})
    assert "TIERCARE_SECRET_KEY" not in seen
    assert "TIERCARE_DATABASE_URL" not in seen
    assert "PATH" not in seen
    # what the request itself says stays
    assert seen["REQUEST_METHOD"] == "POST"
    assert seen["HTTP_HOST"] == "county.example"
    assert seen["HTTP_X_TIERCARE_SECRET_KEY"] == "a header"
    assert "wsgi.input" in seen


def test_an_answer_in_memory_is_handed_over_as_a_list_after_the_request_finished():
    finished: list[object] = []

    def on_finished(sender: object, **kwargs: object) -> None:
        finished.append(sender)

    # as Django's test client does: no database tidying outside a request
    request_finished.disconnect(close_old_connections)
    request_finished.connect(on_finished)
    try:
        answer = _call(served(lambda environ, start: HttpResponse(b"booked", status=201),
                              process=[]), {})
    finally:
        request_finished.disconnect(on_finished)
        request_finished.connect(close_old_connections)
    assert answer == [b"booked"]
    assert len(finished) == 1  # Django's close(): connections tidied before the bytes go


def test_a_streamed_answer_stays_an_iterable_closed_by_the_server():
    streamed = StreamingHttpResponse(iter([b"a", b"b"]))
    answer = _call(served(lambda environ, start: streamed, process=[]), {})
    assert answer is streamed
    assert b"".join(answer) == b"ab"
