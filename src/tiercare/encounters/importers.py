"""CSV import of encounters and insurance settlements (issue 2 §5 and "Bad input";
templates in ``docs/import-templates.md``).

Guarantees:

* **Idempotent** on source system + source id: a row already stored with the same content is
  counted ``unchanged``; a row whose content changed is ``updated`` (and audited); a new one is
  ``inserted``. Re-importing a file inserts nothing.
* **Nothing lost**: every row is either stored (inserted / updated / unchanged) or written to
  the rejects file with its row number, the column and the reason in the user's language;
  ``read == inserted + updated + unchanged + rejected``.
* **Fast**: rows are read in chunks of :data:`CHUNK_SIZE`; institutions, departments and
  practitioners are resolved from dictionaries built once per file, residents by one ``IN``
  query per chunk; kernel validations are cached; new rows go through
  :func:`tiercare.bulk.insert_rows` in one transaction per chunk. A large encounters file is
  read and checked in a second process while this one writes (ADR 0003).

Row numbers are the physical line where the record starts (the header is line 1), which is
the row number a spreadsheet shows. Blank lines are skipped and not counted.
"""

from __future__ import annotations

import csv
import datetime as dt
import gc
import hashlib
import io
import itertools
import multiprocessing
import operator
import os
import queue as queue_module
import re
import sqlite3
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import IO, Any, cast

from django.db import DatabaseError, connection, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from tqdm import tqdm

from tiercare import bulk
from tiercare.accounts import audit
from tiercare.accounts.models import AuditEvent, User
from tiercare.encounters import rules, services
from tiercare.encounters.models import Diagnosis, Encounter, Settlement
from tiercare.kernel import divisions, icd10, idnumber
from tiercare.kernel.errors import KernelError
from tiercare.kernel.money import to_money
from tiercare.patients.models import IdentifierType, Patient, Scheme
from tiercare.registry.models import Department, Institution, Level, Practitioner

CHUNK_SIZE = 20000
CENT = Decimal("0.01")
ZERO_MONEY = (Decimal("0.00"), "0.00")
CST_OFFSET = dt.timedelta(hours=8)  # China Standard Time; no summer time since 1992
_PLAIN_MONEY = re.compile(r"\d{1,10}(?:\.\d{1,2})?").fullmatch
_BAD: Any = object()  # "in doubt": the row goes to the thorough path
_FROMISO = dt.datetime.fromisoformat
_QUANTIZE = Decimal.quantize


_CANONICAL_MONEY = re.compile(r"(?:(?:0|[1-9]\d{0,9})\.\d\d\n)*(?:0|[1-9]\d{0,9})\.\d\d"
                              ).fullmatch
_NO_AMOUNT = "0.00"


def _canonical_cents(texts: Sequence[str]) -> tuple[list[int], list[str]] | None:
    """(amounts in fen, texts) of a column of amounts that are all written the way they are
    stored (``0.50``, ``1234.00``: no leading zeros, exactly two decimals, at most
    9,999,999,999.99; a blank is 0.00), else None. One regular expression for the column."""
    if "" in texts:
        texts = [t or _NO_AMOUNT for t in texts]
    joined = "\n".join(texts)
    if not texts or _CANONICAL_MONEY(joined) is None:
        return None
    cents = list(map(int, joined.replace(".", "").split("\n")))
    if len(cents) != len(texts):
        return None
    return cents, list(texts)


def _id_text(value: int | None) -> str:
    return "" if value is None else str(value)

CLASS_ALIASES = rules.CLASS_ALIASES
_SURROGATE = re.compile("[\udc80-\udcff]")
_BAD_TEXT = re.compile("[\x00\udc80-\udcff]")
_TRUE = {"1", "true", "yes", "y", "t", "是", "县内"}
_FALSE = {"0", "false", "no", "n", "f", "否", "县外"}

ENCOUNTER_COLUMNS: dict[str, bool] = {
    # column: required in the header
    "source_system": False, "source_id": True,
    "resident_id_number": False, "health_record_no": False,
    "institution_code": True, "department_code": False, "practitioner_code": False,
    "encounter_class": True, "start": True, "end": False,
    "primary_diagnosis": True, "secondary_diagnoses": False,
    "total": True, "drugs": False, "consumables": False, "examinations": False,
    "services": False, "insurance_paid": False,
}
SETTLEMENT_COLUMNS: dict[str, bool] = {
    "source_system": False, "source_id": True,
    "resident_id_number": False, "health_record_no": False,
    "scheme": False, "in_county": False,
    "institution_code": False, "institution_name": False, "institution_level": False,
    "division_code": False, "encounter_class": True, "start_date": True, "end_date": False,
    "diagnosis": True, "total": True, "fund_paid": True, "self_paid": True,
    "encounter_ref": False, "settled_at": False,
}
LEVEL_ALIASES: dict[str, str] = {
    **{v: v for v in Level.values},
    "省级": Level.PROVINCIAL, "市级": Level.CITY, "县级": Level.COUNTY,
    "乡镇": Level.TOWNSHIP, "乡级": Level.TOWNSHIP, "村级": Level.VILLAGE,
}


class ImportFileError(Exception):
    """The file cannot be imported at all (unreadable, empty, not UTF-8, wrong header). The
    message is translated; nothing was written."""


@dataclass
class ImportReport:
    """What an import did. ``read = inserted + updated + unchanged + rejected``."""

    path: str
    kind: str
    read: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    rejects_path: str | None = None
    seconds: float = 0.0
    linked: int = 0

    @property
    def balanced(self) -> bool:
        return self.read == self.inserted + self.updated + self.unchanged + self.rejected

    @property
    def rows_per_second(self) -> float:
        return self.read / self.seconds if self.seconds > 0 else 0.0

    def summary(self) -> str:
        text = _("%(path)s: %(read)d rows read, %(inserted)d inserted, %(updated)d updated, "
                 "%(unchanged)d already present, %(rejected)d rejected (%(seconds).1f s).") % {
            "path": self.path, "read": self.read, "inserted": self.inserted,
            "updated": self.updated, "unchanged": self.unchanged, "rejected": self.rejected,
            "seconds": self.seconds,
        }
        if self.rejects_path:
            text += " " + _("Rejected rows and reasons: %(path)s") % {"path": self.rejects_path}
        return text


@dataclass
class _Reject:
    line: int
    column: str
    reason: str
    source_id: str = ""


def _encounter_class(text: str, errors: list[tuple[str, str]]) -> str | None:
    """The encounter class of a cell, or an error naming the accepted values."""
    klass = rules.parse_class(text)
    if klass is None:
        errors.append(("encounter_class", _("Unknown encounter class “%(value)s” (use "
                                            "outpatient, emergency, inpatient or "
                                            "home_visit).") % {"value": text}
                       if text else _("A value is required.")))
    return klass


def _span(parse_one: Callable[[str], Any], cell: Callable[[Any, str], str], row: Any,
          start_column: str, end_column: str,
          errors: list[tuple[str, str]]) -> tuple[Any, Any]:
    """Start (required) and end (optional) of a row, each parse error on its own column."""
    start = end = None
    try:
        start = parse_one(cell(row, start_column))
        if start is None:
            errors.append((start_column, _("A value is required.")))
    except ValueError as exc:
        errors.append((start_column, str(exc)))
    try:
        end = parse_one(cell(row, end_column))
    except ValueError as exc:
        errors.append((end_column, str(exc)))
    return start, end


class _RowErrors(Exception):
    def __init__(self, errors: list[tuple[str, str]]) -> None:
        super().__init__(errors)
        self.errors = errors


@dataclass
class _Prepared:
    """A row that passed the checks that need no database."""

    line: int
    source_system: str
    source_id: str
    id_number: str
    record_no: str
    values: dict[str, Any] = field(default_factory=dict)
    patient_id: int | None = None
    digest: str = ""


# --------------------------------------------------------------------------- value parsers


class _Parsers:
    """Cached conversions of cell text (DESIGN.md: validate with cached kernel calls)."""

    def __init__(self) -> None:
        self.money: dict[str, Decimal | str] = {}
        self.icd: dict[str, str | KernelError] = {}
        self.times: dict[str, dt.datetime | None] = {}
        self.days: dict[str, dt.date | None] = {}

    def amount(self, text: str, *, required: bool) -> Decimal:
        """Yuan with at most 2 decimal places; blank is 0.00 unless required."""
        hit = self.money.get(text)
        if hit is None:
            hit = self._amount(text)
            if len(self.money) > 100_000:
                self.money.clear()
            self.money[text] = hit
        if isinstance(hit, str):
            if hit == "" and required:
                raise ValueError(_("A value is required."))
            if hit:
                raise ValueError(hit)
            return rules.ZERO
        return hit

    @staticmethod
    def _amount(text: str) -> Decimal | str:
        stripped = text.strip()
        if not stripped:
            return ""
        if "." in stripped and len(stripped.rsplit(".", 1)[1]) > 2:
            return _("“%(value)s” has more than 2 decimal places; amounts are yuan and fen.") % {
                "value": stripped}
        try:
            return to_money(stripped)
        except KernelError as exc:
            if exc.code == "money.too_large":
                return _("The amount %(amount)s is too large.") % {"amount": stripped}
            return _("“%(value)s” is not an amount of money (write digits with an optional "
                     "decimal point, e.g. 1234.50).") % {"value": stripped}

    def diagnosis(self, text: str, *, required: bool = False) -> str:
        code = text.strip()
        if not code and required:
            raise ValueError(_("A value is required."))
        hit = self.icd.get(code)
        if hit is None:
            try:
                hit = str(icd10.validate(code).code)
            except KernelError as exc:
                hit = exc
            self.icd[code] = hit
        if isinstance(hit, KernelError):
            raise ValueError(_("“%(value)s” is not an ICD-10 code.") % {"value": code})
        return hit

    def moment(self, text: str) -> dt.datetime | None:
        """An aware UTC datetime from ``YYYY-MM-DD[ HH:MM[:SS]]`` (local time, Asia/Shanghai,
        unless an offset is given); None for blank; ValueError otherwise."""
        hit = self.times.get(text, False)
        if hit is False:
            hit = self._moment(text)
            if len(self.times) > 200_000:
                self.times.clear()
            self.times[text] = hit
        return hit  # type: ignore[return-value]

    @staticmethod
    def _moment(text: str) -> dt.datetime | None:
        stripped = text.strip()
        if not stripped:
            return None
        try:
            value = dt.datetime.fromisoformat(stripped.replace("/", "-"))
        except ValueError:
            raise ValueError(_("“%(value)s” is not a date and time (expected YYYY-MM-DD HH:MM).")
                             % {"value": stripped}) from None
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.get_default_timezone())
        return value.astimezone(dt.UTC)

    def day(self, text: str) -> dt.date | None:
        hit = self.days.get(text, False)
        if hit is False:
            stripped = text.strip()
            if not stripped:
                hit = None
            else:
                try:
                    hit = dt.date.fromisoformat(stripped.replace("/", "-"))
                except ValueError:
                    raise ValueError(_("“%(value)s” is not a date (expected YYYY-MM-DD).")
                                     % {"value": stripped}) from None
            self.days[text] = hit
        return hit  # type: ignore[return-value]


