"""Planning proactive messages: rows go into the outbox once per idempotency key, whoever plans them.

The contract between planners and the sender:
- `template` is a text key of the catalogs (e.g. `care.birthday`), rendered in the customer's language when sent,
  with `params` as its `{placeholders}` (escaped).
- Special params: `buttons` — rows of `[text_key, callback_data]` shown above the **Stop these messages** button
  that every proactive message carries; `copy_from` — `{"chat_id": …, "message_id": …}`: the sender copies that
  message (a staff broadcast with any media) instead of rendering the template.
- `capped` rows count against `CAREBOT_MAX_PROACTIVE_PER_WEEK`.
- `gift` — `{"reason", "value", "currency", "valid_days"}`: the sender issues a unique coupon when it claims the
  row (so only greetings that really go out carry one) and writes `code` and `expires` into it.
- Values of other params may be typed: `{"amount", "currency"}` is shown as money, `{"date": "YYYY-MM-DD"}` as a
  date, `{"en": …, "zh_CN": …}` in the customer's language, `{"template": key, "items": [params…]}` as one line per
  item — each in the reader's language.
- Templates of a customer's row may use `{name}`: their first name (or a polite form of address).
- Rows without a customer (e.g. the staff chat's SLA digest) are rendered in the staff language.

A greeting to everyone in a time zone (a holiday's) is planned as one pass and written out as rows when due:
see storage/outbox_passes.py.

Row life: `pending` → `sending` (committed before Telegram is called) → `sent` | `failed` | `skipped`. A row left
in `sending` by a crash is never picked up again: a message may be lost to a crash, never doubled; such rows are
reported by `outbox_report()` (`carebot jobs list`, `/stats`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, String, cast, func, literal, update
from sqlalchemy import select as sa_select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from storage.models import Customer, OutboxMessage, OutboxStatus
from storage.proactive import proactive_allowed
from storage.types import UTCDateTime, utcnow

# A row is reported as stuck when it stayed in `sending` longer than any live sender keeps one.
STUCK_AFTER = timedelta(minutes=10)


@dataclass(frozen=True)
class PlannedMessage:
    key: str
    kind: str
    chat_id: int
    template: str
    customer_id: int | None = None
    params: dict[str, Any] = field(default_factory=dict)
    capped: bool = False
    not_before: datetime | None = None


def insert_ignoring_duplicates(session: AsyncSession, table: Any, conflict_columns: Sequence[str]) -> Any:
    """An INSERT that skips rows whose `conflict_columns` already exist, on SQLite and PostgreSQL alike."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return insert(table).on_conflict_do_nothing(index_elements=list(conflict_columns))


async def enqueue_many(session: AsyncSession, *, messages: Sequence[PlannedMessage]) -> int:
    """Insert the messages whose key is new; returns how many were inserted. Planning twice inserts nothing."""
    if not messages:
        return 0
    now = utcnow()
    rows = [
        {
            "key": m.key,
            "kind": m.kind,
            "chat_id": m.chat_id,
            "customer_id": m.customer_id,
            "template": m.template,
            "params": json.dumps(m.params, ensure_ascii=False, default=str),
            "capped": m.capped,
            "not_before": m.not_before or now,
            "status": "pending",
            "attempts": 0,
            "created_at": now,
        }
        for m in messages
    ]
    table = OutboxMessage.__table__  # type: ignore[attr-defined]
    statement = insert_ignoring_duplicates(session, table, ["key"]).returning(table.c.id)
    result = await session.execute(statement, rows)
    return len(result.all())


# ---------------------------------------------------------------- planning over a query (set-based)

PLAN_COLUMNS = (
    "key",
    "kind",
    "chat_id",
    "customer_id",
    "template",
    "params",
    "capped",
    "not_before",
    "status",
    "attempts",
    "created_at",
)


