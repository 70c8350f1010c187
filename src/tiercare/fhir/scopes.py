"""SMART on FHIR scope strings of integrating systems (issue 3 "Security"): what a token may
do, per resource type. Both notations are read:

* SMART v1: ``system/Patient.read``, ``system/*.write``, ``system/*.*``;
* SMART v2: ``system/Patient.rs``, ``system/Encounter.cruds`` (c create, r read, u update,
  d delete, s search).

``user/`` and ``patient/`` contexts are refused: a token belongs to a system, and people
reach FHIR with their own session. Pure functions, no Django.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

#: The interactions a scope grants, by SMART v1 word and v2 letter.
V1 = {"read": frozenset({"read", "search"}), "write": frozenset({"create", "update", "delete"}),
      "*": frozenset({"read", "search", "create", "update", "delete"})}
V2 = {"c": "create", "r": "read", "u": "update", "d": "delete", "s": "search"}
_SCOPE = re.compile(r"^system/(\*|[A-Z][A-Za-z]+)\.(\*|read|write|[cruds]+)$")


class ScopeError(ValueError):
    """A scope string that is not a system scope this server understands."""


@dataclass(frozen=True)
class Grants:
    """(resource type or ``*``, interaction) pairs a token holds."""

    pairs: frozenset[tuple[str, str]]

    def allows(self, resource_type: str, interaction: str) -> bool:
        return ((resource_type, interaction) in self.pairs
                or ("*", interaction) in self.pairs)

    def __str__(self) -> str:
        return " ".join(f"{t}.{i}" for t, i in sorted(self.pairs))


@functools.lru_cache(maxsize=1024)
def parse(text: str) -> Grants:
    """Grants of a space-separated scope string; ``ScopeError`` names the first bad one.
    Kept per string (grants are immutable): a token's scopes are read on every request."""
    pairs: set[tuple[str, str]] = set()
    words = text.split()
    if not words:
        raise ScopeError("no scope given")
    for word in words:
        match = _SCOPE.match(word)
        if match is None:
            raise ScopeError(word)
        resource_type, access = match.groups()
        if access in V1:
            actions = V1[access]
        else:
            if len(set(access)) != len(access) or "".join(
                    sorted(access, key="cruds".index)) != access:
                raise ScopeError(word)  # v2 letters appear once each, in c-r-u-d-s order
            actions = frozenset(V2[letter] for letter in access)
        pairs.update((resource_type, action) for action in actions)
    return Grants(frozenset(pairs))
