"""Telegram Business: connections, the business chats they serve, and the one rule of when Carebot may answer in one.

A connection is used only while enabled and only when its owner is an admin or a staff member of this Carebot;
an answer goes into a business chat only when the owner let the bot reply and the customer wrote in the last 24
hours (Telegram's rule). Everything else is recorded and left alone.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from storage.models import (
    BusinessChat,
    BusinessConnection,
    ConnectionState,
    MessageDirection,
    ReplyBlock,
    StaffDelivery,
    Ticket,
    TicketMessage,
    TicketStatus,
)
from storage.outbox import insert_ignoring_duplicates
from storage.staff import role_of
from storage.types import utcnow

REPLY_WINDOW = timedelta(hours=24)


@dataclass(frozen=True)
class ConnectionChange:
    connection: BusinessConnection
    created: bool
    stopped: bool  # was usable before, is disabled now


@dataclass(frozen=True)
class ConnectionOverview:
    connection: BusinessConnection
    state: ConnectionState
    chats: int
    last_message_at: datetime | None


async def get_connection(session: AsyncSession, *, connection_id: str) -> BusinessConnection | None:
    return await session.get(BusinessConnection, connection_id)


async def save_connection(
    session: AsyncSession,
    *,
    connection_id: str,
    owner_telegram_id: int,
    owner_chat_id: int,
    enabled: bool,
    can_reply: bool,
    rights: str,
    connected_at: datetime,
) -> ConnectionChange:
    """Store a connection as Telegram describes it now (a `business_connection` update or getBusinessConnection)."""
    now = utcnow()
    table = BusinessConnection.__table__  # type: ignore[attr-defined]
    inserted = await session.execute(  # race-free get-or-create: a new row starts disabled, then is updated
        insert_ignoring_duplicates(session, table, ["id"])
        .values(
            id=connection_id,
            owner_telegram_id=owner_telegram_id,
            owner_chat_id=owner_chat_id,
            enabled=False,
            can_reply=False,
            rights="{}",
            connected_at=connected_at,
            updated_at=now,
        )
        .returning(table.c.id)
    )
    created = inserted.first() is not None
    connection = await session.get(BusinessConnection, connection_id, with_for_update=True, populate_existing=True)
    assert connection is not None
    was_enabled = connection.enabled
    connection.owner_telegram_id = owner_telegram_id
    connection.owner_chat_id = owner_chat_id
    connection.enabled = enabled
    connection.can_reply = can_reply
    connection.rights = rights
    connection.connected_at = connected_at
    connection.updated_at = now
    if enabled:
        connection.disabled_told_at = None  # told again if it stops again
    session.add(connection)
    await session.flush()
    return ConnectionChange(connection, created=created, stopped=was_enabled and not enabled)


async def owner_is_staff(session: AsyncSession, connection: BusinessConnection, *, admin_ids: Collection[int]) -> bool:
    return await role_of(session, telegram_id=connection.owner_telegram_id, admin_ids=admin_ids) is not None


def state_of(connection: BusinessConnection, *, staff_owner: bool) -> ConnectionState:
    if not staff_owner:
        return ConnectionState.IGNORED
    if not connection.enabled:
        return ConnectionState.DISABLED
    return ConnectionState.ACTIVE if connection.can_reply else ConnectionState.READ_ONLY


async def connection_state(
    session: AsyncSession, *, connection_id: str, admin_ids: Collection[int]
) -> ConnectionState | None:
    """What Carebot does with this connection now; None when it was never stored."""
    connection = await get_connection(session, connection_id=connection_id)
    if connection is None:
        return None
    return state_of(connection, staff_owner=await owner_is_staff(session, connection, admin_ids=admin_ids))


async def record_chat_activity(
    session: AsyncSession, *, connection_id: str, chat_id: int, from_customer: bool, now: datetime | None = None
) -> None:
    """A message in a business chat: the customer's opens Telegram's 24-hour reply window."""
    now = now or utcnow()
    table = BusinessChat.__table__  # type: ignore[attr-defined]
    await session.execute(
        insert_ignoring_duplicates(session, table, ["connection_id", "chat_id"]).values(
            connection_id=connection_id, chat_id=chat_id, last_message_at=now
        )
    )
    values: dict[str, datetime] = {"last_message_at": now}
    if from_customer:
        values["last_customer_message_at"] = now
    await session.execute(
        update(BusinessChat)
        .where(col(BusinessChat.connection_id) == connection_id, col(BusinessChat.chat_id) == chat_id)
        .values(**values)
    )


async def reply_block(
    session: AsyncSession, *, connection_id: str, chat_id: int, admin_ids: Collection[int], now: datetime | None = None
) -> ReplyBlock | None:
    """Why Carebot may not send in this business chat now, or None when it may."""
    connection = await get_connection(session, connection_id=connection_id)
    if connection is None:
        return ReplyBlock.UNKNOWN
    state = state_of(connection, staff_owner=await owner_is_staff(session, connection, admin_ids=admin_ids))
    if state == ConnectionState.IGNORED:
        return ReplyBlock.IGNORED
    if state == ConnectionState.DISABLED:
        return ReplyBlock.DISABLED
    if state == ConnectionState.READ_ONLY:
        return ReplyBlock.NO_REPLY_RIGHT
    chat = await session.get(BusinessChat, (connection_id, chat_id))
    last = chat.last_customer_message_at if chat is not None else None
    if last is None or (now or utcnow()) - last >= REPLY_WINDOW:
        return ReplyBlock.WINDOW_CLOSED
    return None


async def forget_chats(session: AsyncSession, *, chat_id: int) -> None:
    """An erased customer's business chats are forgotten (the next message opens a new one)."""
    await session.execute(delete(BusinessChat).where(col(BusinessChat.chat_id) == chat_id))


