"""Asking customers to accept: the outbox prompts planned when a version or supplement is published."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import Row, Select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from storage.agreements.common import AGREEMENT_KIND, ASK_NEW_VERSION, ASK_SUPPLEMENT, PLAN_BATCH, prompt_buttons
from storage.models import (
    AgreementVersion,
    Customer,
)
from storage.outbox import PlannedMessage, enqueue_many
from storage.proactive import proactive_allowed


async def plan_in_batches(
    session: AsyncSession,
    query: Callable[[int], Select[Any]],
    message: Callable[[Row[Any]], PlannedMessage],
) -> int:
    """Plan one message per row of `query(after_customer_id)`, a query ordered by customer id whose first column
    is `customers.id`, in batches (keyset pagination), so that a million customers never sit in memory at once."""
    after, planned = 0, 0
    while True:
        rows = list((await session.execute(query(after))).all())
        if not rows:
            return planned
        unique = {row[0]: row for row in reversed(rows)}  # the first row of each customer wins
        planned += await enqueue_many(session, messages=[message(row) for row in unique.values()])
        after = rows[-1][0]


async def ask_to_accept(session: AsyncSession, *, version: AgreementVersion, now: datetime) -> int:
    """Plan a prompt to accept `version` for every customer whose agreement is in force and who may get proactive
    messages; customers without one see the agreement when they next write (/start, /terms, /profile)."""
    template = ASK_SUPPLEMENT if version.is_supplement else ASK_NEW_VERSION
    params = {
        "version": version.version,
        "supplements": version.supplements_version or 0,
        "buttons": prompt_buttons(version.version),
    }

    def query(after: int) -> Select[Any]:
        return (
            select(Customer.id, Customer.telegram_id)
            .where(col(Customer.id) > after, proactive_allowed(now))
            .order_by(col(Customer.id))
            .limit(PLAN_BATCH)
        )

    def message(row: Row[Any]) -> PlannedMessage:
        return PlannedMessage(
            key=f"terms:v{version.version}:customer:{row.id}",
            kind=AGREEMENT_KIND,
            chat_id=row.telegram_id,
            customer_id=row.id,
            template=template,
            params=params,
            capped=False,
            not_before=now,
        )

    return await plan_in_batches(session, query, message)
