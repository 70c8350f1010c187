"""The receiving department's incoming-queue page with 5,000 open referrals (issue 4: p95 ≤
200 ms; no query count that grows with rows).

Builds the database once (``var/bench/incoming.sqlite3``, or the PostgreSQL database named by
``--postgres``): a synthetic county of 20,000 residents, then open referrals to the lead
hospital topped up to ``--open`` (submitted, received, accepted, arrived; 3 % green channel;
deadlines from two hours past to a day ahead). Then, in this process through Django's test
client (the whole stack: middleware, session, view, template, audit of every listed row),
requests the queue page as a doctor of the hospital: random pages of the 5,000 and each
state filter. Baseline in the same run: ``GET /api/health`` through the same client (the
framework's floor); the signed-in home page is shown too (the layout and session alone).
Prints p50/p95/max, queries per request, and the ratio of p95 to the baseline's p95.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from bench_search import ensure_database, percentile  # noqa: E402

RESIDENTS = 20_000
BENCH_USER = "bench_queue_doctor"


def use_database(postgres: str | None) -> None:
    sqlite_file = ROOT / "var" / "bench" / "incoming.sqlite3"
    (ROOT / "var" / "bench").mkdir(parents=True, exist_ok=True)
    url = postgres or f"sqlite:///{sqlite_file}"
    ensure_database(url, RESIDENTS)
    os.environ["TIERCARE_DATABASE_URL"] = url


def top_up(open_count: int, seed: int = 7) -> tuple[object, int]:
    """Open referrals to the lead hospital of the first alliance, up to ``open_count``;
    returns the doctor whose queue it is and how many are open."""
    from django.utils import timezone

    from tiercare.accounts.models import Role, User
    from tiercare.accounts.services import create_user
    from tiercare.patients.models import Patient
    from tiercare.referrals.models import Direction, Referral
    from tiercare.registry.models import Alliance, Institution, Level

    alliance = Alliance.objects.order_by("code").first()
    assert alliance is not None and alliance.lead is not None, "the county has no lead hospital"
    hospital = alliance.lead
    doctor = User.objects.filter(username=BENCH_USER).first() or create_user(
        BENCH_USER, "Bench-queue-2026", Role.DOCTOR, institution=hospital)
    statuses = ["submitted", "received", "accepted", "arrived"]
    open_now = Referral.objects.filter(receiving_institution=hospital,
                                       status__in=statuses).count()
    missing = open_count - open_now
    if missing > 0:
        rng = random.Random(seed)
        senders = list(Institution.objects.filter(
            alliance=alliance, level__in=[Level.TOWNSHIP, Level.VILLAGE]).values_list(
            "pk", flat=True))
        patients = list(Patient.objects.filter(is_active=True).values_list("pk", flat=True)[
            :20_000])
        departments = list(hospital.departments.values_list("pk", flat=True)) or [None]
        codes = ["I10", "E11.9", "I63.9", "J18.9", "K35.8", "I21.9", "N18.9", "C34.9"]
        now = timezone.now()
        rows = []
        for _i in range(missing):
            status = rng.choices(statuses, weights=[60, 20, 15, 5])[0]
            green = rng.random() < 0.03
            sent = now - dt.timedelta(minutes=rng.randint(5, 60 * 24))
            deadline = now + dt.timedelta(minutes=rng.randint(-120, 60 * 24))
            rows.append(Referral(
                patient_id=rng.choice(patients), direction=Direction.UP, green_channel=green,
                status=status, sending_institution_id=rng.choice(senders),
                receiving_institution=hospital, receiving_department_id=rng.choice(departments),
                diagnosis=rng.choice(codes), reason="benchmark referral",
                submitted_at=sent, deadline=deadline,
                received_at=sent if status != "submitted" else None))
        Referral.objects.bulk_create(rows, batch_size=1000)
        open_now += missing
    return doctor, open_now


def time_requests(client: object, urls: list[str]) -> tuple[list[float], list[int]]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    times: list[float] = []
    queries: list[int] = []
    for url in urls:
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            response = client.get(url)  # type: ignore[attr-defined]
            times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (url, response.status_code)
        queries.append(len(captured))
    return times, queries


def report(name: str, times: list[float], queries: list[int], base_p95: float) -> None:
    p95 = percentile(times, 95)
    print(f"{name:<28} n={len(times):>4}  p50 {statistics.median(times):7.2f} ms  "
          f"p95 {p95:7.2f} ms  max {max(times):7.2f} ms  queries {min(queries)}–{max(queries)}"
          f"  ÷ baseline p95 {p95 / base_p95:6.1f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--open", type=int, default=5_000, help="open referrals in the queue")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--postgres", help="PostgreSQL URL instead of SQLite")
    args = parser.parse_args()
    use_database(args.postgres)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tiercare.settings")
    import django

    django.setup()
    from django.test import Client

    doctor, open_now = top_up(args.open)
    print(f"database: {os.environ['TIERCARE_DATABASE_URL']}; open referrals in the queue: "
          f"{open_now:,}")
    client = Client()
    client.force_login(doctor)  # type: ignore[arg-type]
    rng = random.Random(1)
    pages = max(1, open_now // 50)
    for _warm in range(10):
        client.get("/referrals/incoming/")
        client.get("/api/health")
    base, base_q = time_requests(client, ["/api/health"] * args.requests)
    base_p95 = percentile(base, 95)
    report("baseline GET /api/health", base, base_q, base_p95)
    home, home_q = time_requests(client, ["/"] * args.requests)
    report("home page (layout, session)", home, home_q, base_p95)
    first, first_q = time_requests(client, ["/referrals/incoming/"] * args.requests)
    report("queue, first page", first, first_q, base_p95)
    paged, paged_q = time_requests(
        client, [f"/referrals/incoming/?page={rng.randint(1, pages)}"
                 for _ in range(args.requests)])
    report("queue, random pages", paged, paged_q, base_p95)
    states = ["submitted", "received", "accepted", "arrived"]
    filtered, filtered_q = time_requests(
        client, [f"/referrals/incoming/?status={rng.choice(states)}"
                 for _ in range(args.requests)])
    report("queue, one state", filtered, filtered_q, base_p95)
    worst = max(percentile(t, 95) for t in (first, paged, filtered))
    print(f"worst p95 {worst:.2f} ms (target ≤ 200 ms): {'met' if worst <= 200 else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
