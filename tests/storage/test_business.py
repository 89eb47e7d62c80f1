"""When Carebot may answer in a business chat: a staff owner, an enabled connection, the reply right, 24 hours."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from storage import business
from storage.db import SessionFactory, transaction
from storage.models import ConnectionState, ReplyBlock, StaffMember
from storage.types import utcnow

ADMINS = frozenset({1})


async def connect(
    session: AsyncSession, connection_id: str, owner: int, *, enabled: bool = True, can_reply: bool = True
) -> business.ConnectionChange:
    return await business.save_connection(
        session,
        connection_id=connection_id,
        owner_telegram_id=owner,
        owner_chat_id=owner,
        enabled=enabled,
        can_reply=can_reply,
        rights="{}",
        connected_at=utcnow(),
    )


async def test_a_connection_answers_only_for_staff_owners_while_enabled_within_the_window(
    sessions: SessionFactory,
) -> None:
    async with transaction(sessions) as session:
        await connect(session, "admin-shop", 1)
        await connect(session, "agent-shop", 2, can_reply=False)
        await connect(session, "stranger-shop", 3)
        for connection_id in ("admin-shop", "agent-shop", "stranger-shop"):
            await business.record_chat_activity(session, connection_id=connection_id, chat_id=50, from_customer=True)

    async def block(connection_id: str, chat_id: int = 50, hours: float = 0) -> ReplyBlock | None:
        async with sessions() as session:
            return await business.reply_block(
                session,
                connection_id=connection_id,
                chat_id=chat_id,
                admin_ids=ADMINS,
                now=utcnow() + timedelta(hours=hours),
            )

    assert await block("admin-shop") is None
    assert await block("admin-shop", hours=25) == ReplyBlock.WINDOW_CLOSED
    assert await block("admin-shop", chat_id=51) == ReplyBlock.WINDOW_CLOSED  # never wrote there
    assert await block("agent-shop") == ReplyBlock.IGNORED  # not staff (yet)
    assert await block("stranger-shop") == ReplyBlock.IGNORED
    assert await block("nobody-shop") == ReplyBlock.UNKNOWN

    async with transaction(sessions) as session:
        session.add(StaffMember(telegram_id=2, name="Ann", role="agent"))
    assert await block("agent-shop") == ReplyBlock.NO_REPLY_RIGHT

    async with transaction(sessions) as session:
        change = await connect(session, "admin-shop", 1, enabled=False)
        assert change.stopped and await business.claim_stop_notice(session, connection_id="admin-shop")
        assert not await business.claim_stop_notice(session, connection_id="admin-shop")  # told once
    assert await block("admin-shop") == ReplyBlock.DISABLED

    async with sessions() as session:
        rows = {row.connection.id: row for row in await business.overview(session, admin_ids=ADMINS)}
    assert rows["admin-shop"].state == ConnectionState.DISABLED and rows["admin-shop"].chats == 1
    assert rows["agent-shop"].state == ConnectionState.READ_ONLY
    assert rows["stranger-shop"].state == ConnectionState.IGNORED
