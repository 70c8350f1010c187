"""The analytics snapshot: a DuckDB file of staging, reference and fact tables refreshed from
the operational database (DESIGN.md "Analytics": dashboards never run heavy queries on the
operational database).

* **Full refresh** copies every staging table (``staging.STAGES``: the source database's
  rows as CSV — PostgreSQL's ``COPY … TO STDOUT``, SQLite's rows through :mod:`csv` — read
  by DuckDB's CSV reader), builds the reference tables in Python and the fact tables by SQL
  (``facts.FACTS``), into a new file that then replaces the old one at once (readers never
  see half a snapshot).
* **Incremental refresh** copies only the rows changed since the last refresh (``updated_at``
  after the watermark less a margin, so that a transaction that committed late with an
  earlier timestamp is still seen; rows seen twice are replaced, not doubled), replaces
  those rows by id, re-reads the small tables whole, derives again the care events of the
  residents those rows belong to (``update_facts``) and rebuilds the small facts; when
  institutions or alliances changed, every fact is rebuilt. Rows *deleted*
  at the source, and rows moved by bulk updates that leave ``updated_at`` alone (a merge of
  two resident records), are caught by the next full refresh, which the clock runs nightly.

The file is ``<data dir>/analytics/indicators.duckdb``. A refresh holds DuckDB's write lock
for the seconds it writes; readers open the file read-only for one request and retry while
a writer holds it (:func:`reader`).
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import functools
import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import sqlglot
from django.conf import settings
from django.db import connection
from django.utils import timezone
from sqlglot import exp

from tiercare.indicators.engine import staging
from tiercare.indicators.engine.backends import DuckDBBackend
from tiercare.indicators.engine.facts import FACTS

#: Rows changed this long before the last refresh began are read again (late commits).
MARGIN = dt.timedelta(minutes=5)
#: How long a reader waits for a writer to let go of the file.
READ_WAIT_SECONDS = 30.0

Progress = Callable[[str, int, int], None]  # (step, done, total)


def snapshot_path() -> Path:
    return Path(settings.DATA_DIR) / "analytics" / "indicators.duckdb"


@dataclass(frozen=True)
class RefreshReport:
    """What a refresh did: full or incremental, rows copied per staging table, seconds."""

    full: bool
    rows: dict[str, int]
    seconds: float
    refreshed_at: dt.datetime
    steps: dict[str, float] = field(default_factory=dict)  # seconds per step


def _no_progress(step: str, done: int, total: int) -> None:
    return None


def _copy_rows(sql: str, target: Path) -> None:
    """The result of ``sql`` on the operational database, as CSV in ``target``: through
    PostgreSQL's ``COPY``, else through Python's :mod:`csv` (the slow way, for a SQLite
    without its command-line shell)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor, target.open("wb") as out:
            raw = cursor.cursor  # psycopg under Django's wrapper
            with raw.copy(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv)") as copy:
                for chunk in copy:
                    out.write(chunk)
        return
    with connection.cursor() as cursor, target.open("w", newline="") as out:
        cursor.execute(sql)  # no parameters: "%" stays as written
        writer = csv.writer(out)
        while True:
            rows = cursor.fetchmany(50_000)
            if not rows:
                break
            writer.writerows(rows)


#: Rows per part when a SQLite table is copied in parallel parts (one ``sqlite3`` each).
PART_ROWS = 1_500_000


def _sqlite_shell() -> str | None:
    """Debian's ``sqlite3`` command-line shell, which writes CSV in C about five times as
    fast as Python; ``None`` when it is not installed, and inside a transaction (whose
    uncommitted rows another process cannot see: a test's, or a caller's)."""
    if connection.vendor != "sqlite" or connection.in_atomic_block:
        return None
    return shutil.which("sqlite3")


