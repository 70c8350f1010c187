"""The kernel has no Django import (DESIGN.md: "small typed helpers with no Django")."""

from __future__ import annotations

import subprocess
import sys

MODULES = ["errors", "idnumber", "divisions", "icd10", "money", "periods", "names"]


def test_kernel_imports_and_runs_without_django():
    # given a fresh interpreter that loads every kernel module and uses each once
    script = (
        "import sys\n"
        + "".join(f"import tiercare.kernel.{m}\n" for m in MODULES)
        + "from tiercare.kernel import icd10, divisions, names\n"
        "icd10.validate('I10.x00'); divisions.lookup('370102'); names.initials('张三')\n"
        "print(sorted(m for m in sys.modules if m == 'django' or m.startswith('django.')))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True,
        env={"PATH": "/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE": "1"},
    )
    # then not a single django module was imported
    assert result.stdout.strip() == "[]"
