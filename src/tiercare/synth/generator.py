"""``generate()``: build a synthetic county into the configured database (issue 2 §8).

Order of work: check the database (refuse to mix into existing residents unless asked),
lay out the county (``county.build``), write its small tables in one transaction, then
residents and their year of care in chunks of :data:`CHUNK` residents (a thread generates
the next chunk while the current one is written), one transaction per chunk, through
``tiercare.bulk.insert_rows`` (``executemany`` on SQLite, ``COPY`` on
PostgreSQL). During the load the big tables' non-unique indexes are dropped and re-created
afterwards (unique constraints stay and hold throughout), and SQLite runs with
``synchronous=OFF``; both are restored even when the load fails. Each chunk's rows are
sampled for the referrals as they are written (``referrals.Collector``). Then the schedules
of the four weeks from ``now`` (``schedules.build_schedules``) and, in one transaction, the
referrals with their bookings, beds and follow-up tasks (``referrals.generate``); then, in
one transaction, the family-doctor teams, contracts, chronic registries, follow-ups and
elderly checks (``chronic.generate``, relative to ``now`` too), with the residents and
chronic diagnoses it needs taken from the chunks as they are made (``chronic.Observed``) and
its biggest tables loaded like the residents' (``_bulk_load``).

Determinism: every random stream is seeded from the seed (and the chunk number); ids are
assigned here, starting at each table's first free id; created/updated stamps are the last
second of the synthetic year. The same arguments on an empty database give identical rows
(the schedules and the live referrals are relative to ``now``: the same ``now`` too).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from django.db import connection, models, transaction
from django.utils import timezone as django_timezone
from django.utils.translation import gettext as _

from tiercare import bulk
from tiercare.encounters.models import Diagnosis, Encounter, Settlement
from tiercare.kernel import divisions
from tiercare.kernel.errors import KernelError
from tiercare.patients.models import Patient
from tiercare.referrals.services import ensure_default_catalogue
from tiercare.registry.models import (
    Alliance,
    Department,
    Division,
    Grid,
    Institution,
    Posting,
    Practitioner,
)
from tiercare.scheduling.models import Bed, Schedule, Slot
from tiercare.synth import chronic as chronic_mod
from tiercare.synth import county as county_mod
from tiercare.synth import reference as ref
from tiercare.synth import referrals as referrals_mod
from tiercare.synth.population import (
    DIAGNOSIS_FIELDS,
    ENCOUNTER_FIELDS,
    PATIENT_FIELDS,
    SETTLEMENT_FIELDS,
    Ids,
    Population,
)
from tiercare.synth.schedules import build_schedules
from tiercare.synth.threads import made_in_thread

CHUNK = 50_000  # residents per chunk and transaction
PIPELINE = True  # generate the next chunk in a thread while writing the current one
MIN_YEAR, MAX_YEAR = 2000, 2100
MAX_RESIDENTS = 5_000_000
BIG_TABLES: tuple[type[models.Model], ...] = (Patient, Encounter, Diagnosis, Settlement)


class SynthError(Exception):
    """A request the generator refuses, with a translated message for the user."""


@dataclass
class SynthSummary:
    """What ``generate`` wrote: rows per table, the county and the time it took."""

    county_code: str
    county_name: str
    residents: int
    seed: int
    year: int
    alliances: int
    counts: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    vendor: str = ""


SMALL_FIELDS: dict[str, tuple[type[models.Model], tuple[str, ...]]] = {
    "division": (Division, ("id", "code", "name", "kind", "parent", "edition")),
    "alliance": (Alliance, ("id", "code", "name", "kind", "county_code", "lead", "created_at",
                            "updated_at")),
    "institution": (Institution, ("id", "code", "name", "level", "kind", "alliance", "parent",
                                  "division_code", "beds", "services", "is_active",
                                  "created_at", "updated_at")),
    "grid": (Grid, ("id", "alliance", "division")),
    "department": (Department, ("id", "institution", "code", "name", "specialty",
                                "is_active")),
    "practitioner": (Practitioner, ("id", "code", "name", "sex", "title",
                                    "is_general_practitioner", "institution", "department",
                                    "phone", "is_active")),
    "posting": (Posting, ("id", "practitioner", "institution", "department", "start_date",
                          "end_date", "note")),
}
SMALL_ORDER = ("division", "alliance", "institution", "grid", "department", "practitioner",
               "posting")


def _timestamp(year: int, vendor: str, until: date | None = None) -> str:
    """The last second of the synthetic year, or of ``until`` (Asia/Shanghai), as the
    database stores it."""
    last = until or date(year, 12, 31)
    local = datetime(last.year, last.month, last.day, 23, 59, 59,
                     tzinfo=timezone(timedelta(hours=8)))
    utc = local.astimezone(UTC).replace(tzinfo=None).isoformat(" ")
    return utc + ("+00:00" if vendor == "postgresql" else "")


def complete_fields(model: type[models.Model], fields: Sequence[str],
                    timestamp: str) -> tuple[tuple[str, ...], tuple[Any, ...]]:
    """The field list extended by every NOT NULL column the generator does not fill, with
    the constant value to append to each row (model default, "" for blank text, the
    timestamp for auto dates). Raises ``SynthError`` for a required column without one, so
    a model change shows up as a clear message instead of a database error."""
    extra_names: list[str] = []
    extra_values: list[Any] = []
    given = set(fields)
    for f in model._meta.concrete_fields:
        if f.name in given or f.attname in given or f.null or f.primary_key:
            continue
        if isinstance(f, models.DateTimeField) and (f.auto_now or f.auto_now_add):
            value: Any = timestamp
        elif f.has_default():
            value = f.get_default()
            if isinstance(value, bool):
                value = int(value)
            elif isinstance(value, Decimal):
                value = str(value)
            elif isinstance(value, list | dict):
                value = "[]" if isinstance(value, list) and not value else str(value)
        elif isinstance(f, models.CharField | models.TextField) and f.blank:
            value = ""
        else:
            raise SynthError(
                _("The generator does not know how to fill %(model)s.%(field)s; "
                  "update tiercare.synth.") % {"model": model.__name__, "field": f.name})
        extra_names.append(f.name)
        extra_values.append(value)
    return (*fields, *extra_names), tuple(extra_values)


class _Writer:
    """Inserts rows of one model, appending the constant values of ``complete_fields``."""

    def __init__(self, model: type[models.Model], fields: Sequence[str], timestamp: str):
        self.model = model
        self.fields, self.extra = complete_fields(model, fields, timestamp)

    def complete(self, rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        extra = self.extra
        return [row + extra for row in rows] if extra else rows

    def write(self, rows: list[tuple[Any, ...]], *, complete: bool = False) -> None:
        if rows:
            bulk.insert_rows(self.model, self.fields, self.complete(rows) if complete else rows)


Tables = tuple[list[tuple[Any, ...]], ...]


Observe = Callable[[Sequence[list[tuple[Any, ...]]]], None]


def _chunk_tables(pop: Population, index: int, start: int, stop: int, ids: Ids,
                  writers: Sequence[_Writer], observe: Observe | None = None) -> Tables:
    rows = pop.chunk(index, start, stop, ids)
    tables = (rows.patients, rows.encounters, rows.diagnoses, rows.settlements)
    if observe is not None:
        observe(tables)
    return tuple(w.complete(t) for w, t in zip(writers, tables, strict=True))


def _threaded_chunks(pop: Population, residents: int, ids: Ids, writers: Sequence[_Writer],
                     observe: Observe | None = None) -> Iterator[tuple[int, Tables]]:
    """Generate chunks in a producer thread, at most two ahead of the writer."""

    def produce() -> Iterator[tuple[int, Tables]]:
        for index, start in enumerate(range(0, residents, CHUNK)):
            stop = min(residents, start + CHUNK)
            yield stop, _chunk_tables(pop, index, start, stop, ids, writers, observe)

    return made_in_thread(produce())


def _chunks(pop: Population, residents: int, ids: Ids, writers: Sequence[_Writer],
            observe: Observe | None = None) -> Iterator[tuple[int, Tables]]:
    """The chunks' rows in order. Above one chunk a thread generates the next chunk while
    this thread writes the current one: the database drivers release the GIL while the
    database works, so generation and writing overlap on two cores without copying rows
    between processes. The generating thread alone draws random numbers and assigns ids,
    so the rows are the same either way. ``observe`` sees each chunk's patients,
    encounters and diagnoses where they are made (in the generating thread)."""
    if residents > CHUNK and PIPELINE:
        yield from _threaded_chunks(pop, residents, ids, writers, observe)
        return
    for index, start in enumerate(range(0, residents, CHUNK)):
        stop = min(residents, start + CHUNK)
        yield stop, _chunk_tables(pop, index, start, stop, ids, writers, observe)


# Indexes whose leading column grows with the load order (residents are written in id order
# with their care) cost little to maintain during the load and much to rebuild: keep them.
ASCENDING_COLUMNS = frozenset({"patient_id", "encounter_id"})
_LEADING_COLUMN = re.compile(r'\(\s*"?(\w+)"?')


def _secondary_indexes(model: type[models.Model]) -> list[tuple[str, str]]:
    """(name, CREATE statement) of the table's non-unique indexes that are worth dropping
    during the load (not those led by an ascending column)."""
    table = model._meta.db_table
    with connection.cursor() as cur:
        if connection.vendor == "sqlite":
            cur.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' "
                        "AND tbl_name = %s AND sql IS NOT NULL ORDER BY name", [table])
        elif connection.vendor == "postgresql":
            cur.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s "
                        "ORDER BY indexname", [table])
        else:
            return []
        found = [(str(n), str(s)) for n, s in cur.fetchall()]
    out = []
    for name, sql in found:
        leading = _LEADING_COLUMN.search(sql)
        if "UNIQUE" in sql.upper() or (leading and leading.group(1) in ASCENDING_COLUMNS):
            continue
        out.append((name, sql))
    return out


def _foreign_keys(model: type[models.Model]) -> list[tuple[str, str]]:
    """(name, definition) of a PostgreSQL table's foreign-key constraints."""
    if connection.vendor != "postgresql":
        return []
    with connection.cursor() as cur:
        cur.execute("SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                    "WHERE conrelid = %s::regclass AND contype = 'f' ORDER BY conname",
                    [model._meta.db_table])
        return [(str(n), str(d)) for n, d in cur.fetchall()]