# --------------------------------------------------------------------------- the engine


def _q(name: str) -> str:
    return str(connection.ops.quote_name(name))


def _select_in(sql: str, params: list[Any], values: list[str],
               size: int = 5000) -> Iterator[tuple[Any, ...]]:
    """Rows of ``sql … IN (values)`` (the SQL ends with the column), in batches."""
    if not values:
        return iter(())
    found: list[tuple[Any, ...]] = []
    with connection.cursor() as cursor:
        for start in range(0, len(values), size):
            batch = values[start:start + size]
            cursor.execute(f"{sql} IN ({', '.join(['%s'] * len(batch))})", [*params, *batch])
            found.extend(cursor.fetchall())
    return iter(found)


def _records(text: IO[str],
             block: int = 1 << 20) -> Iterator[tuple[int, list[str] | None, bool]]:
    """(line number, cells, clean) for every physical line; cells are ``None`` for a line
    that is not valid CSV on its own; ``clean`` is False when the line's block of text holds a
    NUL or bytes that are not UTF-8 (then each row must be checked). One record per line: the
    templates have no multi-line values, so a stray quote costs its own line only and never
    swallows the rows after it. Fast path: the C reader over a block of lines; a record that
    spans lines is re-read line by line."""
    number = 0
    while True:
        lines = text.readlines(block)
        if not lines:
            return
        clean = _BAD_TEXT.search("".join(lines)) is None
        reader = csv.reader(lines, strict=True)
        consumed = 0
        while True:
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error:
                row = None
            span = reader.line_num - consumed
            if row is not None and span == 1:
                consumed += 1
                yield number + consumed, row, clean
                continue
            # a quote opened and not closed on its line (or another error): line by line
            for offset in range(consumed, max(reader.line_num, consumed + 1)):
                yield number + offset + 1, _one_line(lines[offset]), clean
            consumed = max(reader.line_num, consumed + 1)
            reader = csv.reader(lines[consumed:], strict=True)
            number += consumed
            lines = lines[consumed:]
            consumed = 0
        number += consumed


def _record_blocks(text: IO[str], block: int = 1 << 20,
                   ) -> Iterator[tuple[int, list[list[str] | None], bool]]:
    """The lines of :func:`_records` a block at a time: (line number of the block's first
    line, one entry per physical line, clean). A block whose every line is one record is
    read by the C reader in one call; any other block line by line, as :func:`_records`."""
    number = 0
    while True:
        lines = text.readlines(block)
        if not lines:
            return
        try:
            rows: list[list[str] | None] = list(csv.reader(lines, strict=True))
        except csv.Error:
            rows = []
        joined = "".join(lines)
        if len(rows) == len(lines):
            clean = _BAD_TEXT.search(joined) is None
        else:
            rows = [row for _line, row, clean in _records(io.StringIO(joined), len(joined) + 1)]
            clean = _BAD_TEXT.search(joined) is None
        yield number + 1, rows, clean
        number += len(lines)


def _one_line(line: str) -> list[str] | None:
    try:
        rows = list(csv.reader([line], strict=True))
    except csv.Error:
        return None
    if len(rows) != 1:
        return None
    return rows[0]



