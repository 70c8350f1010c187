"""CSV import of encounters and settlements: idempotence, nothing lost, the rejects file and
every rejection reason in Chinese and in English (issue 2 §5, "Bad input")."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone, translation

from tests.encounters.factories import (
    ENCOUNTER_HEADER,
    OUTSIDE,
    SETTLEMENT_HEADER,
    encounter_row,
    make_patient,
    read_rejects,
    settlement_row,
    write_csv,
)
from tiercare.accounts.models import AuditEvent
from tiercare.encounters.importers import ImportFileError, import_encounters, import_settlements
from tiercare.encounters.models import Diagnosis, Encounter, Settlement

pytestmark = pytest.mark.django_db


def run_encounters(path, **kwargs):
    kwargs.setdefault("progress", False)
    return import_encounters(path, **kwargs)


def run_settlements(path, **kwargs):
    kwargs.setdefault("progress", False)
    return import_settlements(path, **kwargs)


# --------------------------------------------------------------------------- happy path


def test_valid_file_is_stored_with_diagnoses_and_costs(county, tmp_path):
    # given a file of two encounters, one with two secondary diagnoses
    patient = county["patient"]
    path = write_csv(tmp_path / "e.csv", ENCOUNTER_HEADER, [
        encounter_row(patient, "E1"),
        encounter_row(patient, "E2", secondary_diagnoses="", encounter_class="inpatient",
                      start="2025-03-10 08:00", end="2025-03-15 10:00"),
    ])
    # when it is imported
    report = run_encounters(path)
    # then both rows are stored with their references, local times and money
    assert (report.read, report.inserted, report.rejected) == (2, 2, 0)
    e1 = Encounter.objects.get(source_id="E1")
    assert e1.patient == patient and e1.institution == county["hospital"]
    assert e1.department == county["department"] and e1.practitioner == county["doctor"]
    assert timezone.localtime(e1.start).strftime("%Y-%m-%d %H:%M") == "2025-03-04 09:30"
    assert e1.total == Decimal("100.00") and e1.insurance_paid == Decimal("50.00")
    assert [d.code for d in Diagnosis.objects.filter(encounter=e1).order_by("rank")] == [
        "E11.9", "J06.9"]
    assert Encounter.objects.get(source_id="E2").end is not None
    assert report.rejects_path is None
    assert not (tmp_path / "e.csv.rejects.csv").exists()
    # and the import itself is in the audit trail
    assert AuditEvent.objects.filter(action=AuditEvent.Action.IMPORT).count() == 1


def test_reimporting_the_same_file_inserts_nothing(county, tmp_path):
    patient = county["patient"]
    rows = [encounter_row(patient, f"E{i}") for i in range(5)]
    path = write_csv(tmp_path / "e.csv", ENCOUNTER_HEADER, rows)
    first = run_encounters(path)
    second = run_encounters(path)
    assert first.inserted == 5
    assert (second.read, second.inserted, second.updated, second.unchanged) == (5, 0, 0, 5)
    assert Encounter.objects.count() == 5
    assert Diagnosis.objects.count() == 10


def test_a_corrected_row_is_updated_and_audited(county, tmp_path):
    patient = county["patient"]
    path = write_csv(tmp_path / "e.csv", ENCOUNTER_HEADER, [encounter_row(patient, "E1")])
    run_encounters(path)
    corrected = write_csv(tmp_path / "e2.csv", ENCOUNTER_HEADER, [
        encounter_row(patient, "E1", primary_diagnosis="E11.9", secondary_diagnoses="I10")])
    report = run_encounters(corrected)
    assert (report.inserted, report.updated, report.unchanged) == (0, 1, 0)
    encounter = Encounter.objects.get(source_id="E1")
    assert encounter.primary_diagnosis == "E11.9"
    assert list(encounter.diagnoses.values_list("code", flat=True)) == ["I10"]
    event = AuditEvent.objects.get(action=AuditEvent.Action.UPDATE, object_id=str(encounter.pk))
    assert event.changes["primary_diagnosis"] == ["I10", "E11.9"]


def test_mixed_file_keeps_every_valid_row_and_the_counts_add_up(county, tmp_path):
    # given 300 rows where every third one is broken in a different way
    patient = county["patient"]
    rows = []
    for i in range(300):
        if i % 3 == 0:
            rows.append(encounter_row(patient, f"E{i}", total="abc"))
        elif i % 3 == 1:
            rows.append(encounter_row(patient, f"E{i}", institution_code="NOPE"))
        else:
            rows.append(encounter_row(patient, f"E{i}"))
    path = write_csv(tmp_path / "mixed.csv", ENCOUNTER_HEADER, rows)
    report = run_encounters(path)
    # then the 100 valid rows are stored and the 200 others are in the rejects file
    assert report.inserted == 100 and report.rejected == 200
    assert report.balanced
    assert set(Encounter.objects.values_list("source_id", flat=True)) == {
        f"E{i}" for i in range(300) if i % 3 == 2}
    rejects = read_rejects(report.rejects_path)
    assert {int(r["row"]) for r in rejects} == {i + 2 for i in range(300) if i % 3 != 2}


def test_chunks_do_not_lose_rows(county, tmp_path, monkeypatch):
    from tiercare.encounters import importers

    monkeypatch.setattr(importers, "CHUNK_SIZE", 7)
    patient = county["patient"]
    rows = [encounter_row(patient, f"E{i}", secondary_diagnoses="") for i in range(50)]
    rows[20]["start"] = "soon"
    report = run_encounters(write_csv(tmp_path / "e.csv", ENCOUNTER_HEADER, rows))
    assert (report.read, report.inserted, report.rejected) == (50, 49, 1)
    assert Encounter.objects.count() == 49


def test_rejects_file_lists_row_column_source_and_reason(county, tmp_path):
    patient = county["patient"]
    path = write_csv(tmp_path / "e.csv", ENCOUNTER_HEADER, [
        encounter_row(patient, "E1"),
        encounter_row(patient, "E2", primary_diagnosis="ZZZ", total="101.00"),
    ])
    with translation.override("en"):
        report = run_encounters(path, rejects_path=tmp_path / "out.csv")
    assert report.rejects_path == str(tmp_path / "out.csv")
    rejects = read_rejects(tmp_path / "out.csv")
    assert [(r["row"], r["column"], r["source_id"]) for r in rejects] == [
        ("3", "primary_diagnosis", "E2"), ("3", "total", "E2")]
    assert "ZZZ" in rejects[0]["reason"] and "101.00" in rejects[1]["reason"]
    assert report.rejected == 1  # one row, two reasons


def test_residents_by_health_record_number_and_bom(county, tmp_path):
    patient = county["other"]
    row = encounter_row(patient, "E1", resident_id_number="",
                        health_record_no=patient.health_record_no)
    report = run_encounters(write_csv(tmp_path / "e.csv", ENCOUNTER_HEADER, [row], bom=True))
    assert report.inserted == 1
    assert Encounter.objects.get().patient == patient


def test_source_system_option_fills_the_column(county, tmp_path):
    header = [h for h in ENCOUNTER_HEADER if h != "source_system"]
    row = encounter_row(county["patient"], "E1")
    del row["source_system"]
    report = run_encounters(write_csv(tmp_path / "e.csv", header, [row]), source_system="LIS")
    assert report.inserted == 1
    assert Encounter.objects.get().source_system == "LIS"


def test_progress_bar_goes_to_stderr_only_when_asked(county, tmp_path, capsys):
    path = write_csv(tmp_path / "e.csv", ENCOUNTER_HEADER, [encounter_row(county["patient"])])
    run_encounters(path, progress=False)
    assert capsys.readouterr().err == ""
    run_encounters(path, progress=True)
    captured = capsys.readouterr()
    assert "e.csv" in captured.err and captured.out == ""


# --------------------------------------------------------------------------- file errors


@pytest.mark.parametrize("content, fragment_en, fragment_zh", [
    (b"", "is empty", "是空的"),
    (b"source_id,foo\n1,2\n", "unknown columns: foo", "未知的列：foo"),
    (",".join(ENCOUNTER_HEADER).replace("total,", "").encode() + b"\n",
     "missing columns: total", "缺少的列：total"),
])
def test_wrong_header_stops_the_import_with_a_clear_message(county, tmp_path, content,
                                                            fragment_en, fragment_zh):
    path = tmp_path / "e.csv"
    path.write_bytes(content)
    for language, fragment in (("en", fragment_en), ("zh-hans", fragment_zh)):
        with translation.override(language), pytest.raises(ImportFileError) as caught:
            run_encounters(path)
        assert fragment in str(caught.value)
    assert Encounter.objects.count() == 0


def test_missing_file_is_a_clear_error(tmp_path, db):
    with translation.override("en"), pytest.raises(ImportFileError, match="Cannot read"):
        run_encounters(tmp_path / "nope.csv")


# --------------------------------------------------------------------------- every reason

FUTURE = (timezone.localtime() + dt.timedelta(days=2)).strftime("%Y-%m-%d %H:%M")

# case id → (row overrides, column, English fragment, Chinese fragment)
ENCOUNTER_CASES = {
    "bad_date": ({"start": "2025-13-01 09:00"}, "start", "is not a date and time",
                 "不是有效的日期时间"),
    "bad_number": ({"drugs": "6O.00"}, "drugs", "is not an amount of money", "不是金额"),
    "too_many_decimals": ({"drugs": "60.001"}, "drugs", "more than 2 decimal places",
                          "小数超过 2 位"),
    "unknown_resident": ({"resident_id_number": "11010519491231002X"}, "resident_id_number",
                         "No resident with ID number", "没有身份证号为"),
    "invalid_id_number": ({"resident_id_number": "110105194912310021"},
                          "resident_id_number", "Invalid resident ID number", "身份证号无效"),
    "unknown_record_no": ({"resident_id_number": "", "health_record_no": "34082210120199999"},
                          "health_record_no", "No resident with health record number",
                          "没有健康档案编号为"),
    "no_resident": ({"resident_id_number": "", "health_record_no": ""}, "resident_id_number",
                    "ID number or health record number", "请填写居民身份证号或健康档案编号"),
    "unknown_institution": ({"institution_code": "X9"}, "institution_code",
                            "No institution with code", "没有机构编码为"),
    "unknown_department": ({"department_code": "WK"}, "department_code", "No department",
                           "没有编码为“WK”的科室"),
    "unknown_practitioner": ({"practitioner_code": "D999"}, "practitioner_code",
                             "No practitioner with code", "的医务人员"),
    "invalid_icd10": ({"primary_diagnosis": "ZZZ"}, "primary_diagnosis",
                      "is not an ICD-10 code", "不是有效的 ICD-10 编码"),
    "invalid_secondary_icd10": ({"secondary_diagnoses": "I10;Q9Z"}, "secondary_diagnoses",
                                "is not an ICD-10 code", "不是有效的 ICD-10 编码"),
    "costs_do_not_add_up": ({"total": "99.00"}, "total", "does not equal", "不等于"),
    "insurance_exceeds_total": ({"insurance_paid": "100.01"}, "insurance_paid",
                                "more than the total", "超过总费用"),
    "amount_too_large": ({"drugs": "12345678901.00"}, "drugs", "too large", "过大"),
    "negative_amount": ({"drugs": "-60.00", "total": "-20.00"}, "drugs", "must not be negative",
                        "不能为负数"),
    "future_start": ({"start": FUTURE}, "start", "in the future", "在未来"),
    "end_before_start": ({"end": "2025-03-04 09:00"}, "end", "before the start",
                         "早于开始时间"),
    "unknown_class": ({"encounter_class": "ward"}, "encounter_class",
                      "Unknown encounter class", "未知的就诊类型"),
    "required_value": ({"primary_diagnosis": ""}, "primary_diagnosis", "A value is required",
                       "必须填写"),
    "missing_source_system": ({"source_system": ""}, "source_system", "A value is required",
                              "必须填写"),
}


@pytest.mark.parametrize("language", ["en", "zh-hans"])
@pytest.mark.parametrize("case", sorted(ENCOUNTER_CASES))
def test_each_encounter_rejection_has_its_own_translated_reason(county, tmp_path, case,
                                                                language):
    overrides, column, english, chinese = ENCOUNTER_CASES[case]
    # given a valid row and the broken one
    path = write_csv(tmp_path / "e.csv", ENCOUNTER_HEADER, [
        encounter_row(county["patient"], "OK"),
        encounter_row(county["patient"], "BAD", **overrides),
    ])
    # when imported in the user's language
    with translation.override(language):
        report = run_encounters(path)
    # then the valid row is stored and the broken one is rejected for that reason
    assert (report.inserted, report.rejected) == (1, 1)
    rejects = read_rejects(report.rejects_path)
    assert {r["row"] for r in rejects} == {"3"}
    reasons = {r["column"]: r["reason"] for r in rejects}
    assert column in reasons, rejects
    assert (english if language == "en" else chinese) in reasons[column]


RAW_CASES = {
    "wrong_column_count": (b"HIS,RAW,only,three\n", "Expected 18 columns, found 4",
                           "应有 18 列，实际为 4 列"),
    "bad_encoding": (None, "not valid UTF-8", "不是有效的 UTF-8"),
    "unclosed_quote": (b"HIS,\"RAW,x\n", "not valid CSV", "不是有效的 CSV"),
    "nul_character": (None, "NUL character", "NUL 字符"),
    "duplicate_source_id": (None, "appears again (first at row 2)", "首次出现在第 2 行"),
}


@pytest.mark.parametrize("language", ["en", "zh-hans"])
@pytest.mark.parametrize("case", sorted(RAW_CASES))
def test_each_malformed_line_has_its_own_translated_reason(county, tmp_path, case, language):
    patient = county["patient"]
    path = write_csv(tmp_path / "e.csv", ENCOUNTER_HEADER, [encounter_row(patient, "OK")])
    raw, english, chinese = RAW_CASES[case]
    if case == "bad_encoding":
        good = path.read_bytes().splitlines()[1]
        raw = good.replace(b",OK,", b",BAD,").replace("张".encode(), b"") + b"\n"
        raw = raw.replace(b"outpatient", "门诊".encode("gbk"))
    elif case == "nul_character":
        raw = path.read_bytes().splitlines()[1].replace(b",OK,", b",B\x00D,") + b"\n"
    elif case == "duplicate_source_id":
        raw = path.read_bytes().splitlines()[1] + b"\n"
    with open(path, "ab") as f:
        f.write(raw)
    with translation.override(language):
        report = run_encounters(path)
    assert report.inserted == 1 and report.rejected == 1 and report.balanced
    rejects = read_rejects(report.rejects_path)
    assert rejects[0]["row"] == "3"
    assert (english if language == "en" else chinese) in rejects[0]["reason"]


# --------------------------------------------------------------------------- settlements


def test_settlements_out_of_county_and_in_county_matched(county, tmp_path):
    patient = county["patient"]
    run_encounters(write_csv(tmp_path / "e.csv", ENCOUNTER_HEADER, [
        encounter_row(patient, "E1", secondary_diagnoses="")]))
    path = write_csv(tmp_path / "s.csv", SETTLEMENT_HEADER, [
        settlement_row(patient, "S1"),  # city hospital outside the county
        settlement_row(patient, "S2", institution_code="H001", institution_name="",
                       institution_level="", division_code="", encounter_class="outpatient",
                       start_date="2025-03-04", end_date="", diagnosis="I10", total="100.00",
                       fund_paid="50.00", self_paid="50.00"),
    ])
    report = run_settlements(path)
    assert (report.inserted, report.rejected) == (2, 0)
    outside = Settlement.objects.get(source_id="S1")
    assert outside.in_county is False and outside.encounter is None
    assert outside.institution_level == "city" and outside.division_code == OUTSIDE
    inside = Settlement.objects.get(source_id="S2")
    assert inside.in_county is True
    assert inside.encounter == Encounter.objects.get(source_id="E1")
    assert inside.institution_name == county["hospital"].name
    # re-import: nothing new
    again = run_settlements(path)
    assert (again.inserted, again.unchanged) == (0, 2)


def test_settlement_arriving_before_its_encounter_is_linked_by_reference(county, tmp_path):
    patient = county["patient"]
    run_settlements(write_csv(tmp_path / "s.csv", SETTLEMENT_HEADER, [
        settlement_row(patient, "S1", institution_code="H001", institution_name="",
                       institution_level="", division_code="", encounter_class="outpatient",
                       start_date="2025-03-04", end_date="", diagnosis="I10", total="100.00",
                       fund_paid="50.00", self_paid="50.00", encounter_ref="E1")]))
    assert Settlement.objects.get().encounter is None
    report = run_encounters(write_csv(tmp_path / "e.csv", ENCOUNTER_HEADER,
                                      [encounter_row(patient, "E1")]))
    assert report.linked == 1
    assert Settlement.objects.get().encounter == Encounter.objects.get(source_id="E1")


SETTLEMENT_CASES = {
    "does_not_add_up": ({"self_paid": "2999.00"}, "total", "fund paid + self paid",
                        "基金支付 + 个人自付"),
    "in_county_contradicts": ({"in_county": "1"}, "in_county", "outside the county",
                              "不在本县"),
    "discharge_date_required": ({"end_date": ""}, "end_date", "discharge date", "出院日期"),
    "unknown_level": ({"institution_level": "clinic"}, "institution_level",
                      "Unknown institution level", "未知的机构级别"),
    "unknown_division": ({"division_code": "999999"}, "division_code",
                         "Unknown division code", "未知的行政区划代码"),
    "unknown_scheme": ({"scheme": "gold"}, "scheme", "Unknown insurance scheme",
                       "未知的医保类型"),
    "bad_in_county": ({"in_county": "maybe"}, "in_county", "is not yes or no", "不是“是”或“否”"),
    "bad_date": ({"start_date": "2025-02-30"}, "start_date", "is not a date", "不是有效的日期"),
    "future_date": ({"start_date": "2999-01-01", "end_date": "2999-01-02"}, "start_date",
                    "in the future", "在未来"),
}


@pytest.mark.parametrize("language", ["en", "zh-hans"])
@pytest.mark.parametrize("case", sorted(SETTLEMENT_CASES))
def test_each_settlement_rejection_has_its_own_translated_reason(county, tmp_path, case,
                                                                 language):
    overrides, column, english, chinese = SETTLEMENT_CASES[case]
    path = write_csv(tmp_path / "s.csv", SETTLEMENT_HEADER, [
        settlement_row(county["patient"], "OK"),
        settlement_row(county["patient"], "BAD", **overrides),
    ])
    with translation.override(language):
        report = run_settlements(path)
    assert (report.inserted, report.rejected) == (1, 1)
    reasons = {r["column"]: r["reason"] for r in read_rejects(report.rejects_path)}
    assert column in reasons, reasons
    assert (english if language == "en" else chinese) in reasons[column]


def test_merged_record_number_resolves_to_the_survivor(county, tmp_path):
    survivor, merged = county["patient"], make_patient(7, name="张三")
    merged.merged_into = survivor
    merged.is_active = False
    merged.save()
    row = encounter_row(merged, "E1", resident_id_number="",
                        health_record_no=merged.health_record_no)
    run_encounters(write_csv(tmp_path / "e.csv", ENCOUNTER_HEADER, [row]))
    assert Encounter.objects.get().patient == survivor


# --------------------------------------------------------------------------- consistency


def test_documented_example_files_import_cleanly(county, tmp_path):
    from pathlib import Path

    examples = Path(__file__).resolve().parents[2] / "docs" / "examples"
    encounters = run_encounters(examples / "encounters.csv",
                                rejects_path=tmp_path / "e.rejects.csv")
    settlements = run_settlements(examples / "settlements.csv",
                                  rejects_path=tmp_path / "s.rejects.csv")
    assert (encounters.read, encounters.inserted, encounters.rejected) == (5, 5, 0)
    assert (settlements.read, settlements.inserted, settlements.rejected) == (4, 4, 0)
    # the admission and the visit are linked to the encounters they pay for
    linked = dict(Settlement.objects.values_list("source_id", "encounter__source_id"))
    assert linked["JS2025031500091"] == "ZY20250310007"
    assert linked["JS2025030400017"] == "MZ20250304001"
    assert Settlement.objects.filter(in_county=False).count() == 2


def test_a_row_recorded_through_the_service_is_unchanged_when_imported(county, tmp_path):
    from tests.encounters.factories import encounter_input
    from tiercare.encounters import services

    patient = county["patient"]
    services.record_encounter(encounter_input(
        patient, county["hospital"], "E1", department_id=county["department"].pk,
        practitioner_id=county["doctor"].pk, secondary_diagnoses=["E11.9", "J06.9"]))
    report = run_encounters(write_csv(tmp_path / "e.csv", ENCOUNTER_HEADER,
                                      [encounter_row(patient, "E1")]))
    assert (report.unchanged, report.updated, report.inserted) == (1, 0, 0)


@pytest.mark.parametrize("overrides", [
    {},
    {"encounter_class": "IMP", "end": "2025-03-05 10:00"},
    {"start": "2025/03/04 09:30", "source_id": " E1 "},
    {"total": "100", "drugs": "60", "consumables": "10.0"},
    {"drugs": "", "consumables": "", "examinations": "", "services": "100.00"},
    {"start": "1990-06-01 09:30"},
    {"start": "2025-03-04T01:30:00+00:00"},
    {"secondary_diagnoses": "e11.9; J06.9"},
])
def test_fast_and_thorough_paths_store_the_same_content(county, tmp_path, overrides):
    # the fast path and the thorough path must agree on what they accept and store
    from tiercare.encounters.importers import EncounterImporter

    patient = county["patient"]
    row = {**encounter_row(patient, "E1"), **overrides}
    path = write_csv(tmp_path / "e.csv", ENCOUNTER_HEADER, [row])
    importer = EncounterImporter(path, source_system=None, progress=False, rejects_path=None,
                                 user=None)
    importer.index = {name: i for i, name in enumerate(ENCOUNTER_HEADER)}
    importer.prepare_file()
    importer._fast_setup()
    cells = [row[name] for name in ENCOUNTER_HEADER]
    slow = importer._slow(2, list(cells))
    fast = importer._fast(2, list(cells))
    assert slow is not None
    if fast is not None:
        assert fast[:14] == slow[:14] and fast[15] == slow[15]
        assert [m[1] for m in fast[14]] == [m[1] for m in slow[14]]


def test_a_row_the_database_refuses_is_rejected_and_the_others_kept(county, tmp_path,
                                                                    monkeypatch):
    from django.db import IntegrityError

    from tiercare.encounters import importers

    real = importers.bulk.insert_rows
    calls = {"n": 0}

    def flaky(model, fields, rows, **kwargs):
        rows = list(rows)
        if model is Encounter:
            calls["n"] += 1
            if len(rows) > 1 or any("E2" in map(str, r) for r in rows):
                raise IntegrityError("simulated constraint")
        return real(model, fields, rows, **kwargs)

    monkeypatch.setattr(importers.bulk, "insert_rows", flaky)
    patient = county["patient"]
    path = write_csv(tmp_path / "e.csv", ENCOUNTER_HEADER,
                     [encounter_row(patient, f"E{i}") for i in range(1, 4)])
    with translation.override("en"):
        report = run_encounters(path)
    assert (report.inserted, report.rejected) == (2, 1) and report.balanced
    assert set(Encounter.objects.values_list("source_id", flat=True)) == {"E1", "E3"}
    reasons = read_rejects(report.rejects_path)
    assert reasons[0]["row"] == "3" and "simulated constraint" in reasons[0]["reason"]


def test_unclosed_quote_costs_only_its_own_line(county, tmp_path):
    patient = county["patient"]
    path = write_csv(tmp_path / "e.csv", ENCOUNTER_HEADER, [encounter_row(patient, "E1")])
    good = path.read_bytes().splitlines()[1]
    with open(path, "ab") as f:
        f.write(b'HIS,"BROKEN,' + b"x," * 16 + b"\n")
        f.write(good.replace(b",E1,", b",E2,") + b"\n")
        f.write(good.replace(b",E1,", b",E3,") + b"\n")
    report = run_encounters(path)
    assert (report.read, report.inserted, report.rejected) == (4, 3, 1)
    assert read_rejects(report.rejects_path)[0]["row"] == "3"


def test_column_wise_path_matches_the_row_by_row_paths(county, tmp_path):
    # given a chunk mixing plain rows and every kind of unusual or broken row
    from tiercare.encounters.importers import EncounterImporter

    patient = county["patient"]
    variants = [
        {}, {"encounter_class": "IMP", "end": "2025-03-05 10:00"},
        {"start": "2025/03/04 09:30"}, {"total": "100", "drugs": "60", "consumables": "10.0"},
        {"drugs": "", "consumables": "", "examinations": "", "services": "100.00"},
        {"start": "1990-06-01 09:30"}, {"start": "2025-03-04T01:30:00+00:00"},
        {"secondary_diagnoses": "e11.9; J06.9"}, {"total": "99.00"}, {"institution_code": "X"},
        {"end": "2025-03-04 09:00"}, {"primary_diagnosis": "ZZZ"}, {"department_code": ""},
        {"practitioner_code": ""}, {"insurance_paid": "100.01"}, {"resident_id_number": ""},
        {"end": "2025-03-04 10:00", "secondary_diagnoses": ""}, {"drugs": "60.001"},
    ]
    rows = [{**encounter_row(patient, f"E{i}"), **v} for i, v in enumerate(variants)]
    path = write_csv(tmp_path / "e.csv", ENCOUNTER_HEADER, rows)
    importer = EncounterImporter(path, source_system=None, progress=False, rejects_path=None,
                                 user=None)
    importer.index = {name: i for i, name in enumerate(ENCOUNTER_HEADER)}
    importer.prepare_file()
    importer._fast_setup()
    chunk = [(i + 2, [r[name] for name in ENCOUNTER_HEADER]) for i, r in enumerate(rows)]
    one_by_one = [importer._fast(line, list(row)) or importer._slow(line, list(row))
                  for line, row in chunk]
    columns = importer._columns([(line, list(row)) for line, row in chunk])
    expected = [r for r in one_by_one if r is not None]
    assert [r[:14] + r[15:] for r in columns] == [r[:14] + r[15:] for r in expected]
    assert [[m[1] for m in r[14]] for r in columns] == [[m[1] for m in r[14]] for r in expected]


def test_rows_written_without_digest_by_bulk_writers_are_accepted_and_updated_once(county,
                                                                                   tmp_path):
    # given an encounter and a settlement written by a bulk writer (the synthetic county
    # generator) that leaves source_hash and Settlement.updated_at to the database
    from django.utils import timezone as tz

    from tiercare import bulk

    patient = county["patient"]
    now = tz.now()
    bulk.insert_rows(Encounter, (
        "patient", "encounter_class", "institution", "department", "practitioner", "start",
        "end", "primary_diagnosis", "total", "drugs", "consumables", "examinations", "services",
        "insurance_paid", "source_system", "source_id", "created_at", "updated_at"),
        [(patient.pk, "outpatient", county["hospital"].pk, county["department"].pk,
          county["doctor"].pk, now - dt.timedelta(days=3), None, "I10", Decimal("100.00"),
          Decimal("60.00"), Decimal("10.00"), Decimal("20.00"), Decimal("10.00"),
          Decimal("50.00"), "HIS", "E1", now, now)])
    bulk.insert_rows(Settlement, (
        "patient", "scheme", "in_county", "institution", "institution_name",
        "institution_level", "division_code", "encounter_class", "start_date", "end_date",
        "diagnosis", "total", "fund_paid", "self_paid", "encounter", "encounter_ref",
        "settled_at", "source_system", "source_id", "created_at"),
        [(patient.pk, "resident", False, None, "安庆市立医院", "city", OUTSIDE, "inpatient",
          dt.date(2025, 2, 1), dt.date(2025, 2, 10), "I63.9", Decimal("8000.00"),
          Decimal("5000.00"), Decimal("3000.00"), None, "", None, "YB", "S1", now)])
    assert Encounter.objects.get().source_hash == ""
    assert Settlement.objects.get().updated_at is not None
    # when the same encounter arrives by CSV, it is updated once, then unchanged
    path = write_csv(tmp_path / "e.csv", ENCOUNTER_HEADER, [encounter_row(patient, "E1")])
    assert run_encounters(path).updated == 1
    assert run_encounters(path).unchanged == 1
