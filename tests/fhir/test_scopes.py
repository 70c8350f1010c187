"""SMART system scopes of integrating systems' tokens (issue 3 "Security")."""

from __future__ import annotations

import pytest

from tiercare.fhir import scopes


def test_v1_read_grants_read_and_search_and_write_grants_changes():
    grants = scopes.parse("system/*.read system/Patient.write")
    assert grants.allows("Encounter", "read") and grants.allows("Encounter", "search")
    assert grants.allows("Patient", "create") and grants.allows("Patient", "update")
    assert not grants.allows("Encounter", "create")


def test_v2_letters_grant_exactly_their_interactions():
    grants = scopes.parse("system/Patient.rs system/Encounter.cu")
    assert grants.allows("Patient", "search") and not grants.allows("Patient", "create")
    assert grants.allows("Encounter", "create") and not grants.allows("Encounter", "read")


@pytest.mark.parametrize("text", ["", "user/Patient.read", "patient/*.read", "system/Patient",
                                  "system/patient.read", "system/Patient.sr",
                                  "system/Patient.rr", "system/Patient.x"])
def test_anything_but_a_system_scope_is_refused(text):
    with pytest.raises(scopes.ScopeError):
        scopes.parse(text)
