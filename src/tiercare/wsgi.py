"""WSGI entry point: ``tiercare.wsgi:application``, served by granian (``tiercare serve``,
ADR 0023) or any WSGI server."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any

from django.core.wsgi import get_wsgi_application
from django.http import HttpResponse

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tiercare.settings")

#: the request variables of CGI 1.1 (RFC 3875 §4.1) a server may set from the request; any
#: other name that is also a variable of this process's environment came from the process
CGI_VARIABLES = frozenset({
    "AUTH_TYPE", "CONTENT_LENGTH", "CONTENT_TYPE", "GATEWAY_INTERFACE", "PATH_INFO",
    "PATH_TRANSLATED", "QUERY_STRING", "REMOTE_ADDR", "REMOTE_HOST", "REMOTE_IDENT",
    "REMOTE_PORT", "REMOTE_USER", "REQUEST_METHOD", "REQUEST_URI", "SCRIPT_NAME",
    "SERVER_NAME", "SERVER_PORT", "SERVER_PROTOCOL", "SERVER_SOFTWARE", "HTTPS",
})

StartResponse = Callable[..., Any]
WSGIApplication = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def served(app: WSGIApplication, process: Iterable[str] | None = None) -> WSGIApplication:
    """``app`` as the server should see it:

    * each request's environ without the variables of the server process's environment.
      Some servers (granian, wsgiref) start every request's environ as a copy of
      ``os.environ`` — here ``TIERCARE_SECRET_KEY`` and ``TIERCARE_DATABASE_URL`` with its
      password — and ``request.META`` is what Django's error reports and any debugging view
      show. A request header never collides: headers arrive as ``HTTP_*``;
    * an answer whose body is already in memory (every ``HttpResponse`` that is not
      streamed) handed over as a one-item list, the answer closed first (Django's
      ``request_finished``). granian sends a list from Rust at once; an iterable it walks
      item by item holding the interpreter lock — a fifth of a booking's Python time in the
      storm (docs/benchmarks.md). Streamed answers (files, exports) stay iterables."""
    names = tuple(name for name in (os.environ if process is None else process)
                  if name not in CGI_VARIABLES and not name.startswith(("HTTP_", "wsgi.")))

    def wrapped(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        for name in names:
            environ.pop(name, None)
        answer = app(environ, start_response)
        if isinstance(answer, HttpResponse):  # not StreamingHttpResponse (no common base)
            try:
                return [answer.content]
            finally:
                answer.close()
        return answer

    return wrapped


application = served(get_wsgi_application())
