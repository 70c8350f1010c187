"""Benchmark: ``tiercare synth --residents N`` into SQLite and into PostgreSQL.

Issue 2 "Performance": a million residents in ≤ 3 min wall time and ≤ 4 GB peak memory on a
2-core machine, for each database.

Each run is a fresh subprocess on a fresh database (SQLite: a new file in a temporary data
directory; PostgreSQL: ``tc_bench_synth`` dropped and re-created with ``psql``, then
migrated; migration is not timed). Measured: wall time of the ``synth`` command, and the
peak of the summed resident memory of the command's process tree, sampled every 0.1 s from
``/proc``. The PostgreSQL server's own memory is not included. Other work on the machine
slows the runs (two cores): the load average after the run is printed with the results.

Baseline, measured in the same run: generating exactly the same rows in memory without
writing them (same code, one thread, rows dropped after each chunk). The ratio
``run ÷ baseline`` is then the price of getting the rows into the database (generation and
writing overlap in two threads, so a ratio near 1 would mean writes cost nothing extra).

Usage: ``.venv/bin/python bench/bench_synth.py [N] [--only sqlite|postgresql|baseline]``
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = str(ROOT / ".venv" / "bin" / "python")
PG_SERVER = "postgres://postgres@127.0.0.1:5432"
PG_DB = "tc_bench_synth"
SEED, YEAR = 1, 2023

BASELINE = r"""
import os, sys, django
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tiercare.settings")
django.setup()
from tiercare.synth import county, generator, population
n, seed, year = (int(a) for a in sys.argv[1:4])
stamp = generator._timestamp(year, "sqlite")
ids = dict.fromkeys(("division", "alliance", "grid", "institution", "department",
                     "practitioner", "posting"), 1)
plan = county.build(residents=n, seed=seed, year=year, county_code="341125",
                    communities=None, ids=ids, timestamp=stamp)
pop = population.Population(plan, seed=seed, year=year, vendor="sqlite",
                            timestamp=stamp)
next_ids = population.Ids(1, 1, 1, 1)
rows = 0
for index, start in enumerate(range(0, n, generator.CHUNK)):
    chunk = pop.chunk(index, start, min(n, start + generator.CHUNK), next_ids)
    rows += (len(chunk.patients) + len(chunk.encounters) + len(chunk.diagnoses)
             + len(chunk.settlements))
print("rows", rows)
"""


def _tree_rss_kib(pid: int) -> int:
    """Resident memory (KiB) of ``pid`` and all its descendants."""
    total = 0
    stack = [pid]
    while stack:
        p = stack.pop()
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
                    break
            for task in Path(f"/proc/{p}/task").iterdir():
                children = (task / "children").read_text().split()
                stack.extend(int(c) for c in children)
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return total


def run(cmd: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """(wall seconds, peak MiB of the process tree, output) of one command."""
    peak = 0
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _tree_rss_kib(proc.pid))
            time.sleep(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    output, _ = proc.communicate()
    wall = time.perf_counter() - started
    done.set()
    sampler.join()
    if proc.returncode:
        sys.exit(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{output}")
    return wall, peak / 1024, output


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIERCARE_")}
    env.update(extra)
    return env


def _psql(sql: str) -> None:
    subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-q", "-c", sql],
                   check=True, capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("residents", nargs="?", type=int, default=1_000_000)
    parser.add_argument("--only", choices=("baseline", "sqlite", "postgresql"))
    args = parser.parse_args()
    n = args.residents
    synth = [PY, "-m", "django", "synth", "--residents", str(n), "--seed", str(SEED),
             "--year", str(YEAR), "--no-progress", "--settings=tiercare.settings"]
    results: list[tuple[str, float, float, str]] = []
    with tempfile.TemporaryDirectory(prefix="tc_bench_synth_") as tmp:
        base_env = _env(TIERCARE_DATA_DIR=tmp)
        baseline = None
        if args.only in (None, "baseline"):
            wall, mib, out = run([PY, "-c", BASELINE, str(n), str(SEED), str(YEAR)], base_env)
            baseline = wall
            results.append(("baseline (generate in memory, no writes)", wall, mib,
                            out.strip().splitlines()[-1]))
        if args.only in (None, "sqlite"):
            env = _env(TIERCARE_DATA_DIR=tmp)
            subprocess.run([PY, "-m", "django", "migrate", "-v", "0",
                            "--settings=tiercare.settings"], env=env, cwd=ROOT, check=True)
            wall, mib, out = run(synth, env)
            results.append(("SQLite", wall, mib, out.strip().splitlines()[-1]))
        if args.only in (None, "postgresql"):
            _psql(f"DROP DATABASE IF EXISTS {PG_DB}")
            _psql(f"CREATE DATABASE {PG_DB}")
            env = _env(TIERCARE_DATA_DIR=tmp, TIERCARE_DATABASE_URL=f"{PG_SERVER}/{PG_DB}")
            subprocess.run([PY, "-m", "django", "migrate", "-v", "0",
                            "--settings=tiercare.settings"], env=env, cwd=ROOT, check=True)
            wall, mib, out = run(synth, env)
            results.append(("PostgreSQL", wall, mib, out.strip().splitlines()[-1]))
            _psql(f"DROP DATABASE IF EXISTS {PG_DB}")
    load = os.getloadavg()
    print(f"tiercare synth --residents {n:,} (seed {SEED}, year {YEAR}); "
          f"{os.cpu_count()} CPUs, load average after the run {load[0]:.1f}")
    print(f"{'run':<44} {'wall s':>8} {'peak MiB':>9} {'÷ baseline':>11}")
    for name, wall, mib, _last in results:
        ratio = f"{wall / baseline:.2f}" if baseline else "-"
        print(f"{name:<44} {wall:>8.1f} {mib:>9.0f} {ratio:>11}")
    target_ok = all(w <= 180 and m <= 4096 for name, w, m, _ in results if "baseline" not in name)
    print("target (≤ 180 s, ≤ 4,096 MiB):", "met" if target_ok else "NOT met")


if __name__ == "__main__":
    main()
