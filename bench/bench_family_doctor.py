"""The family-doctor pages on a synthetic county (issue 6): the team's work queue, a doctor's
own queue, the registry list, the team page whose coverage, fulfilment and registry rates are
computed live from the records, the follow-up form, and recording a follow-up.

    python bench/bench_family_doctor.py [--residents 100000] [--requests 60] [--postgres URL]

Builds the county once (``var/bench/family-N.sqlite3`` or the PostgreSQL database named by
``--postgres``; ``tiercare synth --residents N --seed 1 --year 2025``, which generates teams,
contracts, registries and a year of follow-ups with the work queues alive around today), then
through Django's test client (the whole stack: middleware, session, view, template, the
audit of every resident shown) requests each page as a doctor of the township health centre
whose team has the most registrations, and — to show that no query count grows with rows —
as a doctor of the centre whose team has the fewest. Baseline in the same run:
``GET /api/health`` through the same client. Prints p50/p95/max, queries per request and the
ratio of p95 to the baseline's p95. The indicator snapshot (the team page's registry rates and
fulfilment) is refreshed first, into ``TIERCARE_DATA_DIR``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from bench_incoming_queue import report, time_requests  # noqa: E402
from bench_search import ensure_database, percentile  # noqa: E402

BENCH_USER = "bench_family_doctor_{}"


def use_database(residents: int, postgres: str | None) -> None:
    (ROOT / "var" / "bench").mkdir(parents=True, exist_ok=True)
    url = postgres or f"sqlite:///{ROOT / 'var' / 'bench' / f'family-{residents}.sqlite3'}"
    ensure_database(url, residents)
    os.environ["TIERCARE_DATABASE_URL"] = url


def doctor_of(team: object, label: str) -> object:
    """A doctor account at the team's base institution, linked to a member of the team."""
    from tiercare.accounts.models import Role, User
    from tiercare.accounts.services import create_user

    name = BENCH_USER.format(label)
    found = User.objects.filter(username=name).first()
    if found is not None:
        found.delete()
    member = team.members.filter(end_date__isnull=True, practitioner__user__isnull=True  # type: ignore[attr-defined]
                                 ).select_related("practitioner").first()
    return create_user(name, "Bench-family-2026", Role.DOCTOR,
                       institution=team.institution,  # type: ignore[attr-defined]
                       practitioner=member.practitioner if member else None)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--residents", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=60)
    parser.add_argument("--postgres", help="PostgreSQL URL instead of SQLite")
    args = parser.parse_args()
    use_database(args.residents, args.postgres)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tiercare.settings")
    import django

    django.setup()
    from django.db.models import Count, Q
    from django.test import Client

    from tiercare.chronic.models import Contract, FamilyDoctorTeam, FollowUp, Registration
    from tiercare.indicators.engine import snapshot

    report_ = snapshot.refresh(full=True)  # the team page's rates are the engine's
    print(f"indicator snapshot refreshed in {report_.seconds:.1f} s")
    teams = list(FamilyDoctorTeam.objects.annotate(
        n=Count("registrations", filter=Q(registrations__status="active"))).order_by("-n", "pk"))
    if not teams:
        raise SystemExit("the county has no family-doctor team: synth is older than issue 6")
    print(f"database: {os.environ['TIERCARE_DATABASE_URL']}; teams {len(teams)}, "
          f"registrations {Registration.objects.count():,}, follow-ups "
          f"{FollowUp.objects.count():,}, contracts {Contract.objects.count():,}")
    worst = 0.0
    base_p95 = 0.0
    for label, team in (("largest", teams[0]), ("smallest", teams[-1])):
        doctor = doctor_of(team, label)
        client = Client()
        client.force_login(doctor)  # type: ignore[arg-type]
        registrations = Registration.objects.filter(team=team, status="active")
        print(f"\n{label} team {team.code} {team.name}: {registrations.count():,} under "
              f"management, {Contract.objects.filter(team=team, status='active').count():,} "
              f"active contracts")
        one = registrations.order_by("pk").first()
        assert one is not None
        for _warm in range(5):
            client.get("/api/health")
            client.get(f"/family-doctors/queue/?team={team.pk}")
        if not base_p95:
            base, base_q = time_requests(client, ["/api/health"] * args.requests)
            base_p95 = percentile(base, 95)
            report("baseline GET /api/health", base, base_q, base_p95)
        pages = [
            ("work queue, team", f"/family-doctors/queue/?team={team.pk}"),
            ("work queue, mine", "/family-doctors/queue/?mine=1"),
            ("registry list, team", f"/family-doctors/registry/?team={team.pk}"),
            ("registration with history", f"/family-doctors/registry/{one.pk}/"),
            ("follow-up form", f"/family-doctors/registry/{one.pk}/follow-up/"),
            ("team page (coverage live, rates engine)", f"/family-doctors/teams/{team.pk}/"),
            ("team list (counts per team)", "/family-doctors/teams/"),
        ]
        for name, url in pages:
            times, queries = time_requests(client, [url] * args.requests)
            report(name, times, queries, base_p95)
            worst = max(worst, percentile(times, 95))
        registration_ids = list(registrations.values_list("pk", flat=True)[:args.requests])
        today = dt.date.today().isoformat()
        times = []
        for pk in registration_ids:
            started = time.perf_counter()
            response = client.post(f"/family-doctors/registry/{pk}/follow-up/", {
                "date": today, "method": "clinic", "sbp": "136", "dbp": "84",
                "fasting_glucose": "6.4", "adherence": "regular"})
            times.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 302, (pk, response.status_code)
        report("record a follow-up (POST, classify)", times, [0], base_p95)
    print(f"\nworst page p95 {worst:.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
