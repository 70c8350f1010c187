"""Status transitions of the master patient index's review queue (DESIGN.md: every status
change goes through a transition table; the audit trail holds the who/when/from/to).

``MatchCandidate.Status``: open (awaiting review) → merged (the two records were merged) or
dismissed (not the same person); a dismissed pair may still be merged later by a reviewer who
merges the records directly; undoing the merge reopens the pair.
"""

from __future__ import annotations

from tiercare.patients.models import MatchCandidate

S = MatchCandidate.Status

MATCH_TRANSITIONS: dict[str, frozenset[str]] = {
    S.OPEN: frozenset({S.MERGED, S.DISMISSED}),
    S.DISMISSED: frozenset({S.MERGED}),
    S.MERGED: frozenset({S.OPEN}),
}


def can_move(source: str, target: str) -> bool:
    """Whether a probable match may go from ``source`` to ``target``."""
    return target in MATCH_TRANSITIONS.get(source, frozenset())


def sources_of(target: str) -> list[str]:
    """The states from which a probable match may move to ``target`` (for bulk updates)."""
    return sorted(s for s, targets in MATCH_TRANSITIONS.items() if target in targets)