@contextmanager
def _bulk_load(enabled: bool,
               tables: Sequence[type[models.Model]] = BIG_TABLES) -> Iterator[None]:
    """Drop the secondary indexes of ``tables`` (and on PostgreSQL their foreign keys, whose
    per-row triggers dominate a COPY) and relax SQLite durability for the load; restore all
    of it afterwards, whatever happens. Re-adding a foreign key validates every row, so the
    references are checked as strictly as during row-by-row inserts."""
    dropped: list[tuple[str, str]] = []
    dropped_fks: list[tuple[str, str, str]] = []
    immediate = False
    sync: Any = None
    cache: Any = None
    qn = connection.ops.quote_name
    try:
        if connection.vendor == "sqlite" and not connection.in_atomic_block:
            with connection.cursor() as cur:
                cur.execute("PRAGMA synchronous")
                sync = cur.fetchone()[0]
                cur.execute("PRAGMA synchronous=OFF")
                cur.execute("PRAGMA cache_size")
                cache = cur.fetchone()[0]
                cur.execute("PRAGMA cache_size=-524288")  # 512 MB while building indexes
        if enabled:
            if connection.vendor == "postgresql" and connection.in_atomic_block:
                # inside a caller's transaction: check the rows written so far now, so no
                # deferred trigger events block the ALTER TABLEs below
                with connection.cursor() as cur:
                    cur.execute("SET CONSTRAINTS ALL IMMEDIATE")
                immediate = True
            for model in tables:
                table = qn(model._meta.db_table)
                for name, definition in _foreign_keys(model):
                    with connection.cursor() as cur:
                        cur.execute(f"ALTER TABLE {table} DROP CONSTRAINT {qn(name)}")
                    dropped_fks.append((table, name, definition))
                for name, sql in _secondary_indexes(model):
                    with connection.cursor() as cur:
                        cur.execute(f"DROP INDEX {qn(name)}")
                    dropped.append((name, sql))
        yield
    finally:
        if connection.vendor == "postgresql" and dropped:
            with connection.cursor() as cur:
                cur.execute("SET maintenance_work_mem = '512MB'")
        for _name, sql in dropped:
            with connection.cursor() as cur:
                cur.execute(sql)
        for table, name, definition in dropped_fks:
            with connection.cursor() as cur:
                cur.execute(f"ALTER TABLE {table} ADD CONSTRAINT {qn(name)} {definition}")
        if immediate:  # back to each constraint's declared timing (Django: deferred)
            with connection.cursor() as cur:
                cur.execute("SET CONSTRAINTS ALL DEFERRED")
        if sync is not None:
            with connection.cursor() as cur:
                cur.execute(f"PRAGMA synchronous={int(sync)}")
                cur.execute(f"PRAGMA cache_size={int(cache)}")
        if connection.vendor == "postgresql":
            with connection.cursor() as cur:
                for model in tables:
                    cur.execute(f"ANALYZE {qn(model._meta.db_table)}")


