"""Benchmark: the indicator overview page on the 1,000,000-resident county-year (issue 5
"Performance": overview dashboard p95 ≤ 300 ms).

    python bench/bench_dashboard.py [--residents N] [--requests 30]

Uses the county ``bench_indicators.py`` builds (SQLite ``var/bench/indicators-N.sqlite3``),
refreshes a snapshot into a temporary data directory, signs in an alliance administrator
with the Django test client (the whole stack: middleware, views, templates, the snapshot)
and requests ``/indicators/`` (the current year to date of the alliance, cards with their
12-month trends):

* **cold**: the process's cache of computed cells emptied before each request — what the
  first visitor after a refresh waits for;
* **warm**: the cache kept — every later visitor until the next refresh (10 minutes);

beside the **baseline** ``GET /api/health`` through the same client.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_search import ROOT, percentile


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--residents", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=30)
    args = parser.parse_args()
    db_file = ROOT / "var" / "bench" / f"indicators-{args.residents}.sqlite3"
    if not db_file.exists():
        raise SystemExit(f"{db_file} is missing: run bench/bench_indicators.py first")
    os.environ["TIERCARE_DATABASE_URL"] = f"sqlite:///{db_file}"
    os.environ["TIERCARE_DATA_DIR"] = tempfile.mkdtemp(prefix="tiercare-bench-dashboard-")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tiercare.settings")
    sys.path.insert(0, str(ROOT / "src"))
    import django

    django.setup()
    from django.test import Client

    from tiercare.accounts.models import Role, User
    from tiercare.accounts.services import create_user
    from tiercare.indicators import board
    from tiercare.indicators.engine import snapshot
    from tiercare.registry.models import Alliance

    snapshot.refresh(full=True)
    alliance = Alliance.objects.order_by("code").first()
    assert alliance is not None
    name = "bench-dashboard-admin"
    user = User.objects.filter(username=name).first() or create_user(
        name, "Bench-only-password-1", Role.ALLIANCE_ADMIN, alliance=alliance)
    client = Client()
    client.force_login(user)

    def timed(path: str, *, cold: bool) -> float:
        if cold:
            board.forget_cache()
        began = time.perf_counter()
        response = client.get(path)
        elapsed = (time.perf_counter() - began) * 1000
        assert response.status_code == 200, (path, response.status_code)
        return elapsed

    timed("/indicators/", cold=True)  # first request: imports, templates
    results = {
        "overview, cold cache": [timed("/indicators/", cold=True)
                                 for _ in range(args.requests)],
        "overview, warm cache": [timed("/indicators/", cold=False)
                                 for _ in range(args.requests)],
        "baseline /api/health": [timed("/api/health", cold=False)
                                 for _ in range(args.requests)],
    }
    print(f"{args.residents:,} residents, alliance {alliance.code}; load average "
          f"{os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs; {args.requests} requests each")
    base = percentile(results["baseline /api/health"], 95)
    for kind, values in results.items():
        print(f"  {kind:<24} p50 {statistics.median(values):7.1f} ms  "
              f"p95 {percentile(values, 95):7.1f} ms  p95 ÷ baseline "
              f"{percentile(values, 95) / base:6.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
