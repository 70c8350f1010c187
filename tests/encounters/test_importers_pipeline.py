"""The encounter import in two processes (a reading process checks the rows while this one
stores the previous chunk, ADR 0003) must store, count and reject exactly what the import in
one process does: same rows, same rejection reasons, same idempotence (issue 2 §5)."""

from __future__ import annotations

import pytest
from django.utils import translation

from tests.encounters.factories import (
    ENCOUNTER_HEADER,
    encounter_row,
    read_rejects,
    write_csv,
)
from tiercare.accounts.models import AuditEvent
from tiercare.encounters import importers
from tiercare.encounters.models import Encounter

# The reading process has its own database connection: it sees committed rows only.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def used(monkeypatch):
    """Records, per import, whether it ran in two processes."""
    calls: list[bool] = []
    real = importers.EncounterImporter._pipelined

    def spy(self, size, bar):
        calls.append(real(self, size, bar))
        return calls[-1]

    monkeypatch.setattr(importers.EncounterImporter, "_pipelined", spy)
    return calls


def two_processes(monkeypatch, start_method: str | None = None) -> None:
    monkeypatch.setattr(importers, "PIPELINE_MIN_BYTES", 0)
    monkeypatch.setattr(importers, "PIECE_SIZE", 7)  # many pieces, several per transaction
    monkeypatch.setattr(importers, "CHUNK_SIZE", 20)
    monkeypatch.setattr(importers, "PIPELINE_START_METHOD", start_method)


def one_process(monkeypatch) -> None:
    monkeypatch.setattr(importers, "PIPELINE_MIN_BYTES", 1 << 60)


def mixed_rows(county) -> list[dict[str, str]]:
    patient, other = county["patient"], county["other"]
    rows = []
    for i in range(60):
        kind = i % 10
        if kind == 0:
            rows.append(encounter_row(patient, f"E{i}", total="abc"))
        elif kind == 1:
            rows.append(encounter_row(other, f"E{i}", institution_code="NOPE"))
        elif kind == 2:
            rows.append(encounter_row(patient, f"E{i - 1}"))  # repeats the row before
        elif kind == 3:
            rows.append(encounter_row(patient, f"E{i}", resident_id_number="110101199003070000"))
        elif kind == 4:
            rows.append(encounter_row(other, f"E{i}", encounter_class="IMP",
                                      start="2025-03-01 08:00", end="2025-03-06 10:00"))
        elif kind == 5:
            rows.append(encounter_row(patient, f"E{i}", drugs="", consumables="",
                                      examinations="", services="100.00"))
        elif kind == 6:
            rows.append(encounter_row(patient, f"E{i}", end="2025-03-01 08:00"))
        else:
            rows.append(encounter_row(patient if i % 2 else other, f"E{i}",
                                      secondary_diagnoses="" if kind == 7 else "I10;E11.9"))
    return rows


def stored() -> list[tuple[object, ...]]:
    return [(e.source_id, e.patient_id, e.institution_id, e.department_id, e.practitioner_id,
             e.encounter_class, e.start, e.end, e.primary_diagnosis, e.total, e.drugs,
             e.consumables, e.examinations, e.services, e.insurance_paid, e.source_hash,
             tuple(e.diagnoses.order_by("rank").values_list("rank", "code")))
            for e in Encounter.objects.order_by("source_id")]


def counts(report: importers.ImportReport) -> tuple[int, ...]:
    return (report.read, report.inserted, report.updated, report.unchanged, report.rejected)


@pytest.mark.parametrize("start_method", [None, "spawn"])
def test_two_processes_store_and_reject_exactly_what_one_process_does(
        county, tmp_path, monkeypatch, used, start_method):
    # given a file mixing valid rows with rows broken in many ways
    path = write_csv(tmp_path / "e.csv", ENCOUNTER_HEADER, mixed_rows(county))
    with translation.override("en"):
        # when it is imported in one process, and again into an empty table in two
        one_process(monkeypatch)
        single = importers.import_encounters(path, progress=False)
        single_rejects = read_rejects(single.rejects_path)
        single_rows = stored()
        Encounter.objects.all().delete()
        two_processes(monkeypatch, start_method)
        double = importers.import_encounters(path, progress=False)
    # then the second import really ran in two processes
    assert used == [False, True]
    # and both stored the same rows, counted the same and rejected the same, for the same
    # reasons
    assert counts(double) == counts(single) and double.balanced
    assert single.inserted > 0 and single.rejected > 0
    assert stored() == single_rows
    assert read_rejects(double.rejects_path) == single_rejects


