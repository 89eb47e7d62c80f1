"""Escalation: an assigned ticket still waiting for its first answer past its target (VIP: a shorter one), counted
in business minutes, is posted to the staff group with **Take** and **Reassign**, and its assignee is reminded
once in their inbox. Each ticket is escalated once (the queue's unique keys); the relay delivers both."""

from __future__ import annotations

from datetime import datetime

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.interval import IntervalTrigger

from scheduler.config import CareConfig
from scheduler.jobs.common import JobSpec
from storage import escalation
from storage.db import SessionFactory, transaction


async def plan(sessions: SessionFactory, config: CareConfig, now: datetime) -> int:
    if config.staff_chat_id is None:
        return 0
    async with transaction(sessions) as session:
        return await escalation.escalate_overdue(
            session,
            hours=config.hours,
            targets=config.sla,
            now=now,
        )


def trigger(config: CareConfig) -> BaseTrigger:
    return IntervalTrigger(minutes=1, timezone=config.zone)


JOB = JobSpec(
    "escalate", "assigned tickets past their first-response target: to the staff group, and a reminder", trigger, plan
)