class _Importer:
    kind = ""
    columns: dict[str, bool] = {}
    model: type[Encounter] | type[Settlement]

    def __init__(self, path: str | os.PathLike[str], *, source_system: str | None,
                 progress: bool, rejects_path: str | os.PathLike[str] | None,
                 user: User | None) -> None:
        self.path = Path(path)
        self.source_system = (source_system or "").strip()
        self.progress = progress
        self.rejects_path = Path(rejects_path) if rejects_path else Path(f"{self.path}.rejects.csv")
        self.user = user
        self.report = ImportReport(path=str(self.path), kind=self.kind)
        self.rejects: list[_Reject] = []
        self.parse = _Parsers()
        self.sqlite = connection.vendor == "sqlite"
        self.now = timezone.now()
        self.now_db = self.db_time(self.now)
        self.today = timezone.localdate(self.now)
        self.index: dict[str, int] = {}
        self._seen: dict[tuple[str, str], int] = {}

    # -- helpers
    def db_time(self, value: dt.datetime | None) -> Any:
        """A UTC datetime as the driver stores it: naive ISO text on SQLite (what Django's
        SQLite backend writes), the aware value on PostgreSQL."""
        if value is None:
            return None
        return value.replace(tzinfo=None).isoformat(" ") if self.sqlite else value

    def reject(self, line: int, column: str, reason: str, source_id: str = "") -> None:
        self.rejects.append(_Reject(line, column, reason, source_id))

    # -- file
    def _open(self) -> tuple[IO[bytes], io.TextIOWrapper]:
        try:
            raw = open(self.path, "rb")  # noqa: SIM115 - closed in run()
        except OSError as exc:
            raise ImportFileError(_("Cannot read %(path)s: %(error)s")
                                  % {"path": self.path, "error": exc.strerror or exc}) from None
        text = io.TextIOWrapper(raw, encoding="utf-8-sig", errors="surrogateescape", newline="")
        return raw, text

    def _header(self, header: list[str]) -> dict[str, int]:
        if not header:
            raise ImportFileError(_("%(path)s is empty: the first line must be the header.")
                                  % {"path": self.path})
        names = [h.strip().lower() for h in header]
        if _BAD_TEXT.search("".join(names)):
            raise ImportFileError(_("The header of %(path)s is not UTF-8 text; save the file "
                                    "as UTF-8 CSV.") % {"path": self.path})
        unknown = [n for n in names if n not in self.columns]
        missing = [n for n, required in self.columns.items() if required and n not in names]
        duplicate = sorted({n for n in names if names.count(n) > 1})
        problems: list[str] = []
        if unknown:
            problems.append(_("unknown columns: %(names)s") % {"names": ", ".join(unknown)})
        if missing:
            problems.append(_("missing columns: %(names)s") % {"names": ", ".join(missing)})
        if duplicate:
            problems.append(_("repeated columns: %(names)s") % {"names": ", ".join(duplicate)})
        if "resident_id_number" not in names and "health_record_no" not in names:
            problems.append(_("a resident_id_number or health_record_no column is needed"))
        if "source_system" not in names and not self.source_system:
            problems.append(_("a source_system column or the --source-system option is needed"))
        if problems:
            raise ImportFileError(
                _("Wrong header in %(path)s: %(problems)s. See docs/import-templates.md.")
                % {"path": self.path, "problems": "; ".join(problems)})
        return {name: i for i, name in enumerate(names)}

    def run(self) -> ImportReport:
        # The cyclic garbage collector would walk every object of the import again and again
        # (millions of short tuples and strings, none of them in cycles): off while importing.
        collecting = gc.isenabled()
        gc.disable()
        try:
            return self._run()
        finally:
            if collecting:
                gc.enable()

    def _run(self) -> ImportReport:
        started = time.perf_counter()
        raw, text = self._open()
        size = os.fstat(raw.fileno()).st_size
        bar = tqdm(total=size, unit="B", unit_scale=True, file=sys.stderr,
                   disable=not self.progress, desc=self.path.name, leave=False)
        try:
            records = self._after_header(_record_blocks(text))
            self.index = self._header(self.header)
            self.prepare_file()
            if not self._pipelined(size, bar):
                done = 0
                for chunk, position in self._chunks(records, raw):
                    self.process(chunk)
                    bar.update(position - done)
                    done = position
            bar.update(size - bar.n)
            self.finish_file()
        finally:
            bar.close()
            text.close()
        self.report.rejected = len({r.line for r in self.rejects})
        self._write_rejects()
        self.report.seconds = time.perf_counter() - started
        audit.record(
            AuditEvent.Action.IMPORT, user=self.user, object_type=self.model._meta.label,
            summary=f"{self.path.name}: read {self.report.read}, inserted {self.report.inserted},"
                    f" updated {self.report.updated}, unchanged {self.report.unchanged},"
                    f" rejected {self.report.rejected}",
            changes={"file": str(self.path), "read": self.report.read,
                     "inserted": self.report.inserted, "updated": self.report.updated,
                     "unchanged": self.report.unchanged, "rejected": self.report.rejected},
        )
        return self.report

    def _after_header(self, blocks: Iterator[tuple[int, list[list[str] | None], bool]],
                      ) -> Iterator[tuple[int, list[list[str] | None], bool]]:
        """Take the header (the first line) off the blocks into ``self.header``; the blocks
        of the data lines follow."""
        self.header: list[str] = []
        for first, rows, clean in blocks:
            if rows[0] is None:
                raise ImportFileError(_("The header of %(path)s is not valid CSV.")
                                      % {"path": self.path})
            self.header = rows[0]
            return itertools.chain([(first + 1, rows[1:], clean)], blocks)
        return iter(())

    def _chunks(self, blocks: Iterator[tuple[int, list[list[str] | None], bool]],
                raw: IO[bytes], size: int | None = None,
                ) -> Iterator[tuple[list[tuple[int, list[str]]], int]]:
        """Chunks of (line number, cells) of the data lines, and the file position after
        each; lines that are not CSV, have the wrong number of columns or hold bad text are
        rejected here, blank lines skipped. Counts ``report.read``. A clean block of
        complete lines is taken whole."""
        size = size or CHUNK_SIZE
        width = len(self.index)
        chunk: list[tuple[int, list[str]]] = []
        read = 0
        for first, rows, clean in blocks:
            if clean and None not in rows and set(map(len, cast(list[list[str]], rows))) == {
                    width}:
                read += len(rows)
                chunk.extend(zip(range(first, first + len(rows)), rows,  # type: ignore[arg-type]
                                 strict=True))
            else:
                for line, row in enumerate(rows, first):
                    if row is None:
                        read += 1
                        self.reject(line, "", _("The row is not valid CSV (a quote is not "
                                                "closed on its line)."))
                        continue
                    if not row or (len(row) == 1 and not row[0].strip()):
                        continue  # blank line
                    read += 1
                    if len(row) != width:
                        self.reject(line, "", _("Expected %(expected)d columns, found "
                                                "%(found)d.")
                                    % {"expected": width, "found": len(row)})
                        continue
                    if not clean and _BAD_TEXT.search("".join(row)):
                        column, reason = self._bad_text(row)
                        self.reject(line, column, reason)
                        continue
                    chunk.append((line, row))
            self.report.read = read
            while len(chunk) >= size:
                yield chunk[:size], raw.tell()
                del chunk[:size]
        self.report.read = read
        if chunk:
            yield chunk, raw.tell()

    def _pipelined(self, size: int, bar: tqdm[Any]) -> bool:
        """Import in two processes when that pays (see EncounterImporter); False when the
        caller must import in this process."""
        return False

    def _bad_text(self, row: list[str]) -> tuple[str, str]:
        names = list(self.index)
        for i, cell in enumerate(row):
            if "\x00" in cell:
                return names[i], _("The value contains a NUL character.")
            if _SURROGATE.search(cell):
                return names[i], _("The row is not valid UTF-8 text; save the file as UTF-8.")
        return "", ""

    def _write_rejects(self) -> None:
        if not self.rejects:
            if self.rejects_path.exists():
                self.rejects_path.unlink()  # it described an earlier run of this file
            return
        self.rejects.sort(key=lambda r: r.line)
        with open(self.rejects_path, "w", encoding="utf-8-sig", newline="") as out:
            writer = csv.writer(out)
            writer.writerow(["row", "column", "source_id", "reason"])
            for r in self.rejects:
                writer.writerow([r.line, r.column, r.source_id, r.reason])
        self.report.rejects_path = str(self.rejects_path)

    # -- shared row steps
    def cell(self, row: list[str], name: str) -> str:
        i = self.index.get(name)
        return row[i].strip() if i is not None else ""

    def start_row(self, line: int, row: list[str], errors: list[tuple[str, str]]) -> _Prepared:
        source_system = self.cell(row, "source_system") or self.source_system
        source_id = self.cell(row, "source_id")
        if not source_system:
            errors.append(("source_system", _("A value is required.")))
        elif len(source_system) > 50:
            errors.append(("source_system", _("At most %(n)d characters.") % {"n": 50}))
        if not source_id:
            errors.append(("source_id", _("A value is required.")))
        elif len(source_id) > 64:
            errors.append(("source_id", _("At most %(n)d characters.") % {"n": 64}))
        id_number = self.cell(row, "resident_id_number").upper()
        record_no = self.cell(row, "health_record_no")
        if not id_number and not record_no:
            errors.append(("resident_id_number",
                           _("Give the resident's ID number or health record number.")))
        return _Prepared(line, source_system, source_id, id_number, record_no)

    def resolve_residents(self, rows: list[_Prepared]) -> list[_Prepared]:
        """Residents by ID number (active records) or health record number: one ``IN``
        query per chunk and kind of key. Merged records resolve to their survivor."""
        numbers = {p.id_number for p in rows if p.id_number}
        record_nos = {p.record_no for p in rows if p.record_no and not p.id_number}
        by_number: dict[str, int] = {}
        by_record: dict[str, int] = {}
        if numbers:
            for pk, number in Patient.objects.filter(
                    id_type=IdentifierType.ID_CARD, id_number__in=numbers,
                    is_active=True).values_list("id", "id_number"):
                by_number[number] = pk
        if record_nos:
            for pk, merged_into, record_no in Patient.objects.filter(
                    health_record_no__in=record_nos).values_list(
                    "id", "merged_into_id", "health_record_no"):
                by_record[record_no] = merged_into or pk
        kept: list[_Prepared] = []
        for p in rows:
            if p.id_number:
                pid = by_number.get(p.id_number)
                if pid is None:
                    self.reject(p.line, "resident_id_number", self._unknown_id(p.id_number),
                                p.source_id)
                    continue
            else:
                pid = by_record.get(p.record_no)
                if pid is None:
                    self.reject(p.line, "health_record_no",
                                _("No resident with health record number %(value)s.")
                                % {"value": p.record_no}, p.source_id)
                    continue
            p.patient_id = pid
            kept.append(p)
        return kept

    @staticmethod
    def _unknown_id(number: str) -> str:
        try:
            idnumber.validate(number)
        except KernelError as exc:
            return _("Invalid resident ID number: %(reason)s") % {"reason": exc.translated(_)}
        return _("No resident with ID number %(value)s.") % {"value": number}

    def split_known(self, rows: list[_Prepared]) -> tuple[list[_Prepared], list[tuple[
            _Prepared, int, str]]]:
        """New rows, and (row, id, stored digest) of rows whose source id is stored; repeats
        of a source id inside the file are rejected (the first occurrence wins)."""
        seen = self._seen
        unique: list[_Prepared] = []
        for p in rows:
            key = (p.source_system, p.source_id)
            first = seen.get(key)
            if first is not None:
                self.reject(p.line, "source_id",
                            _("The source id %(value)s appears again (first at row %(row)d).")
                            % {"value": p.source_id, "row": first}, p.source_id)
                continue
            seen[key] = p.line
            unique.append(p)
        by_system: dict[str, list[_Prepared]] = defaultdict(list)
        for p in unique:
            by_system[p.source_system].append(p)
        stored: dict[tuple[str, str], tuple[int, str]] = {}
        for system, group in by_system.items():
            for pk, sid, digest in self.model.objects.filter(
                    source_system=system, source_id__in=[p.source_id for p in group]
            ).values_list("id", "source_id", "source_hash"):
                stored[(system, sid)] = (pk, digest)
        new: list[_Prepared] = []
        known: list[tuple[_Prepared, int, str]] = []
        for p in unique:
            hit = stored.get((p.source_system, p.source_id))
            if hit is None:
                new.append(p)
            else:
                known.append((p, hit[0], hit[1]))
        return new, known

    def ids_of(self, rows: list[_Prepared]) -> dict[tuple[str, str], int]:
        """Ids of just-inserted rows: one query per chunk on (source system, source id)."""
        by_system: dict[str, list[str]] = defaultdict(list)
        for p in rows:
            by_system[p.source_system].append(p.source_id)
        out: dict[tuple[str, str], int] = {}
        for system, sids in by_system.items():
            for pk, sid in self.model.objects.filter(
                    source_system=system, source_id__in=sids).values_list("id", "source_id"):
                out[(system, sid)] = pk
        return out

    def count_stored(self, rows: list[_Prepared], ids: dict[tuple[str, str], int]) -> int:
        """How many of ``rows`` are now stored; a row the database refused is rejected, never
        silently dropped."""
        stored = 0
        for p in rows:
            if (p.source_system, p.source_id) in ids:
                stored += 1
            else:
                self.reject(p.line, "", _("The database refused the row."), p.source_id)
        return stored

    def prepare_file(self) -> None:
        raise NotImplementedError

    def process(self, chunk: list[tuple[int, list[str]]]) -> None:
        raise NotImplementedError

    def finish_file(self) -> None:
        """Work after the last chunk."""


# --------------------------------------------------------------------------- encounters

#: Rows of a chunk ready to store: line numbers, insert tuples (``ENCOUNTER_FIELDS`` order),
#: secondary diagnoses.
_Piece = tuple[list[int], list[tuple[Any, ...]], list[list[str]]]

ENCOUNTER_FIELDS = (
    "patient", "encounter_class", "institution", "department", "practitioner", "start", "end",
    "primary_diagnosis", "total", "drugs", "consumables", "examinations", "services",
    "insurance_paid", "source_system", "source_id", "source_hash", "created_at", "updated_at",
)
_ENCOUNTER_MONEY = ("total", "drugs", "consumables", "examinations", "services",
                    "insurance_paid")


