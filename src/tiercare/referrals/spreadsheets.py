"""Export and import of a tiered disease catalogue as a spreadsheet (xlsx, with openpyxl).

Format (``docs/referrals.md``): one sheet, the header on row 1 in Chinese (the English field
names are accepted too), one entry per row:

====================  ===============  ===========================================
column (header)       field            content
====================  ===============  ===========================================
ICD-10编码             code_first       a code (``E11``, ``K92.2``) or a range ``I10-I15``
ICD-10终止类目          code_last        last category of a range, empty for one code
疾病名称                name_zh          Chinese name (empty: the curated ICD-10 name)
最低诊疗层级            level            村级/乡镇级/县级/市级/省级 or village … provincial
上转标准                up_criteria      words
下转标准                down_criteria    words
依据来源                source           the document the row follows
====================  ===============  ===========================================

Import guarantees, as the CSV importers (DESIGN.md "Bad input"): each row is checked alone
and against the catalogue; valid rows are upserted on their code range (importing the same
file twice changes nothing); every rejected row is reported with its row number (as the
spreadsheet shows it), its column and the reason in the user's language, and written to a
rejects file next to the workbook; a file that is not an xlsx workbook or lacks a required
column is refused as a whole with a clear message and nothing written.
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpResponse
from django.utils.translation import gettext as _

from tiercare.accounts import audit
from tiercare.accounts.models import AuditEvent, User
from tiercare.referrals import rules, services
from tiercare.referrals.models import DiseaseCatalogue

MAX_ROWS = 20_000
COLUMNS: tuple[tuple[str, str], ...] = (
    ("code_first", "ICD-10编码"),
    ("code_last", "ICD-10终止类目"),
    ("name_zh", "疾病名称"),
    ("level", "最低诊疗层级"),
    ("up_criteria", "上转标准"),
    ("down_criteria", "下转标准"),
    ("source", "依据来源"),
)
REQUIRED = ("code_first", "level")
HEADER_NAMES: dict[str, str] = {
    **{zh: key for key, zh in COLUMNS}, **{key: key for key, _zh in COLUMNS},
}
ZH = dict(COLUMNS)


class SpreadsheetError(Exception):
    """The file cannot be imported at all; the message is translated; nothing was written."""


@dataclass
class Reject:
    row: int
    column: str
    reason: str


@dataclass
class ImportReport:
    """What an import did: ``read = inserted + updated + unchanged + rejected``."""

    path: str
    read: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejects: list[Reject] = field(default_factory=list)
    rejects_path: str | None = None

    @property
    def rejected(self) -> int:
        return len({r.row for r in self.rejects})

    def summary(self) -> str:
        text = _("%(path)s: %(read)d rows read, %(inserted)d inserted, %(updated)d updated, "
                 "%(unchanged)d unchanged, %(rejected)d rejected.") % {
            "path": self.path, "read": self.read, "inserted": self.inserted,
            "updated": self.updated, "unchanged": self.unchanged, "rejected": self.rejected}
        if self.rejects_path:
            text += " " + _("Rejected rows and reasons: %(path)s") % {"path": self.rejects_path}
        return text


# --- export -------------------------------------------------------------------------------------


def export_catalogue(catalogue: DiseaseCatalogue,
                     target: str | os.PathLike[str] | IO[bytes] | HttpResponse, *,
                     user: User | None = None) -> int:
    """Write the catalogue to an xlsx workbook (header in Chinese, one row per entry, levels
    by their Chinese names); returns the number of entries. Audited as an export."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "疾病诊疗目录"
    sheet.append([zh for _key, zh in COLUMNS])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    count = 0
    for entry in catalogue.entries.order_by("code_first", "code_last"):
        sheet.append([entry.code_first, entry.code_last, entry.name_zh,
                      rules.LEVEL_NAMES_ZH[entry.level], entry.up_criteria,
                      entry.down_criteria, entry.source])
        count += 1
    for letter, width in zip("ABCDEFG", (12, 12, 24, 12, 60, 60, 40), strict=True):
        sheet.column_dimensions[letter].width = width
    sheet.freeze_panes = "A2"
    workbook.save(target)
    audit.record(AuditEvent.Action.EXPORT, user=user, object_type=catalogue._meta.label,
                 object_id=catalogue.pk, summary=f"{catalogue.name}: {count}")
    return count