def customer_plan(
    *,
    key_prefix: str,
    kind: str,
    template: str,
    params: dict[str, Any] | ColumnElement[str],
    capped: bool,
    not_before: datetime,
    now: datetime,
) -> list[Any]:
    """The outbox columns, in `PLAN_COLUMNS` order, for a SELECT over `customers`: one message per customer,
    keyed `<key_prefix><customer id>`, sent to their private chat."""
    params_column = params if isinstance(params, ColumnElement) else literal(params_json(params))
    return [
        literal(key_prefix) + cast(col(Customer.id), String),
        literal(kind),
        col(Customer.telegram_id),
        col(Customer.id),
        literal(template),
        params_column,
        literal(capped),
        literal(not_before, UTCDateTime),
        literal(OutboxStatus.PENDING.value),
        literal(0),
        literal(now, UTCDateTime),
    ]


def params_json(params: dict[str, Any]) -> str:
    return json.dumps(params, ensure_ascii=False, default=str)


async def enqueue_query(session: AsyncSession, *, query: Select[Any]) -> int:
    """INSERT … SELECT: plan one row per result of `query` (columns as `customer_plan` gives them) whose key is new;
    returns how many were inserted. The database does the work: no row travels through Python."""
    table = OutboxMessage.__table__  # type: ignore[attr-defined]
    statement = insert_ignoring_duplicates(session, table, ["key"]).from_select(list(PLAN_COLUMNS), query)
    result = await session.execute(statement)
    return max(result.rowcount or 0, 0)  # type: ignore[attr-defined]


# ---------------------------------------------------------------- sending


@dataclass(frozen=True)
class DueMessage:
    """A due row with what the sender must know about its customer (None for rows without one)."""

    message: OutboxMessage
    language: str | None
    timezone: str | None
    first_name: str | None
    allowed: bool | None
    opted_out: bool | None


async def due_messages(session: AsyncSession, *, now: datetime, limit: int) -> list[DueMessage]:
    """Pending rows whose time has come, oldest first; other replicas' locked rows are passed over (PostgreSQL)."""
    query = (
        sa_select(
            OutboxMessage,
            col(Customer.language),
            col(Customer.timezone),
            col(Customer.first_name),
            proactive_allowed().label("allowed"),
            col(Customer.proactive_opt_out),
        )
        .outerjoin(Customer, col(Customer.id) == col(OutboxMessage.customer_id))
        .where(col(OutboxMessage.status) == OutboxStatus.PENDING.value, col(OutboxMessage.not_before) <= now)
        .order_by(col(OutboxMessage.not_before), col(OutboxMessage.id))
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True, of=OutboxMessage)
    result = await session.execute(query)
    return [
        DueMessage(message, language, timezone, first_name, None if allowed is None else bool(allowed), opted_out)
        for message, language, timezone, first_name, allowed, opted_out in result.all()
    ]


async def capped_sent_since(session: AsyncSession, *, customer_ids: Iterable[int], since: datetime) -> dict[int, int]:
    """How many capped messages each customer was sent since `since`."""
    ids = list(set(customer_ids))
    if not ids:
        return {}
    result = await session.execute(
        select(col(OutboxMessage.customer_id), func.count())
        .where(
            col(OutboxMessage.customer_id).in_(ids),
            col(OutboxMessage.capped).is_(True),
            col(OutboxMessage.status) == OutboxStatus.SENT.value,
            col(OutboxMessage.sent_at) >= since,
        )
        .group_by(col(OutboxMessage.customer_id))
    )
    return {customer_id: count for customer_id, count in result.all()}


async def claim(session: AsyncSession, *, ids: Sequence[int], now: datetime) -> set[int]:
    """Mark rows `sending` (only those still pending); returns the ids this caller now owns."""
    if not ids:
        return set()
    result = await session.execute(
        update(OutboxMessage)
        .where(col(OutboxMessage.id).in_(ids), col(OutboxMessage.status) == OutboxStatus.PENDING.value)
        .values(status=OutboxStatus.SENDING.value, claimed_at=now)
        .returning(col(OutboxMessage.id))
    )
    return {row[0] for row in result.all()}


async def set_params(session: AsyncSession, *, message_id: int, params: dict[str, Any]) -> None:
    await session.execute(
        update(OutboxMessage).where(col(OutboxMessage.id) == message_id).values(params=params_json(params))
    )


async def hold(session: AsyncSession, *, message_id: int, until: datetime) -> None:
    """Leave a row pending until `until` (quiet hours)."""
    await session.execute(update(OutboxMessage).where(col(OutboxMessage.id) == message_id).values(not_before=until))


