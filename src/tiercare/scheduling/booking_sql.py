"""The statements of one booking, written in SQL (the booking storm's hot path).

A booking is the one write a county's systems send in storms (the morning release of a
day's slots, a HIS pushing its queue): issue 4 asks for ≥ 300 bookings a second with p99
≤ 100 ms on PostgreSQL. Built by the ORM, its six statements cost about 60 % of the
server's CPU per booking (docs/benchmarks.md, ADR 0016); here they are written once, with
table and column names taken from the models' ``_meta`` so the schema keeps one source:

* :func:`read` — the slot with its schedule and the resident, one ``SELECT`` (a slot
  that does not exist raises ``Slot.DoesNotExist``, a resident ``Patient.DoesNotExist``);
* :func:`take` — the place and its records: the conditional update taking the place
  (``UPDATE … SET booked = booked + 1 WHERE id = … AND status = 'open' AND booked <
  capacity``, DESIGN.md "capacity"), the appointment, its event row and the audit event.
  On PostgreSQL that is one statement (data-modifying ``WITH``: the appointment and its
  records are inserted only from the row the update took); on SQLite four, in the order
  appointment, update, event, audit, inside the caller's transaction.

The rules stay in ``services.book``, which decides from what :func:`read` returns and
turns the outcomes of :func:`take` into domain errors. Callers own the transaction.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import dataclass
from functools import cache
from typing import Any

import psycopg
from django.db import DEFAULT_DB_ALIAS, IntegrityError, connection, connections

from tiercare import bulk
from tiercare.accounts import audit
from tiercare.accounts.models import AuditEvent
from tiercare.patients.models import Patient
from tiercare.scheduling.models import Appointment, AppointmentEvent, Schedule, Slot
from tiercare.scheduling.statuses import ACTIVE

_SLOT_FIELDS = tuple(f.name for f in Slot._meta.concrete_fields)  # the whole row
_SLOT_ATTNAMES = tuple(f.attname for f in Slot._meta.concrete_fields)
_SLOT_TIMES = frozenset(f.attname for f in Slot._meta.concrete_fields
                        if f.get_internal_type() == "DateTimeField")
_PATIENT_FIELDS = ("id", "is_active", "deceased_date", "health_record_no", "name")
_APPOINTMENT_FIELDS = ("slot", "patient", "pool", "status", "booked_by", "booked_by_name",
                       "source_referral_id", "note", "booked_at", "updated_at")
_EVENT_FIELDS = ("appointment", "at", "by", "by_name", "from_status", "to_status", "reason")
_AUDIT_FIELDS = ("at", "user", "username", "role", "action", "object_type", "object_id",
                 "patient_id", "summary", "changes", "ip_address", "path")


def _qn(name: str) -> str:
    return connection.ops.quote_name(name)


def _columns(model: Any, fields: tuple[str, ...]) -> list[str]:
    return [_qn(column) for column in bulk.columns(model, fields)]


def _table(model: Any) -> str:
    return _qn(bulk.table(model))


@cache
def _read_sql(vendor: str) -> str:  # vendor: the key of the cache (quoting differs)
    slot = ", ".join(f"s.{c}" for c in _columns(Slot, _SLOT_FIELDS))
    patient = ", ".join(f"p.{c}" for c in _columns(Patient, _PATIENT_FIELDS))
    schedule_pk, schedule_name, institution = _columns(Schedule,
                                                       ("id", "name", "institution"))
    slot_schedule = _columns(Slot, ("schedule",))[0]
    key = "%s::bigint" if vendor == "postgresql" else "%s"  # one type: one prepared plan
    return (f"SELECT {slot}, h.{schedule_name}, h.{institution}, {patient} "
            f"FROM {_table(Slot)} s JOIN {_table(Schedule)} h ON h.{schedule_pk} = "
            f"s.{slot_schedule} LEFT JOIN {_table(Patient)} p ON p.{_qn('id')} = {key} "
            f"WHERE s.{_qn('id')} = {key}")


def _aware(value: dt.datetime) -> dt.datetime:
    """SQLite hands back the naive UTC datetimes Django stored; PostgreSQL aware ones."""
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def read(slot_id: int, patient_id: int) -> tuple[Slot, Patient]:
    """The slot (with its schedule: name and institution id) and the resident, as stored
    now, in one statement."""
    row = _one_row(_read_sql(connection.vendor), [patient_id, slot_id])
    if row is None:
        raise Slot.DoesNotExist(f"slot {slot_id}")
    n = len(_SLOT_FIELDS)
    values = {name: _aware(value) if name in _SLOT_TIMES and value is not None else value
              for name, value in zip(_SLOT_ATTNAMES, row[:n], strict=True)}
    schedule_name, institution_id = row[n:n + 2]
    patient_row = row[n + 2:]
    if patient_row[0] is None:
        raise Patient.DoesNotExist(f"patient {patient_id}")
    slot = _instance(Slot, values)
    slot.schedule = _instance(Schedule, {"id": values["schedule_id"], "name": schedule_name,
                                         "institution_id": institution_id})
    patient = _instance(Patient, dict(zip(_PATIENT_FIELDS, patient_row, strict=True)))
    patient.is_active = bool(patient.is_active)  # SQLite's 0/1
    return slot, patient


def _instance(model: Any, values: dict[str, Any]) -> Any:
    """An instance as the ORM builds one from a row: the fields read (by attname) set,
    the others deferred (as ``only`` leaves them)."""
    names = [f.attname for f in model._meta.concrete_fields if f.attname in values]
    return model.from_db(DEFAULT_DB_ALIAS, names, [values[name] for name in names])


def loaded(obj: Any) -> Any:
    """Mark an instance built from a row as one read from the database (so that a later
    ``save()`` updates it, as for an instance the ORM read)."""
    obj._state.adding = False
    obj._state.db = connection.alias
    return obj


@dataclass(frozen=True)
class Booking:
    """What :func:`take` writes: the appointment's fields and its audit event (unsaved,
    built by ``audit.pending`` with who and from where)."""

    slot: Slot
    patient: Patient
    by_id: int | None
    by_name: str
    source_referral_id: int | None
    note: str
    at: dt.datetime
    audit_event: AuditEvent


class Duplicate(Exception):
    """The resident already has an active booking in the slot."""


def one_statement() -> bool:
    """Whether :func:`take` is one statement here (PostgreSQL), so atomic by itself."""
    return connection.vendor == "postgresql"


def take(booking: Booking) -> int | None:
    """Take a place and write the appointment, its event and the audit event; the new
    appointment's id, or ``None`` when no place was free (full or closed meanwhile:
    nothing written). ``Duplicate`` when the resident already has an active booking in
    the slot (the partial unique index refuses it; the caller's transaction rolls back)."""
    buffered = audit.buffering()
    if connection.vendor == "postgresql":
        return _take_postgresql(booking, with_audit=not buffered)
    return _take_in_steps(booking, with_audit=not buffered)


def _appointment_values(b: Booking) -> list[Any]:
    at = connection.ops.adapt_datetimefield_value(b.at)
    return [b.slot.pk, b.patient.pk, b.slot.pool, Appointment.Status.BOOKED, b.by_id,
            b.by_name, b.source_referral_id, b.note, at, at]


def _event_values(b: Booking) -> list[Any]:
    return [connection.ops.adapt_datetimefield_value(b.at), b.by_id, b.by_name, "",
            Appointment.Status.BOOKED, b.note]


def _audit_values(e: AuditEvent) -> list[Any]:
    return [connection.ops.adapt_datetimefield_value(e.at), e.user_id, e.username, e.role,
            e.action, e.object_type, e.patient_id, e.summary,
            json.dumps(e.changes, ensure_ascii=False), e.ip_address, e.path]


@cache
def _update_sql(vendor: str) -> str:
    booked, capacity, status, updated = _columns(Slot, ("booked", "capacity", "status",
                                                        "updated_at"))
    now = "STATEMENT_TIMESTAMP()" if vendor == "postgresql" else \
        "STRFTIME('%%Y-%%m-%%d %%H:%%M:%%f', 'NOW')"
    return (f"UPDATE {_table(Slot)} SET {booked} = {booked} + 1, {updated} = {now} "
            f"WHERE {_qn('id')} = %s AND {status} = 'open' AND {booked} < {capacity}")


# PostgreSQL: one statement. Every parameter has its type written, as the values are sent
# as literals to an ``INSERT … SELECT`` whose target types the parser does not carry over.
_APPOINTMENT_TYPES = ("bigint", "varchar", "varchar", "bigint", "varchar", "bigint", "varchar",
                      "timestamptz", "timestamptz")
_EVENT_TYPES = ("timestamptz", "bigint", "varchar", "varchar", "varchar", "varchar")
_AUDIT_TYPES = ("timestamptz", "bigint", "varchar", "varchar", "varchar", "varchar")
_AUDIT_TAIL_TYPES = ("bigint", "varchar", "jsonb", "inet", "varchar")


def _typed(types: tuple[str, ...]) -> str:
    return ", ".join(f"%s::{t}" for t in types)


@cache
def _postgresql_sql(with_audit: bool) -> str:
    """One statement: take the place, insert the appointment, its event and (outside a
    buffer) the audit event from the row taken; answer the new id (``NULL`` when nothing
    was taken) and whether the resident already had an active booking in the slot (read
    in the statement's snapshot, before its own insert: "duplicate" is said before
    "full", as the SQLite order says it)."""
    pk = _qn("id")
    made = (f"INSERT INTO {_table(Appointment)} "
            f"({', '.join(_columns(Appointment, _APPOINTMENT_FIELDS))}) "
            f"SELECT {pk}, {_typed(_APPOINTMENT_TYPES)} FROM taken RETURNING {pk}")
    event = (f"INSERT INTO {_table(AppointmentEvent)} "
             f"({', '.join(_columns(AppointmentEvent, _EVENT_FIELDS))}) "
             f"SELECT {pk}, {_typed(_EVENT_TYPES)} FROM made")
    parts = [f"taken AS ({_update_sql('postgresql')} RETURNING {pk})", f"made AS ({made})",
             f"event AS ({event})"]
    if with_audit:
        audit_columns = _columns(AuditEvent, _AUDIT_FIELDS)
        parts.append(
            f"audited AS (INSERT INTO {_table(AuditEvent)} ({', '.join(audit_columns)}) "
            f"SELECT {_typed(_AUDIT_TYPES)}, {_qn('id')}::text, {_typed(_AUDIT_TAIL_TYPES)} "
            f"FROM made)")
    slot, patient, status = _columns(Appointment, ("slot", "patient", "status"))
    active = ", ".join(f"'{s}'" for s in sorted(ACTIVE))
    return (f"WITH {', '.join(parts)} SELECT (SELECT {_qn('id')} FROM made), EXISTS ("
            f"SELECT 1 FROM {_table(Appointment)} WHERE {slot} = %s::bigint AND {patient} = "
            f"%s::bigint AND {status} IN ({active}))")


def _one_row(sql: str, params: list[Any]) -> tuple[Any, ...] | None:
    """The first row of ``sql``. On PostgreSQL a prepared statement with the parameters
    bound by the server: Django's psycopg cursors bind on the client (the values written
    into the text as literals), so the server parses and plans the booking's statements
    anew each time — with prepared statements a booking took 1.2–1.8 → 0.2–0.4 ms of the
    server's CPU and 0.6–1.0 → 0.25–0.45 ms of Python's (ADR 0023, docs/benchmarks.md).
    Django's checks before a statement (thread, health check, connection) and its error
    classes stay; the statement is logged where Django logs queries (``DEBUG``, tests)."""
    db = connections[DEFAULT_DB_ALIAS]  # once: each ``connection.x`` looks it up again
    with db.cursor() as django_cursor:
        if db.vendor != "postgresql":
            django_cursor.execute(sql, params)
            return django_cursor.fetchone()
        started = time.monotonic()
        with db.wrap_database_errors, \
                psycopg.Cursor(django_cursor.cursor.connection) as cursor:
            cursor.execute(sql, params, prepare=True)
            row = cursor.fetchone()
        if db.queries_logged:
            db.queries_log.append({"sql": sql, "time": f"{time.monotonic() - started:.3f}"})
        return row


def _take_postgresql(b: Booking, *, with_audit: bool) -> int | None:
    values = [b.slot.pk, *_appointment_values(b)[1:], *_event_values(b)]
    if with_audit:
        values += _audit_values(b.audit_event)
    values += [b.slot.pk, b.patient.pk]
    try:
        row = _one_row(_postgresql_sql(with_audit), values)
    except IntegrityError as err:
        raise Duplicate from err
    assert row is not None  # the statement's final SELECT answers one row
    if row[1]:
        raise Duplicate
    if row[0] is None:
        return None
    if not with_audit:
        _buffer(b, row[0])
    return int(row[0])


@cache
def _insert_sql(vendor: str, model: Any, fields: tuple[str, ...], returning: bool) -> str:
    sql = (f"INSERT INTO {_table(model)} ({', '.join(_columns(model, fields))}) "
           f"VALUES ({', '.join(['%s'] * len(fields))})")
    return f"{sql} RETURNING {_qn('id')}" if returning else sql


def _take_in_steps(b: Booking, *, with_audit: bool) -> int | None:
    """SQLite (no data-modifying ``WITH``): the appointment first, so that the unique index
    refuses a duplicate before the place is taken; a refusal after it is undone by the
    caller's transaction."""
    with connection.cursor() as cursor:
        try:
            cursor.execute(_insert_sql(connection.vendor, Appointment, _APPOINTMENT_FIELDS, True),
                           _appointment_values(b))
        except IntegrityError as err:
            raise Duplicate from err
        appointment_id = int(cursor.fetchone()[0])
        cursor.execute(_update_sql(connection.vendor), [b.slot.pk])
        if cursor.rowcount != 1:
            return None
        cursor.execute(_insert_sql(connection.vendor, AppointmentEvent, _EVENT_FIELDS, False),
                       [appointment_id, *_event_values(b)])
        if with_audit:
            values = _audit_values(b.audit_event)
            cursor.execute(_insert_sql(connection.vendor, AuditEvent, _AUDIT_FIELDS, False),
                           [*values[:6], str(appointment_id), *values[6:]])
        else:
            _buffer(b, appointment_id)
    return appointment_id


def _buffer(b: Booking, appointment_id: int) -> None:
    """Inside ``audit.buffered()`` (a FHIR Bundle) the audit event joins the buffer."""
    b.audit_event.object_id = str(appointment_id)
    audit.store(b.audit_event)
