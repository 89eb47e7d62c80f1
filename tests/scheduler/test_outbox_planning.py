"""Planning the same proactive message twice stores it once."""

from __future__ import annotations

from sqlalchemy import func
from sqlmodel import select

from storage.db import SessionFactory, transaction
from storage.models import OutboxMessage
from storage.outbox import PlannedMessage, enqueue_many


async def test_planning_twice_inserts_nothing_new(sessions: SessionFactory) -> None:
    planned = [
        PlannedMessage(key=f"birthday:2026:customer:{n}", kind="birthday", chat_id=n, template="birthday.greeting")
        for n in range(1, 4)
    ]
    async with transaction(sessions) as session:
        assert await enqueue_many(session, messages=planned) == 3
    async with transaction(sessions) as session:
        assert (
            await enqueue_many(session, messages=[*planned, PlannedMessage(key="x", kind="k", chat_id=9, template="t")])
            == 1
        )
    async with sessions() as session:
        assert (await session.execute(select(func.count()).select_from(OutboxMessage))).scalar_one() == 4
