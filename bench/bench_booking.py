"""Benchmark: a booking storm against the running server (issue 4 "Performance": 50
concurrent clients booking 1,000 contested slots and 10,000 free ones; zero over-bookings;
throughput and p99 beside the same server's throughput on a trivial endpoint; target on
PostgreSQL ≥ 300 bookings/s with p99 ≤ 100 ms).

    python bench/bench_booking.py [--database sqlite|postgresql] [--clients 50]

A fresh database (SQLite in a temporary directory, or PostgreSQL ``tc_bench_booking``
dropped and re-created) holds a 20,000-resident synthetic county; the benchmark adds one
schedule at the county hospital with 1,000 contested slots (2 places each, every one tried
by 10 different clients: 2,000 bookings succeed, 8,000 are refused as full) and 10,000 free
slots (1 place each, booked once). The server runs as ``make demo`` runs it (``tiercare
serve``: gunicorn, 2 workers × 4 threads); the 50 clients are threads here, each with its
own keep-alive connection, posting FHIR ``Appointment`` resources (a booking is a create,
409 when the slot is full) back to back. Baseline in the same run: the same 50 clients
sending ``GET /fhir/metadata`` (no database), the framework's limit on this machine.
Afterwards every slot's bookings are counted in the database: any slot with more bookings
than places is an over-booking.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_fhir_read import free_port, run, start_server
from bench_search import ROOT, percentile

PG_SERVER = "postgres://postgres@127.0.0.1:5432"
PG_DB = "tc_bench_booking"


def database(kind: str) -> str:
    if kind == "postgresql":
        for sql in (f"DROP DATABASE IF EXISTS {PG_DB}", f"CREATE DATABASE {PG_DB}"):
            subprocess.run(["psql", f"{PG_SERVER}/postgres", "-qc", sql], check=True)
        return f"{PG_SERVER}/{PG_DB}"
    return f"sqlite:///{Path(tempfile.mkdtemp(prefix='tiercare-booking-')) / 'db.sqlite3'}"


def storm(port: int, bodies: list[tuple[int, bytes]], clients: int,
          header: dict[str, str]) -> tuple[list[float], dict[int, int], float]:
    """Post the bodies from ``clients`` threads; latencies (ms), answers by status, seconds."""
    import http.client
    from concurrent.futures import ThreadPoolExecutor

    chunks = [bodies[i::clients] for i in range(clients)]

    def worker(chunk: list[tuple[int, bytes]]) -> tuple[list[float], dict[int, int]]:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        times: list[float] = []
        statuses: dict[int, int] = {}
        for _slot, body in chunk:
            started = time.perf_counter()
            conn.request("POST", "/fhir/Appointment", body=body, headers=header)
            response = conn.getresponse()
            response.read()
            times.append((time.perf_counter() - started) * 1000)
            statuses[response.status] = statuses.get(response.status, 0) + 1
        conn.close()
        return times, statuses

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        parts = list(pool.map(worker, chunks))
    seconds = time.perf_counter() - started
    latencies = [ms for times, _s in parts for ms in times]
    answers: dict[int, int] = {}
    for _t, statuses in parts:
        for status, n in statuses.items():
            answers[status] = answers.get(status, 0) + n
    return latencies, answers, seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--contested", type=int, default=1_000)
    parser.add_argument("--free", type=int, default=10_000)
    args = parser.parse_args()
    url = database(args.database)
    os.environ["TIERCARE_DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tiercare.settings")
    sys.path.insert(0, str(ROOT / "src"))
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.db.models import Count, F
    from django.utils import timezone

    from tiercare.fhir import tokens
    from tiercare.patients.models import Patient
    from tiercare.registry.models import Institution, Level
    from tiercare.scheduling.models import Schedule, Slot
    from tiercare.synth import generate

    call_command("migrate", verbosity=0)
    generate(20_000, 3, timezone.localdate().year - 1)
    hospital = Institution.objects.filter(level=Level.COUNTY, alliance__isnull=False,
                                          kind=Institution.Kind.GENERAL_HOSPITAL).first()
    assert hospital is not None
    schedule = Schedule.objects.create(institution=hospital,
                                       department=hospital.departments.first(),
                                       name="booking storm")
    first = timezone.localtime().replace(hour=0, minute=0, second=0,
                                         microsecond=0) + dt.timedelta(days=2)
    slots = [Slot(schedule=schedule, start=first + dt.timedelta(minutes=5 * n),
                  end=first + dt.timedelta(minutes=5 * n + 5),
                  capacity=2 if n < args.contested else 1)
             for n in range(args.contested + args.free)]
    Slot.objects.bulk_create(slots, batch_size=2000)
    slot_ids = list(Slot.objects.filter(schedule=schedule).order_by("start")
                    .values_list("pk", flat=True))
    patients = list(Patient.objects.values_list("pk", flat=True)[:args.contested * 10 +
                                                                 args.free])
    _token, secret = tokens.create_token(f"bench-booking-{time.time_ns()}", whole_county=True,
                                         scope="system/*.read system/Appointment.write")
    rng = random.Random(9)
    bodies: list[tuple[int, bytes]] = []
    who = iter(patients)

    def body(slot: int) -> tuple[int, bytes]:
        return slot, json.dumps({
            "resourceType": "Appointment", "status": "booked",
            "slot": [{"reference": f"Slot/{slot}"}],
            "participant": [{"actor": {"reference": f"Patient/{next(who)}"},
                             "status": "accepted"}]}).encode()

    contested = [body(slot) for slot in slot_ids[:args.contested] for _try in range(10)]
    free = [body(slot) for slot in slot_ids[args.contested:]]
    bodies = contested + free
    rng.shuffle(bodies)  # contested tries arrive from different clients at nearly once
    header = {"Authorization": f"Bearer {secret}", "Content-Type": "application/fhir+json",
              "Accept": "application/fhir+json", "Prefer": "return=minimal"}
    port = free_port()
    server = start_server(url, port)
    try:
        base = run(port, ["/fhir/metadata"] * 4000, args.clients, header)
        base_seconds = sum(base) / args.clients / 1000
        latencies, answers, seconds = storm(port, bodies, args.clients, header)
    finally:
        server.terminate()
        server.wait(timeout=30)
    over = list(Slot.objects.filter(schedule=schedule)
                .annotate(n=Count("appointments")).filter(n__gt=F("capacity"))
                .values_list("pk", flat=True)) + list(
        Slot.objects.filter(schedule=schedule, booked__gt=F("capacity")).values_list(
            "pk", flat=True))
    booked = Slot.objects.filter(schedule=schedule).annotate(n=Count("appointments"))
    made = sum(s.n for s in booked)
    print(f"database: {connection.vendor}; {args.clients} clients; {len(bodies):,} booking "
          f"requests ({args.contested:,} contested slots × 10 tries, {args.free:,} free slots); "
          f"server: tiercare serve (2 workers × 4 threads); load average "
          f"{os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    print(f"baseline GET /fhir/metadata: {len(base) / base_seconds:,.0f} requests/s, "
          f"p99 {percentile(base, 99):.1f} ms")
    print(f"bookings: {len(bodies) / seconds:,.0f} requests/s ({made / seconds:,.0f} "
          f"bookings made/s) over {seconds:.1f} s; p50 {statistics.median(latencies):.1f} ms, "
          f"p99 {percentile(latencies, 99):.1f} ms; answers {dict(sorted(answers.items()))}")
    print(f"bookings made: {made:,} (expected {args.contested * 2 + args.free:,}); "
          f"over-booked slots: {len(over)}")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