class EncounterImporter(_Importer):
    kind = "encounters"
    columns = ENCOUNTER_COLUMNS
    model = Encounter

    def prepare_file(self) -> None:
        self.institutions = dict(Institution.objects.values_list("code", "id"))
        self.departments: dict[tuple[Any, str], int] = {
            (i, c): pk for pk, i, c in
            Department.objects.values_list("id", "institution_id", "code")}
        self.practitioners = dict(Practitioner.objects.values_list("code", "id"))
        self.new_ids: list[int] = []
        self._all_new = True  # no stored source id met yet: insert first, look up on conflict

    def parse_row(self, line: int, row: list[str]) -> _Prepared | None:
        errors: list[tuple[str, str]] = []
        p = self.start_row(line, row, errors)
        cell = self.cell
        parse = self.parse
        institution_code = cell(row, "institution_code")
        institution = self.institutions.get(institution_code)
        if institution is None:
            errors.append(("institution_code", _("No institution with code “%(value)s”.")
                           % {"value": institution_code} if institution_code
                           else _("A value is required.")))
        department = None
        department_code = cell(row, "department_code")
        if department_code and institution is not None:
            department = self.departments.get((institution, department_code))
            if department is None:
                errors.append(("department_code",
                               _("No department “%(value)s” at institution %(institution)s.")
                               % {"value": department_code, "institution": institution_code}))
        practitioner = None
        practitioner_code = cell(row, "practitioner_code")
        if practitioner_code:
            practitioner = self.practitioners.get(practitioner_code)
            if practitioner is None:
                errors.append(("practitioner_code", _("No practitioner with code “%(value)s”.")
                               % {"value": practitioner_code}))
        klass = _encounter_class(cell(row, "encounter_class"), errors)
        start, end = _span(parse.moment, cell, row, "start", "end", errors)
        primary = ""
        try:
            primary = parse.diagnosis(cell(row, "primary_diagnosis"), required=True)
        except ValueError as exc:
            errors.append(("primary_diagnosis", str(exc)))
        secondary: list[str] = []
        text = cell(row, "secondary_diagnoses")
        if text:
            for code in text.split(";"):
                if code.strip():
                    try:
                        secondary.append(parse.diagnosis(code))
                    except ValueError as exc:
                        errors.append(("secondary_diagnoses", str(exc)))
        money: list[Decimal] = []
        for name in _ENCOUNTER_MONEY:
            try:
                money.append(parse.amount(cell(row, name), required=name == "total"))
            except ValueError as exc:
                errors.append((name, str(exc)))
        if len(money) == len(_ENCOUNTER_MONEY):
            errors.extend((v.field, v.message) for v in rules.check_costs(*money))
        if start is not None and klass is not None:
            errors.extend((v.field, v.message)
                          for v in rules.check_encounter_dates(klass, start, end, self.now))
        if errors:
            for column, reason in errors:
                self.reject(line, column, reason, p.source_id)
            return None
        p.values = {"class": klass, "institution": institution, "department": department,
                    "practitioner": practitioner, "start": start, "end": end,
                    "primary": primary, "secondary": secondary, "money": money}
        return p

    # -- the hot path ---------------------------------------------------------------------
    #
    # A row that passes every check of the fast path becomes a record tuple at once; any
    # doubt (a cache miss that fails, a lookup that finds nothing, a rule that breaks) sends
    # the row to ``parse_row``, which checks everything and words every reason. The fast path
    # only ever accepts what ``parse_row`` accepts (tests compare them).

    def _fast_setup(self) -> None:
        names = list(ENCOUNTER_COLUMNS)
        width = len(self.index)
        self.getter = operator.itemgetter(*[self.index.get(n, width) for n in names])
        self.money_cache: dict[str, Any] = {}
        self.time_cache: dict[str, Any] = {}
        self.icd_cache: dict[str, Any] = {}
        self._resident_ids: dict[str, int] = {}
        self.now_naive = self.now.astimezone(dt.UTC).replace(tzinfo=None)

    def _money(self, text: str) -> Any:
        """(amount, its text) for a plain amount of yuan, ``_BAD`` when in doubt; blank is
        0.00. Cached."""
        if not text:
            hit: Any = ZERO_MONEY
        elif _PLAIN_MONEY(text) is None:
            hit = _BAD
        else:
            amount = Decimal(text).quantize(CENT)
            hit = (amount, str(amount))
        if len(self.money_cache) > 500_000:
            self.money_cache.clear()
        self.money_cache[text] = hit
        return hit

    def _time(self, text: str) -> Any:
        """Naive UTC datetime of a local ``YYYY-MM-DD HH:MM[:SS]``, ``_BAD`` when in doubt."""
        if len(self.time_cache) > 500_000:
            self.time_cache.clear()
        try:
            value = dt.datetime.fromisoformat(text)
        except ValueError:
            return _BAD
        if value.tzinfo is not None or value.year < 1992:
            # an explicit offset, or a date when China still had summer time: exact route
            if value.tzinfo is None:
                value = value.replace(tzinfo=timezone.get_default_timezone())
            return value.astimezone(dt.UTC).replace(tzinfo=None)
        return value - CST_OFFSET

    def _icd(self, text: str) -> Any:
        try:
            return str(icd10.validate(text).code)
        except KernelError:
            return _BAD

    def _fast(self, line: int, row: list[str]) -> tuple[Any, ...] | None:
        # Written for speed (about 50,000 rows a second): locals, unrolled look-ups, caches.
        row.append("")  # the value of columns the file does not have
        (ss, sid, idn, hrn, inst_code, dept_code, pract_code, klass_t, start_t, end_t, prim_t,
         sec_t, total_t, drugs_t, cons_t, exam_t, serv_t, paid_t) = self.getter(row)
        row.pop()
        ss = ss.strip() or self.source_system
        sid = sid.strip()
        if not ss or not sid or len(sid) > 64 or len(ss) > 50 or not (idn or hrn):
            return None
        inst = self.institutions.get(inst_code)
        klass = CLASS_ALIASES.get(klass_t)
        if inst is None or klass is None:
            return None
        dept = pract = None
        if dept_code:
            dept = self.departments.get((inst, dept_code))
            if dept is None:
                return None
        if pract_code:
            pract = self.practitioners.get(pract_code)
            if pract is None:
                return None
        tc = self.time_cache
        start = tc.get(start_t)
        if start is None:
            start = tc[start_t] = self._time(start_t)
        if start is _BAD or start > self.now_naive:
            return None
        end = None
        end_s = ""
        if end_t:
            end = tc.get(end_t)
            if end is None:
                end = tc[end_t] = self._time(end_t)
            if end is _BAD or end < start or end > self.now_naive:
                return None
            end_s = end.isoformat(" ")
        ic = self.icd_cache
        primary = ic.get(prim_t)
        if primary is None:
            primary = ic[prim_t] = self._icd(prim_t)
        if primary is _BAD:
            return None
        secondary: list[str] = []
        if sec_t:
            for code in sec_t.split(";"):
                if code:
                    hit = ic.get(code)
                    if hit is None:
                        hit = ic[code] = self._icd(code)
                    if hit is _BAD:
                        return None
                    secondary.append(hit)
        mc = self.money_cache
        money = self._money
        m0 = mc.get(total_t) or money(total_t)
        m1 = mc.get(drugs_t) or money(drugs_t)
        m2 = mc.get(cons_t) or money(cons_t)
        m3 = mc.get(exam_t) or money(exam_t)
        m4 = mc.get(serv_t) or money(serv_t)
        m5 = mc.get(paid_t) or money(paid_t)
        if (m0 is _BAD or m1 is _BAD or m2 is _BAD or m3 is _BAD or m4 is _BAD or m5 is _BAD
                or not total_t):
            return None
        total = m0[0]
        if m1[0] + m2[0] + m3[0] + m4[0] != total or m5[0] > total:
            return None
        start_s = start.isoformat(" ")
        tail = (f"{klass}\x1f{inst}\x1f{'' if dept is None else dept}\x1f"
                f"{'' if pract is None else pract}\x1f{start_s}\x1f{end_s}\x1f"
                f"{primary}\x1f{';'.join(secondary)}\x1f{m0[1]}\x1f{m1[1]}\x1f{m2[1]}\x1f"
                f"{m3[1]}\x1f{m4[1]}\x1f{m5[1]}")
        if self.sqlite:  # what Django's SQLite backend stores: naive UTC text, decimal text
            values = (klass, inst, dept, pract, start_s, end_s or None, primary, m0[1], m1[1],
                      m2[1], m3[1], m4[1], m5[1])
        else:
            values = (klass, inst, dept, pract, start.replace(tzinfo=dt.UTC),
                      end.replace(tzinfo=dt.UTC) if end is not None else None, primary, total,
                      m1[0], m2[0], m3[0], m4[0], m5[0])
        return (line, ss, sid, idn.strip().upper(), hrn.strip(), tail, klass, inst, dept, pract,
                start, end, primary, secondary, (m0, m1, m2, m3, m4, m5), values)

    # -- column-wise fast path -------------------------------------------------------------
    #
    # The chunk is transposed and each column is converted by C-level ``map`` calls over
    # cached look-ups; rows with anything unusual are set aside to ``_fast``/``_slow`` one by
    # one. Same acceptance as ``_fast`` (tests compare them).

    def _time_column(self, texts: Sequence[str]) -> list[Any]:
        """Naive UTC datetimes; ``_BAD`` where in doubt."""
        try:
            parsed = list(map(_FROMISO, texts))
            low = min(parsed)
        except (ValueError, TypeError):
            return [self._time(t) for t in texts]
        if low.tzinfo is not None or low.year < 1992:
            return [self._time(t) for t in texts]
        return list(map(operator.sub, parsed, itertools.repeat(CST_OFFSET)))

    def _money_column(self, texts: Sequence[str]) -> tuple[list[Any], list[str], list[int]]:
        """(amounts, their texts, positions in doubt); blank is 0.00. (Positions are returned
        rather than searched for: comparing a Decimal with a marker object is slow.)"""
        if all(map(_PLAIN_MONEY, texts)):
            amounts = list(map(_QUANTIZE, map(Decimal, texts), itertools.repeat(CENT)))
            return amounts, list(map(str, amounts)), []
        cache = self.money_cache
        pairs = [cache.get(t) or self._money(t) for t in texts]
        doubtful = [i for i, p in enumerate(pairs) if p is _BAD]
        return ([ZERO_MONEY[0] if p is _BAD else p[0] for p in pairs],
                ["" if p is _BAD else p[1] for p in pairs], doubtful)

    def _icd_column(self, texts: Sequence[str]) -> list[Any]:
        cache = self.icd_cache
        codes = list(map(cache.get, texts))
        if None in codes:
            for i, code in enumerate(codes):
                if code is None:
                    codes[i] = cache[texts[i]] = self._icd(texts[i])
        return codes

    def _columns(self, chunk: list[tuple[int, list[str]]]) -> list[tuple[Any, ...]]:
        n = len(chunk)
        lines = [c[0] for c in chunk]
        rows = [c[1] for c in chunk]
        table = list(zip(*rows, strict=True))
        blank = ("",) * n
        index = self.index

        def col(name: str) -> Sequence[str]:
            i = index.get(name)
            return blank if i is None else table[i]

        bad: set[int] = set()

        def mark(values: Sequence[Any], flag: Any = None) -> None:
            if flag in values:
                bad.update(i for i, v in enumerate(values) if v is flag)

        ss = list(map(str.strip, col("source_system")))
        if not all(ss):
            ss = [v or self.source_system for v in ss]
            bad.update(i for i, v in enumerate(ss) if not v)
        sid = list(map(str.strip, col("source_id")))
        if not all(sid) or max(map(len, sid)) > 64 or max(map(len, ss)) > 50:
            bad.update(i for i in range(n) if not sid[i] or len(sid[i]) > 64 or len(ss[i]) > 50)
        idn = list(map(str.upper, map(str.strip, col("resident_id_number"))))
        hrn = list(map(str.strip, col("health_record_no")))
        if not all(idn):
            bad.update(i for i in range(n) if not idn[i] and not hrn[i])
        inst = list(map(self.institutions.get, col("institution_code")))
        mark(inst)
        klass = list(map(CLASS_ALIASES.get, col("encounter_class")))
        mark(klass)
        dept: list[Any] = [None] * n
        codes = col("department_code")
        if any(codes):
            dept = list(map(self.departments.get, zip(inst, codes, strict=True)))
            bad.update(i for i, c in enumerate(codes) if c and dept[i] is None)
        pract: list[Any] = [None] * n
        codes = col("practitioner_code")
        if any(codes):
            pract = list(map(self.practitioners.get, codes))
            bad.update(i for i, c in enumerate(codes) if c and pract[i] is None)
        starts = self._time_column(col("start"))
        mark(starts, _BAD)
        ends: list[Any] = [None] * n
        end_texts = col("end")
        with_end = [i for i, t in enumerate(end_texts) if t]
        if with_end:
            parsed = self._time_column([end_texts[i] for i in with_end])
            for i, value in zip(with_end, parsed, strict=True):
                ends[i] = value
                if value is _BAD:
                    bad.add(i)
        primary = self._icd_column(col("primary_diagnosis"))
        mark(primary, _BAD)
        secondary: list[list[str]] = [[] for _ in range(n)]
        sec_texts = col("secondary_diagnoses")
        if any(sec_texts):
            cache = self.icd_cache
            for i, text in enumerate(sec_texts):
                if text:
                    found = []
                    for code in text.split(";"):
                        if code:
                            hit = cache.get(code)
                            if hit is None:
                                hit = cache[code] = self._icd(code)
                            if hit is _BAD:
                                bad.add(i)
                            found.append(hit)
                    secondary[i] = found
        amounts: list[list[Any]] = []
        texts: list[list[str]] = []
        if self.sqlite:
            # The common case, in a few C-level calls per column: every amount written as
            # SQLite stores it (digits, a point, two decimals, blank for an optional 0.00).
            # The text is then stored as it is and the rules are checked on whole fen.
            for name in _ENCOUNTER_MONEY:
                cents = _canonical_cents(col(name))
                if cents is None:
                    amounts, texts = [], []
                    break
                amounts.append(cents[0])
                texts.append(cents[1])
        if not amounts:
            for name in _ENCOUNTER_MONEY:
                values, words, doubtful = self._money_column(col(name))
                bad.update(doubtful)
                amounts.append(values)
                texts.append(words)
        if "" in col("total"):
            bad.update(i for i, t in enumerate(col("total")) if not t)
        now = self.now_naive
        good = [i for i in range(n) if i not in bad] if bad else list(range(n))
        # cross-column rules over the rows still in: sums, insurance, dates
        def pick(values: Sequence[Any]) -> list[Any]:
            return [values[i] for i in good] if bad else list(values)
        total, drugs, cons, exam, serv, paid = (pick(a) for a in amounts)
        sums = list(map(operator.add, map(operator.add, drugs, cons),
                        map(operator.add, exam, serv)))
        st = pick(starts)
        en = pick(ends)
        late = sums != total or not all(map(operator.le, paid, total)) or max(st, default=now) > now
        if with_end and not late:
            has_end = list(map(operator.is_not, en, itertools.repeat(None)))
            with_ends = list(itertools.compress(en, has_end))
            late = bool(with_ends) and (
                max(with_ends) > now
                or any(map(operator.lt, with_ends, itertools.compress(st, has_end))))
        if late:
            for k, i in enumerate(good):
                e = en[k]
                if (sums[k] != total[k] or paid[k] > total[k] or st[k] > now
                        or (e is not None and (e < st[k] or e > now))):
                    bad.add(i)
            good = [i for i in good if i not in bad]
        records: list[tuple[Any, ...]] = []
        if good:
            if len(good) != n:
                getter = operator.itemgetter(*good)

                def keep(values: Sequence[Any]) -> list[Any]:
                    picked = getter(values)
                    return list(picked) if len(good) > 1 else [picked]
            else:
                def keep(values: Sequence[Any]) -> list[Any]:
                    return list(values)
            k_lines, k_ss, k_sid, k_idn, k_hrn = (keep(c) for c in (lines, ss, sid, idn, hrn))
            k_class, k_inst, k_dept, k_pract = (keep(c) for c in (klass, inst, dept, pract))
            k_start, k_end, k_primary, k_secondary = (
                keep(c) for c in (starts, ends, primary, secondary))
            k_amounts = [keep(a) for a in amounts]
            k_texts = [keep(t) for t in texts]
            start_s = list(map(dt.datetime.isoformat, k_start, itertools.repeat(" ")))
            end_s = ["" if e is None else e.isoformat(" ") for e in k_end]
            id_text = _id_text
            tails = list(map("\x1f".join, zip(
                k_class, map(str, k_inst), map(id_text, k_dept), map(id_text, k_pract),
                start_s, end_s, k_primary, map(";".join, k_secondary), *k_texts, strict=True)))
            money = list(zip(*(zip(a, t, strict=True) for a, t in zip(k_amounts, k_texts,
                                                                      strict=True)),
                             strict=True))
            if self.sqlite:
                values = list(zip(k_class, k_inst, k_dept, k_pract, start_s,
                                  [e or None for e in end_s], k_primary, *k_texts, strict=True))
            else:
                aware = [v.replace(tzinfo=dt.UTC) for v in k_start]
                aware_end = [None if e is None else e.replace(tzinfo=dt.UTC) for e in k_end]
                values = list(zip(k_class, k_inst, k_dept, k_pract, aware, aware_end,
                                  k_primary, *k_amounts, strict=True))
            records = list(zip(k_lines, k_ss, k_sid, k_idn, k_hrn, tails, k_class, k_inst,
                               k_dept, k_pract, k_start, k_end, k_primary, k_secondary, money,
                               values, strict=True))
        if bad:
            fast, slow = self._fast, self._slow
            for i in sorted(bad):
                line, row = chunk[i]
                record = fast(line, row) or slow(line, row)
                if record is not None:
                    records.append(record)
            records.sort(key=operator.itemgetter(0))  # file order: the first repeat wins
        return records

    def _slow(self, line: int, row: list[str]) -> tuple[Any, ...] | None:
        p = self.parse_row(line, row)
        if p is None:
            return None
        v = p.values
        start = v["start"].astimezone(dt.UTC).replace(tzinfo=None)
        end = v["end"].astimezone(dt.UTC).replace(tzinfo=None) if v["end"] else None
        money = [(m.quantize(CENT), str(m.quantize(CENT))) for m in v["money"]]
        tail = "\x1f".join((v["class"], str(v["institution"]),
                            "" if v["department"] is None else str(v["department"]),
                            "" if v["practitioner"] is None else str(v["practitioner"]),
                            start.isoformat(" "), end.isoformat(" ") if end else "",
                            v["primary"], ";".join(v["secondary"]), *(m[1] for m in money)))
        if self.sqlite:
            values = (v["class"], v["institution"], v["department"], v["practitioner"],
                      start.isoformat(" "), end.isoformat(" ") if end else None, v["primary"],
                      *(m[1] for m in money))
        else:
            values = (v["class"], v["institution"], v["department"], v["practitioner"],
                      start.replace(tzinfo=dt.UTC), end.replace(tzinfo=dt.UTC) if end else None,
                      v["primary"], *(m[0] for m in money))
        return (line, p.source_system, p.source_id, p.id_number, p.record_no, tail, v["class"],
                v["institution"], v["department"], v["practitioner"], start, end, v["primary"],
                v["secondary"], money, values)

    def _residents(self, records: list[tuple[Any, ...]]) -> list[tuple[int, tuple[Any, ...]]]:
        """(patient id, record) for the records whose resident is known; the others are
        rejected. One query per chunk and kind of key (raw SQL: the ORM's per-value
        preparation of a 5,000-value ``IN`` costs more than the query).

        ID numbers found once are remembered for the rest of the file (a resident has about
        five visits a year, so most rows of a large file repeat a resident already seen): the
        file is read against the register as it stood when the resident was first met, and
        the encounter's foreign key still guards against a record that disappears."""
        by_number = self._resident_ids
        if len(by_number) > RESIDENT_CACHE_SIZE:  # bounded memory on files of millions
            by_number.clear()
        numbers = list({r[3] for r in records if r[3]}.difference(by_number))
        record_nos = list({r[4] for r in records if r[4] and not r[3]})
        by_number.update(_select_in(
            f"SELECT {_q('id_number')}, {_q('id')} FROM {_q(Patient._meta.db_table)} "
            f"WHERE {_q('id_type')} = %s AND {_q('is_active')} = %s AND {_q('id_number')}",
            [IdentifierType.ID_CARD, True], numbers))
        by_record = {no: merged or pk for no, pk, merged in _select_in(
            f"SELECT {_q('health_record_no')}, {_q('id')}, {_q('merged_into_id')} "
            f"FROM {_q(Patient._meta.db_table)} WHERE {_q('health_record_no')}",
            [], record_nos)}
        kept: list[tuple[int, tuple[Any, ...]]] = []
        for r in records:
            if r[3]:
                pid = by_number.get(r[3])
                if pid is None:
                    self.reject(r[0], "resident_id_number", self._unknown_id(r[3]), r[2])
                    continue
            else:
                pid = by_record.get(r[4])
                if pid is None:
                    self.reject(r[0], "health_record_no",
                                _("No resident with health record number %(value)s.")
                                % {"value": r[4]}, r[2])
                    continue
            kept.append((pid, r))
        return kept

    def _stored(self, system: str, source_ids: list[str]) -> dict[str, tuple[int, str]]:
        table = _q(Encounter._meta.db_table)
        return {sid: (pk, digest) for sid, pk, digest in _select_in(
            f"SELECT {_q('source_id')}, {_q('id')}, {_q('source_hash')} FROM {table} "
            f"WHERE {_q('source_system')} = %s AND {_q('source_id')}", [system], source_ids)}

    # -- one chunk: prepare (no writes) and store (one transaction) -------------------------

    def process(self, chunk: list[tuple[int, list[str]]]) -> None:
        if not hasattr(self, "getter"):
            self._fast_setup()
        self._store(self._prepare(chunk))

    def _prepare(self, chunk: list[tuple[int, list[str]]]) -> _Piece:
        """Validate a chunk and resolve its residents (reads only): the rows to store as
        (line numbers, insert tuples in ``ENCOUNTER_FIELDS`` order, secondary diagnoses).
        Every other row is rejected here, with all its reasons."""
        records = self._columns(chunk)
        resolved = self._residents(records)
        # repeats of a source id inside the file: the first occurrence wins
        seen = self._seen
        keys = [(r[1], r[2]) for _pid, r in resolved]
        if len(set(keys)) == len(keys) and seen.keys().isdisjoint(keys):
            seen.update(zip(keys, [r[0] for _pid, r in resolved], strict=True))
        else:
            kept = []
            for item, key in zip(resolved, keys, strict=True):
                r = item[1]
                first = seen.get(key)
                if first is not None:
                    self.reject(r[0], "source_id",
                                _("The source id %(value)s appears again (first at row "
                                  "%(row)d).") % {"value": r[2], "row": first}, r[2])
                    continue
                seen[key] = r[0]
                kept.append(item)
            resolved = kept
        blake = hashlib.blake2b
        now = self.now_db
        rows = [(pid, *r[15], r[1], r[2],
                 blake(f"{pid}\x1f{r[5]}".encode("utf-8", "surrogatepass"),
                       digest_size=16).hexdigest(), now, now) for pid, r in resolved]
        return ([r[0] for _pid, r in resolved], rows, [r[13] for _pid, r in resolved])

    def _store(self, piece: _Piece) -> None:
        """Store prepared rows in one transaction: new ones inserted (with their diagnoses),
        unchanged ones counted, changed ones updated and audited.

        While the file brings only new source ids, the chunk is inserted at once and the
        unique constraint on (source system, source id) is the look-up: should it refuse, the
        chunk is rolled back to its savepoint and split by a look-up of the stored ids."""
        lines, rows, secondary = piece
        if not rows:
            return
        systems = {row[14] for row in rows}
        if len(systems) == 1:
            groups = [(rows[0][14], lines, rows, secondary)]
        else:
            by_system: dict[str, tuple[list[int], list[Any], list[list[str]]]] = {}
            for line, row, codes in zip(lines, rows, secondary, strict=True):
                group = by_system.setdefault(row[14], ([], [], []))
                group[0].append(line)
                group[1].append(row)
                group[2].append(codes)
            groups = [(system, *group) for system, group in by_system.items()]
        with transaction.atomic():
            groups = [self._with_references(*group) for group in groups]
            for system, g_lines, g_rows, g_secondary in groups:
                if self._all_new:
                    try:
                        with transaction.atomic():
                            ids = self._insert(system, g_rows)
                    except DatabaseError:
                        self._all_new = False  # something is stored (or refused): look up
                    else:
                        self._inserted(ids, g_rows, g_secondary)
                        continue
                self._store_known(system, g_lines, g_rows, g_secondary)

    # -- references confirmed once per chunk ------------------------------------------------

    def _references_checked_here(self, on: bool) -> None:
        """SQLite, two processes: hand the row-by-row foreign-key check of new encounters
        from SQLite to ``_with_references`` (``on``) or back (ADR 0004). SQLite's check costs
        about 2 µs of the importing process's 15 µs per row, and the reading process has
        already resolved every reference from committed data:

        * residents need no second look: a resident's record is never deleted (merging keeps
          the merged record; ``patients.receivers.refuse_resident_deletion``), so a resident
          found once exists for good;
        * institutions, departments and practitioners can be deleted in the back office
          while unused: ``_with_references`` confirms, for every chunk and on every database,
          the few that the chunk names.

        The pragma cannot change inside a transaction: it is set between chunks, on this
        connection only; every other connection keeps checking."""
        with connection.cursor() as cursor:
            cursor.execute(f"PRAGMA foreign_keys={'OFF' if on else 'ON'}")

    def _with_references(self, system: str, lines: list[int], rows: list[Any],
                         secondary: list[list[str]],
                         ) -> tuple[str, list[int], list[Any], list[list[str]]]:
        """The group without the rows whose institution, department or practitioner was
        deleted since the rows were checked, each rejected with its reason (rather than the
        whole chunk failing on the foreign key at commit). One query per registry table, in
        the chunk's transaction: SQLite holds the write lock since BEGIN; PostgreSQL locks
        the rows found (``FOR KEY SHARE``) so that they cannot go before the commit."""
        missing: dict[int, set[int]] = {}
        for position, model in ((2, Institution), (3, Department), (4, Practitioner)):
            wanted = {row[position] for row in rows} - {None}
            missing[position] = wanted - bulk.existing_ids(model, wanted, lock=True)
        if not any(missing.values()):
            return system, lines, rows, secondary
        reasons = {  # position in the row → (the file's column, why)
            2: ("institution_code",
                _("The institution was deleted while the file was being imported.")),
            3: ("department_code",
                _("The department was deleted while the file was being imported.")),
            4: ("practitioner_code",
                _("The practitioner was deleted while the file was being imported.")),
        }
        kept: tuple[list[int], list[Any], list[list[str]]] = ([], [], [])
        for line, row, codes in zip(lines, rows, secondary, strict=True):
            gone = [position for position, ids in missing.items() if row[position] in ids]
            if gone:
                self.reject(line, *reasons[gone[0]], row[15])
                continue
            kept[0].append(line)
            kept[1].append(row)
            kept[2].append(codes)
        return system, *kept

    def _store_known(self, system: str, lines: list[int], rows: list[Any],
                     secondary: list[list[str]]) -> None:
        stored = self._stored(system, [row[15] for row in rows])
        self._all_new = not stored
        if stored:
            fresh: _Piece = ([], [], [])
            for line, row, codes in zip(lines, rows, secondary, strict=True):
                hit = stored.get(row[15])
                if hit is None:
                    fresh[0].append(line)
                    fresh[1].append(row)
                    fresh[2].append(codes)
                elif hit[1] == row[16]:
                    self.report.unchanged += 1
                else:
                    self._update(line, row, codes, hit[0])
                    self.report.updated += 1
            lines, rows, secondary = fresh
        if not rows:
            return
        try:
            with transaction.atomic():
                ids = self._insert(system, rows)
        except DatabaseError:
            ids = self._one_by_one(system, lines, rows)
        self._inserted(ids, rows, secondary)

    def _insert(self, system: str, rows: list[Any]) -> list[int | None]:
        """Insert new encounters; their ids in ``rows`` order."""
        if self.sqlite:
            # SQLite: the IMMEDIATE transaction holds the write lock since BEGIN, so the
            # ids can be given here.
            first = bulk.next_id(Encounter)
            bulk.insert_rows(Encounter, ("id", *ENCOUNTER_FIELDS),
                             [(first + i, *row) for i, row in enumerate(rows)])
            return list(range(first, first + len(rows)))
        # PostgreSQL: COPY; a row inserted meanwhile by another import fails the chunk,
        # which is then split by a look-up (and, if still refused, inserted row by row).
        bulk.insert_rows(Encounter, ENCOUNTER_FIELDS, rows)
        stored = self._stored(system, [row[15] for row in rows])
        return [stored[row[15]][0] for row in rows]

    def _inserted(self, ids: list[int | None], rows: list[Any],
                  secondary: list[list[str]]) -> None:
        """Count inserted rows and insert their secondary diagnoses (``None``: refused)."""
        diagnoses = [(pk, rank, code) for pk, codes in zip(ids, secondary, strict=True)
                     if codes and pk is not None for rank, code in enumerate(codes, 1)]
        new = [pk for pk in ids if pk is not None]
        self.report.inserted += len(new)
        self.new_ids.extend(new)
        if diagnoses:  # new encounters: their diagnoses cannot conflict
            if self.sqlite:
                bulk.insert_json_rows(Diagnosis, ("encounter", "rank", "code"), diagnoses)
            else:
                bulk.insert_rows(Diagnosis, ("encounter", "rank", "code"), diagnoses)

    def _one_by_one(self, system: str, lines: list[int],
                    rows: list[Any]) -> list[int | None]:
        """The chunk's insert failed (a constraint the checks did not foresee): insert row by
        row so that the good rows are kept and the bad one is rejected with the database's
        reason, never lost silently."""
        refused = {}
        for row in rows:
            try:
                with transaction.atomic():
                    bulk.insert_rows(Encounter, ENCOUNTER_FIELDS, [row], ignore_conflicts=True)
            except DatabaseError as exc:
                refused[row[15]] = str(exc)
        stored = self._stored(system, [row[15] for row in rows])
        ids: list[int | None] = []
        for line, row in zip(lines, rows, strict=True):
            sid = row[15]
            if sid not in stored or sid in refused:
                self.reject(line, "", _("The database refused the row: %(error)s")
                            % {"error": refused.get(sid) or _("a constraint was violated")},
                            sid)
                ids.append(None)
            else:
                ids.append(stored[sid][0])
        return ids

    def _update(self, line: int, row: tuple[Any, ...], secondary: list[str], pk: int) -> None:
        """A corrected row: same source id, new content. Updated through the ORM and
        audited with the changed fields (rules.md §11)."""
        encounter = Encounter.objects.get(pk=pk)
        start, end = row[5], row[6]
        money = list(row[8:14])
        if self.sqlite:  # the insert tuple holds SQLite's text forms
            start = dt.datetime.fromisoformat(start).replace(tzinfo=dt.UTC)
            end = dt.datetime.fromisoformat(end).replace(tzinfo=dt.UTC) if end else None
            money = [Decimal(m) for m in money]
        values: dict[str, Any] = {
            "patient_id": row[0], "encounter_class": row[1], "institution_id": row[2],
            "department_id": row[3], "practitioner_id": row[4], "start": start, "end": end,
            "primary_diagnosis": row[7], "total": money[0], "drugs": money[1],
            "consumables": money[2], "examinations": money[3], "services": money[4],
            "insurance_paid": money[5], "source_hash": row[16],
        }
        changes = services._changes(encounter, values)
        for name, value in values.items():
            setattr(encounter, name, value)
        encounter.save()
        services.keep_diagnoses(encounter, secondary, new=False)
        self.new_ids.append(pk)
        audit.record(AuditEvent.Action.UPDATE, user=self.user,
                     object_type=services.ENCOUNTER_TYPE, object_id=pk, patient_id=row[0],
                     summary=f"{row[14]}:{row[15]} {self.path.name} row {line}",
                     changes=changes)

    # -- two processes ----------------------------------------------------------------------
    #
    # Reading, checking and resident look-ups (reads only) run in a child process while this
    # process stores the previous chunk: on two cores the import then takes about as long as
    # the database writes alone. The child has its own database connection, so it can only
    # be used when the caller has no open transaction (whose rows the child would not see).

    def _pipelined(self, size: int, bar: tqdm[Any]) -> bool:
        if (size < PIPELINE_MIN_BYTES or connection.in_atomic_block
                or connection.vendor not in ("sqlite", "postgresql")):
            return False
        methods = multiprocessing.get_all_start_methods()
        context: Any = multiprocessing.get_context(
            PIPELINE_START_METHOD or ("fork" if "fork" in methods else "spawn"))
        # what the reading process needs to check the file exactly as this one would
        job = {"path": str(self.path), "source_system": self.source_system,
               "language": translation.get_language(), "now": self.now,
               "settings_module": os.environ.get("DJANGO_SETTINGS_MODULE", "tiercare.settings"),
               "database": dict(connection.settings_dict),
               "start_method": context.get_start_method()}
        queue = context.Queue(maxsize=PIPELINE_DEPTH)
        if job["start_method"] == "fork":
            worker = context.Process(target=_encounter_worker, args=(job, queue), daemon=True)
        else:
            worker = context.Process(target=exec, daemon=True,
                                     args=(_SPAWN_ENTRY, {"job": job, "queue": queue}))
        worker.start()
        checkpoints = _Checkpointer() if self.sqlite else None
        if self.sqlite:
            self._references_checked_here(True)

        def receive() -> Any:
            while True:
                try:
                    return queue.get(timeout=1)
                except queue_module.Empty:
                    if not worker.is_alive():
                        raise RuntimeError(f"the import's reading process ended unexpectedly "
                                           f"(exit code {worker.exitcode})") from None

        try:
            done = False
            first = True
            while not done:
                # one transaction for what is ready, up to about CHUNK_SIZE rows
                pieces = [receive()]
                rows = 0
                while pieces[-1][0] == "piece":
                    rows += len(pieces[-1][1])
                    if rows >= CHUNK_SIZE:
                        break
                    if first:  # start storing at once; later wait for a whole chunk
                        try:
                            pieces.append(queue.get_nowait())
                        except queue_module.Empty:
                            break
                    else:
                        pieces.append(receive())
                first = False
                batch: _Piece = ([], [], [])
                for piece in pieces:
                    kind = piece[0]
                    if kind == "piece":
                        batch[0].extend(piece[1])
                        batch[1].extend(piece[2])
                        batch[2].extend(piece[3])
                        bar.update(piece[4] - bar.n)
                    elif kind == "end":
                        self.report.read = piece[1]
                        self.rejects.extend(_Reject(*r) for r in piece[2])
                        done = True
                    elif kind == "file-error":
                        raise ImportFileError(piece[1])
                    else:
                        raise RuntimeError(f"the import's reading process failed:\n{piece[1]}")
                self._store(batch)
                if checkpoints is not None:
                    checkpoints.request()
        finally:
            if self.sqlite:
                self._references_checked_here(False)
            if checkpoints is not None:
                checkpoints.close()
            worker.join(timeout=5)
            if worker.is_alive():
                worker.terminate()
                worker.join()
            queue.close()
        return True

    def finish_file(self) -> None:
        """Link settlements imported before their encounters (by encounter reference)."""
        if not self.new_ids:
            return
        waiting = Settlement.objects.filter(encounter__isnull=True).exclude(encounter_ref="")
        if not waiting.exists():
            return
        for start in range(0, len(self.new_ids), CHUNK_SIZE):
            with transaction.atomic():
                self.report.linked += services.link_waiting_settlements(
                    self.new_ids[start:start + CHUNK_SIZE])


