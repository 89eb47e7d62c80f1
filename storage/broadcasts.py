"""Staff broadcasts: a draft, its recipients (after opt-outs), its outbox rows and their progress."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, func, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from storage.models import Broadcast, BroadcastStatus, Customer, OutboxMessage, OutboxStatus, Segment
from storage.outbox import PlannedMessage, enqueue_many
from storage.proactive import proactive_allowed
from storage.types import utcnow

ALL = "all"
AUDIENCES = (ALL, *(segment.value for segment in Segment))
KIND = "broadcast"
TEMPLATE = "staff.broadcast.message"
_CHUNK = 5_000


def outbox_key(broadcast_id: int, customer_id: int) -> str:
    return f"{KIND}:{broadcast_id}:customer:{customer_id}"


def _audience(segment: str, admin_ids: Collection[int]) -> ColumnElement[bool]:
    allowed = proactive_allowed(admin_ids=admin_ids)
    return allowed if segment == ALL else (allowed & (col(Customer.segment) == segment))


async def count_recipients(session: AsyncSession, *, segment: str, admin_ids: Collection[int] = ()) -> int:
    """Customers of the segment (or all) who may receive proactive messages (staff are not customers)."""
    result = await session.execute(select(func.count()).select_from(Customer).where(_audience(segment, admin_ids)))
    return int(result.scalar_one())


async def create_draft(
    session: AsyncSession,
    *,
    segment: str,
    created_by: int,
    source_chat_id: int,
    source_message_id: int,
    language: str,
    admin_ids: Collection[int] = (),
) -> Broadcast:
    if segment not in AUDIENCES:
        raise ValueError(f"unknown audience {segment!r}")
    broadcast = Broadcast(
        segment=segment,
        created_by=created_by,
        source_chat_id=source_chat_id,
        source_message_id=source_message_id,
        language=language,
        recipients=await count_recipients(session, segment=segment, admin_ids=admin_ids),
    )
    session.add(broadcast)
    await session.flush()
    return broadcast


async def _claim(session: AsyncSession, broadcast_id: int, status: str) -> bool:
    """Move a draft to `status`; False when it is no longer a draft (pressed twice, or by two people)."""
    result = await session.execute(
        update(Broadcast)
        .where(col(Broadcast.id) == broadcast_id, col(Broadcast.status) == BroadcastStatus.DRAFT)
        .values(status=status, queued_at=utcnow() if status == BroadcastStatus.QUEUED else None)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def cancel_draft(session: AsyncSession, *, broadcast_id: int) -> bool:
    return await _claim(session, broadcast_id, BroadcastStatus.CANCELLED)


async def queue_broadcast(
    session: AsyncSession,
    *,
    broadcast_id: int,
    report_chat_id: int,
    report_message_id: int,
    admin_ids: Collection[int] = (),
) -> int | None:
    """Plan one outbox row per recipient; returns how many, or None when the draft was already handled."""
    if not await _claim(session, broadcast_id, BroadcastStatus.QUEUED):
        return None
    broadcast = await session.get(Broadcast, broadcast_id)
    assert broadcast is not None
    params = {"copy_from": {"chat_id": broadcast.source_chat_id, "message_id": broadcast.source_message_id}}
    planned, last_id = 0, 0
    while True:
        result = await session.execute(
            select(col(Customer.id), col(Customer.telegram_id))
            .where(_audience(broadcast.segment, admin_ids), col(Customer.id) > last_id)
            .order_by(col(Customer.id))
            .limit(_CHUNK)
        )
        recipients: Sequence[tuple[int, int]] = result.tuples().all()
        if not recipients:
            break
        messages = [
            PlannedMessage(
                key=outbox_key(broadcast_id, customer_id),
                kind=KIND,
                chat_id=telegram_id,
                customer_id=customer_id,
                template=TEMPLATE,
                params=params,
                capped=True,
            )
            for customer_id, telegram_id in recipients
        ]
        planned += await enqueue_many(session, messages=messages)
        last_id = recipients[-1][0]
    broadcast.recipients = planned
    broadcast.report_chat_id = report_chat_id
    broadcast.report_message_id = report_message_id
    session.add(broadcast)
    await session.flush()
    return planned


@dataclass(frozen=True)
class Progress:
    total: int
    sent: int
    failed: int
    skipped: int

    @property
    def waiting(self) -> int:
        return self.total - self.sent - self.failed - self.skipped

    @property
    def done(self) -> bool:
        return self.waiting <= 0


async def progress(session: AsyncSession, *, broadcast_id: int) -> Progress:
    """Counted from the broadcast's outbox rows (the sender moves them to sent, failed or skipped)."""
    result = await session.execute(
        select(col(OutboxMessage.status), func.count())
        .where(col(OutboxMessage.kind) == KIND, col(OutboxMessage.key).startswith(f"{KIND}:{broadcast_id}:"))
        .group_by(col(OutboxMessage.status))
    )
    counts = {status: count for status, count in result}
    return Progress(
        total=sum(counts.values()),
        sent=counts.get(OutboxStatus.SENT.value, 0),
        failed=counts.get(OutboxStatus.FAILED.value, 0),
        skipped=counts.get(OutboxStatus.SKIPPED.value, 0),
    )


async def finish(session: AsyncSession, *, broadcast_id: int) -> None:
    await session.execute(
        update(Broadcast)
        .where(col(Broadcast.id) == broadcast_id, col(Broadcast.status) == BroadcastStatus.QUEUED)
        .values(status=BroadcastStatus.DONE, finished_at=utcnow())
    )


async def in_progress(session: AsyncSession) -> list[Broadcast]:
    """Queued broadcasts whose final report is still to come (to follow them again after a restart)."""
    result = await session.execute(
        select(Broadcast).where(col(Broadcast.status) == BroadcastStatus.QUEUED).order_by(col(Broadcast.id))
    )
    return list(result.scalars())
