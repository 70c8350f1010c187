"""The indicator engine (issue 5 item 3): a snapshot of fact tables refreshed from the
operational database into DuckDB (``snapshot``), indicators defined once as SQL over the
facts (``facts``, ``definitions``) and computed for any org unit and period (``compute``),
on DuckDB, PostgreSQL (``postgres``) or Spark (``spark``). ADR 0018."""

from tiercare.indicators.engine.compute import Cell, Span, compute
from tiercare.indicators.engine.definitions import DEFINITIONS, MEASURES, ORG_KINDS, org_kinds

__all__ = ["DEFINITIONS", "MEASURES", "ORG_KINDS", "Cell", "Span", "compute", "org_kinds"]