# --------------------------------------------------------------------------- reading process

#: ID numbers the reading process remembers (about 150 bytes each) before starting afresh.
RESIDENT_CACHE_SIZE = 300_000
#: Files smaller than this are imported in one process (starting a second one costs more).
PIPELINE_MIN_BYTES = 1 << 20
#: Rows the reading process checks at a time, and how many such pieces it may run ahead.
PIECE_SIZE = 5000
PIPELINE_DEPTH = 8
#: ``None``: ``fork`` where the platform has it, else ``spawn``.
PIPELINE_START_METHOD: str | None = None
#: Connections inherited through ``fork`` belong to the parent: they are kept referenced (never
#: closed or collected, which would end the parent's session) and the child opens its own.
_INHERITED: list[Any] = []


class _Checkpointer:
    """Moves SQLite's WAL checkpoints off the importing thread: while it lives, this
    connection does not checkpoint at commit (``wal_autocheckpoint=0``); a thread with its own
    connection runs a PASSIVE checkpoint after each commit instead, so that copying the pages
    into the database file and its ``fsync`` overlap the next chunk's inserts (the sqlite3
    module releases the GIL while SQLite works). Durability is unchanged: a commit is durable
    in the WAL (``synchronous=NORMAL``) either way. The last checkpoint is waited for."""

    def __init__(self) -> None:
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA wal_autocheckpoint")
            row = cursor.fetchone()
            self.pages = int(row[0]) if row else 1000
            cursor.execute("PRAGMA wal_autocheckpoint=0")
        self.wanted = threading.Event()
        self.stopping = False
        self.thread = threading.Thread(target=self._work, args=(connection.settings_dict["NAME"],),
                                       name="tiercare-wal-checkpoint", daemon=True)
        self.thread.start()

    def _work(self, name: str) -> None:
        db = sqlite3.connect(name, timeout=20, isolation_level=None, check_same_thread=False)
        try:
            while True:
                self.wanted.wait()
                self.wanted.clear()
                db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                if self.stopping:
                    return
        except sqlite3.Error:
            return  # the WAL is checkpointed at a later commit (wal_autocheckpoint restored)
        finally:
            db.close()

    def request(self) -> None:
        self.wanted.set()

    def close(self) -> None:
        self.stopping = True
        self.wanted.set()
        self.thread.join()
        with connection.cursor() as cursor:
            cursor.execute(f"PRAGMA wal_autocheckpoint={int(self.pages)}")


