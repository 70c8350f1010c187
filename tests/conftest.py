"""Shared fixtures. Tests run on SQLite by default and on PostgreSQL when
TIERCARE_DATABASE_URL points at one (``make test`` runs both)."""

import pytest


@pytest.fixture(autouse=True)
def _no_traffic_counts_of_earlier_tests():
    """Integrating systems' request counts wait in memory (``fhir.traffic``); a test starts
    without the counts of earlier tests' tokens."""
    from tiercare.fhir import traffic

    traffic.forget()
