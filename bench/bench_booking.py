"""Benchmark: a booking storm against the running server (issue 4 "Performance": 50
concurrent clients booking 1,000 contested slots and 10,000 free ones; zero over-bookings;
throughput and p99 beside the same server's throughput on a trivial endpoint; target on
PostgreSQL ≥ 300 bookings/s with p99 ≤ 100 ms).

    python bench/bench_booking.py [--database sqlite|postgresql] [--clients 50]
        [--contested 1000] [--free 10000] [--rate 300] [--shapes both] [--workers N]
        [--threads N] [--profile]

A fresh database (SQLite in a temporary directory, or PostgreSQL ``tc_bench_booking``
dropped and re-created) holds a 22,000-resident synthetic county. Each storm has a schedule
of its own at the county hospital with 1,000 contested slots (2 places each, every one
tried by 10 different residents: 2,000 bookings succeed, 8,000 are refused as full) and
10,000 free slots (1 place each, booked once): 20,000 booking requests, FHIR ``Appointment``
creates (409 when the slot is full; ``Prefer: return=minimal``), shuffled so that the ten
tries of a contested slot come from different clients at nearly the same time.

1. **In the benchmark's own process** (noise-robust: CPU time, not wall time): 500 FHIR
   ``Appointment`` creates and 500 JSON API bookings (``POST /api/scheduling/appointments``,
   a system administrator's session) through the whole Django stack (test client), on
   slots of their own. Printed: CPU ms per booking of this process, and on PostgreSQL also
   of the database server's backend; the statements of one booking. ``--profile`` adds the
   cProfile listing of the FHIR bookings.
2. **The server** runs as ``make demo`` runs it (``tiercare serve``: its processes and threads
   are its defaults for the database unless ``--workers`` / ``--threads`` are given). The 50
   clients are threads here, each with its own keep-alive connection. 250 bookings of slots
   of their own warm the server up (not counted). Baseline in the same run: the same 50
   clients sending ``GET /fhir/metadata`` (no database, no login) and ``GET /api/health``
   back to back, the framework's limit on this machine.
3. **Two storms**, as ``bench_fhir_read.py`` has two load shapes:
   * *back to back*: each client sends its next booking when the answer arrives — the
     server saturated: its throughput limit. Latency is then queueing: with 50 clients in a
     closed loop the mean latency is 50 ÷ throughput (Little's law), so 300/s means a mean
     of 167 ms, and p99 ≤ 100 ms cannot be had in this shape at any throughput below
     ~500/s;
   * *scheduled*: the 50 clients together send ``--rate`` bookings a second (default 300,
     the issue's target) on a fixed timetable, each latency counted from the request's
     scheduled time (a late send counts as waiting, so a slow server cannot hide its
     queue). This is the shape the target "≥ 300 bookings/s with p99 ≤ 100 ms" speaks of.
4. **Afterwards, from the database**, per storm: every slot's active bookings are counted; a
   slot with more than its capacity, or whose ``booked`` count differs from its active
   bookings, is an over-booking (must be 0), and the bookings made must be exactly 2 per
   contested slot and 1 per free slot.

Besides throughput and latency, the CPU time of the server's processes (granian and the
workers beside it), of the database's backends (PostgreSQL) and of the clients is read from
``/proc`` before and after each storm, so "CPU ms per booking request" is known even when
other jobs share the machine; the host's busy share during the storm says whether they did.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import json
import os
import pstats
import random
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_fhir_read import free_port, start_server
from bench_search import ROOT, percentile

PG_SERVER = "postgres://postgres@127.0.0.1:5432"
PG_DB = "tc_bench_booking"
RESIDENTS = 22_000
IN_PROCESS = 500  # bookings of each kind measured in this process
WARM_UP = 250  # bookings sent to the server before the storm (not counted)
TICKS = os.sysconf("SC_CLK_TCK")


def database(kind: str) -> str:
    if kind == "postgresql":
        for sql in (f"DROP DATABASE IF EXISTS {PG_DB}", f"CREATE DATABASE {PG_DB}"):
            subprocess.run(["psql", f"{PG_SERVER}/postgres", "-qc", sql], check=True)
        return f"{PG_SERVER}/{PG_DB}"
    return f"sqlite:///{Path(tempfile.mkdtemp(prefix='tiercare-booking-')) / 'db.sqlite3'}"


# --- CPU accounting from /proc -------------------------------------------------------------


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2:].split()  # fields from the state on (3rd field)


def process_tree(root: int) -> list[int]:
    """``root`` and all its descendants (the server: granian's main process, its workers, the
    background-task worker beside it)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(int(entry.name))) is not None:
            parents.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(parents.get(pid, []))
    return found


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of these processes (and of their children already reaped)."""
    total = 0
    for pid in pids:
        fields = _stat(pid)
        if fields is not None:  # utime, stime, cutime, cstime are fields 14–17
            total += sum(int(x) for x in fields[11:15])
    return total / TICKS


def host_busy() -> tuple[int, int]:
    """(busy, all) jiffies of every core since boot (``/proc/stat``)."""
    values = [int(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


class BackendClock:
    """CPU time of the PostgreSQL backends of one database while it runs: the server's
    connections are renewed every minute (``CONN_MAX_AGE``), so the postmaster's children
    are looked at every quarter second, the backends of the database found by their process
    title (``postgres: … USER DATABASE …``), and each one's latest CPU time kept, also after it
    has gone (at most a quarter second of a closed connection's work is missed). Without a
    postmaster (SQLite) it measures nothing."""

    def __init__(self, postmaster: int | None, name: str) -> None:
        self.children = Path(f"/proc/{postmaster}/task/{postmaster}/children")
        self.postmaster = postmaster
        self.marker = f" {name} "
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self.started = False
        self.own = 0.0  # this clock's own CPU time (not the clients')
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _scan(self) -> None:
        if self.postmaster is None:
            return
        for pid in (int(text) for text in self.children.read_text().split()):
            try:
                title = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if self.marker in title:
                cpu = cpu_seconds([pid])
                if cpu:
                    self.first.setdefault(pid, cpu if not self.started else 0.0)
                    self.last[pid] = cpu

    def _run(self) -> None:
        while not self.stop.wait(0.25):
            self._scan()
        self.own = time.thread_time()

    def __enter__(self) -> BackendClock:
        self._scan()
        self.started = True
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop.set()
        self.thread.join()
        self._scan()

    @property
    def seconds(self) -> float:
        return sum(self.last[pid] - self.first.get(pid, 0.0) for pid in self.last)


# --- the storm -------------------------------------------------------------------------------


LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*(\d+)", re.IGNORECASE)
CLOSE = re.compile(rb"\r\nconnection:[ \t]*close", re.IGNORECASE)


class Connection:
    """A keep-alive HTTP/1.1 connection that sends prepared requests and reads answers with
    a ``Content-Length`` (Django's CommonMiddleware sets one), and nothing more: the clients
    share the two cores with the server, so the less CPU they take the less they disturb
    what is measured (``http.client`` took about twice as much)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.sock = self._open()
        self.pending = b""

    def _open(self) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=60)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    def exchange(self, request: bytes) -> int:
        """Send ``request``; the answer's status (its body read and dropped). A server that
        closes after each answer is connected to again."""
        if self.sock.fileno() < 0:
            self.sock = self._open()
        self.sock.sendall(request)
        data = self.pending
        while (end := data.find(b"\r\n\r\n")) < 0:
            data += self._receive()
        head, data = data[:end], data[end + 4:]
        found = LENGTH.search(head)
        if found is None:
            raise SystemExit(f"an answer without Content-Length: {head[:200]!r}")
        length = int(found.group(1))
        while len(data) < length:
            data += self._receive()
        self.pending = data[length:]
        if CLOSE.search(head):
            self.sock.close()
            self.pending = b""
        return int(head[9:12])

    def _receive(self) -> bytes:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise SystemExit("the server closed the connection")
        return chunk

    def close(self) -> None:
        self.sock.close()


def requests(port: int, header: dict[str, str], bodies: list[bytes] | None = None,
             path: str = "/fhir/Appointment") -> list[bytes]:
    """The bytes sent: a FHIR create per body, or (no bodies) one ``GET path``."""
    head = "".join(f"{name}: {value}\r\n" for name, value in header.items())
    if bodies is None:
        return [f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{head}\r\n".encode()]
    return [(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{head}"
             f"Content-Length: {len(body)}\r\n\r\n").encode() + body for body in bodies]


def storm(port: int, prepared: list[bytes], clients: int,
          rate: float = 0.0) -> tuple[list[float], dict[int, int], float]:
    """Send the prepared requests from ``clients`` threads, each on its keep-alive
    connection, back to back (``rate`` 0) or together ``rate`` a second on a fixed
    timetable, each latency then counted from the scheduled time; latencies (ms), answers
    by status, seconds."""
    from concurrent.futures import ThreadPoolExecutor

    chunks = [prepared[i::clients] for i in range(clients)]
    interval = clients / rate if rate else 0.0
    begin = time.perf_counter() + 0.5  # every client starts on the same timetable

    def worker(index: int, chunk: list[bytes]) -> tuple[list[float], dict[int, int]]:
        conn = Connection(port)
        times: list[float] = []
        statuses: dict[int, int] = {}
        first = begin + index * interval / clients
        for n, request in enumerate(chunk):
            started = time.perf_counter()
            if interval:
                due = first + n * interval
                if due > started:
                    time.sleep(due - started)
                started = due
            status = conn.exchange(request)
            times.append((time.perf_counter() - started) * 1000)
            statuses[status] = statuses.get(status, 0) + 1
        conn.close()
        return times, statuses

    with ThreadPoolExecutor(clients) as pool:
        parts = list(pool.map(worker, range(clients), chunks))
    seconds = time.perf_counter() - begin
    latencies = [ms for times, _s in parts for ms in times]
    answers: dict[int, int] = {}
    for _t, statuses in parts:
        for status, n in statuses.items():
            answers[status] = answers.get(status, 0) + n
    return latencies, answers, seconds


@dataclass
class Storm:
    """One storm's slots and what was measured."""

    name: str
    rate: float
    schedule_id: int
    contested: list[int]
    free: list[int]
    latencies: list[float] = field(default_factory=list)
    answers: dict[int, int] = field(default_factory=dict)
    seconds: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)
    busy: float = 0.0


def measured_storm(one: Storm, port: int, bodies: list[bytes], clients: int,
                   header: dict[str, str], server_pids: list[int],
                   postmaster: int | None) -> None:
    """Run one storm with the CPU of the server, the database (PostgreSQL: the benchmark
    database's backends; SQLite works inside the server) and the clients read around it."""
    prepared = requests(port, header, bodies)
    before = (cpu_seconds(server_pids), time.process_time(), host_busy())
    with BackendClock(postmaster, PG_DB) as backends:
        one.latencies, one.answers, one.seconds = storm(port, prepared, clients, one.rate)
    busy, jiffies = host_busy()
    one.cpu = {"server": cpu_seconds(server_pids) - before[0],
               "database": backends.seconds,
               "clients": time.process_time() - before[1] - backends.own}
    one.busy = (busy - before[2][0]) / max(1, jiffies - before[2][1])


def appointment(slot: int, patient: int) -> bytes:
    return json.dumps({
        "resourceType": "Appointment", "status": "booked",
        "slot": [{"reference": f"Slot/{slot}"}],
        "participant": [{"actor": {"reference": f"Patient/{patient}"},
                         "status": "accepted"}]}).encode()


def in_process(slots: list[int], patients: list[int], secret: str,
               profile: bool) -> dict[str, Any]:
    """CPU ms per booking of this process (and of its PostgreSQL backend) through the whole
    Django stack, FHIR create and JSON API, and the statements of one booking of each."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from tiercare.accounts.models import Role
    from tiercare.accounts.services import create_user

    admin = create_user(f"bench-booking-{time.time_ns()}", "Bench-only-password-1",
                        Role.SYSTEM_ADMIN)
    fhir = Client(HTTP_AUTHORIZATION=f"Bearer {secret}", HTTP_PREFER="return=minimal",
                  HTTP_ACCEPT="application/fhir+json")
    api = Client()
    api.force_login(admin)

    def by_fhir(slot: int, patient: int) -> None:
        response = fhir.post("/fhir/Appointment", appointment(slot, patient),
                             content_type="application/fhir+json")
        assert response.status_code == 201, response.content

    def by_api(slot: int, patient: int) -> None:
        response = api.post("/api/scheduling/appointments",
                            {"slot_id": slot, "patient_id": patient},
                            content_type="application/json")
        assert response.status_code == 201, response.content

    results: dict[str, Any] = {}
    half = len(slots) // 2
    for name, book, offset in (("FHIR Appointment create", by_fhir, 0),
                               ("JSON API booking", by_api, half)):
        pairs = list(zip(slots[offset:offset + half], patients[offset:offset + half],
                         strict=True))
        for slot, patient in pairs[:5]:  # warm up (first queries, caches)
            book(slot, patient)
        with CaptureQueriesContext(connection) as captured:
            book(*pairs[5])
        # read now: the next request's start empties the log
        statements = [q["sql"].split(" ")[0] for q in captured.captured_queries]
        backend = _own_backend()
        measured = pairs[6:]
        profiler = cProfile.Profile(time.process_time) if profile and book is by_fhir else None
        db_before = cpu_seconds(backend)
        before = time.process_time()
        if profiler is not None:
            profiler.enable()
        for slot, patient in measured:
            book(slot, patient)
        if profiler is not None:
            profiler.disable()
        cpu = (time.process_time() - before) / len(measured) * 1000
        db_cpu = (cpu_seconds(backend) - db_before) / len(measured) * 1000
        results[name] = (cpu, db_cpu if backend else None, statements)
        if profiler is not None:
            # CPU time (not wall: waiting for the database is not the process's cost);
            # BENCH_SORT=tottime lists where the time is spent rather than under what
            pstats.Stats(profiler).sort_stats(os.environ.get("BENCH_SORT", "cumulative")) \
                .print_stats(40)
    return results


def background_tasks_done(limit: float = 300.0) -> None:
    """Wait until the task worker beside the server has run what the clock enqueued at
    start (an incremental indicator refresh, deadline checks): its CPU is the server's in
    the readings, and a refresh running during a storm is not the storm's cost."""
    from django.db import connection
    from django_tasks.base import TaskResultStatus
    from django_tasks_db.models import DBTaskResult

    waiting = [TaskResultStatus.READY, TaskResultStatus.RUNNING]
    deadline = time.monotonic() + limit
    time.sleep(2)  # the clock's first tasks are enqueued a moment after the server starts
    while DBTaskResult.objects.filter(status__in=waiting).exists():
        if time.monotonic() > deadline:
            raise SystemExit("the background tasks did not finish")
        time.sleep(0.5)
    connection.close()  # the backends the storms measure are the server's only


def _own_backend() -> list[int]:
    from django.db import connection

    if connection.vendor != "postgresql":
        return []
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return [cursor.fetchone()[0]]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--contested", type=int, default=1_000)
    parser.add_argument("--free", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=300.0,
                        help="bookings a second of the scheduled storm (0: none)")
    parser.add_argument("--shapes", choices=("both", "back-to-back", "scheduled"),
                        default="both", help="which storms to run")
    parser.add_argument("--workers", type=int, help="server processes (default: serve's)")
    parser.add_argument("--threads", type=int, help="threads per process (default: serve's)")
    parser.add_argument("--profile", action="store_true",
                        help="print cProfile of the in-process FHIR bookings")
    args = parser.parse_args()
    url = database(args.database)
    os.environ["TIERCARE_DATABASE_URL"] = url
    for option, name in ((args.workers, "TIERCARE_WEB_WORKERS"),
                         (args.threads, "TIERCARE_WEB_THREADS")):
        if option:
            os.environ[name] = str(option)  # read by ``tiercare serve`` (start_server)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tiercare.settings")
    sys.path.insert(0, str(ROOT / "src"))
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from tiercare.cli import web_processes
    from tiercare.fhir import tokens
    from tiercare.patients.models import Patient
    from tiercare.registry.models import Institution, Level
    from tiercare.scheduling.models import Schedule, Slot
    from tiercare.synth import generate

    call_command("migrate", verbosity=0)
    generate(RESIDENTS, 3, timezone.localdate().year - 1)
    hospital = Institution.objects.filter(level=Level.COUNTY, alliance__isnull=False,
                                          kind=Institution.Kind.GENERAL_HOSPITAL).first()
    assert hospital is not None
    first = timezone.localtime().replace(hour=0, minute=0, second=0,
                                         microsecond=0) + dt.timedelta(days=2)

    def slots(name: str, capacities: list[int]) -> tuple[int, list[int]]:
        schedule = Schedule.objects.create(institution=hospital,
                                           department=hospital.departments.first(), name=name)
        Slot.objects.bulk_create([
            Slot(schedule=schedule, start=first + dt.timedelta(minutes=5 * n),
                 end=first + dt.timedelta(minutes=5 * n + 5), capacity=capacity)
            for n, capacity in enumerate(capacities)], batch_size=2000)
        return schedule.pk, list(Slot.objects.filter(schedule=schedule).order_by("start")
                                 .values_list("pk", flat=True))

    storms = []
    shapes = [("back to back", 0.0)] if args.shapes != "scheduled" else []
    if args.rate and args.shapes != "back-to-back":
        shapes.append((f"scheduled {args.rate:,.0f}/s", args.rate))
    for name, rate in shapes:
        schedule_id, ids = slots(f"booking storm, {name}", [2] * args.contested + [1] * args.free)
        storms.append(Storm(name, rate, schedule_id, ids[:args.contested], ids[args.contested:]))
    _own_schedule, own_ids = slots("booking storm, in-process and warm-up",
                                   [1] * (2 * IN_PROCESS + WARM_UP))
    needed = args.contested * 10 + args.free  # each storm's tries: different residents
    patients = list(Patient.objects.filter(is_active=True, deceased_date__isnull=True)
                    .order_by("pk").values_list("pk", flat=True)[:needed + len(own_ids)])
    if len(patients) < needed + len(own_ids):
        raise SystemExit(f"{needed + len(own_ids):,} residents needed, {len(patients):,} found")
    _token, secret = tokens.create_token(f"bench-booking-{time.time_ns()}", whole_county=True,
                                         scope="system/*.read system/Appointment.write")
    own = patients[needed:]
    cpu = in_process(own_ids[:2 * IN_PROCESS], own[:2 * IN_PROCESS], secret, args.profile)
    warm_up = [appointment(slot, patient) for slot, patient in
               zip(own_ids[2 * IN_PROCESS:], own[2 * IN_PROCESS:], strict=True)]
    header = {"Authorization": f"Bearer {secret}", "Content-Type": "application/fhir+json",
              "Accept": "application/fhir+json", "Prefer": "return=minimal"}
    processes, threads = web_processes(connection.vendor, args.workers, args.threads)
    backend = _own_backend()
    fields = _stat(backend[0]) if backend else None
    postmaster = int(fields[1]) if fields else None  # the parent of this process's backend
    connection.close()  # the server's connections only, from here on
    port = free_port()
    server = start_server(url, port)
    try:
        storm(port, requests(port, header, warm_up), args.clients)
        background_tasks_done()
        baselines = {}
        for path in ("/fhir/metadata", "/api/health"):
            latencies, answers, seconds = storm(port, requests(port, header, path=path) * 4000,
                                                args.clients)
            if answers != {200: 4000}:
                raise SystemExit(f"{path}: {answers}")
            baselines[path] = (len(latencies) / seconds, latencies)
        for one in storms:
            who = iter(patients)
            bodies = ([appointment(slot, next(who)) for slot in one.contested
                       for _try in range(10)]
                      + [appointment(slot, next(who)) for slot in one.free])
            random.Random(9).shuffle(bodies)
            measured_storm(one, port, bodies, args.clients, header, process_tree(server.pid),
                           postmaster)
        load = os.getloadavg()[0]
    finally:
        server.terminate()
        server.wait(timeout=30)
    return report(args, connection.vendor, (processes, threads), load, cpu, baselines, storms)


def report(args: argparse.Namespace, vendor: str, server: tuple[int, int], load: float,
           cpu: dict[str, Any], baselines: dict[str, tuple[float, list[float]]],
           storms: list[Storm]) -> int:
    """Print the measurements and check every storm's slots in the database; 1 when a slot
    is over-booked or the bookings made are not the expected ones."""
    from django.db.models import Count, F, Q

    from tiercare.scheduling.models import Slot

    print(f"database: {vendor}; {args.clients} clients; per storm "
          f"{args.contested * 10 + args.free:,} booking requests ({args.contested:,} contested "
          f"slots × 10 tries, {args.free:,} free slots); server: tiercare serve ({server[0]} "
          f"processes × {server[1]} threads); load average {load:.2f} after the storms on "
          f"{os.cpu_count()} CPUs")
    print("in this process (test client, whole Django stack), CPU per booking:")
    for name, (ms, db_ms, statements) in cpu.items():
        database_part = f" + database backend {db_ms:.2f} ms" if db_ms is not None else ""
        print(f"  {name}: {ms:.2f} ms{database_part}; {len(statements)} statements: "
              f"{' '.join(statements)}")
    for path, (rate, values) in baselines.items():
        print(f"baseline GET {path} back to back: {rate:,.0f} requests/s, p50 "
              f"{statistics.median(values):.1f} ms, p99 {percentile(values, 99):.1f} ms")
    failed = False
    active = Q(appointments__status__in=["booked", "checked_in"])
    for one in storms:
        slots = (Slot.objects.filter(schedule_id=one.schedule_id)
                 .annotate(n=Count("appointments", filter=active)))
        over = slots.filter(Q(n__gt=F("capacity")) | ~Q(booked=F("n"))
                            | Q(booked__gt=F("capacity"))).count()
        made = {kind: slots.filter(pk__in=ids).aggregate(s=Count("appointments",
                                                                 filter=active))["s"]
                for kind, ids in (("contested", one.contested), ("free", one.free))}
        expected = {"contested": len(one.contested) * 2, "free": len(one.free)}
        failed = failed or bool(over) or made != expected
        n = len(one.latencies)
        rate = n / one.seconds
        print(f"storm {one.name}: {rate:,.0f} booking requests/s "
              f"({sum(made.values()) / one.seconds:,.0f} bookings made/s) over "
              f"{one.seconds:.1f} s; p50 {statistics.median(one.latencies):.1f} ms, p95 "
              f"{percentile(one.latencies, 95):.1f} ms, p99 {percentile(one.latencies, 99):.1f}"
              f" ms, max {max(one.latencies):.0f} ms; answers {dict(sorted(one.answers.items()))}"
              f"; ÷ baseline /fhir/metadata {rate / baselines['/fhir/metadata'][0]:.2f}")
        print("  CPU per booking request: " + ", ".join(
            f"{name} {value / n * 1000:.2f} ms" for name, value in one.cpu.items() if value)
            + f"; total {sum(one.cpu.values()) / n * 1000:.2f} ms; host busy {one.busy:.0%}")
        print(f"  bookings made: {made['contested']:,} in contested slots (expected "
              f"{expected['contested']:,}), {made['free']:,} in free slots (expected "
              f"{expected['free']:,}); over-booked slots: {over}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
