"""``tiercare import fhir``: NDJSON or a Bundle from a file, idempotent, residents before the
encounters that refer to them, bad resources listed with their line and reason while the
others stand (issue 3 "Bulk")."""

from __future__ import annotations

import csv
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tests.fhir.conftest import HIS_SYSTEM, new_encounter, new_patient
from tiercare.accounts.models import AuditEvent
from tiercare.encounters.models import Encounter
from tiercare.fhir.importer import import_files
from tiercare.patients.models import Patient

pytestmark = pytest.mark.django_db
NEW_ID = "11010519491231002X"


def ndjson(path, resources) -> str:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in resources),
                    encoding="utf-8")
    return str(path)


def file_of(world, tmp_path, *, bad_patient: bool = False) -> str:
    """An encounter line before the resident it refers to by the file's own id (p-1)."""
    encounter = new_encounter(world, "MZ-FILE-1", id="e-1")
    encounter["subject"] = {"reference": "Patient/p-1"}
    patient = new_patient(NEW_ID[:-1] + ("1" if bad_patient else "X"), id="p-1")
    return ndjson(tmp_path / "export.ndjson", [encounter, patient])


def test_ndjson_loads_residents_first_and_follows_the_files_ids(world, tmp_path):
    report = import_files([file_of(world, tmp_path)], progress=False)
    assert (report.created, report.updated, report.rejected) == (2, 0, 0)
    patient = Patient.objects.get(id_number=NEW_ID)
    assert Encounter.objects.get(source_id="MZ-FILE-1").patient_id == patient.pk
    assert AuditEvent.objects.filter(username="token:import:export.ndjson",
                                     action=AuditEvent.Action.CREATE).count() == 2


def test_a_second_run_of_the_same_file_changes_nothing(world, tmp_path):
    path = file_of(world, tmp_path)
    import_files([path], progress=False)
    again = import_files([path], progress=False)
    assert (again.created, again.updated, again.rejected) == (0, 2, 0)
    assert Patient.objects.filter(id_number=NEW_ID).count() == 1
    assert Encounter.objects.filter(source_id="MZ-FILE-1").count() == 1


def test_bad_lines_are_listed_with_line_and_reason_and_the_rest_stands(world, tmp_path):
    path = tmp_path / "mixed.ndjson"
    lines = [json.dumps(new_patient("11010519491231002X")), "not json at all",
             json.dumps(new_patient("110105194912310021", identifier=[{
                 "system": "urn:oid:2.16.156.10011.1.3", "value": "110105194912310021"}])),
             json.dumps({"no": "resourceType"})]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = import_files([str(path)], progress=False)
    assert (report.created, report.rejected) == (1, 3)
    with open(report.rejects_path, encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["line"]) for r in rows] == [2, 3, 4]
    assert rows[1]["status"] == "422" and "校验码" in rows[1]["reason"]
    assert rows[0]["reason"].startswith("该行不是 FHIR 资源")


def test_a_transaction_bundle_file_is_all_or_nothing(world, tmp_path):
    encounter = new_encounter(world, "MZ-T-1", period={"start": "2099-01-01"})
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": new_patient(), "request": {"method": "POST", "url": "Patient"}},
        {"resource": encounter, "request": {"method": "POST", "url": "Encounter"}}]}
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(bundle, indent=2), encoding="utf-8")
    report = import_files([str(path)], progress=False)
    assert report.rejected == 2 and report.created == 0
    assert not Patient.objects.filter(id_number=NEW_ID).exists()


def test_a_collection_bundle_is_loaded_resource_by_resource(world, tmp_path):
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [
        {"resource": new_patient()},
        {"resource": new_encounter(world, "MZ-C-1")}]}
    path = tmp_path / "collection.json"
    path.write_text(json.dumps(bundle, indent=1), encoding="utf-8")
    report = import_files([str(path)], progress=False)
    assert (report.created, report.rejected) == (2, 0)
    assert Encounter.objects.filter(source_system=HIS_SYSTEM, source_id="MZ-C-1").exists()


def test_the_command_reports_and_a_missing_file_exits_2(world, tmp_path, capsys):
    call_command("import_fhir", file_of(world, tmp_path), "--no-progress")
    assert "2 个资源" in capsys.readouterr().out
    with pytest.raises(CommandError) as failure:
        call_command("import_fhir", str(tmp_path / "missing.ndjson"))
    assert failure.value.returncode == 2


def test_registry_types_of_an_export_are_skipped_not_rejected(world, tmp_path):
    organization = {"resourceType": "Organization", "id": "institution-1", "name": "某医院"}
    path = ndjson(tmp_path / "Organization.ndjson", [organization, new_patient()])
    report = import_files([path], progress=False)
    assert (report.created, report.skipped, report.rejected) == (1, 1, 0)
    assert "跳过" in report.summary()
