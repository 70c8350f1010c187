"""The import management commands: summary, exit codes, no traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest
from django.core.management import CommandError, call_command

from tests.encounters.factories import ENCOUNTER_HEADER, encounter_row, write_csv
from tiercare.encounters.models import Encounter

pytestmark = pytest.mark.django_db


def test_import_prints_a_summary_and_succeeds_with_rejects(county, tmp_path, capsys):
    path = write_csv(tmp_path / "e.csv", ENCOUNTER_HEADER, [
        encounter_row(county["patient"], "E1"),
        encounter_row(county["patient"], "E2", total="x"),
    ])
    call_command("import_encounters", str(path), "--no-progress", "--language", "en")
    out = capsys.readouterr().out
    assert "2 rows read, 1 inserted" in out and "1 rejected" in out
    assert str(tmp_path / "e.csv.rejects.csv") in out
    assert Encounter.objects.count() == 1


def test_wrong_header_is_exit_code_2(county, tmp_path):
    path = tmp_path / "e.csv"
    path.write_text("foo,bar\n1,2\n", encoding="utf-8")
    with pytest.raises(CommandError) as caught:
        call_command("import_settlements", str(path), "--no-progress", "--language", "en")
    assert caught.value.returncode == 2
    assert "Wrong header" in str(caught.value)


def test_unreadable_file_exits_2_without_traceback(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "django", "import_encounters", str(tmp_path / "missing.csv"),
         "--settings=tiercare.settings", "--language", "en"],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 2
    assert "Cannot read" in result.stderr
    assert "Traceback" not in result.stderr