#: How a ``spawn``-started reading process begins: Django must be set up before this module
#: (which imports models) can be imported, so the entry point is source text run by ``exec``
#: with the job (plain values) and the queue as its globals.
_SPAWN_ENTRY = """
import os
os.environ["DJANGO_SETTINGS_MODULE"] = job["settings_module"]
import django
django.setup()
from tiercare.encounters.importers import _encounter_worker
_encounter_worker(job, queue)
"""


def _encounter_worker(job: dict[str, Any], queue: Any) -> None:
    """Reading process: read, check and resolve the file's rows and send them, piece by
    piece, as ("piece", lines, insert tuples, secondary diagnoses, file position); at the end
    ("end", rows read, rejects). Writes nothing."""
    try:
        from django.db import connections

        if job["start_method"] == "fork":
            for conn in connections.all(initialized_only=True):
                _INHERITED.append(conn.connection)
                conn.connection = None
        else:  # a fresh interpreter: the same database as the importing process (tests)
            connections["default"].settings_dict.update(job["database"])
        translation.activate(job["language"])
        gc.disable()
        importer = EncounterImporter(job["path"], source_system=job["source_system"],
                                     progress=False, rejects_path=None, user=None)
        importer.now = job["now"]
        importer.now_db = importer.db_time(job["now"])
        importer.today = timezone.localdate(job["now"])
        raw, text = importer._open()
        try:
            records = importer._after_header(_record_blocks(text))
            importer.index = importer._header(importer.header)
            importer.prepare_file()
            importer._fast_setup()
            for chunk, position in importer._chunks(records, raw, PIECE_SIZE):
                lines, rows, secondary = importer._prepare(chunk)
                queue.put(("piece", lines, rows, secondary, position))
        finally:
            text.close()
        queue.put(("end", importer.report.read,
                   [(r.line, r.column, r.reason, r.source_id) for r in importer.rejects]))
    except ImportFileError as exc:
        queue.put(("file-error", str(exc)))
    except BaseException:  # reported to the importing process
        import traceback

        queue.put(("error", traceback.format_exc()))
    finally:
        queue.close()
        queue.join_thread()


