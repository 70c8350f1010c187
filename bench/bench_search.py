"""Resident search latency on a 1,000,000-resident database (issue 2: p95 ≤ 50 ms).

Builds the database once with the synthetic generator (``var/bench/search-N.sqlite3``, or
the PostgreSQL database named by ``--postgres``), then times ``search_patients`` for
queries of each kind drawn from real rows: ID number, phone, full name, pinyin initials.
Baseline in the same process: fetching one resident by primary key through the ORM.
Runs 16 concurrent clients (threads, each with its own connection) when ``--clients`` > 1.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))
    return ordered[index]


def ensure_database(url: str, residents: int) -> None:
    """Migrate the database (a PostgreSQL database is created first if missing) and fill it
    with ``residents`` synthetic residents unless it has them."""
    if url.startswith("postgres"):
        server, _sep, name = url.rpartition("/")
        found = subprocess.run(["psql", f"{server}/postgres", "-Atc",
                                f"SELECT 1 FROM pg_database WHERE datname = '{name}'"],
                               capture_output=True, text=True, check=True).stdout.strip()
        if not found:
            subprocess.run(["psql", f"{server}/postgres", "-qc", f'CREATE DATABASE "{name}"'],
                           check=True)
    env = {**os.environ, "TIERCARE_DATABASE_URL": url}
    check = subprocess.run(
        [sys.executable, "-c",
         "import django,os;os.environ.setdefault('DJANGO_SETTINGS_MODULE','tiercare.settings');"
         "django.setup();from django.core.management import call_command;"
         "call_command('migrate',verbosity=0);"
         "from tiercare.patients.models import Patient;print(Patient.objects.count())"],
        env=env, capture_output=True, text=True, check=True,
    )
    if int(check.stdout.strip().splitlines()[-1]) >= residents:
        return
    print(f"building a {residents:,}-resident database (once) …", flush=True)
    subprocess.run(
        [str(ROOT / ".venv/bin/tiercare"), "synth", "--residents", str(residents),
         "--seed", "1", "--year", "2025"],
        env=env, check=True,
    )


def use_database(residents: int, postgres: str | None) -> str:
    """The benchmark database's URL (``var/bench/search-N.sqlite3`` unless a PostgreSQL URL
    is given), built first if it is not there, and made this process's database."""
    sqlite_file = ROOT / "var" / "bench" / f"search-{residents}.sqlite3"
    url = postgres or f"sqlite:///{sqlite_file}"
    (ROOT / "var" / "bench").mkdir(parents=True, exist_ok=True)
    ensure_database(url, residents)
    os.environ["TIERCARE_DATABASE_URL"] = url
    return url


def time_calls(fn: Callable[[str], object], queries: list[str], clients: int) -> list[float]:
    from django.db import connection

    def one(q: str) -> float:
        started = time.perf_counter()
        fn(q)
        return (time.perf_counter() - started) * 1000

    if clients <= 1:
        return [one(q) for q in queries]

    def worker(chunk: list[str]) -> list[float]:
        try:
            return [one(q) for q in chunk]
        finally:
            connection.close()

    chunks = [queries[i::clients] for i in range(clients)]
    with ThreadPoolExecutor(max_workers=clients) as pool:
        return [t for result in pool.map(worker, chunks) for t in result]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--residents", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=300, help="queries per kind")
    parser.add_argument("--clients", type=int, default=1)
    parser.add_argument("--postgres", help="PostgreSQL URL instead of SQLite")
    parser.add_argument("--scoped", action="store_true",
                        help="search as a township doctor (scope: the alliance's grid and the "
                             "residents with encounters at the doctor's institution)")
    parser.add_argument("--quick", action="store_true", help="20,000 residents (smoke run)")
    args = parser.parse_args()
    if args.quick:
        args.residents, args.queries = 20_000, 50
    use_database(args.residents, args.postgres)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tiercare.settings")
    import django

    django.setup()
    from tiercare.accounts.models import Role, User
    from tiercare.patients.models import Patient
    from tiercare.patients.services import search_patients
    from tiercare.registry.models import Institution, Level

    if args.scoped:
        township = Institution.objects.filter(level=Level.TOWNSHIP).order_by("code").first()
        user, _ = User.objects.get_or_create(
            username="bench-search-doctor",
            defaults={"role": Role.DOCTOR, "institution": township, "is_active": True},
        )
    else:
        user, _ = User.objects.get_or_create(
            username="bench-search", defaults={"role": Role.SYSTEM_ADMIN, "is_active": True}
        )
    rng = random.Random(7)
    top = Patient.objects.order_by("-id").values_list("id", flat=True).first() or 0
    ids = [rng.randint(1, top) for _ in range(args.queries * 2)]
    rows = list(Patient.objects.filter(id__in=ids).values(
        "id", "id_number", "phone", "name", "name_initials")[: args.queries])
    kinds: dict[str, list[str]] = {
        "id_number": [r["id_number"] for r in rows if r["id_number"]],
        "phone": [r["phone"] for r in rows if r["phone"]],
        "name": [r["name"] for r in rows],
        "initials": [r["name_initials"] for r in rows],
    }

    def baseline(pk: str) -> object:
        return Patient.objects.get(pk=int(pk))

    for q in kinds["name"][:20]:  # warm caches
        search_patients(user, q)
    base = time_calls(baseline, [str(r["id"]) for r in rows], args.clients)
    base_p95 = percentile(base, 95)
    print(f"database: {django.db.connection.vendor}, residents ≥ {args.residents:,}, "
          f"clients: {args.clients}, user: {user.role}")
    print(f"{'query':<12}{'n':>6}{'p50 ms':>10}{'p95 ms':>10}{'max ms':>10}{'p95/baseline':>14}")
    print(f"{'baseline pk':<12}{len(base):>6}{statistics.median(base):>10.2f}{base_p95:>10.2f}"
          f"{max(base):>10.2f}{1.0:>14.1f}")
    worst = 0.0
    for kind, queries in kinds.items():
        times = time_calls(lambda q: search_patients(user, q), queries, args.clients)
        p95 = percentile(times, 95)
        worst = max(worst, p95)
        print(f"{kind:<12}{len(times):>6}{statistics.median(times):>10.2f}{p95:>10.2f}"
              f"{max(times):>10.2f}{p95 / base_p95:>14.1f}")
    print(f"worst p95: {worst:.2f} ms (target ≤ 50 ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
