"""The review queue's transition table (patients/statuses.py)."""

from __future__ import annotations

import pytest

from tiercare.patients.models import MatchCandidate
from tiercare.patients.statuses import can_move, sources_of

S = MatchCandidate.Status


@pytest.mark.parametrize(("source", "target", "allowed"), [
    (S.OPEN, S.MERGED, True), (S.OPEN, S.DISMISSED, True), (S.DISMISSED, S.MERGED, True),
    (S.MERGED, S.OPEN, True), (S.DISMISSED, S.OPEN, False), (S.MERGED, S.DISMISSED, False),
    (S.DISMISSED, S.DISMISSED, False), (S.OPEN, S.OPEN, False),
])
def test_transitions(source, target, allowed):
    assert can_move(source, target) is allowed


def test_only_a_merge_undo_reopens_a_pair():
    assert sources_of(S.OPEN) == [S.MERGED]