# --------------------------------------------------------------------------- settlements

SETTLEMENT_FIELDS = (
    "patient", "scheme", "in_county", "institution", "institution_name", "institution_level",
    "division_code", "encounter_class", "start_date", "end_date", "diagnosis", "total",
    "fund_paid", "self_paid", "encounter", "encounter_ref", "settled_at", "source_system",
    "source_id", "source_hash", "created_at", "updated_at",
)


class SettlementImporter(_Importer):
    kind = "settlements"
    columns = SETTLEMENT_COLUMNS
    model = Settlement

    def prepare_file(self) -> None:
        self.institutions = {code: (pk, name, level, division) for pk, code, name, level, division
                             in Institution.objects.values_list("id", "code", "name", "level",
                                                                "division_code")}

    def parse_row(self, line: int, row: list[str]) -> _Prepared | None:
        errors: list[tuple[str, str]] = []
        p = self.start_row(line, row, errors)
        cell = self.cell
        parse = self.parse
        institution_id = None
        name = cell(row, "institution_name")
        level_text = cell(row, "institution_level")
        division = cell(row, "division_code")
        code = cell(row, "institution_code")
        if code:
            known = self.institutions.get(code)
            if known is None:
                errors.append(("institution_code", _("No institution with code “%(value)s”.")
                               % {"value": code}))
            else:
                institution_id = known[0]
                name = name or known[1]
                level_text = level_text or known[2]
                division = division or known[3]
        if not name:
            errors.append(("institution_name", _("A value is required.")))
        elif len(name) > 200:
            errors.append(("institution_name", _("At most %(n)d characters.") % {"n": 200}))
        level = LEVEL_ALIASES.get(level_text.lower())
        if level is None:
            errors.append(("institution_level",
                           _("Unknown institution level “%(value)s” (use provincial, city, "
                             "county, township or village).") % {"value": level_text}
                           if level_text else _("A value is required.")))
        if not division:
            errors.append(("division_code", _("A value is required.")))
        elif divisions.lookup(division) is None:
            errors.append(("division_code", _("Unknown division code “%(value)s”.")
                           % {"value": division}))
            division = ""
        scheme = cell(row, "scheme").lower()
        if scheme and scheme not in Scheme.values:
            errors.append(("scheme", _("Unknown insurance scheme “%(value)s” (use resident, "
                                       "employee or none).") % {"value": scheme}))
        in_county_text = cell(row, "in_county").lower()
        in_county: bool | None = None
        if in_county_text in _TRUE:
            in_county = True
        elif in_county_text in _FALSE:
            in_county = False
        elif in_county_text:
            errors.append(("in_county", _("“%(value)s” is not yes or no (use 1 or 0).")
                           % {"value": in_county_text}))
        klass = _encounter_class(cell(row, "encounter_class"), errors)
        start, end = _span(parse.day, cell, row, "start_date", "end_date", errors)
        settled_at = None
        try:
            settled_at = parse.moment(cell(row, "settled_at"))
            if settled_at is not None and settled_at > self.now:
                errors.append(("settled_at", _("The time %(value)s is in the future.")
                               % {"value": cell(row, "settled_at")}))
        except ValueError as exc:
            errors.append(("settled_at", str(exc)))
        diagnosis = ""
        try:
            diagnosis = parse.diagnosis(cell(row, "diagnosis"), required=True)
        except ValueError as exc:
            errors.append(("diagnosis", str(exc)))
        money: list[Decimal] = []
        for column in ("total", "fund_paid", "self_paid"):
            try:
                money.append(parse.amount(cell(row, column), required=True))
            except ValueError as exc:
                errors.append((column, str(exc)))
        if len(money) == 3:
            errors.extend((v.field, v.message) for v in rules.check_settlement_amounts(*money))
        if start is not None and klass is not None:
            errors.extend((v.field, v.message) for v in
                          rules.check_settlement_dates(klass, start, end, self.today))
        encounter_ref = cell(row, "encounter_ref")
        if len(encounter_ref) > 64:
            errors.append(("encounter_ref", _("At most %(n)d characters.") % {"n": 64}))
        if errors:
            for column, reason in errors:
                self.reject(line, column, reason, p.source_id)
            return None
        p.values = {
            "scheme": scheme, "in_county": in_county, "institution_id": institution_id,
            "institution_name": name, "institution_level": level, "division_code": division,
            "encounter_class": klass, "start_date": start, "end_date": end,
            "diagnosis": diagnosis, "total": money[0], "fund_paid": money[1],
            "self_paid": money[2], "encounter_ref": encounter_ref, "settled_at": settled_at,
        }
        return p

    def _resident_facts(self, rows: list[_Prepared]) -> dict[int, tuple[str, str]]:
        """(scheme, county) of every resident of the chunk: one query."""
        ids = {p.patient_id for p in rows}
        return {pk: (scheme, insured or (address or "")[:6]) for pk, scheme, insured, address in
                Patient.objects.filter(pk__in=ids).values_list(
                    "id", "scheme", "insured_county", "address_code")}

    def _check_county(self, rows: list[_Prepared]) -> list[_Prepared]:
        facts = self._resident_facts(rows)
        kept: list[_Prepared] = []
        for p in rows:
            scheme, county = facts[p.patient_id or 0]
            v = p.values
            v["patient_id"] = p.patient_id
            v["scheme"] = v["scheme"] or scheme
            problems: list[rules.Violation] = []
            if not county:
                if v["in_county"] is None:
                    problems.append(rules.Violation(
                        "in_county", "in_county_unknown",
                        _("Say whether the care was in the county: the resident has no "
                          "county on record.")))
            else:
                try:
                    if v["in_county"] is None:
                        v["in_county"] = rules.is_in_county(v["division_code"], county)
                    else:
                        problems.extend(rules.check_in_county(v["in_county"],
                                                              v["division_code"], county))
                except KernelError as exc:
                    problems.append(rules.Violation("in_county", exc.code, exc.translated(_)))
            if problems:
                for prob in problems:
                    self.reject(p.line, prob.field, prob.message, p.source_id)
                continue
            p.digest = services.settlement_digest(services._settlement_values(v))
            kept.append(p)
        return kept

    def _match(self, rows: list[_Prepared]) -> None:
        """Link each settlement to the encounter it pays for (rules.match_encounter), with one
        query for the candidates of the whole chunk."""
        wanted = [p for p in rows if p.values["in_county"] or p.values["institution_id"]]
        if not wanted:
            for p in rows:
                p.values["encounter_id"] = None
            return
        patients = {p.patient_id for p in wanted}
        refs = {p.values["encounter_ref"] for p in wanted if p.values["encounter_ref"]}
        lo = services.local_day_bounds(min(p.values["start_date"] for p in wanted))[0]
        hi = services.local_day_bounds(max(p.values["start_date"] for p in wanted))[1]
        from django.db.models import Q

        query = Q(start__gte=lo, start__lt=hi)
        if refs:
            query |= Q(source_id__in=refs)
        candidates: dict[int, list[rules.EncounterFacts]] = defaultdict(list)
        for pk, pid, inst, klass, start, sid, total in Encounter.objects.filter(
                query, patient_id__in=patients).values_list(
                "id", "patient_id", "institution_id", "encounter_class", "start", "source_id",
                "total"):
            candidates[pid].append(rules.EncounterFacts(
                pk, pid, inst, klass, timezone.localdate(start), sid, total))
        wanted_ids = {id(p) for p in wanted}
        for p in rows:
            v = p.values
            if id(p) in wanted_ids:
                v["encounter_id"] = rules.match_encounter(rules.SettlementFacts(
                    p.patient_id or 0, v["institution_id"], v["encounter_class"],
                    v["start_date"], v["encounter_ref"], v["total"]),
                    candidates.get(p.patient_id or 0, []))
            else:
                v["encounter_id"] = None

    def process(self, chunk: list[tuple[int, list[str]]]) -> None:
        prepared = [p for p in (self.parse_row(line, row) for line, row in chunk) if p]
        prepared = self._check_county(self.resolve_residents(prepared))
        new, known = self.split_known(prepared)
        changed = [(p, pk) for p, pk, stored in known if stored != p.digest]
        self.report.unchanged += len(known) - len(changed)
        self._match(new + [p for p, _pk in changed])
        now = self.now_db
        rows = [
            (p.patient_id, v["scheme"], v["in_county"], v["institution_id"],
             v["institution_name"], v["institution_level"], v["division_code"],
             v["encounter_class"], v["start_date"], v["end_date"], v["diagnosis"],
             v["total"], v["fund_paid"], v["self_paid"], v["encounter_id"], v["encounter_ref"],
             self.db_time(v["settled_at"]), p.source_system, p.source_id, p.digest, now, now)
            for p in new for v in (p.values,)
        ]
        with transaction.atomic():
            if rows:
                bulk.insert_rows(Settlement, SETTLEMENT_FIELDS, rows, ignore_conflicts=True)
                ids = self.ids_of(new)
                self.report.inserted += self.count_stored(new, ids)
            for p, pk in changed:
                self._update(p, pk)
                self.report.updated += 1

    def _update(self, p: _Prepared, pk: int) -> None:
        settlement = Settlement.objects.get(pk=pk)
        values = {k: v for k, v in p.values.items()}
        values["source_hash"] = p.digest
        changes = services._changes(settlement, values)
        for name, value in values.items():
            setattr(settlement, name, value)
        settlement.save()
        audit.record(AuditEvent.Action.UPDATE, user=self.user,
                     object_type=services.SETTLEMENT_TYPE, object_id=pk,
                     patient_id=p.patient_id,
                     summary=f"{p.source_system}:{p.source_id} {self.path.name} row {p.line}",
                     changes=changes)


