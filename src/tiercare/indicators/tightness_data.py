"""The tightness criteria and the judgement rule, read from ``data/tightness.toml`` (no ORM,
no Django settings needed).

The file holds the four dimensions of seed 003 (责任、管理、服务、利益共同体), the draft
criteria of indicators.md [conv] (the official table could not be obtained) and the rule's
parameters with seed 003's defaults (every criterion ≥ B, ≥ 8 A, an A in every dimension,
"alliance decision authority" must be A). It is checked when read: a wrong or missing key,
a duplicate id, an unknown dimension or catalogue indicator, an indicator-supported criterion
without indicators (or an attested one with some), a dimension without criteria, a rule the
criteria cannot meet, or a ``mandatory_a`` list that differs from the criteria flagged
``mandatory_a`` raises :class:`~tiercare.indicators.catalogue.CatalogueError` naming the file
and the entry. ADR 0017 says why criteria and rule are data.
"""

from __future__ import annotations

import datetime as dt
import functools
from pathlib import Path
from typing import Any

from tiercare.indicators.catalogue import (
    DATA_DIR,
    Catalogue,
    CatalogueError,
    _fields,
    _ident,
    _list,
    _read_toml,
    _text,
    _text_rows,
    load_catalogue,
)
from tiercare.indicators.tightness import (
    Basis,
    Criterion,
    Dimension,
    Rule,
    TightnessCriteria,
    TightnessError,
    check_rule,
)

CRITERIA_FILE = DATA_DIR / "tightness.toml"
_STR = str


def read_criteria(path: Path, catalogue: Catalogue) -> TightnessCriteria:
    """Read and check a criteria file against the indicator ``catalogue`` (uncached;
    :func:`load_criteria` caches the shipped one)."""
    data = _read_toml(path)
    where = path.name
    _fields(data, where, {"meta": dict, "rule": dict, "dimension": list, "criterion": list})
    meta = _fields(data["meta"], f"{where} [meta]", {
        "edition": _STR, "date": dt.date, "source": _STR, "status": _STR})
    dimensions = [Dimension(*texts) for texts in _text_rows(data, "dimension", where,
                                                            ("id", "name_zh", "name_en"))]
    dimension_ids = {d.id for d in dimensions}
    seen: set[str] = set()
    criteria = []
    for n, table in enumerate(_list(data, "criterion", where), 1):
        at = f"{where} [[criterion]] #{n}"
        mandatory: object = False
        if isinstance(table, dict):  # _fields takes no booleans: the flag is checked here
            table = dict(table)
            mandatory = table.pop("mandatory_a", False)
        if not isinstance(mandatory, bool):
            raise CatalogueError(f"{at}: mandatory_a must be true or false")
        row = _fields(table, at, {
            "id": _STR, "dimension": _STR, "name_zh": _STR, "name_en": _STR,
            "description_zh": _STR, "description_en": _STR, "basis": _STR,
            "supported_by": list, "provenance": _STR})
        row["mandatory_a"] = mandatory
        criteria.append(_criterion(row, f"{where} [[criterion]] {row['id']!r}", seen,
                                   dimension_ids, catalogue))
    if not criteria:
        raise CatalogueError(f"{where}: no criterion")
    for dimension in dimensions:
        if not any(c.dimension == dimension.id for c in criteria):
            raise CatalogueError(f"{where}: dimension {dimension.id!r} has no criterion")
    rule, citation, quote = _rule(data["rule"], f"{where} [rule]", criteria)
    return TightnessCriteria(
        edition=_text(meta["edition"], where, "edition"), date=meta["date"],
        source=_text(meta["source"], where, "source"),
        status=_text(meta["status"], where, "status"), dimensions=tuple(dimensions),
        criteria=tuple(criteria), rule=rule, rule_citation=citation, rule_quote=quote)


def _criterion(row: dict[str, Any], at: str, seen: set[str], dimension_ids: set[str],
               catalogue: Catalogue) -> Criterion:
    criterion_id = _ident(row["id"], at, seen)
    if row["dimension"] not in dimension_ids:
        raise CatalogueError(f"{at}: dimension {row['dimension']!r} is not declared")
    if row["basis"] not in Basis.values:
        raise CatalogueError(f"{at}: basis {row['basis']!r} is not one of "
                             f"{', '.join(Basis.values)}")
    supported_by = row["supported_by"]
    if not all(isinstance(i, str) for i in supported_by):
        raise CatalogueError(f"{at}: supported_by must list indicator ids")
    unknown = sorted(i for i in supported_by if i not in catalogue)
    if unknown:
        raise CatalogueError(f"{at}: supported_by names unknown indicator(s) "
                             f"{', '.join(unknown)}")
    if len(set(supported_by)) != len(supported_by):
        raise CatalogueError(f"{at}: supported_by names an indicator twice")
    if row["basis"] == Basis.INDICATORS and not supported_by:
        raise CatalogueError(f"{at}: a criterion supported by indicators must name them in "
                             f"supported_by")
    if row["basis"] == Basis.ATTESTED and supported_by:
        raise CatalogueError(f"{at}: an attested criterion has no supported_by (use basis "
                             f"\"indicators\")")
    return Criterion(
        id=criterion_id, dimension=row["dimension"],
        name_zh=_text(row["name_zh"], at, "name_zh"), name_en=_text(row["name_en"], at, "name_en"),
        description_zh=_text(row["description_zh"], at, "description_zh"),
        description_en=_text(row["description_en"], at, "description_en"),
        basis=Basis(row["basis"]), supported_by=tuple(supported_by),
        mandatory_a=row["mandatory_a"],
        provenance=_text(row["provenance"], at, "provenance"))


def _rule(table: object, at: str, criteria: list[Criterion]) -> tuple[Rule, str, str]:
    row = _fields(table, at, {"min_grade_all": _STR, "min_a_count": int,
                              "min_a_per_dimension": int, "mandatory_a": list,
                              "citation": _STR, "quote": _STR})
    try:
        rule = Rule(min_grade_all=row["min_grade_all"], min_a_count=row["min_a_count"],
                    min_a_per_dimension=row["min_a_per_dimension"],
                    mandatory_a=tuple(row["mandatory_a"]))
        check_rule(rule, criteria)
    except TightnessError as err:
        raise CatalogueError(f"{at}: {err}") from None
    flagged = sorted(c.id for c in criteria if c.mandatory_a)
    if sorted(rule.mandatory_a) != flagged:
        raise CatalogueError(f"{at}: mandatory_a ({', '.join(rule.mandatory_a) or 'none'}) "
                             f"differs from the criteria flagged mandatory_a "
                             f"({', '.join(flagged) or 'none'})")
    return rule, _text(row["citation"], at, "citation"), row["quote"].strip()


@functools.cache
def load_criteria() -> TightnessCriteria:
    """The shipped criteria and rule (``data/tightness.toml``), read and checked once."""
    return read_criteria(CRITERIA_FILE, load_catalogue())