def test_two_processes_keep_the_import_idempotent_and_audit_corrections(county, tmp_path,
                                                                       monkeypatch, used):
    # given a file imported in two processes
    two_processes(monkeypatch)
    patient = county["patient"]
    rows = [encounter_row(patient, f"E{i}") for i in range(50)]
    path = write_csv(tmp_path / "e.csv", ENCOUNTER_HEADER, rows)
    first = importers.import_encounters(path, progress=False)
    assert (first.inserted, first.rejected) == (50, 0)
    # when it is imported again, then nothing is written
    again = importers.import_encounters(path, progress=False)
    assert counts(again) == (50, 0, 0, 50, 0)
    # when a corrected file arrives (one row changed, one row new)
    rows[7] = encounter_row(patient, "E7", total="120.00", drugs="80.00",
                            secondary_diagnoses="I10")
    rows.append(encounter_row(patient, "E50"))
    corrected = write_csv(tmp_path / "e2.csv", ENCOUNTER_HEADER, rows)
    report = importers.import_encounters(corrected, progress=False)
    # then the changed row is updated and audited, the new one inserted, the rest unchanged
    assert counts(report) == (51, 1, 1, 49, 0)
    assert used == [True, True, True]
    e7 = Encounter.objects.get(source_id="E7")
    assert str(e7.total) == "120.00" and str(e7.drugs) == "80.00"
    assert list(e7.diagnoses.values_list("code", flat=True)) == ["I10"]
    event = AuditEvent.objects.get(action=AuditEvent.Action.UPDATE, object_id=str(e7.pk))
    assert event.changes["total"] == ["100.00", "120.00"]
    assert Encounter.objects.count() == 51


def test_an_open_transaction_keeps_the_import_in_one_process(county, tmp_path, monkeypatch,
                                                             used):
    # given a caller inside a transaction (a second process could not see its rows)
    from django.db import transaction

    two_processes(monkeypatch)
    path = write_csv(tmp_path / "e.csv", ENCOUNTER_HEADER,
                     [encounter_row(county["patient"], f"E{i}") for i in range(10)])
    with transaction.atomic():
        report = importers.import_encounters(path, progress=False)
    # then the import ran in this process and stored everything
    assert used == [False] and report.inserted == 10


@pytest.mark.parametrize("processes", [1, 2])
def test_a_department_deleted_during_the_import_rejects_its_rows_and_nothing_else(
        county, tmp_path, monkeypatch, used, processes):
    # given a file whose rows name two departments, one of which the back office deletes
    # after the reading process resolved it and before the rows are stored
    from django.db import connection

    from tiercare.registry.models import Department

    if processes == 2:
        two_processes(monkeypatch)
    else:
        one_process(monkeypatch)
    surgery = Department.objects.create(institution=county["hospital"], code="WK", name="外科")
    rows = [encounter_row(county["patient"], f"E{i}", department_code="WK" if i % 3 == 0
                          else "NK") for i in range(30)]
    path = write_csv(tmp_path / "e.csv", ENCOUNTER_HEADER, rows)
    real_store = importers.EncounterImporter._store

    def store_after_deletion(self, piece):
        Department.objects.filter(pk=surgery.pk).delete()
        return real_store(self, piece)

    monkeypatch.setattr(importers.EncounterImporter, "_store", store_after_deletion)
    with translation.override("en"):
        report = importers.import_encounters(path, progress=False)
    # then the surgery rows are rejected with the reason, the others stored
    assert used == [processes == 2]
    assert counts(report) == (30, 20, 0, 0, 10)
    rejects = read_rejects(report.rejects_path)
    assert {r["reason"] for r in rejects} == {
        "The department was deleted while the file was being imported."}
    assert {r["column"] for r in rejects} == {"department_code"}
    assert set(Encounter.objects.values_list("department__code", flat=True)) == {"NK"}
    if connection.vendor == "sqlite":
        # and the connection checks foreign keys again, with nothing left dangling
        with connection.cursor() as cursor:
            assert cursor.execute("PRAGMA foreign_keys").fetchone() == (1,)
            assert cursor.execute("PRAGMA foreign_key_check").fetchall() == []
