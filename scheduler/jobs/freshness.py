"""Keeping records fresh: customers whose details were last confirmed over a year ago are asked whether they are
still right (Yes / Update, which opens /profile). Asked at most once a year. Set-based: one INSERT … SELECT."""

from __future__ import annotations

from datetime import datetime, timedelta

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import func, or_
from sqlmodel import col

from scheduler.config import CareConfig
from scheduler.jobs.common import JobSpec, ask_once_per_period
from storage.db import SessionFactory
from storage.models import Customer

STALE_AFTER = timedelta(days=365)
FRESHNESS_BUTTONS = [[["care.fresh.yes", "care:fresh:yes"], ["care.fresh.update", "care:fresh:update"]]]


async def plan(sessions: SessionFactory, config: CareConfig, now: datetime) -> int:
    stale_before = now - STALE_AFTER
    has_details = or_(
        col(Customer.phone).is_not(None), col(Customer.email).is_not(None), col(Customer.birth_month).is_not(None)
    )
    confirmed = func.coalesce(col(Customer.last_confirmed_at), col(Customer.created_at))
    return await ask_once_per_period(
        sessions,
        config,
        now,
        kind="freshness",
        template="care.freshness",
        params={"buttons": FRESHNESS_BUTTONS},
        capped=False,
        not_asked_since=stale_before,
        where=[has_details, confirmed < stale_before],
    )


def trigger(config: CareConfig) -> BaseTrigger:
    return CronTrigger(hour=11, minute=30, timezone=config.zone)


JOB = JobSpec("freshness", "'are these details still right?' after a year", trigger, plan)
