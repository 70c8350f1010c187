"""Specifications of the synthetic county generator that need an empty database each
(determinism, two communities, the command, argument checks)."""

from __future__ import annotations

import hashlib
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.utils import translation

from tiercare.encounters.models import Diagnosis, Encounter, Settlement
from tiercare.patients.models import Patient
from tiercare.registry.models import (
    Alliance,
    Department,
    Division,
    Grid,
    Institution,
    Posting,
    Practitioner,
)
from tiercare.synth import generate
from tiercare.synth.generator import SynthError

YEAR = 2023


def table_digest(*models) -> str:
    """SHA-256 of every row of the tables, ordered by id, all columns."""
    digest = hashlib.sha256()
    with connection.cursor() as cur:
        for model in models:
            cur.execute(f"SELECT * FROM {connection.ops.quote_name(model._meta.db_table)} "
                        "ORDER BY id")
            for row in cur.fetchall():
                digest.update(repr(row).encode())
    return digest.hexdigest()


def generated_digest(seed: int, residents: int = 400) -> str:
    sid = transaction.savepoint()
    try:
        generate(residents, seed, YEAR)
        return table_digest(Division, Alliance, Grid, Institution, Department, Practitioner,
                            Posting, Patient, Encounter, Diagnosis, Settlement)
    finally:
        transaction.savepoint_rollback(sid)


@pytest.mark.django_db
def test_same_seed_gives_identical_rows_and_another_seed_does_not():
    # given an empty database, when the county is generated twice with one seed
    first, second = generated_digest(11), generated_digest(11)
    # then every table holds byte-identical rows; a different seed changes them
    assert first == second
    assert generated_digest(12) != first


@pytest.mark.django_db
def test_two_communities_split_townships_and_the_tcm_one_covers_30_percent():
    # given a county generated with two communities
    with transaction.atomic():
        generate(4_000, 3, YEAR, communities=2)
        tcm = Alliance.objects.get(lead__kind="tcm_hospital")
        general = Alliance.objects.get(lead__kind="general_hospital")
        # then every township is in exactly one of them
        for t in Division.objects.filter(kind="township"):
            assert Grid.objects.filter(division=t).count() == 1
        # and the TCM-led one answers for at least 30 % of the residents (rules.md §1)
        tcm_towns = Grid.objects.filter(alliance=tcm).values_list("division__code", flat=True)
        covered = sum(Patient.objects.filter(address_code__startswith=code).count()
                      for code in tcm_towns)
        assert covered >= 0.30 * 4_000
        assert Grid.objects.filter(alliance=general).exists()
        transaction.set_rollback(True)


@pytest.mark.django_db
@translation.override("en")
def test_bad_arguments_are_refused_with_a_clear_message():
    with pytest.raises(SynthError, match="between 1 and"):
        generate(0, 1, YEAR)
    with pytest.raises(SynthError, match="year"):
        generate(10, 1, 1800)
    with pytest.raises(SynthError, match=r"999999.*does not exist"):
        generate(10, 1, YEAR, county="999999")
    with translation.override("zh-hans"), pytest.raises(SynthError, match="居民人数"):
        generate(0, 1, YEAR)


@pytest.mark.django_db
def test_the_command_prints_a_summary_in_chinese():
    out = StringIO()
    with translation.override("zh-hans"):
        call_command("synth", residents=200, seed=2, year=YEAR, no_progress=True, stdout=out)
    text = out.getvalue()
    assert "patients.Patient" in text and "200" in text
    assert "定远县" in text and "完成" in text


@pytest.mark.django_db
def test_the_pipeline_writes_the_same_rows_as_plain_sequential_chunks(monkeypatch):
    # given chunks small enough that 1,200 residents take three of them, so a thread
    # generates while the writer writes, with the big tables' indexes dropped during the load
    from tiercare.synth import generator

    monkeypatch.setattr(generator, "CHUNK", 500)
    before = index_names()
    piped = generated_digest(5, residents=1_200)
    # when the same county is generated without the generating thread
    monkeypatch.setattr(generator, "PIPELINE", False)
    inline = generated_digest(5, residents=1_200)
    # then the rows are identical, and every dropped index and foreign key is back
    assert piped == inline
    assert index_names() == before


def index_names() -> dict[str, set[str]]:
    with connection.cursor() as cur:
        return {
            table: set(connection.introspection.get_constraints(cur, table))
            for table in ("patients_patient", "encounters_encounter", "encounters_diagnosis",
                          "encounters_settlement")
        }
