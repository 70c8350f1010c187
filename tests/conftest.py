"""Shared fixtures. Tests run on SQLite by default and on PostgreSQL when
TIERCARE_DATABASE_URL points at one (``make test`` runs both)."""

import pytest


@pytest.fixture(autouse=True)
def _no_token_state_of_earlier_tests():
    """Integrating systems' request counts and recently read tokens are kept in memory
    (``fhir.traffic``, ``fhir.tokens``); a test starts without those of earlier tests."""
    from tiercare.fhir import tokens, traffic

    traffic.forget()
    tokens.forget_tokens()  # tokens of earlier tests, whose rows are gone
