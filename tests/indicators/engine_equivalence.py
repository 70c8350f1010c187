"""The dataset and the comparison shared by the engine-equivalence tests (DuckDB against
PostgreSQL in ``make test``, against Spark in ``make test-spark``): a synthetic county-year
plus the golden county, every computed indicator for every org kind and the year, a
quarter and a month."""

from __future__ import annotations

from decimal import Decimal

from tiercare.indicators.engine import ORG_KINDS, Span, compute
from tiercare.indicators.engine.backends import Backend
from tiercare.kernel.periods import parse

SPANS = [Span.of(parse(p)) for p in ("2025", "2025Q2", "2025-03", "2025-11")]

Key = tuple[str, str, str, Span]
Numbers = tuple[Decimal | None, Decimal | None, Decimal | None]


def catalogue_cells(backend: Backend) -> dict[Key, Numbers]:
    """Every cell of the catalogue on ``backend``: (indicator, org kind, org, span) →
    (numerator, denominator, value)."""
    out: dict[Key, Numbers] = {}
    for kind in ORG_KINDS:
        for cell in compute(backend, SPANS, kind):
            out[(cell.indicator, kind, cell.org, cell.span)] = (
                cell.numerator, cell.denominator, cell.value)
    return out


def differences(left: dict[Key, Numbers], right: dict[Key, Numbers]) -> list[str]:
    return [f"{key[0]} {key[1]} {key[2]} {key[3].label}: {left.get(key)} ≠ {right.get(key)}"
            for key in sorted(set(left) | set(right), key=str)
            if left.get(key) != right.get(key)]
