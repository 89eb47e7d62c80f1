"""`/stats` per agent: tickets of the period, median first answer, open tickets now."""

from __future__ import annotations

import statistics
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from storage.business_hours import BusinessHours
from storage.models import Ticket
from storage.routing import agents_with_inbox, open_tickets_of, staff_ids, staff_names


@dataclass(frozen=True)
class AgentFigures:
    """One agent in `/stats`: tickets assigned to them that were opened in the period, their median first
    response (minutes), and their open tickets right now."""

    telegram_id: int
    name: str
    tickets: int
    first_response: float | None
    open_now: int


async def agent_report(
    session: AsyncSession, *, since: datetime, admin_ids: Collection[int], hours: BusinessHours
) -> list[AgentFigures]:
    """Per agent (current staff with an inbox or tickets in the period), most tickets first; first answers in
    business minutes, like every response time (storage/sla.py)."""
    rows = await session.execute(
        select(col(Ticket.assignee_telegram_id), col(Ticket.opened_at), col(Ticket.first_response_at)).where(
            col(Ticket.opened_at) >= since, col(Ticket.assignee_telegram_id).isnot(None)
        )
    )
    times: dict[int, list[float]] = {}
    counts: dict[int, int] = {}
    for agent_id, opened_at, first_response_at in rows.tuples():
        assert agent_id is not None
        counts[agent_id] = counts.get(agent_id, 0) + 1
        if first_response_at is not None:
            times.setdefault(agent_id, []).append(hours.business_minutes_between(opened_at, first_response_at))
    members = await staff_ids(session, admin_ids=admin_ids)
    with_inbox = {agent.telegram_id for agent in await agents_with_inbox(session, admin_ids=admin_ids)}
    ids = sorted((set(counts) | with_inbox) & members)
    load = await open_tickets_of(session, telegram_ids=ids)
    names = await staff_names(session, ids)
    figures = [
        AgentFigures(
            agent_id,
            names.get(agent_id, str(agent_id)),
            counts.get(agent_id, 0),
            _median(times.get(agent_id, [])),
            load[agent_id],
        )
        for agent_id in ids
    ]
    return sorted(figures, key=lambda f: (-f.tickets, f.name))


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None
