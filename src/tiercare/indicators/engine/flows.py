"""Referral flows between levels for the dashboards (issue 5 item 4: "referral flows between
levels"), read from the snapshot's ``fact_referral`` (``facts.py``).

A flow is counted as the indicators count referrals (``definitions.MEASURES``
``up_referrals`` / ``down_referrals``): one referral that *happened* — the patient arrived
at the receiving side (``kind = 'arrived'``) — in the month of arrival. A referral belongs
to an alliance when its sending or its receiving institution is a member (an out-of-county
referral leaves the alliance for a hospital that belongs to none; rules.md §3).

The SQL is written in DuckDB's dialect with nothing vendor-specific, like every query of the
engine, so that ``backends.translate`` carries it to PostgreSQL and Spark unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

from tiercare.indicators.engine.backends import Backend
from tiercare.indicators.engine.compute import Span


@dataclass(frozen=True)
class Flow:
    """Referrals from one level to another in one direction (``referrals.models.Direction``)
    during a span. A level is ``None`` when the institution is unknown to the snapshot."""

    send_level: str | None
    recv_level: str | None
    direction: str
    count: int


def flow_sql(alliance_id: int, span: Span) -> str:
    """The query behind :func:`flows` (DuckDB dialect; integers only are inlined)."""
    alliance = int(alliance_id)
    return (
        "SELECT send_level, recv_level, direction, COUNT(*) AS n FROM fact_referral "
        f"WHERE kind = 'arrived' AND month >= {int(span.first)} AND month <= {int(span.last)} "
        f"AND (send_alliance = {alliance} OR recv_alliance = {alliance}) "
        "GROUP BY send_level, recv_level, direction "
        "ORDER BY send_level, recv_level, direction")


def flows(backend: Backend, alliance_id: int, span: Span) -> list[Flow]:
    """Referrals that happened in ``span`` with a member of the alliance on either side,
    counted by sending level, receiving level and direction."""
    return [Flow(send, recv, str(direction), int(count))
            for send, recv, direction, count in backend.rows(flow_sql(alliance_id, span))]
