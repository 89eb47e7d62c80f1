"""What several planners share: customers grouped by time zone, greeting times, one question to a set of customers
at most once a period, the job description."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.triggers.base import BaseTrigger
from sqlalchemy import ColumnElement, exists
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from scheduler.config import CareConfig
from storage.db import SessionFactory, transaction
from storage.models import Customer, OutboxMessage
from storage.outbox import customer_plan, enqueue_query
from storage.proactive import proactive_allowed

GREETING_TIME = time(10, 0)  # greetings arrive at 10:00 in the customer's own time zone

Planner = Callable[[SessionFactory, CareConfig, datetime], Awaitable[int]]


@dataclass(frozen=True)
class JobSpec:
    name: str
    summary: str
    trigger: Callable[[CareConfig], BaseTrigger]
    plan: Planner


async def customer_zones(session: AsyncSession, config: CareConfig) -> list[tuple[str | None, ZoneInfo]]:
    """Each distinct `customers.timezone` value (None: not set) with the zone it means."""
    result = await session.execute(select(col(Customer.timezone)).distinct())
    return [(value, config.zone_of(value)) for (value,) in result.all()]


def local_time(day: date, zone: ZoneInfo, at: time = GREETING_TIME) -> datetime:
    return datetime.combine(day, at, zone)


async def ask_once_per_period(
    sessions: SessionFactory,
    config: CareConfig,
    now: datetime,
    *,
    kind: str,
    template: str,
    params: dict[str, Any],
    capped: bool,
    not_asked_since: datetime,
    where: Sequence[ColumnElement[bool]],
) -> int:
    """Plan a `kind` message for every customer matching `where` who may get proactive messages and was not planned
    a `kind` message since `not_asked_since`. Set-based: one INSERT … SELECT; keyed by today's date."""
    asked = exists().where(
        col(OutboxMessage.customer_id) == col(Customer.id),
        col(OutboxMessage.kind) == kind,
        col(OutboxMessage.created_at) >= not_asked_since,
    )
    today = now.astimezone(config.zone).date().isoformat()
    columns = customer_plan(
        key_prefix=f"{kind}:{today}:customer:",
        kind=kind,
        template=template,
        params=params,
        capped=capped,
        not_before=now,
        now=now,
    )
    async with transaction(sessions) as session:
        return await enqueue_query(
            session, query=select(*columns).where(proactive_allowed(admin_ids=config.admin_ids), *where, ~asked)
        )