async def claim_stop_notice(session: AsyncSession, *, connection_id: str) -> bool:
    """True once per stop of a connection: the caller tells the admins."""
    result = await session.execute(
        update(BusinessConnection)
        .where(col(BusinessConnection.id) == connection_id, col(BusinessConnection.disabled_told_at).is_(None))
        .values(disabled_told_at=utcnow())
    )
    return bool(getattr(result, "rowcount", 0))


async def overview(session: AsyncSession, *, admin_ids: Collection[int]) -> list[ConnectionOverview]:
    """Every stored connection, newest first, with the chats it served and its last message."""
    served = await session.execute(
        select(col(BusinessChat.connection_id), func.count(), func.max(col(BusinessChat.last_message_at))).group_by(
            col(BusinessChat.connection_id)
        )
    )
    counts = {connection_id: (chats, last) for connection_id, chats, last in served.all()}
    result = await session.execute(select(BusinessConnection).order_by(col(BusinessConnection.connected_at).desc()))
    rows = []
    for connection in result.scalars():
        chats, last = counts.get(connection.id, (0, None))
        staff_owner = await owner_is_staff(session, connection, admin_ids=admin_ids)
        rows.append(ConnectionOverview(connection, state_of(connection, staff_owner=staff_owner), chats, last))
    return rows


async def reply_connection(session: AsyncSession, *, ticket_id: int) -> str:
    """Where staff answers of a ticket go: the business chat of the customer's latest message ("" the bot chat)."""
    return (await reply_connections(session, ticket_ids=[ticket_id])).get(ticket_id, "")


async def reply_connections(session: AsyncSession, *, ticket_ids: Sequence[int]) -> dict[int, str]:
    """`reply_connection` for many tickets in one query (a ticket without customer messages is left out)."""
    if not ticket_ids:
        return {}
    latest = (
        select(func.max(col(TicketMessage.id)))
        .where(col(TicketMessage.ticket_id).in_(ticket_ids), col(TicketMessage.direction) == MessageDirection.IN)
        .group_by(col(TicketMessage.ticket_id))
    )
    result = await session.execute(
        select(col(TicketMessage.ticket_id), col(TicketMessage.business_connection_id)).where(
            col(TicketMessage.id).in_(latest)
        )
    )
    return {ticket_id: connection or "" for ticket_id, connection in result.all()}


async def active_tickets_via(session: AsyncSession, *, connection_id: str) -> list[int]:
    """Tickets waiting for staff or the customer that have messages of this connection's business chats."""
    result = await session.execute(
        select(col(Ticket.id))
        .join(TicketMessage, col(TicketMessage.ticket_id) == col(Ticket.id))
        .where(
            col(TicketMessage.business_connection_id) == connection_id,
            col(Ticket.status).in_((TicketStatus.OPEN, TicketStatus.PENDING)),
        )
        .distinct()
    )
    return sorted(ticket_id for ticket_id in result.scalars() if ticket_id is not None)


async def mark_deleted(
    session: AsyncSession, *, connection_id: str, chat_id: int, message_ids: Sequence[int]
) -> list[TicketMessage]:
    """The customer deleted these business-chat messages: their stored text and file are erased, the time kept.
    Returns the ones newly marked (a repeated update marks nothing)."""
    result = await session.execute(
        select(TicketMessage).where(
            col(TicketMessage.business_connection_id) == connection_id,
            col(TicketMessage.customer_chat_id) == chat_id,
            col(TicketMessage.customer_message_id).in_(list(message_ids)),
            col(TicketMessage.deleted_at).is_(None),
        )
    )
    marked = list(result.scalars())
    now = utcnow()
    for message in marked:
        message.text = None
        message.file_id = None
        message.deleted_at = now
        session.add(message)
    await session.flush()
    return marked


async def deleted_counts(session: AsyncSession, *, ticket_ids: Sequence[int]) -> dict[int, int]:
    """How many of each ticket's customer messages the customer deleted (tickets with none are left out)."""
    if not ticket_ids:
        return {}
    result = await session.execute(
        select(col(TicketMessage.ticket_id), func.count())
        .where(col(TicketMessage.ticket_id).in_(ticket_ids), col(TicketMessage.deleted_at).is_not(None))
        .group_by(col(TicketMessage.ticket_id))
    )
    return {ticket_id: int(count) for ticket_id, count in result.all()}


async def forget_pending_copies(session: AsyncSession, *, message_ids: Sequence[int]) -> None:
    """Copies to staff of messages the customer deleted before they were relayed are not sent any more."""
    if message_ids:
        await session.execute(
            update(StaffDelivery)
            .where(
                col(StaffDelivery.status) == "pending",
                col(StaffDelivery.kind) == "copy",
                col(StaffDelivery.ticket_message_id).in_(list(message_ids)),
            )
            .values(status="failed", last_error="deleted by the customer")
        )
