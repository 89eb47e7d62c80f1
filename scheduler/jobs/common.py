"""What several planners share: customers grouped by time zone, greeting times, the job description."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from apscheduler.triggers.base import BaseTrigger
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from scheduler.config import CareConfig
from storage.db import SessionFactory
from storage.models import Customer

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