def _check(residents: int, year: int, county: str, communities: int | None,
           append: bool, until: date | None = None) -> divisions.Division:
    if not 1 <= residents <= MAX_RESIDENTS:
        raise SynthError(_("The number of residents must be between 1 and %(max)s.")
                         % {"max": f"{MAX_RESIDENTS:,}"})
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise SynthError(_("The year must be between %(low)s and %(high)s.")
                         % {"low": MIN_YEAR, "high": MAX_YEAR})
    if until is not None and not date(year, 1, 15) <= until <= date(year, 12, 31):
        raise SynthError(_("The last day of care must fall between 15 January and 31 December "
                           "of the synthetic year."))
    if communities not in (None, 1, 2):
        raise SynthError(_("A county forms one or two county medical communities."))
    try:
        division = divisions.validate_county(county)
    except KernelError as err:
        raise SynthError(err.translated(_)) from err
    existing = Patient.objects.count()
    if existing and not append:
        raise SynthError(
            _("The database already holds %(count)s residents. Generate into an empty "
              "database, or pass --append to add this county to it.") % {"count": existing})
    if Division.objects.filter(code=division.code).exists():
        raise SynthError(
            _("The county %(name)s (%(code)s) is already in the database; choose another "
              "county with --county.") % {"name": division.name, "code": division.code})
    return division


