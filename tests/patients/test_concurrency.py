"""Health record serials under concurrency (rules.md §10; DESIGN.md: capacity-like counters
change only through one atomic update): parallel registrations in one village never share a
serial. Threads on PostgreSQL; SQLite serialises writers (IMMEDIATE transactions), so there the
same registrations run one after another."""

from __future__ import annotations

import threading
from datetime import date

import pytest
from django.db import connection, connections

from tests.patients.conftest import VILLAGE_A, id_number
from tiercare.patients import services
from tiercare.patients.models import Patient

WORKERS = 8
PER_WORKER = 5


def _register_many(worker: int, errors: list[BaseException]) -> None:
    try:
        for i in range(PER_WORKER):
            sequence = 1 + 2 * (worker * PER_WORKER + i)  # odd: men, all different numbers
            services.register_patient(services.PatientInput(
                name=f"居民{worker}{i}", address_code=VILLAGE_A,
                id_number=id_number(date(1960, 1, 1), sequence)))
    except BaseException as err:  # reported to the test thread
        errors.append(err)
    finally:
        connections.close_all()


@pytest.mark.django_db(transaction=True)
def test_parallel_registrations_get_distinct_consecutive_serials(county):
    errors: list[BaseException] = []
    if connection.vendor == "postgresql":
        threads = [threading.Thread(target=_register_many, args=(w, errors))
                   for w in range(WORKERS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    else:
        for w in range(WORKERS):
            _register_many(w, errors)
    assert errors == []
    numbers = sorted(Patient.objects.values_list("health_record_no", flat=True))
    total = WORKERS * PER_WORKER
    assert numbers == [f"{VILLAGE_A}{n:05d}" for n in range(1, total + 1)]


@pytest.mark.django_db(transaction=True)
def test_parallel_duplicates_leave_exactly_one_record(county):
    """The same ID number sent by several workers at once: one record, the others refused."""
    if connection.vendor != "postgresql":
        pytest.skip("needs concurrent writers (PostgreSQL)")
    number = id_number(date(1970, 1, 1), 11)
    outcomes: list[str] = []

    def attempt() -> None:
        try:
            services.register_patient(services.PatientInput(
                name="张三", address_code=VILLAGE_A, id_number=number))
            outcomes.append("created")
        except services.DuplicatePatient:
            outcomes.append("duplicate")
        except BaseException as err:
            outcomes.append(repr(err))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=attempt) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["created"] + ["duplicate"] * 5
    assert Patient.objects.filter(id_number=number).count() == 1
