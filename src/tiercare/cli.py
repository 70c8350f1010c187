"""The ``tiercare`` command.

``tiercare demo``, ``serve``, ``worker``, ``synth``, ``import encounters|settlements|fhir
FILE``, ``migrate`` and ``createuser`` are the documented verbs; any other word is passed to
Django's management commands (``tiercare shell``, ``tiercare check``, …). Every verb honours
``TIERCARE_DATABASE_URL`` and ``TIERCARE_DATA_DIR`` through the settings.

``tiercare worker`` runs the background tasks kept in the database (django-tasks-db's
``db_worker``; ADR 0008); ``tiercare clock`` enqueues the periodic ones (``tiercare.clock``);
``demo`` and ``serve`` start one worker and the clock beside the web server and stop them
with the server.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Sequence
from datetime import date, timedelta

DEMO_RESIDENTS = 100_000
DEMO_SEED = 2026
#: days of synthetic referral history whose notices the demo's inboxes hold
DEMO_INBOX_DAYS = 14
#: The demo alliance's policy pack: the acceptance journey of issue 5 reads the demo county
#: against Guangdong 2025 (seed 003), the provincial pack with targets for the two rates
#: the county watches most (in-county inpatient rate ≈ 85 %, primary-care visit share ≥ 65 %).
DEMO_PACK = "guangdong_2025"


def _setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tiercare.settings")
    import django

    django.setup()


def _manage(args: Sequence[str]) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tiercare.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(["tiercare", *args])


def _demo_period() -> tuple[int, date | None]:
    """The demo county is "living": its year is the current one (Asia/Shanghai) and care runs
    up to yesterday, so every "this year" figure has data. In the first two weeks of January
    the demo shows the whole previous year instead."""
    from django.utils import timezone

    yesterday = timezone.localdate() - timedelta(days=1)
    if yesterday < date(yesterday.year, 1, 15):
        return yesterday.year - 1, None
    return yesterday.year, yesterday


def start_worker(verb: str = "worker") -> subprocess.Popen[bytes]:
    """One background-task worker (``tiercare worker``), or the clock that enqueues the
    periodic tasks (``tiercare clock``), in its own process, with this process's environment
    (the same database and data directory)."""
    return subprocess.Popen([sys.executable, "-m", "tiercare.cli", verb])


def stop_worker(worker: subprocess.Popen[bytes]) -> None:
    """Stop the worker with the server. The first signal lets it finish the task it runs; a
    second one, 10 s later (or at once after Ctrl+C, which the worker got too), stops the
    task, and the task records itself as failed (an export answers 500 and can be started
    again)."""
    for _attempt in range(2):
        if worker.poll() is not None:
            return
        worker.terminate()
        try:
            worker.wait(timeout=10)
            return
        except subprocess.TimeoutExpired:
            continue
    worker.kill()
    worker.wait()


#: threads per server process, by database: while one waits for the database another
#: computes. On SQLite more threads are more writers waiting for its one lock (2 × 8: p99
#: 110–530 ms against 40–100 ms with 2 × 4); on PostgreSQL, under granian, more processes
#: beat more threads (scheduled 300 bookings/s on two cores, p99: 4 × 4 29 ms, 4 × 2 24 ms,
#: 2 × 8 82 ms, 2 × 4 417 ms). docs/benchmarks.md, booking storm.
WEB_THREADS = {"sqlite": 4, "postgresql": 4}
#: PostgreSQL processes at most: 16 × 4 threads keep the server's connections within
#: PostgreSQL's default ``max_connections`` (100) with room for the workers and psql
MAX_POSTGRESQL_PROCESSES = 16


def web_processes(vendor: str, workers: int | None = None,
                  threads: int | None = None) -> tuple[int, int]:
    """The web server's processes and threads per process for the database ``vendor``: as
    given, else ``TIERCARE_WEB_WORKERS`` / ``TIERCARE_WEB_THREADS``, else

    * PostgreSQL: two processes per core (at least two, at most
      ``MAX_POSTGRESQL_PROCESSES``) — a Python process computes on one core at a time (the
      GIL), and its threads wait for the database in turn: with two per core one computes
      while the other's threads wait, and fewer threads share each lock;
    * SQLite: two processes at most — writes take one lock in turn, and a writer of another
      process that finds it taken sleeps and retries, so more processes only lengthen the
      slowest bookings' wait;

    and ``WEB_THREADS`` threads each."""
    cores = os.cpu_count() or 2
    sqlite = vendor == "sqlite"
    processes = min(2, cores) if sqlite else max(2, min(2 * cores, MAX_POSTGRESQL_PROCESSES))
    per_process = WEB_THREADS["sqlite" if sqlite else "postgresql"]
    return (workers or int(os.environ.get("TIERCARE_WEB_WORKERS") or processes),
            threads or int(os.environ.get("TIERCARE_WEB_THREADS") or per_process))


def serve(host: str, port: int, workers: int | None = None,
          threads: int | None = None) -> None:
    """Serve the application with granian (ADR 0023; static files through WhiteNoise), with
    one background-task worker and the clock beside it, stopped when the server stops.
    Processes and threads: ``web_processes``. granian parses HTTP and moves the bytes in
    Rust, outside the GIL: a request cost about half the CPU it cost under gunicorn, whose
    HTTP handling is Python (docs/benchmarks.md, booking storm)."""
    from django.db import connection, connections
    from granian import Granian
    from granian.constants import Interfaces
    from granian.log import LogLevels

    processes, per_process = web_processes(connection.vendor, workers, threads)
    connections.close_all()  # the server's processes are forks: each opens its own
    server = Granian("tiercare.wsgi:application", address=host, port=port,
                     interface=Interfaces.WSGI, workers=processes,
                     blocking_threads=per_process, websockets=False,
                     log_level=LogLevels.warning, workers_kill_timeout=30)
    owner = os.getpid()
    worker = start_worker()
    clock = start_worker("clock")
    try:
        server.serve()
    finally:
        # the server's own worker processes are forks of this one: only the owner stops
        if os.getpid() == owner:
            stop_worker(clock)
            stop_worker(worker)


def demo(residents: int, port: int, host: str = "127.0.0.1") -> None:
    """Migrate, build a demo county if the database is empty, create one account per role,
    then serve. Re-running reuses the database."""
    _setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.utils import translation
    from django.utils.translation import gettext as _

    from tiercare.accounts.services import DEMO_PASSWORD, create_demo_accounts
    from tiercare.patients.models import Patient
    from tiercare.registry.models import Alliance
    from tiercare.synth import generate

    translation.activate(settings.LANGUAGE_CODE)
    print(_("Database: %(name)s") % {"name": settings.DATABASES["default"]["NAME"]}, flush=True)
    call_command("migrate", interactive=False, verbosity=0)
    if not Patient.objects.exists():
        print(_("Building a demo county of %(count)s residents …") % {"count": f"{residents:,}"},
              flush=True)
        year, until = _demo_period()
        generate(residents, seed=DEMO_SEED, year=year, until=until, progress=True)
        # the inboxes of the living county: the notices of its last two weeks of referrals
        from django.utils import timezone

        from tiercare.notifications.services import replay_events, warn_deadlines

        replay_events(timezone.now() - timedelta(days=DEMO_INBOX_DAYS))
        warn_deadlines()
    alliance = Alliance.objects.order_by("code").first()
    if alliance is None:
        sys.exit(_("The database has residents but no alliance; use an empty "
                   "TIERCARE_DATA_DIR."))
    from tiercare.indicators.engine import snapshot

    if not snapshot.state():  # none this version reads: the dashboards' first; the clock
        print(_("Computing the indicators …"), flush=True)  # keeps it fresh from here on
        report = snapshot.refresh(full=True)
        print(_("Indicator snapshot ready (%(seconds)s s).")
              % {"seconds": f"{report.seconds:.1f}"}, flush=True)
    accounts = create_demo_accounts(alliance)
    from tiercare.indicators import services as indicator_services
    from tiercare.indicators.models import IndicatorPolicy

    if not IndicatorPolicy.objects.filter(alliance=alliance).exists():
        indicator_services.choose_pack(alliance, DEMO_PACK)
    print()
    print(_("TierCare demo is running at %(url)s") % {"url": f"http://{host}:{port}/"})
    print(_("Every demo account's password: %(password)s") % {"password": DEMO_PASSWORD})
    for username, _password, role in accounts:
        print(f"  {username:<16} {role}")
    print(_("Press Ctrl+C to stop.") + "\n", flush=True)
    serve(host, port)


def main(argv: Sequence[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in {"-h", "--help"}:
        print(__doc__)
        print("Verbs: demo [--residents N] [--port P] | serve [--host H] [--port P] | "
              "worker [--batch] | clock | synth --residents N --seed S --year Y | "
              "import encounters|settlements|fhir FILE | "
              "migrate | createuser USERNAME --role ROLE | token create|revoke|list | "
              "any Django management command")
        return
    verb, rest = args[0], args[1:]
    if verb == "demo":
        parser = argparse.ArgumentParser(prog="tiercare demo")
        parser.add_argument("--residents", type=int, default=DEMO_RESIDENTS)
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--host", default="127.0.0.1")
        ns = parser.parse_args(rest)
        demo(ns.residents, ns.port, ns.host)
    elif verb == "serve":
        parser = argparse.ArgumentParser(prog="tiercare serve")
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--workers", type=int, help="processes (default: by database)")
        parser.add_argument("--threads", type=int, help="threads per process")
        ns = parser.parse_args(rest)
        _setup()
        serve(ns.host, ns.port, ns.workers, ns.threads)
    elif verb == "worker":
        _manage(["db_worker", *rest])
    elif verb == "clock":
        _setup()
        from tiercare import clock

        try:
            clock.run()
        except KeyboardInterrupt:
            return
    elif verb == "import":
        kinds = {"encounters": "import_encounters", "settlements": "import_settlements",
                 "fhir": "import_fhir"}
        if not rest or rest[0] not in kinds:
            sys.exit("usage: tiercare import encounters|settlements|fhir FILE [options]")
        _manage([kinds[rest[0]], *rest[1:]])
    else:
        _manage(args)


if __name__ == "__main__":  # ``python -m tiercare.cli``: how ``serve`` starts its worker
    main()
