"""The `agreements` job: remind customers whose agreement is about to end to renew it.

Two prompts per term, both planned into the outbox once (the key names the customer, the version they accepted and
the day the term ends): `terms:renew30:…` within the last 30 days, and `terms:expired:…` within the last day, while
the agreement is still in force — after that no proactive message may reach the customer, and they are asked again
when they next write to the bot. A customer who renewed has a later term and is not reminded of the earlier one.
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from typing import Any

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import Row, Select, exists, func
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlmodel import col, select

from scheduler.config import CareConfig
from scheduler.jobs.common import JobSpec
from storage.agreements import (
    AGREEMENT_KIND,
    ASK_LAST_DAY,
    ASK_RENEW,
    LAST_DAY,
    PLAN_BATCH,
    RENEW_BEFORE,
    first_version,
    plan_in_batches,
    prompt_buttons,
    version_in_force,
)
from storage.db import SessionFactory, transaction
from storage.models import AgreementAcceptance, Customer
from storage.outbox import PlannedMessage
from storage.proactive import proactive_allowed


async def plan_agreement_reminders(session: AsyncSession, *, now: datetime, years: int, zone: tzinfo = UTC) -> int:
    """Plan the renewal prompts due at `now`; returns how many were new. Nothing is planned while no version is in
    force. `years` (CAREBOT_AGREEMENT_YEARS) is the new term the prompt promises; `zone` (CAREBOT_TIMEZONE) the
    zone of the end date shown."""
    current = await version_in_force(session, at=now)
    if current is None:
        return 0
    first = await first_version(session)
    windows = (
        ("renew30", ASK_RENEW, now + LAST_DAY, now + RENEW_BEFORE),
        ("expired", ASK_LAST_DAY, now, now + LAST_DAY),
    )
    planned = 0
    for name, template, after, until in windows:
        planned += await _plan_window(
            session,
            name=name,
            template=template,
            ends_after=after,
            ends_by=until,
            now=now,
            params={"version": current.version, "years": years, "buttons": prompt_buttons(current.version)},
            first=first or 0,
            zone=zone,
        )
    return planned


async def _plan_window(
    session: AsyncSession,
    *,
    name: str,
    template: str,
    ends_after: datetime,
    ends_by: datetime,
    now: datetime,
    params: dict[str, Any],
    first: int,
    zone: tzinfo,
) -> int:
    """Customers whose latest term ends in (`ends_after`, `ends_by`]: found by the `valid_until` index, then kept
    when no later acceptance of theirs exists."""
    ending = aliased(AgreementAcceptance)
    later = aliased(AgreementAcceptance)
    version = func.coalesce(col(ending.version), first)

    def query(after: int) -> Select[Any]:
        return (
            select(Customer.id, Customer.telegram_id, col(ending.valid_until).label("until"), version.label("version"))
            .join(ending, col(ending.customer_id) == col(Customer.id))
            .where(
                col(Customer.id) > after,
                col(ending.valid_until) > ends_after,
                col(ending.valid_until) <= ends_by,
                ~exists().where(
                    col(later.customer_id) == col(ending.customer_id), col(later.valid_until) > col(ending.valid_until)
                ),
                proactive_allowed(now),
            )
            .order_by(col(Customer.id), version.desc())
            .limit(PLAN_BATCH)
        )

    def message(row: Row[Any]) -> PlannedMessage:
        until = row.until.astimezone(zone).date().isoformat()
        return PlannedMessage(
            key=f"terms:{name}:v{row.version}:customer:{row.id}:{until}",
            kind=AGREEMENT_KIND,
            chat_id=row.telegram_id,
            customer_id=row.id,
            template=template,
            params={**params, "until": until},
            capped=False,
            not_before=now,
        )

    return await plan_in_batches(session, query, message)


async def plan(sessions: SessionFactory, config: CareConfig, now: datetime) -> int:
    async with transaction(sessions) as session:
        return await plan_agreement_reminders(session, now=now, years=config.agreement_years, zone=config.zone)


def trigger(config: CareConfig) -> BaseTrigger:
    return CronTrigger(hour=9, minute=30, timezone=config.zone)


JOB = JobSpec("agreements", "remind customers to renew the agreement 30 days before and on its last day", trigger, plan)
