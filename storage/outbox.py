"""Planning proactive messages: rows go into the outbox once per idempotency key, whoever plans them.

The contract between planners and the sender:
- `template` is a text key of the catalogs (e.g. `care.birthday`), rendered in the customer's language when sent,
  with `params` as its `{placeholders}` (escaped).
- Special params: `buttons` — rows of `[text_key, callback_data]` shown above the **Stop these messages** button
  that every proactive message carries; `copy_from` — `{"chat_id": …, "message_id": …}`: the sender copies that
  message (a staff broadcast with any media) instead of rendering the template.
- `capped` rows count against `CAREBOT_MAX_PROACTIVE_PER_WEEK`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import OutboxMessage
from storage.types import utcnow


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
