"""A doctor's scope is the alliance's grid plus the residents cared for at their institution
(rules.md §11). The search runs the two parts separately with a keyset bound; whatever the
data, it must return exactly the first ``limit`` residents of the whole scope, in order."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.patients.conftest import VILLAGE_A, VILLAGE_C
from tiercare.encounters.models import Encounter
from tiercare.patients import services
from tiercare.patients.access import visible_patients


def _first_of_scope(user, query: str, limit: int):
    """The reference answer: one ordered query over the whole scope (no keyset tricks)."""
    return services.search_queryset(query, visible_patients(user), limit=limit)[1]


@pytest.fixture
def crowd(register, county, people):
    """Twelve 张* residents in the doctor's grid and eight in another alliance's grid, three of
    whom were seen at the doctor's institution: all share the initials prefix "z"."""
    given = "三思山善珊杉衫姗闪陕汕扇膳"
    inside = [register(f"张{given[i]}", sequence=101 + 2 * i, address_code=VILLAGE_A,
                       birth=dt.date(1970 + i, 1, 1)) for i in range(12)]
    outside = [register(f"张{given[i]}", sequence=301 + 2 * i, address_code=VILLAGE_C,
                        birth=dt.date(1960 + i, 1, 1)) for i in range(8)]
    for n, patient in enumerate(outside[:3]):
        Encounter.objects.create(
            patient=patient, encounter_class="outpatient", institution=county.township_a,
            start=dt.datetime(2025, 3, 1 + n, 9, tzinfo=dt.UTC), primary_diagnosis="J06.9",
            total="10.00", drugs="10.00", source_system="t", source_id=f"E{n}")
    return inside, outside


@pytest.mark.parametrize("query", ["z", "zs", "张", "张三", "zh"])
@pytest.mark.parametrize("limit", [1, 5, 12, 13, 50])
def test_two_part_search_equals_the_first_rows_of_the_whole_scope(crowd, people, query, limit):
    doctor = people["doctor"]
    assert services.search_patients(doctor, query, limit=limit) == \
        _first_of_scope(doctor, query, limit)


def test_residents_cared_for_outside_the_grid_are_found(crowd, people):
    _inside, outside = crowd
    found = services.search_patients(people["doctor"], "z", limit=50)
    assert set(outside[:3]) <= set(found)
    assert not set(outside[3:]) & set(found)