def _id_ranges(table: str, rows_per_part: int) -> list[tuple[int, int] | None]:
    """Id ranges splitting ``table`` into parts of about ``rows_per_part`` rows (one part,
    ``[None]``, for a small table)."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT MIN(id), MAX(id), COUNT(*) FROM {table}")
        low, high, count = cursor.fetchone()
    if not count or count <= rows_per_part:
        return [None]
    parts = -(-count // rows_per_part)
    step = -(-(high - low + 1) // parts)
    return [(start, min(high, start + step - 1)) for start in range(low, high + 1, step)]


def _copy_stages(jobs: list[tuple[str, Path]]) -> None:
    """Run the copies ``(sql, target)``: on SQLite with the command-line shell, as many at
    once as there are cores (each reads its own consistent view of the WAL database);
    otherwise one after the other through the Django connection."""
    shell = _sqlite_shell()
    if shell is None:
        for sql, target in jobs:
            _copy_rows(sql, target)
        return
    database = str(connection.settings_dict["NAME"])

    def run(job: tuple[str, Path]) -> None:
        sql, target = job
        with target.open("wb") as out:
            subprocess.run([shell, "-readonly", "-csv", database], input=sql.encode() + b";",
                           stdout=out, stderr=subprocess.PIPE, check=True)

    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        list(pool.map(run, jobs))


def _csv_source(path: Path, columns: tuple[tuple[str, str], ...]) -> str:
    return _csv_source_list(f"'{path}'", columns)


def _csv_source_list(paths: str, columns: tuple[tuple[str, str], ...]) -> str:
    """DuckDB's CSV reader over ``paths`` (a quoted path or a list of them)."""
    spec = ", ".join(f"'{name}': '{kind}'" for name, kind in columns)
    return (f"read_csv({paths}, header = false, columns = {{{spec}}}, "
            f"allow_quoted_nulls = false, auto_detect = false)")


