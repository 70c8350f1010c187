"""``tiercare serve`` — the server ``make demo`` runs (granian, ADR 0023) — answers pages,
static files and form posts, and stops with its background workers on SIGTERM."""

from __future__ import annotations

import contextlib
import http.cookiejar
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection

pytestmark = pytest.mark.django_db(transaction=True)


def _database_url() -> str:
    db = settings.DATABASES["default"]
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    password = f":{quote(db['PASSWORD'], safe='')}" if db.get("PASSWORD") else ""
    return (f"postgres://{db['USER']}{password}@{db['HOST'] or '127.0.0.1'}:"
            f"{db['PORT'] or 5432}/{db['NAME']}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat[stat.rindex(")") + 2:].split()[1]) == pid:
                found.append(int(entry.name))
    return found


@pytest.fixture
def server(tmp_path):
    port = _free_port()
    env = {**os.environ, "TIERCARE_DATABASE_URL": _database_url(),
           "TIERCARE_DATA_DIR": str(tmp_path), "TIERCARE_SECRET_KEY": "serve-test-only",
           "TIERCARE_ALLOWED_HOSTS": "127.0.0.1", "TIERCARE_WEB_WORKERS": "2",
           "TIERCARE_WEB_THREADS": "2"}
    process = subprocess.Popen([sys.executable, "-m", "tiercare.cli", "serve", "--port",
                                str(port)], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    for _attempt in range(200):
        try:
            urllib.request.urlopen(f"{base}/api/health", timeout=2)
            break
        except OSError:
            if process.poll() is not None:
                raise AssertionError(process.stderr.read().decode()) from None
            time.sleep(0.1)
    yield base, process
    with contextlib.suppress(ProcessLookupError):  # unless the test stopped it
        os.killpg(process.pid, signal.SIGKILL)  # whatever of the group is left
    process.wait()


def test_pages_static_files_and_a_form_post(server):
    base, _process = server
    assert urllib.request.urlopen(f"{base}/api/health").status == 200
    css = urllib.request.urlopen(f"{base}/static/web/tiercare.css")
    assert css.status == 200 and css.headers["Content-Type"].startswith("text/css")
    jar = http.cookiejar.CookieJar()
    browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = browser.open(f"{base}/accounts/login/").read().decode()
    assert "登录" in page  # Chinese by default
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert token is not None
    body = urllib.parse.urlencode({"csrfmiddlewaretoken": token.group(1),
                                   "username": "nobody", "password": "not-a-password"})
    answer = browser.open(urllib.request.Request(
        f"{base}/accounts/login/", data=body.encode(), headers={"Referer": f"{base}/"}))
    assert answer.status == 200  # the form again, with its error: the body was read
    assert "csrfmiddlewaretoken" in answer.read().decode()
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(f"{base}/no-such-page/")
    assert missing.value.code == 404


def test_sigterm_stops_the_server_and_its_workers(server):
    _base, process = server
    family = _children(process.pid)
    assert len(family) >= 4  # two web processes, the task worker, the clock
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=40) == 0
    time.sleep(0.5)
    assert [pid for pid in family if _running(pid)] == []


def _running(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"  # a zombie has ended
