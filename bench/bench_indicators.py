"""Benchmark: the indicator engine on the 1,000,000-resident synthetic county-year (issue 5
"Performance": full refresh ≤ 60 s; incremental refresh after 10,000 new encounters ≤ 5 s;
the whole catalogue for every institution × 12 months ≤ 2 s, reported as a ratio to one
DuckDB aggregate scan of the encounter facts in the same run).

    python bench/bench_indicators.py [--database sqlite|postgresql] [--residents N]

The county (``tiercare synth --residents N --seed 1 --year 2025``) is built once per
database and reused (SQLite ``var/bench/indicators-N.sqlite3``; PostgreSQL
``tc_bench_indicators_N``). Each run refreshes a fresh snapshot in a temporary data
directory:

1. **full refresh** (wall time; rows copied);
2. **incremental refresh** after 10,000 new encounters are written (``tiercare.bulk``, as
   an import would), and, to show what the refresh itself costs, an incremental refresh
   with nothing new;
3. **the whole catalogue for every institution × 12 months** (``compute`` with the twelve
   months of the year, org kind institution), and the same for every alliance and township,
   each beside the **baseline**: one DuckDB aggregate scan of the encounter facts
   (``SELECT inst_id, month, COUNT(*), SUM(total) FROM fact_event GROUP BY …``), best of 5;
   ratio = catalogue ÷ baseline.

The new encounters are deleted afterwards, so the database stays the county-year.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_search import ROOT

PG_SERVER = "postgres://postgres@127.0.0.1:5432"
NEW_ENCOUNTERS = 10_000


def best(function, times: int = 5) -> float:  # type: ignore[no-untyped-def]
    out = []
    for _ in range(times):
        began = time.perf_counter()
        function()
        out.append(time.perf_counter() - began)
    return min(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--residents", type=int, default=1_000_000)
    args = parser.parse_args()
    py = str(ROOT / ".venv" / "bin" / "python")
    if args.database == "sqlite":
        bench_dir = ROOT / "var" / "bench"
        bench_dir.mkdir(parents=True, exist_ok=True)
        db_file = bench_dir / f"indicators-{args.residents}.sqlite3"
        url = f"sqlite:///{db_file}"
        exists = db_file.exists()
    else:
        name = f"tc_bench_indicators_{args.residents}"
        url = f"{PG_SERVER}/{name}"
        exists = subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-tAc",
                                 f"SELECT 1 FROM pg_database WHERE datname = '{name}'"],
                                capture_output=True, text=True).stdout.strip() == "1"
        if not exists:
            subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc",
                            f"CREATE DATABASE {name}"], check=True)
    os.environ["TIERCARE_DATABASE_URL"] = url
    env = dict(os.environ)
    # migrate every time: a database built by an older version gets its new indexes
    subprocess.run([py, "-m", "tiercare.cli", "migrate", "-v", "0"], env=env, check=True)
    if not exists:
        print(f"building the {args.residents:,}-resident county-year …", flush=True)
        subprocess.run([py, "-m", "tiercare.cli", "synth", "--residents", str(args.residents),
                        "--seed", "1", "--year", "2025"], env=env, check=True,
                       stdout=subprocess.DEVNULL)
    data_dir = Path(tempfile.mkdtemp(prefix="tiercare-bench-indicators-"))
    os.environ["TIERCARE_DATA_DIR"] = str(data_dir)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tiercare.settings")
    sys.path.insert(0, str(ROOT / "src"))
    import django

    django.setup()
    from django.db import connection

    from tiercare import bulk
    from tiercare.encounters.models import Encounter
    from tiercare.indicators.engine import Span, compute, snapshot
    from tiercare.kernel.periods import Period

    load = os.getloadavg()[0]
    full = snapshot.refresh(full=True)
    print(f"database: {connection.vendor}; {args.residents:,} residents; "
          f"load average before {load:.2f} on {os.cpu_count()} CPUs")
    print(f"full refresh: {full.seconds:.1f} s, {sum(full.rows.values()):,} rows copied "
          f"({', '.join(f'{k} {v:,}' for k, v in full.rows.items())}); "
          f"snapshot {snapshot.snapshot_path().stat().st_size / 2**20:,.0f} MiB")
    print("  steps: " + ", ".join(f"{k} {v:.1f} s" for k, v in full.steps.items()))
    idle = snapshot.refresh()
    print(f"incremental refresh, nothing new: {idle.seconds:.2f} s "
          f"({sum(idle.rows.values()):,} rows copied)")
    print("  steps: " + ", ".join(f"{k} {v:.2f} s" for k, v in idle.steps.items()))

    # 10,000 new encounters, as an import writes them (copies of existing rows' content)
    sample = list(Encounter.objects.order_by("id").values_list(
        "patient_id", "encounter_class", "institution_id", "start", "primary_diagnosis",
        "total", "drugs", "consumables", "examinations", "services", "insurance_paid")[
        :NEW_ENCOUNTERS])
    from django.utils import timezone
    now = timezone.now()
    fields = ("patient", "encounter_class", "institution", "start", "primary_diagnosis",
              "total", "drugs", "consumables", "examinations", "services", "insurance_paid",
              "source_system", "source_id", "created_at", "updated_at")
    with django.db.transaction.atomic():
        bulk.insert_rows(Encounter, fields, [
            (*row, "bench-indicators", f"n{n}", now, now) for n, row in enumerate(sample)])
    try:
        incremental = snapshot.refresh()
        print(f"incremental refresh after {NEW_ENCOUNTERS:,} new encounters: "
              f"{incremental.seconds:.2f} s ({incremental.rows['stg_encounter']:,} encounter "
              f"rows copied)")
        print("  steps: " + ", ".join(f"{k} {v:.2f} s" for k, v in incremental.steps.items()))
    finally:
        Encounter.objects.filter(source_system="bench-indicators").delete()

    months = [Span.of(Period("month", 2025, m)) for m in range(1, 13)]
    with snapshot.reader() as backend:
        baseline = best(lambda: backend.rows(
            "SELECT inst_id, month, COUNT(*), SUM(total) FROM fact_event "
            "GROUP BY inst_id, month"))
        events = backend.rows("SELECT COUNT(*) FROM fact_event")[0][0]
        print(f"baseline: one aggregate scan of fact_event ({events:,} rows) by institution "
              f"and month: {baseline * 1000:.0f} ms (best of 5)")
        for kind in ("institution", "alliance", "township"):
            cells: list[object] = []

            def catalogue(kind: str = kind, cells: list[object] = cells) -> None:
                cells[:] = compute(backend, months, kind)

            seconds = best(catalogue)
            orgs = len({c.org for c in cells})  # type: ignore[attr-defined]
            print(f"whole catalogue × 12 months for every {kind} ({orgs:,} org units, "
                  f"{len(cells):,} cells): {seconds * 1000:.0f} ms (best of 5); "
                  f"÷ baseline {seconds / baseline:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
