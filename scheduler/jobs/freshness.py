"""Keeping records fresh: customers whose details were last confirmed over a year ago are asked whether they are
still right (Yes / Update, which opens /profile). Asked at most once a year. Set-based: one INSERT … SELECT."""

from __future__ import annotations

from datetime import datetime, timedelta

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import exists, func, or_
from sqlmodel import col, select

from scheduler.config import CareConfig
from scheduler.jobs.common import JobSpec
from storage.db import SessionFactory, transaction
from storage.models import Customer, OutboxMessage
from storage.outbox import customer_plan, enqueue_query
from storage.proactive import proactive_allowed

STALE_AFTER = timedelta(days=365)
FRESHNESS_BUTTONS = [[["care.fresh.yes", "care:fresh:yes"], ["care.fresh.update", "care:fresh:update"]]]


async def plan(sessions: SessionFactory, config: CareConfig, now: datetime) -> int:
    stale_before = now - STALE_AFTER
    has_details = or_(
        col(Customer.phone).is_not(None), col(Customer.email).is_not(None), col(Customer.birth_month).is_not(None)
    )
    asked = exists().where(
        col(OutboxMessage.customer_id) == col(Customer.id),
        col(OutboxMessage.kind) == "freshness",
        col(OutboxMessage.created_at) >= stale_before,
    )
    today = now.astimezone(config.zone).date().isoformat()
    columns = customer_plan(
        key_prefix=f"freshness:{today}:customer:",
        kind="freshness",
        template="care.freshness",
        params={"buttons": FRESHNESS_BUTTONS},
        capped=False,
        not_before=now,
        now=now,
    )
    confirmed = func.coalesce(col(Customer.last_confirmed_at), col(Customer.created_at))
    query = select(*columns).where(proactive_allowed(), has_details, confirmed < stale_before, ~asked)
    async with transaction(sessions) as session:
        return await enqueue_query(session, query=query)


def trigger(config: CareConfig) -> BaseTrigger:
    return CronTrigger(hour=11, minute=30, timezone=config.zone)


JOB = JobSpec("freshness", "'are these details still right?' after a year", trigger, plan)
