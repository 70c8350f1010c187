"""Benchmark: FHIR Patient read and identifier search under concurrent clients on the
1,000,000-resident database (issue 3 "Performance": p95 ≤ 20 ms under 16 concurrent clients).

    python bench/bench_fhir_read.py [--clients 16] [--requests 400] [--postgres URL]

The database is the one ``bench_search.py`` builds (``var/bench/search-1000000.sqlite3``, or
the PostgreSQL database given). The real server runs as ``make demo`` runs it
(``tiercare serve``: granian, its processes and threads by database) in a subprocess; the
clients are threads of this process, each with its own keep-alive HTTP connection and a
whole-county bearer token, sending requests back to back (a closed loop: each client sends
its next request when the answer arrives, so the load is as heavy as the server can take).

Measured per request kind: ``GET /fhir/Patient/{id}`` for random residents and
``GET /fhir/Patient?identifier=urn:oid:2.16.156.10011.1.3|{ID number}`` for random residents'
ID numbers (both audited, as in production). Baseline in the same run and under the same
concurrency: ``GET /fhir/metadata`` (the same server, authentication-free, no database),
so ``p95 ÷ baseline p95`` is the price of the database work and the audit trail.
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import socket
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_search import ROOT, percentile, use_database

ID_SYSTEM = "urn:oid:2.16.156.10011.1.3"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(url: str, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "TIERCARE_DATABASE_URL": url, "TIERCARE_SECRET_KEY": "bench-only",
           "TIERCARE_ALLOWED_HOSTS": "127.0.0.1,localhost"}
    server = subprocess.Popen([str(ROOT / ".venv/bin/tiercare"), "serve", "--port", str(port)],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(300):
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/fhir/metadata")
            if conn.getresponse().status == 200:
                return server
        except OSError:
            time.sleep(0.1)
    server.kill()
    raise SystemExit("the server did not start")


def run(port: int, paths: list[str], clients: int, header: dict[str, str],
        rate: float = 0.0) -> list[float]:
    """Latencies (ms) of ``paths`` sent by ``clients`` threads, each on its connection:
    back to back (``rate`` 0), or together ``rate`` requests a second on a fixed schedule,
    each latency counted from the request's scheduled time (a late send counts as waiting,
    so a slow server cannot hide its queue)."""
    chunks = [paths[i::clients] for i in range(clients)]
    interval = clients / rate if rate else 0.0

    def worker(index: int, chunk: list[str]) -> list[float]:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        out = []
        begin = time.perf_counter() + index * interval / clients
        for n, path in enumerate(chunk):
            started = time.perf_counter()
            if interval:
                due = begin + n * interval
                if due > started:
                    time.sleep(due - started)
                started = due
            conn.request("GET", path, headers=header)
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                raise SystemExit(f"{path}: {response.status}")
            out.append((time.perf_counter() - started) * 1000)
        conn.close()
        return out

    with ThreadPoolExecutor(clients) as pool:
        return [ms for part in pool.map(worker, range(clients), chunks) for ms in part]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--residents", type=int, default=1_000_000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--requests", type=int, default=400, help="requests per kind")
    parser.add_argument("--postgres", help="PostgreSQL URL instead of SQLite")
    parser.add_argument("--rate", type=float, default=200.0,
                        help="requests a second of the scheduled run (0: closed loop only)")
    args = parser.parse_args()
    url = use_database(args.residents, args.postgres)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tiercare.settings")
    sys.path.insert(0, str(ROOT / "src"))
    import django

    django.setup()
    from tiercare.fhir import tokens
    from tiercare.patients.models import Patient

    _token, secret = tokens.create_token(f"bench-read-{time.time_ns()}", whole_county=True,
                                         scope="system/Patient.read")
    rng = random.Random(5)
    top = Patient.objects.order_by("-id").values_list("id", flat=True).first() or 0
    rows = list(Patient.objects.filter(id__in=[rng.randint(1, top) for _ in range(
        args.requests * 3)]).values_list("id", "id_number")[:args.requests])
    reads = [f"/fhir/Patient/{pk}" for pk, _number in rows]
    searches = [f"/fhir/Patient?identifier={ID_SYSTEM}|{number}" for _pk, number in rows]
    header = {"Authorization": f"Bearer {secret}", "Accept": "application/fhir+json"}
    port = free_port()
    server = start_server(url, port)
    try:
        run(port, reads[:50] + searches[:50], args.clients, header)  # warm up both workers
        runs = []
        for rate in ([0.0, args.rate] if args.rate else [0.0]):
            runs.append((rate, {
                "baseline metadata": run(port, ["/fhir/metadata"] * len(reads), args.clients,
                                         header, rate),
                "Patient read": run(port, reads, args.clients, header, rate),
                "identifier search": run(port, searches, args.clients, header, rate),
            }))
    finally:
        server.terminate()
        server.wait(timeout=30)
    from django.db import connection

    print(f"database: {connection.vendor}, residents ≥ {args.residents:,}, clients: "
          f"{args.clients}, server: tiercare serve (2 workers × 4 threads); load average "
          f"{os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    for rate, results in runs:
        base = percentile(results["baseline metadata"], 95)
        print("closed loop (back to back)" if not rate else f"scheduled: {rate:.0f} requests/s")
        print(f"  {'kind':<20}{'n':>6}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}"
              f"{'p95 ÷ baseline':>16}")
        for kind, values in results.items():
            print(f"  {kind:<20}{len(values):>6}{statistics.median(values):>9.2f}"
                  f"{percentile(values, 95):>9.2f}{percentile(values, 99):>9.2f}"
                  f"{percentile(values, 95) / base:>16.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