def generate(
    residents: int,
    seed: int,
    year: int,
    *,
    progress: bool = False,
    county: str = ref.DEFAULT_COUNTY,
    communities: int | None = None,
    append: bool = False,
    drop_indexes: bool = True,
    on_chunk: Callable[[int], None] | None = None,
    until: date | None = None,
    now: datetime | None = None,
) -> SynthSummary:
    """Build a synthetic county of ``residents`` people and their ``year`` of care.

    With ``until`` the year is still running (the demo's "living" county): care stops on
    that day, admissions not yet discharged stay open and have no settlement yet.

    Schedules, free slots and the live state of the referrals are relative to ``now``
    (default: the clock): the four weeks from its day, referrals open at that moment
    (``synth.referrals``). Passing it makes those rows repeatable too.

    Raises :class:`SynthError` (translated message) for bad arguments, a database that
    already has residents (unless ``append``) or a county already present.
    """
    started = time.perf_counter()
    division = _check(residents, year, county, communities, append, until)
    vendor = connection.vendor
    stamp = _timestamp(year, vendor, until)
    ids: dict[str, int] = {
        "division": bulk.next_id(Division), "alliance": bulk.next_id(Alliance),
        "grid": bulk.next_id(Grid), "institution": bulk.next_id(Institution),
        "department": bulk.next_id(Department), "practitioner": bulk.next_id(Practitioner),
        "posting": bulk.next_id(Posting),
    }
    for pk, code in Institution.objects.filter(
            level__in=("city", "provincial")).values_list("id", "code"):
        ids[f"outside:{code}"] = pk
    plan = county_mod.build(residents=residents, seed=seed, year=year,
                            county_code=division.code, communities=communities, ids=ids,
                            timestamp=stamp)
    summary = SynthSummary(county_code=plan.county_code, county_name=plan.county_name,
                           residents=residents, seed=seed, year=year,
                           alliances=len(plan.alliances), vendor=vendor)
    with transaction.atomic():
        for key in SMALL_ORDER:
            model, fields = SMALL_FIELDS[key]
            _Writer(model, fields, stamp).write(plan.rows[key], complete=True)
            summary.counts[model._meta.label] = len(plan.rows[key])
        for code, lead in zip(plan.alliances, plan.alliance_leads, strict=True):
            Alliance.objects.filter(code=code).update(lead_id=lead)
        ensure_default_catalogue()  # the tiered disease catalogue (rules.md §2, ADR 0010)

    pop = Population(plan, seed=seed, year=year, vendor=vendor, timestamp=stamp, until=until)
    collector = referrals_mod.Collector(
        plan, seed=seed,
        live_factor=referrals_mod.LIVE_DAYS / pop.days_in_year / max(pop.year_share, 0.01))
    first = Ids(patient=bulk.next_id(Patient), encounter=bulk.next_id(Encounter),
                diagnosis=bulk.next_id(Diagnosis), settlement=bulk.next_id(Settlement))
    ids_now = Ids(**vars(first))
    observed = chronic_mod.Observed(plan)
    writers = (_Writer(Patient, PATIENT_FIELDS, stamp), _Writer(Encounter, ENCOUNTER_FIELDS, stamp),
               _Writer(Diagnosis, DIAGNOSIS_FIELDS, stamp),
               _Writer(Settlement, SETTLEMENT_FIELDS, stamp))
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=residents, unit=" " + _("residents"), unit_scale=True,
                   desc=str(_("Residents")), leave=True)
    try:
        with _bulk_load(drop_indexes and residents >= 2 * CHUNK):
            # the residents and chronic diagnoses for the chronic step are taken as the
            # chunks are made (no read of them back)
            for stop, rows in _chunks(pop, residents, ids_now, writers, observed.observe):
                with transaction.atomic():
                    for writer, table in zip(writers, rows, strict=True):
                        writer.write(table)
                collector.observe(rows)  # sample encounters for the referrals
                del rows
                if bar is not None:
                    bar.update(stop - bar.n)
                if on_chunk is not None:
                    on_chunk(stop)
            if bar is not None:
                bar.set_description(str(_("Indexes")))
    finally:
        if bar is not None:
            bar.close()
    _health_record_counters(plan)
    bulk.reset_sequence(Division, Alliance, Grid, Institution, Department, Practitioner,
                        Posting, Patient, Encounter, Diagnosis, Settlement)
    summary.counts[Patient._meta.label] = ids_now.patient - first.patient
    summary.counts[Encounter._meta.label] = ids_now.encounter - first.encounter
    summary.counts[Diagnosis._meta.label] = ids_now.diagnosis - first.diagnosis
    summary.counts[Settlement._meta.label] = ids_now.settlement - first.settlement
    now = now or django_timezone.now()
    made = build_schedules(seed=seed, now=now)  # the four weeks from today (issue 4 item 7)
    with transaction.atomic():  # referrals, bookings, beds, follow-ups (issue 4 item 7)
        summary.counts.update(referrals_mod.generate(
            collector, plan, seed=seed, now=now, history_end=_history_end(year, until),
            write=lambda model, fields, rows: _Writer(model, fields, stamp).write(
                rows, complete=True)))
    del collector
    if progress:
        from tqdm import tqdm

        tqdm.write(str(_("Family-doctor teams, contracts, chronic registries and follow-ups …")))
    # teams, contracts, registries, follow-ups (issue 6 item 9): millions of rows for a
    # million residents, loaded like the residents' (secondary indexes built afterwards)
    with _bulk_load(drop_indexes and residents >= 2 * CHUNK, chronic_mod.BULK_TABLES), \
            transaction.atomic():
        summary.counts.update(chronic_mod.generate(
            plan, seed=seed, year=year, until=until, now=now,
            patients=(first.patient, ids_now.patient),
            write=lambda model, fields, rows: _Writer(model, fields, stamp).write(
                rows, complete=True), observed=observed))
    del observed
    summary.counts[Schedule._meta.label] = made.schedules
    summary.counts[Slot._meta.label] = Slot.objects.count()
    summary.counts[Bed._meta.label] = made.beds
    summary.seconds = time.perf_counter() - started
    return summary


def _history_end(year: int, until: date | None) -> datetime:
    """The end of the care history: the last second of ``until`` (Asia/Shanghai), or of the
    last discharge day of a whole year (discharges run 40 days into the next year,
    ``population``)."""
    last = until or date(year, 12, 31) + timedelta(days=40)
    return datetime(last.year, last.month, last.day, 23, 59, 59,
                    tzinfo=timezone(timedelta(hours=8)))


def _health_record_counters(plan: county_mod.CountyPlan) -> None:
    """Tell the resident registry which health-record serials the county used, so that a
    resident registered later gets the next one (patients.HealthRecordCounter, when the
    patients app has it)."""
    from tiercare.patients import models as patient_models

    counter = getattr(patient_models, "HealthRecordCounter", None)
    if counter is None:
        return
    rows: list[tuple[Any, ...]] = [(v.code, v.population) for v in plan.villages
                                   if v.population]
    with transaction.atomic():
        _Writer(counter, ("village_code", "last_serial"), "").write(rows, complete=True)
