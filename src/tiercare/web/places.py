"""Readable names of division codes for pages: the county part from the GB/T 2260 table
(kernel.divisions.full_name), the township and village parts from the registry's Division
rows of the alliance's county (rules.md §10). One query for any number of codes."""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

from tiercare.kernel import divisions
from tiercare.kernel.errors import KernelError
from tiercare.registry.models import Division


@lru_cache(maxsize=512)
def county_name(code: str) -> str:
    """``省 市 县`` for the first six digits, or the code itself when it is unknown."""
    try:
        return divisions.full_name(code[:6])
    except KernelError:
        return code[:6]


def place_names(codes: Iterable[str]) -> dict[str, str]:
    """Full names (``省 市 县 乡镇 村``) for 6-, 9- or 12-digit codes. Unknown township or
    village parts are left out rather than guessed."""
    wanted = {c for c in codes if c}
    parts: set[str] = set()
    for code in wanted:
        if len(code) >= 9:
            parts.add(code[:9])
        if len(code) == 12:
            parts.add(code)
    names = dict(Division.objects.filter(code__in=parts).values_list("code", "name")) \
        if parts else {}
    result: dict[str, str] = {}
    for code in wanted:
        pieces = [county_name(code)] if len(code) >= 6 and code[:6].isdigit() else [code]
        if len(code) >= 9 and code[:9] in names:
            pieces.append(names[code[:9]])
        if len(code) == 12 and code in names:
            pieces.append(names[code])
        result[code] = " ".join(pieces)
    return result


def place_name(code: str) -> str:
    return place_names([code]).get(code, code) if code else ""
