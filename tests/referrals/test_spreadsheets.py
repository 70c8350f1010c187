"""xlsx export and import of a catalogue (issue 4 item 1: "import and export as a spreadsheet
with row-level errors"; DESIGN.md "Bad input"), given/when/then."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import translation
from openpyxl import Workbook, load_workbook

from tiercare.accounts.models import AuditEvent
from tiercare.referrals import services, spreadsheets
from tiercare.referrals.models import DiseaseCatalogue

pytestmark = pytest.mark.django_db

HEADER = [zh for _key, zh in spreadsheets.COLUMNS]


def workbook(path, rows, header=HEADER):
    book = Workbook()
    sheet = book.active
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    book.save(path)
    return path


def snapshot(catalogue):
    return sorted(catalogue.entries.values_list(*services.ENTRY_FIELDS))


def test_export_writes_a_chinese_header_and_one_row_per_entry(default_catalogue, tmp_path):
    target = tmp_path / "out.xlsx"
    count = spreadsheets.export_catalogue(default_catalogue, target)
    sheet = load_workbook(target).active
    rows = list(sheet.iter_rows(values_only=True))
    assert list(rows[0]) == HEADER
    assert len(rows) - 1 == count == default_catalogue.entries.count()
    assert ("I10", "I15") in {(r[0], r[1]) for r in rows[1:]}
    assert {r[3] for r in rows[1:]} <= {"村级", "乡镇级", "县级", "市级", "省级"}
    assert AuditEvent.objects.filter(action=AuditEvent.Action.EXPORT).exists()


def test_export_then_import_changes_nothing(default_catalogue, tmp_path):
    # given the default exported
    before = snapshot(default_catalogue)
    target = tmp_path / "round.xlsx"
    spreadsheets.export_catalogue(default_catalogue, target)
    # when the same file is imported back
    report = spreadsheets.import_catalogue(default_catalogue, target)
    # then every row is unchanged and nothing was rejected
    assert report.unchanged == report.read == len(before)
    assert report.inserted == report.updated == report.rejected == 0
    assert snapshot(default_catalogue) == before
    assert not (tmp_path / "round.xlsx.rejects.csv").exists()


def test_good_rows_are_imported_and_bad_rows_listed_with_row_column_and_reason(tmp_path):
    catalogue = services.create_catalogue(None)
    path = workbook(tmp_path / "in.xlsx", [
        ["I10", "I15", "高血压病", "乡镇级", "血压不达标", "稳定", "seed 001 §21"],  # row 2 ok
        ["U99", "", "不存在", "县级", "", "", ""],                                  # row 3
        ["I10", "", "原发性高血压", "village", "", "", ""],                          # row 4 ok
        ["I15", "I10", "反了", "县级", "", "", ""],                                  # row 5
        [None, None, None, None, None, None, None],                                  # blank
        ["J44", "", "慢阻肺", "医院", "", "", ""],                                   # row 7
        ["I13", "I22", "交叉", "县级", "", "", ""],                                  # row 8
        ["I10", "I15", "重复", "县级", "", "", ""],                                  # row 9
        ["e11", "", "", "村", "", "", ""],                                          # row 10 ok
    ])
    with translation.override("en"):
        report = spreadsheets.import_catalogue(catalogue, path)
    assert (report.read, report.inserted, report.rejected) == (8, 3, 5)
    by_row = {r.row: r for r in report.rejects}
    assert sorted(by_row) == [3, 5, 7, 8, 9]
    assert by_row[3].column == "ICD-10编码" and "does not exist" in by_row[3].reason
    assert by_row[5].column == "ICD-10终止类目" and "reversed" in by_row[5].reason
    assert by_row[7].column == "最低诊疗层级"
    assert by_row[8].column == "ICD-10终止类目" and "overlaps" in by_row[8].reason
    assert "row 2" in by_row[9].reason
    assert set(catalogue.entries.values_list("code_first", "code_last")) == {
        ("I10", "I15"), ("I10", ""), ("E11", "")}
    # and the rejects file next to the workbook lists them
    rejects = (tmp_path / "in.xlsx.rejects.csv").read_text(encoding="utf-8-sig")
    assert rejects.splitlines()[0] == "row,column,reason" and len(rejects.splitlines()) == 6
    # and importing the same file again changes nothing
    again = spreadsheets.import_catalogue(catalogue, path)
    assert again.inserted == again.updated == 0 and again.unchanged == 3


def test_reasons_are_in_chinese_for_a_chinese_user(tmp_path):
    catalogue = services.create_catalogue(None)
    path = workbook(tmp_path / "zh.xlsx", [["U99", "", "x", "县级", "", "", ""]])
    with translation.override("zh-hans"):
        report = spreadsheets.import_catalogue(catalogue, path)
    assert "不存在" in report.rejects[0].reason


def test_an_import_updates_a_changed_row(default_catalogue, tmp_path):
    path = workbook(tmp_path / "up.xlsx", [["K29", "", "胃炎和十二指肠炎", "乡镇级", "a", "b",
                                            "c"]])
    report = spreadsheets.import_catalogue(default_catalogue, path)
    assert report.updated == 1
    assert default_catalogue.entries.get(code_first="K29").level == "township"


def test_english_headers_are_accepted(tmp_path):
    catalogue = services.create_catalogue(None)
    path = workbook(tmp_path / "en.xlsx", [["J44", "", "慢阻肺", "township"]],
                    header=["code_first", "code_last", "name_zh", "level"])
    assert spreadsheets.import_catalogue(catalogue, path).inserted == 1


@pytest.mark.parametrize("content", [b"", b"code,level\nI10,village\n", b"PK\x03\x04broken"])
def test_a_file_that_is_not_xlsx_is_refused_with_a_clear_message(tmp_path, content):
    catalogue = services.create_catalogue(None)
    path = tmp_path / "bad.xlsx"
    path.write_bytes(content)
    with translation.override("en"), pytest.raises(spreadsheets.SpreadsheetError) as caught:
        spreadsheets.import_catalogue(catalogue, path)
    assert "not an Excel workbook" in str(caught.value)


def test_a_wrong_header_is_refused_and_nothing_written(tmp_path):
    catalogue = services.create_catalogue(None)
    path = workbook(tmp_path / "h.xlsx", [["I10", "village"]], header=["编码", "层级"])
    with translation.override("en"), pytest.raises(spreadsheets.SpreadsheetError) as caught:
        spreadsheets.import_catalogue(catalogue, path)
    assert "ICD-10编码" in str(caught.value) and "最低诊疗层级" in str(caught.value)
    assert catalogue.entries.count() == 0


def test_the_commands_export_and_import(default_catalogue, alliance, tmp_path):
    out = StringIO()
    target = tmp_path / "cat.xlsx"
    call_command("export_catalogue", "-o", str(target), stdout=out)
    # when imported for an alliance that has no catalogue yet
    call_command("import_catalogue", str(target), "--alliance", "A1", "--language", "en",
                 stdout=out)
    own = DiseaseCatalogue.objects.get(alliance=alliance)
    assert snapshot(own) == snapshot(default_catalogue)
    assert "0 rejected" in out.getvalue()


def test_the_import_command_refuses_a_bad_file_without_a_traceback(alliance, tmp_path):
    path = tmp_path / "x.xlsx"
    path.write_text("not a workbook")
    with pytest.raises(CommandError) as caught:
        call_command("import_catalogue", str(path), "--alliance", "A1", "--language", "en")
    assert caught.value.returncode == 2
    assert not DiseaseCatalogue.objects.filter(alliance=alliance).exists()
    with pytest.raises(CommandError):
        call_command("import_catalogue", str(path), "--alliance", "NOPE")


def test_the_import_command_lists_rejected_rows(tmp_path, default_catalogue):
    path = workbook(tmp_path / "r.xlsx", [["U99", "", "x", "县级"]])
    out = StringIO()
    call_command("import_catalogue", str(path), "--language", "en", stdout=out)
    assert "row 2" in out.getvalue() and "1 rejected" in out.getvalue()