def _count(db: Any, table: str) -> int:
    return int(db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


def _create_empty(db: Any, name: str, columns: tuple[tuple[str, str], ...]) -> None:
    db.execute(f"CREATE OR REPLACE TABLE {name} ("
               + ", ".join(f"{col} {kind}" for col, kind in columns) + ")")


def _load_reference(db: Any, scratch: Path) -> str:
    """Replace the reference tables (through CSV: DuckDB inserts row by row slowly); a
    digest of their rows (a change of institutions or alliances makes every fact stale)."""
    digest = hashlib.sha256()
    for name, rows in staging.reference_rows().items():
        digest.update(repr((name, rows)).encode())
        columns = staging.REFERENCE_COLUMNS[name]
        _create_empty(db, name, columns)
        path = scratch / f"{name}.csv"
        with path.open("w", newline="") as out:
            csv.writer(out).writerows(rows)
        if rows:
            db.execute(f"INSERT INTO {name} SELECT * FROM {_csv_source(path, columns)}")
    return digest.hexdigest()


def build_facts(db: Any) -> None:
    """(Re)build every fact table from the staging and reference tables."""
    for name, sql in FACTS.items():
        db.execute(f"CREATE OR REPLACE TABLE {name} AS {sql}")


#: Staging tables whose rows belong to one resident (``patient_id``; residents: ``id``).
_BY_RESIDENT = {"stg_encounter": "patient_id", "stg_settlement": "patient_id",
                "stg_referral": "patient_id", "stg_resident": "id"}


def update_facts(db: Any, touched_table: str) -> None:
    """Bring the facts up to date after an incremental copy: the care events of the
    residents whose rows changed (``touched_table``: their ids) are derived again from the
    staging tables restricted to them — a resident's events depend only on the resident's
    own rows and the reference tables — and the small facts are rebuilt whole."""
    scoped = {name: f"{name}_touched" for name in _BY_RESIDENT}
    for name, column in _BY_RESIDENT.items():
        db.execute(f"CREATE OR REPLACE TEMP VIEW {scoped[name]} AS SELECT * FROM {name} "
                   f"WHERE {column} IN (SELECT id FROM {touched_table})")
    db.execute(f"DELETE FROM fact_event WHERE patient_id IN (SELECT id FROM {touched_table})")
    db.execute(f"INSERT INTO fact_event {rename_tables(FACTS['fact_event'], scoped)}")
    for name, sql in FACTS.items():
        if name != "fact_event":
            db.execute(f"CREATE OR REPLACE TABLE {name} AS {sql}")
    for view in scoped.values():
        db.execute(f"DROP VIEW {view}")


def rename_tables(sql: str, names: dict[str, str]) -> str:
    """``sql`` (DuckDB) reading the tables of ``names`` under their new names."""
    tree = sqlglot.parse_one(sql, read="duckdb")
    for table in tree.find_all(exp.Table):
        if table.name in names:
            table.set("this", exp.to_identifier(names[table.name]))
    return tree.sql(dialect="duckdb")


def _state(db: Any) -> dict[str, str]:
    try:
        return dict(db.execute("SELECT key, value FROM snapshot_state").fetchall())
    except duckdb.CatalogException:
        return {}


def _save_state(db: Any, values: dict[str, str]) -> None:
    db.execute("CREATE TABLE IF NOT EXISTS snapshot_state (key VARCHAR PRIMARY KEY, "
               "value VARCHAR)")
    for key, value in values.items():
        db.execute("INSERT OR REPLACE INTO snapshot_state VALUES (?, ?)", [key, value])


def refresh(*, full: bool = False, progress: Progress = _no_progress,
            path: Path | None = None) -> RefreshReport:
    """Refresh the snapshot (module docstring). Incremental unless ``full`` or no snapshot
    exists yet."""
    path = path or snapshot_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    started_at = timezone.now()
    since: dt.datetime | None = None
    if not full and path.exists():
        try:
            with contextlib.closing(duckdb.connect(str(path))) as db:
                known = _state(db)
        except duckdb.Error:  # damaged: rebuild it
            known = {}
        stamp = known.get("watermark") if known.get("layout") == layout() else None
        since = dt.datetime.fromisoformat(stamp) - MARGIN if stamp else None
    full = since is None
    target = path.with_name(path.name + ".new") if full else path
    if full and target.exists():
        target.unlink()
    rows: dict[str, int] = {}
    timings: dict[str, float] = {}
    clock = [time.perf_counter()]

    def lap(name: str) -> None:
        now = time.perf_counter()
        timings[name] = timings.get(name, 0.0) + now - clock[0]
        clock[0] = now

    steps = len(staging.STAGES) + 2
    with tempfile.TemporaryDirectory(prefix="tiercare-refresh-") as scratch, \
            contextlib.closing(duckdb.connect(str(target))) as db:
        db.execute("CREATE OR REPLACE TEMP TABLE touched (id BIGINT)")
        progress("copy", 0, steps)
        files: dict[str, list[Path]] = {}
        jobs: list[tuple[str, Path]] = []
        for stage in staging.STAGES:
            incremental = not full and stage.incremental
            parts = ([None] if incremental or _sqlite_shell() is None
                     else _id_ranges(stage.table, PART_ROWS))
            files[stage.name] = []
            for k, ids in enumerate(parts):
                part_file = Path(scratch) / f"{stage.name}-{k}.csv"
                files[stage.name].append(part_file)
                jobs.append((stage.sql(connection.vendor, since if incremental else None,
                                       ids), part_file))
        _copy_stages(jobs)
        lap("copy")
        for n, stage in enumerate(staging.STAGES):
            progress(stage.name, n + 1, steps)
            incremental = not full and stage.incremental
            listed = ", ".join(f"'{path}'" for path in files[stage.name])
            source = _csv_source_list(f"[{listed}]", stage.columns)
            if incremental:
                db.execute(f"CREATE OR REPLACE TEMP TABLE changed AS SELECT * FROM {source}")
                key = _BY_RESIDENT.get(stage.name)
                if key:  # the residents of the old and the new rows
                    db.execute(f"INSERT INTO touched SELECT {key} FROM {stage.name} "
                               f"WHERE id IN (SELECT id FROM changed) UNION "
                               f"SELECT {key} FROM changed")
                db.execute(f"DELETE FROM {stage.name} WHERE id IN (SELECT id FROM changed)")
                db.execute(f"INSERT INTO {stage.name} SELECT * FROM changed")
                rows[stage.name] = _count(db, "changed")
                db.execute("DROP TABLE changed")
            else:
                _create_empty(db, stage.name, stage.columns)
                db.execute(f"INSERT INTO {stage.name} SELECT * FROM {source}")
                rows[stage.name] = _count(db, stage.name)
            lap(f"load {stage.name}")
        progress("reference", len(staging.STAGES), steps)
        before = _state(db).get("reference")
        reference = _load_reference(db, Path(scratch))
        lap("reference")
        progress("facts", len(staging.STAGES) + 1, steps)
        if full or reference != before:
            build_facts(db)
        else:
            db.execute("CREATE OR REPLACE TEMP TABLE touched_ids AS "
                       "SELECT DISTINCT id FROM touched WHERE id IS NOT NULL")
            update_facts(db, "touched_ids")
        _save_state(db, {"layout": layout(), "watermark": started_at.isoformat(),
                         "refreshed_at": timezone.now().isoformat(),
                         "kind": "full" if full else "incremental",
                         "reference": reference})
        lap("facts")
        db.execute("CHECKPOINT")
        lap("checkpoint")
    if full:
        os.replace(target, path)
    progress("done", steps, steps)
    return RefreshReport(full, rows, time.perf_counter() - began, started_at, timings)


@contextlib.contextmanager
def reader(path: Path | None = None) -> Iterator[DuckDBBackend]:
    """The snapshot opened read-only for one piece of work; waits while a refresh writes.
    :class:`SnapshotUnavailable` (a ``FileNotFoundError``: the pages say "no snapshot yet,
    refresh") when no refresh has run yet, when the file cannot be read, when a writer
    holds it longer than :data:`READ_WAIT_SECONDS`, or when it was built by a version of
    the engine with other tables (its facts would not answer today's SQL)."""
    path = path or snapshot_path()
    if not path.exists():
        raise SnapshotUnavailable(path)
    deadline = time.monotonic() + READ_WAIT_SECONDS
    while True:
        try:
            db = duckdb.connect(str(path), read_only=True)
            break
        except duckdb.IOException as err:
            if time.monotonic() > deadline:
                raise SnapshotUnavailable(path) from err
            time.sleep(0.05)
        except duckdb.Error as err:  # not a DuckDB file, or a damaged one
            raise SnapshotUnavailable(path) from err
    try:
        if _state(db).get("layout") != layout():
            raise SnapshotUnavailable(path)
        yield DuckDBBackend(db)
    finally:
        db.close()


class SnapshotUnavailable(FileNotFoundError):
    """No snapshot that this version can read (see :func:`reader`); a refresh makes one."""


@functools.cache
def layout() -> str:
    """A digest of the snapshot's tables as this version builds them (staging columns,
    reference columns, fact SQL): a snapshot with another layout is refreshed fully."""
    described = repr(([(s.name, s.columns) for s in staging.STAGES],
                      sorted(staging.REFERENCE_COLUMNS.items()), sorted(FACTS.items())))
    return hashlib.sha256(described.encode()).hexdigest()[:16]


def state(path: Path | None = None) -> dict[str, str]:
    """The snapshot's watermark, time and kind of its last refresh ({} when there is no
    snapshot this version can read)."""
    path = path or snapshot_path()
    try:
        with reader(path) as backend:
            return _state(backend.connection)
    except SnapshotUnavailable:
        return {}
