"""The periodic survey: every `CAREBOT_SURVEY_INTERVAL_DAYS`, customers who bought in that window are asked how
likely they are to recommend us (0–10). Set-based: one INSERT … SELECT."""

from __future__ import annotations

from datetime import datetime, timedelta

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import exists
from sqlmodel import col

from scheduler.config import CareConfig
from scheduler.jobs.common import JobSpec, ask_once_per_period
from storage.db import SessionFactory
from storage.models import Customer, Purchase
from storage.surveys import NPS_SCORES

NPS_BUTTONS = [
    [[str(score), f"care:nps:{score}"] for score in NPS_SCORES if score <= 5],
    [[str(score), f"care:nps:{score}"] for score in NPS_SCORES if score > 5],
]


async def plan(sessions: SessionFactory, config: CareConfig, now: datetime) -> int:
    window_start = now - timedelta(days=config.survey_interval_days)
    bought = exists().where(
        col(Purchase.customer_id) == col(Customer.id),
        col(Purchase.occurred_at) >= window_start,
        col(Purchase.refunded_at).is_(None),
    )
    return await ask_once_per_period(
        sessions,
        config,
        now,
        kind="nps",
        template="care.nps",
        params={"buttons": NPS_BUTTONS},
        capped=True,
        not_asked_since=window_start,
        where=[bought],
    )


def trigger(config: CareConfig) -> BaseTrigger:
    return CronTrigger(hour=11, minute=0, timezone=config.zone)


JOB = JobSpec("nps", "0–10 survey for recent buyers, once per survey interval (capped)", trigger, plan)
