"""Run every benchmark in this folder at its documented size, one subprocess each
(``make bench``). Arguments after ``--`` are not passed on: run a single script for that."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    failures = 0
    for script in sorted(HERE.glob("bench_*.py")):
        args = [sys.executable, str(script)]
        print(f"\n=== {script.name} ===", flush=True)
        failures += subprocess.call(args) != 0
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
