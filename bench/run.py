"""Run every benchmark in this folder, one subprocess each (``make bench``).

Pass ``--quick`` to run them at a small size (a smoke run, not a measurement)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    quick = "--quick" in sys.argv[1:]
    failures = 0
    for script in sorted(HERE.glob("bench_*.py")):
        args = [sys.executable, str(script)] + (["--quick"] if quick else [])
        print(f"\n=== {script.name} ===", flush=True)
        failures += subprocess.call(args) != 0
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
