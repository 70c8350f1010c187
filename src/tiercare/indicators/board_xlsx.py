"""Indicator tables as xlsx workbooks (issue 5 items 4 and 6: "any indicator table to
xlsx"), written with openpyxl like ``referrals.spreadsheets``.

One sheet per :class:`~tiercare.indicators.board.Table`: the table's title on row 1 (bold),
the header on row 2 (bold, frozen), one row per table row from row 3. Numbers stay numbers
(values in percent as written on the page — 89.69, not 0.8969 — with a number format that
shows the unit), so that the office can compute with them; texts stay texts. Each download
is one EXPORT event in the audit trail (aggregates only: no resident appears in a table).
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from decimal import Decimal

from django.http import HttpRequest, HttpResponse

from tiercare.accounts import audit
from tiercare.accounts.models import AuditEvent, User
from tiercare.indicators import rules
from tiercare.indicators.board import AMOUNT, Num, Table

CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
#: Excel's number format for each unit (values are in the unit as the page shows them).
NUMBER_FORMATS: dict[str, str] = {
    rules.Unit.PERCENT: '0.00"%"',
    rules.Unit.PERCENT_OF_PLAN: '0.00"%"',
    rules.Unit.PERCENT_CHANGE: '+0.00"%";-0.00"%";0.00"%"',
    rules.Unit.YUAN: '"¥"#,##0.00',
    AMOUNT: '"¥"#,##0.00',
    rules.Unit.HOURS: "0.00",
    rules.Unit.RATIO: "0.00",
    rules.Unit.PER_10K: "0.00",
    rules.Unit.COUNT: "#,##0",
}
_SHEET_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")


def sheet_name(title: str, taken: set[str]) -> str:
    """A sheet name Excel accepts (at most 31 characters, none of ``[]:*?/\\``), unique in
    the workbook."""
    base = _SHEET_FORBIDDEN.sub(" ", title).strip()[:31] or "Sheet"
    name, n = base, 1
    while name.lower() in taken:
        n += 1
        suffix = f" ({n})"
        name = base[:31 - len(suffix)] + suffix
    taken.add(name.lower())
    return name


def workbook(tables: Sequence[tuple[str, Table]]) -> bytes:
    """An xlsx workbook with one sheet per ``(sheet title, table)``."""
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    book = Workbook()
    first = book.active
    assert first is not None
    book.remove(first)
    taken: set[str] = set()
    for title, table in tables:
        sheet = book.create_sheet(sheet_name(title, taken))
        sheet.append([table.title])
        sheet["A1"].font = Font(bold=True, size=12)
        sheet.append(list(table.header))
        for cell in sheet[2]:
            cell.font = Font(bold=True)
        widths = [max(8, min(40, len(h) * 2 + 2)) for h in table.header]
        for row_number, row in enumerate(table.rows, start=3):
            for column, value in enumerate(row, start=1):
                cell = sheet.cell(row=row_number, column=column)
                if isinstance(value, Num):
                    cell.value = value.value
                    if value.value is not None:
                        cell.number_format = NUMBER_FORMATS.get(value.unit, "0.00")
                elif isinstance(value, int | Decimal):
                    cell.value = value
                else:
                    cell.value = "" if value is None else str(value)
                    widths[column - 1] = max(widths[column - 1],
                                             min(40, len(str(value or "")) * 2))
        for column, width in enumerate(widths, start=1):
            sheet.column_dimensions[get_column_letter(column)].width = width
        sheet.freeze_panes = "B3"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def response(tables: Sequence[tuple[str, Table]], filename: str, *, user: User | None,
             request: HttpRequest | None = None) -> HttpResponse:
    """The workbook as a download named ``filename`` (ASCII, ``.xlsx`` added), audited as
    one export."""
    body = workbook(tables)
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", filename).strip("_") or "indicators"
    result = HttpResponse(body, content_type=CONTENT_TYPE)
    result["Content-Disposition"] = f'attachment; filename="{safe}.xlsx"'
    audit.record(AuditEvent.Action.EXPORT, user=user, request=request,
                 object_type="indicators.table", object_id=safe,
                 summary="; ".join(table.title for _t, table in tables))
    return result
