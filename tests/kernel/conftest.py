"""Kernel tests need no database. The kernel loads its reference data on first use; load it
once before the tests so that no Hypothesis example pays that cost inside its deadline."""

from __future__ import annotations

import pytest

from tiercare.kernel import divisions, icd10, names


@pytest.fixture(autouse=True, scope="session")
def _warm_kernel_caches() -> None:
    icd10.validate("I10")
    icd10.name_en("I10")
    icd10.search("gxy")
    divisions.lookup("370102")
    names.initials("张三")