# --- import -------------------------------------------------------------------------------------


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def _read_rows(source: str | os.PathLike[str] | IO[bytes]) -> tuple[dict[str, int],
                                                                      list[tuple[int, list[str]]]]:
    """The column index by field and the non-blank data rows ``(row number, cells)``."""
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(source, read_only=True, data_only=True)
    except Exception as exc:  # zipfile.BadZipFile, InvalidFileException, KeyError, OSError …
        raise SpreadsheetError(_("The file is not an Excel workbook (.xlsx) that can be read: "
                                 "save it as .xlsx and try again.")) from exc
    try:
        sheet = workbook.worksheets[0] if workbook.worksheets else None
        if sheet is None:
            raise SpreadsheetError(_("The workbook has no sheet."))
        rows = sheet.iter_rows(values_only=True)
        header = next(rows, None)
        if header is None:
            raise SpreadsheetError(_("The sheet is empty: the first row must be the header."))
        index: dict[str, int] = {}
        unknown: list[str] = []
        for position, value in enumerate(header):
            name = _cell_text(value)
            if not name:
                continue
            key = HEADER_NAMES.get(name) or HEADER_NAMES.get(name.lower())
            if key is None:
                unknown.append(name)
            elif key not in index:
                index[key] = position
        missing = [ZH[key] for key in REQUIRED if key not in index]
        if missing:
            raise SpreadsheetError(
                _("The first row must be the header; required columns are missing: "
                  "%(missing)s. Expected columns: %(expected)s.") % {
                    "missing": "、".join(missing),
                    "expected": "、".join(zh for _key, zh in COLUMNS)})
        data: list[tuple[int, list[str]]] = []
        for number, row in enumerate(rows, start=2):
            cells = [_cell_text(v) for v in row]
            if not any(cells):
                continue
            if len(data) >= MAX_ROWS:
                raise SpreadsheetError(_("The sheet has more than %(max)d rows; split it.")
                                       % {"max": MAX_ROWS})
            data.append((number, cells))
        return index, data
    finally:
        workbook.close()


def import_catalogue(catalogue: DiseaseCatalogue, source: str | os.PathLike[str] | IO[bytes], *,
                     rejects_path: str | os.PathLike[str] | None = None, write_rejects: bool = True,
                     user: User | None = None) -> ImportReport:
    """Import a workbook into ``catalogue``: valid rows upserted on their code range, rejected
    rows reported (and written to ``rejects_path``, default ``FILE.rejects.csv``, when the
    source is a path). Raises :class:`SpreadsheetError` for a file that cannot be read."""
    label = str(source) if isinstance(source, str | os.PathLike) else getattr(
        source, "name", "upload.xlsx")
    index, data = _read_rows(source)
    report = ImportReport(path=label, read=len(data))
    with transaction.atomic():
        existing = {(e.code_first, e.code_last): e for e in catalogue.entries.all()}
        accepted: dict[tuple[str, str], tuple[int, rules.Entry]] = {}
        for number, cells in data:
            values = {key: (cells[i] if i < len(cells) else "") for key, i in index.items()}
            entry_input = services.EntryInput(**{k: values.get(k, "") for k, _zh
                                                 in COLUMNS})
            try:
                first, last = rules.parse_range(entry_input.code_first, entry_input.code_last)
            except rules.CatalogueRuleError:
                first = last = ""
            key = (first, last)
            if first and key in accepted:
                report.rejects.append(Reject(number, ZH["code_first"], _(
                    "The same code or range is already on row %(row)d.") % {
                    "row": accepted[key][0]}))
                continue
            peers: list[rules.EntryLike] = [
                *(e for k, e in existing.items() if k != key and k not in accepted),
                *(entry for _n, entry in accepted.values())]
            try:
                clean = services.clean_entry(entry_input, peers)
            except ValidationError as err:
                for name, errors in err.message_dict.items():
                    for message in errors:
                        report.rejects.append(Reject(number, ZH.get(name, name), message))
                continue
            accepted[(clean.code_first, clean.code_last)] = (number, clean)
        result = services.upsert_entries(catalogue, [e for _n, e in accepted.values()])
        report.inserted, report.updated, report.unchanged = (
            result.inserted, result.updated, result.unchanged)
        audit.record(AuditEvent.Action.IMPORT, user=user, object_type=catalogue._meta.label,
                     object_id=catalogue.pk, summary=f"{label}"[:300],
                     changes={"read": report.read, "inserted": report.inserted,
                              "updated": report.updated, "rejected": report.rejected,
                              "changed": result.changed[:50]})
    if write_rejects and isinstance(source, str | os.PathLike):
        target = Path(rejects_path) if rejects_path else Path(f"{source}.rejects.csv")
        if report.rejects:
            target.write_text(rejects_csv(report), encoding="utf-8-sig")
            report.rejects_path = str(target)
        elif target.exists():
            target.unlink()  # it described an earlier run of this file
    return report


def rejects_csv(report: ImportReport) -> str:
    """The rejected rows as CSV text: row, column, reason (headers in the user's language)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([_("row"), _("column"), _("reason")])
    for r in sorted(report.rejects, key=lambda r: r.row):
        writer.writerow([r.row, r.column, r.reason])
    return out.getvalue()
