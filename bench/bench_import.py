"""Benchmark: CSV import of encounters (issue 2 "Performance": ≥ 50,000 rows/s into SQLite,
measured against the raw speed of reading the same file).

    python bench/bench_import.py [--rows 200000] [--seed 7] [--keep]

Without ``TIERCARE_DATABASE_URL`` it works in a fresh SQLite database in a temporary data
directory; with it, it uses that database (migrated here; its rows get a ``BENCH`` prefix).
It creates a county (institutions, departments, practitioners, residents with valid ID
numbers), writes a CSV of N encounter rows, then times

1. the baseline: ``csv.reader`` over the file (every row read, nothing else);
2. ``import_encounters`` into the empty table;
3. the same import again (idempotent: every row already present).

and prints rows/s for each and the ratio to the baseline, by wall time and by CPU time (this
process and its children: a large file is read and checked in a second process while this one
writes, ADR 0003, so the CPU figure is the sum over both cores; the database engine runs
in-process for SQLite). On a machine shared with other work the wall figure depends on free
cores: repeat and take the best.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

HEADER = [
    "source_system", "source_id", "resident_id_number", "health_record_no",
    "institution_code", "department_code", "practitioner_code", "encounter_class", "start",
    "end", "primary_diagnosis", "secondary_diagnoses", "total", "drugs", "consumables",
    "examinations", "services", "insurance_paid",
]
COUNTY = "340822"
DIAGNOSES = ["I10", "E11.9", "J06.9", "J20.9", "K29.7", "I25.1", "I63.9", "J44.9", "N18.9",
             "M54.5", "I10.X00", "E11.900", "J45.9", "R51", "K21.9"]


def setup_django() -> Path | None:
    temp: Path | None = None
    if not os.environ.get("TIERCARE_DATABASE_URL"):
        temp = Path(tempfile.mkdtemp(prefix="tiercare-bench-"))
        os.environ["TIERCARE_DATA_DIR"] = str(temp)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tiercare.settings")
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return temp


def build_county(residents: int, rng: random.Random) -> tuple[list[str], list[tuple[str, str]],
                                                              list[str]]:
    """Institutions, departments, practitioners and residents; returns the residents' ID
    numbers, (institution code, department code) pairs and practitioner codes."""
    from django.db import transaction

    from tiercare.kernel import idnumber
    from tiercare.patients.models import Patient
    from tiercare.registry.models import Department, Institution, Level, Practitioner

    with transaction.atomic():
        institutions = [Institution(code="BENCH-H1", name="县人民医院", level=Level.COUNTY,
                                    kind=Institution.Kind.GENERAL_HOSPITAL,
                                    division_code=COUNTY)]
        for t in range(1, 11):
            institutions.append(Institution(
                code=f"BENCH-T{t}", name=f"第{t}乡镇卫生院", level=Level.TOWNSHIP,
                kind=Institution.Kind.TOWNSHIP_CENTRE, division_code=f"{COUNTY}{100 + t}"))
            for v in range(1, 5):
                institutions.append(Institution(
                    code=f"BENCH-T{t}V{v}", name=f"第{t}乡第{v}村卫生室", level=Level.VILLAGE,
                    kind=Institution.Kind.VILLAGE_CLINIC,
                    division_code=f"{COUNTY}{100 + t}{200 + v}"))
        Institution.objects.bulk_create(institutions)
        stored = list(Institution.objects.filter(code__startswith="BENCH-"))
        departments = [Department(institution=i, code=f"D{k}", name=f"科室{k}")
                       for i in stored for k in range(3)]
        Department.objects.bulk_create(departments)
        practitioners = [Practitioner(code=f"BENCH-P{i.pk}-{k}", name="医生", sex="1",
                                      title=Practitioner.Title.ATTENDING, institution=i)
                         for i in stored for k in range(4)]
        Practitioner.objects.bulk_create(practitioners)
        patients = []
        numbers: list[str] = []
        seen: set[str] = set()
        for n in range(residents):
            birth = dt.date(1930, 1, 1) + dt.timedelta(days=rng.randrange(32000))
            number = idnumber.make(COUNTY, birth, (n % 499) * 2 + 1)
            if number in seen:
                continue
            seen.add(number)
            numbers.append(number)
            village = f"{COUNTY}{101 + n % 10}{201 + n % 4}"
            patients.append(Patient(
                health_record_no=f"{village}{n % 100000:05d}", name="居民", name_initials="jm",
                sex=idnumber.sex_of(number), birth_date=birth, id_number=number,
                address_code=village, scheme="resident", insured_county=COUNTY))
        Patient.objects.bulk_create(patients, batch_size=2000, ignore_conflicts=True)
    pairs = [(i.code, f"D{k}") for i in stored for k in range(3)]
    return numbers, pairs, [p.code for p in practitioners]


def write_file(path: Path, rows: int, numbers: list[str], pairs: list[tuple[str, str]],
               practitioners: list[str], rng: random.Random, *, in_time_order: bool = True,
               ) -> None:
    """A year of encounters. ``in_time_order``: as a hospital system exports them (by visit
    time, e.g. a month at a time); otherwise in random order (a worst case for the indexes
    that lead with time)."""
    base = dt.datetime(2025, 1, 1, 8, 0)
    offsets = [rng.randrange(400_000) for _ in range(rows)]
    if in_time_order:
        offsets.sort()
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(HEADER)
        for n in range(rows):
            institution, department = pairs[rng.randrange(len(pairs))]
            inpatient = rng.random() < 0.05
            start = base + dt.timedelta(minutes=offsets[n])
            end = start + dt.timedelta(days=rng.randrange(1, 12)) if inpatient else None
            drugs = rng.randrange(0, 50_000) / 100
            consumables = rng.randrange(0, 5_000) / 100
            examinations = rng.randrange(0, 20_000) / 100
            services = rng.randrange(0, 10_000) / 100
            total = round(drugs + consumables + examinations + services, 2)
            secondary = ";".join(rng.sample(DIAGNOSES, rng.randrange(0, 3)))
            writer.writerow([
                "BENCH", f"E{n:08d}", numbers[rng.randrange(len(numbers))], "", institution,
                department, "", "inpatient" if inpatient else "outpatient",
                start.strftime("%Y-%m-%d %H:%M"), end.strftime("%Y-%m-%d %H:%M") if end else "",
                DIAGNOSES[rng.randrange(len(DIAGNOSES))], secondary, f"{total:.2f}",
                f"{drugs:.2f}", f"{consumables:.2f}", f"{examinations:.2f}", f"{services:.2f}",
                f"{total * 0.6:.2f}",
            ])


def baseline(path: Path) -> tuple[int, float, float]:
    """Rows, wall seconds and CPU seconds of csv.reader over the file."""
    started, cpu = time.perf_counter(), time.process_time()
    with open(path, encoding="utf-8-sig", newline="") as f:
        count = sum(1 for _ in csv.reader(f)) - 1
    return count, time.perf_counter() - started, time.process_time() - cpu


def cpu_seconds() -> float:
    """CPU time of this process and of its finished children (the importer's reading
    process, ADR 0003)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--residents", type=int, default=None,
                        help="default: one resident per 5 rows")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the temporary database")
    parser.add_argument("--random-order", action="store_true",
                        help="rows in random time order instead of a system's time-ordered "
                             "export")
    args = parser.parse_args()
    temp = setup_django()
    from django.db import connection

    from tiercare.encounters.importers import import_encounters

    rng = random.Random(args.seed)
    numbers, pairs, practitioners = build_county(args.residents or max(args.rows // 5, 10), rng)
    work = Path(tempfile.mkdtemp(prefix="tiercare-bench-csv-"))
    path = work / "encounters.csv"
    write_file(path, args.rows, numbers, pairs, practitioners, rng,
               in_time_order=not args.random_order)
    size = path.stat().st_size
    read, base_s, base_cpu = baseline(path)
    order = "random order" if args.random_order else "time order"
    print(f"database: {connection.vendor}; file: {args.rows:,} rows ({order}), "
          f"{size / 1e6:.1f} MB; "
          f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    print(f"{'baseline csv.reader':22}{read / base_s:10,.0f} rows/s wall ({base_s:.2f} s), "
          f"{read / base_cpu:10,.0f} rows/s CPU")
    # Warm the kernel's ICD-10 table (a one-time load of the WHO list) outside the timing.
    from tiercare.kernel import icd10

    icd10.validate("I10")
    for label in ("import (new rows)", "re-import (present)"):
        cpu = cpu_seconds()
        report = import_encounters(path, progress=False, rejects_path=work / "rejects.csv")
        cpu = cpu_seconds() - cpu
        rate = report.read / report.seconds
        print(f"{label:22}{rate:10,.0f} rows/s wall ({report.seconds:.2f} s), "
              f"{report.read / cpu:10,.0f} rows/s CPU; ratio to baseline "
              f"{rate / (read / base_s):.3f} wall, {(report.read / cpu) / (read / base_cpu):.3f}"
              f" CPU [inserted {report.inserted:,}, unchanged {report.unchanged:,}, "
              f"rejected {report.rejected:,}]")
    shutil.rmtree(work, ignore_errors=True)
    if temp is not None and not args.keep:
        shutil.rmtree(temp, ignore_errors=True)


if __name__ == "__main__":
    main()