async def release(session: AsyncSession, *, key: str, now: datetime) -> bool:
    """Let a row planned for later go now (still pending only); True when one did."""
    result = await session.execute(
        update(OutboxMessage)
        .where(
            col(OutboxMessage.key) == key,
            col(OutboxMessage.status) == OutboxStatus.PENDING.value,
            col(OutboxMessage.not_before) > now,
        )
        .values(not_before=now)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def mark_sent(
    session: AsyncSession, *, message_id: int, telegram_message_id: int | None, attempts: int, at: datetime
) -> None:
    await session.execute(
        update(OutboxMessage)
        .where(col(OutboxMessage.id) == message_id)
        .values(
            status=OutboxStatus.SENT.value,
            sent_at=at,
            telegram_message_id=telegram_message_id,
            attempts=col(OutboxMessage.attempts) + attempts,
            last_error=None,
        )
    )


async def mark_done(
    session: AsyncSession, *, message_ids: Sequence[int], status: OutboxStatus, reason: str, attempts: int = 0
) -> None:
    """End rows as `failed` or `skipped`, with the reason."""
    if not message_ids:
        return
    await session.execute(
        update(OutboxMessage)
        .where(col(OutboxMessage.id).in_(message_ids))
        .values(status=status.value, last_error=reason[:512], attempts=col(OutboxMessage.attempts) + attempts)
    )


async def mark_unreachable(session: AsyncSession, *, customer_id: int, reason: str) -> int:
    """The customer blocked the bot (or left Telegram): flag them and skip every row still pending for them."""
    await session.execute(update(Customer).where(col(Customer.id) == customer_id).values(unreachable=True))
    result = await session.execute(
        update(OutboxMessage)
        .where(col(OutboxMessage.customer_id) == customer_id, col(OutboxMessage.status) == OutboxStatus.PENDING.value)
        .values(status=OutboxStatus.SKIPPED.value, last_error=reason[:512])
    )
    return max(result.rowcount or 0, 0)  # type: ignore[attr-defined]


async def has_due(session: AsyncSession, *, now: datetime) -> bool:
    result = await session.execute(
        select(col(OutboxMessage.id))
        .where(col(OutboxMessage.status) == OutboxStatus.PENDING.value, col(OutboxMessage.not_before) <= now)
        .limit(1)
    )
    return result.first() is not None


# ---------------------------------------------------------------- reporting


@dataclass(frozen=True)
class OutboxReport:
    counts: dict[str, int]
    stuck: list[OutboxMessage]

    @property
    def stuck_count(self) -> int:
        return self.counts["stuck"]


async def status_counts(session: AsyncSession) -> dict[str, int]:
    """Outbox rows per status, every status named (0 when none)."""
    result = await session.execute(select(col(OutboxMessage.status), func.count()).group_by(col(OutboxMessage.status)))
    counts = {status.value: 0 for status in OutboxStatus}
    counts.update({status: count for status, count in result.all()})
    return counts


async def outbox_report(session: AsyncSession, *, now: datetime | None = None, stuck_limit: int = 20) -> OutboxReport:
    """Rows per status, and the rows a crash left in `sending` (never sent again; shown to staff)."""
    now = now or utcnow()
    counts = await status_counts(session)
    stuck = await session.execute(
        select(OutboxMessage)
        .where(
            col(OutboxMessage.status) == OutboxStatus.SENDING.value,
            col(OutboxMessage.claimed_at) < now - STUCK_AFTER,
        )
        .order_by(col(OutboxMessage.claimed_at))
        .limit(stuck_limit)
    )
    stuck_rows = list(stuck.scalars())
    if len(stuck_rows) == stuck_limit:  # count them all, show the first few
        total = await session.execute(
            select(func.count()).where(
                col(OutboxMessage.status) == OutboxStatus.SENDING.value,
                col(OutboxMessage.claimed_at) < now - STUCK_AFTER,
            )
        )
        counts["stuck"] = total.scalar_one()
    else:
        counts["stuck"] = len(stuck_rows)
    return OutboxReport(counts=counts, stuck=stuck_rows)
