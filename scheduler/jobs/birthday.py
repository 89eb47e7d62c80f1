"""Birthday greetings with a gift code, at 10:00 on the customer's birthday in their own time zone.

Set-based: one INSERT … SELECT per time zone in use and day (today and tomorrow, so a greeting is planned before
its morning everywhere). Someone born on 29 February is greeted on 28 February in other years.
"""

from __future__ import annotations

import calendar
from datetime import date, datetime, timedelta
from typing import Any

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import ColumnElement, and_, or_
from sqlmodel import col, select

from scheduler.config import CareConfig
from scheduler.jobs.common import JobSpec, customer_zones, local_time
from storage.db import SessionFactory, transaction
from storage.models import Customer
from storage.outbox import customer_plan, enqueue_query
from storage.outbox_passes import in_zone
from storage.proactive import proactive_allowed


def born_on(day: date) -> ColumnElement[bool]:
    same_day = and_(col(Customer.birth_month) == day.month, col(Customer.birth_day) == day.day)
    if day.month == 2 and day.day == 28 and not calendar.isleap(day.year):
        return or_(same_day, and_(col(Customer.birth_month) == 2, col(Customer.birth_day) == 29))
    return same_day


def gift(config: CareConfig, reason: str, value: Any) -> dict[str, Any]:
    return {"reason": reason, "value": str(value), "currency": config.currency, "valid_days": config.gift_valid_days}


async def plan(sessions: SessionFactory, config: CareConfig, now: datetime) -> int:
    params: dict[str, Any] = {}
    if config.birthday_gift_value > 0:
        params["gift"] = gift(config, "birthday", config.birthday_gift_value)
    planned = 0
    async with transaction(sessions) as session:
        for value, zone in await customer_zones(session, config):
            today = now.astimezone(zone).date()
            for day in (today, today + timedelta(days=1)):
                columns = customer_plan(
                    key_prefix=f"birthday:{day.year}:customer:",
                    kind="birthday",
                    template="care.birthday",
                    params=params,
                    capped=False,
                    not_before=local_time(day, zone),
                    now=now,
                )
                query = select(*columns).where(
                    born_on(day), in_zone(value), proactive_allowed(admin_ids=config.admin_ids)
                )
                planned += await enqueue_query(session, query=query)
    return planned


def trigger(config: CareConfig) -> BaseTrigger:
    return CronTrigger(minute=5, timezone=config.zone)


JOB = JobSpec(
    "birthday", "birthday greetings with a gift code, sent at 10:00 in each customer's own time zone", trigger, plan
)