# --------------------------------------------------------------------------- entry points


def import_encounters(path: str | os.PathLike[str], *, source_system: str | None = None,
                      progress: bool = True, rejects_path: str | os.PathLike[str] | None = None,
                      user: User | None = None) -> ImportReport:
    """Import an encounters CSV (template: docs/import-templates.md). Raises
    :class:`ImportFileError` when the file cannot be read or its header is wrong; bad rows
    are reported in the rejects file (default ``<file>.rejects.csv``)."""
    return EncounterImporter(path, source_system=source_system, progress=progress,
                             rejects_path=rejects_path, user=user).run()


def import_settlements(path: str | os.PathLike[str], *, source_system: str | None = None,
                       progress: bool = True, rejects_path: str | os.PathLike[str] | None = None,
                       user: User | None = None) -> ImportReport:
    """Import an insurance settlements CSV (template: docs/import-templates.md); same
    guarantees as :func:`import_encounters`. Import encounters first: a settlement is linked
    to its encounter when it arrives (by reference or by patient + institution + class + date),
    and encounters imported later are linked to waiting settlements by reference."""
    return SettlementImporter(path, source_system=source_system, progress=progress,
                              rejects_path=rejects_path, user=user).run()


IMPORTERS: dict[str, Callable[..., ImportReport]] = {
    "encounters": import_encounters,
    "settlements": import_settlements,
}
