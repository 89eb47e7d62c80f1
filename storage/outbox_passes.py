"""Greetings to everyone in a time zone, planned as one row and turned into outbox rows in chunks when due.

A holiday greets every customer: writing a million outbox rows (and their indexes) when the holiday is planned
takes longer than the planner may, while sending them takes hours anyway. So the planner records a pass — what to
send, to the customers of which time zone, from when — and the sender expands it a chunk at a time, in customer id
order, shortly before the rows are needed. The rows are exactly those the planner would have written: the same
keys (`<row_key_prefix><customer id>`, unique in the outbox), the same customers (allowed proactive messages,
checked again when expanded), the same `not_before`.

- Planning twice plans nobody twice: the pass key is unique, and a later planning only extends the pass to
  customers who joined since (ids above `last_customer_id`).
- A chunk's rows and the pass's `expanded_to` are written in one transaction, and the rows' keys are unique: an
  expansion that crashed resumes where it stopped, and expanding twice inserts nothing.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, case, func, literal, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from storage.models import Customer, OutboxPass, Segment
from storage.outbox import customer_plan, enqueue_query, insert_ignoring_duplicates, params_json
from storage.proactive import proactive_allowed

CHUNK = 5_000  # customers per expansion: at 25 messages a second, more than three minutes of sending


def in_zone(value: str | None) -> ColumnElement[bool]:
    """Customers whose `timezone` is `value` (None: customers without one, who live in the business's)."""
    return col(Customer.timezone).is_(None) if value is None else col(Customer.timezone) == value


@dataclass(frozen=True)
class PassPlan:
    key: str  # the pass, e.g. `holiday:2026-02-17:zone:Europe/Berlin` (`holiday:2026-02-17`: the business's zone)
    row_key_prefix: str  # the rows, e.g. `holiday:2026-02-17:customer:`
    kind: str
    template: str
    params: dict[str, Any]
    timezone: str | None
    not_before: datetime
    vip_params: dict[str, Any] | None = None
    capped: bool = False


async def plan_pass(session: AsyncSession, plan: PassPlan, *, now: datetime, admin_ids: Collection[int] = ()) -> int:
    """Record `plan`, or extend it to the customers who joined since it was; returns how many customers (allowed
    proactive messages now) it newly covers. Reads first, writes last: SQLite's write lock is held for a moment."""
    covered = await session.scalar(select(col(OutboxPass.last_customer_id)).where(col(OutboxPass.key) == plan.key))
    highest = await session.scalar(select(func.max(col(Customer.id)))) or 0
    if covered is not None and highest <= covered:
        return 0
    newcomers = await session.scalar(
        select(func.count()).where(
            in_range(covered or 0, highest, plan.timezone), proactive_allowed(now, admin_ids=admin_ids)
        )
    )
    if covered is None:
        table = OutboxPass.__table__  # type: ignore[attr-defined]
        written = await session.execute(
            insert_ignoring_duplicates(session, table, ["key"])
            .values(
                key=plan.key,
                row_key_prefix=plan.row_key_prefix,
                kind=plan.kind,
                template=plan.template,
                params=params_json(plan.params),
                vip_params=None if plan.vip_params is None else params_json(plan.vip_params),
                capped=plan.capped,
                timezone=plan.timezone,
                not_before=plan.not_before,
                last_customer_id=highest,
                expanded_to=0,
                planned=newcomers,
                expanded=0,
                created_at=now,
            )
            .returning(table.c.id)
        )
    else:  # only if no other planner extended it meanwhile
        written = await session.execute(
            update(OutboxPass)
            .where(col(OutboxPass.key) == plan.key, col(OutboxPass.last_customer_id) == covered)
            .values(last_customer_id=highest, planned=col(OutboxPass.planned) + newcomers)
            .returning(col(OutboxPass.id))
        )
    return int(newcomers or 0) if written.first() else 0


async def open_passes(session: AsyncSession, *, due_by: datetime | None = None) -> list[OutboxPass]:
    """Passes with customers still to expand (only those whose time has come by `due_by`, if given), earliest first."""
    query = select(OutboxPass).where(col(OutboxPass.expanded_to) < col(OutboxPass.last_customer_id))
    if due_by is not None:
        query = query.where(col(OutboxPass.not_before) <= due_by)
    result = await session.execute(query.order_by(col(OutboxPass.not_before), col(OutboxPass.id)))
    return list(result.scalars())


async def expand(
    session: AsyncSession, pass_id: int, *, now: datetime, chunk: int = CHUNK, admin_ids: Collection[int] = ()
) -> int | None:
    """Write the outbox rows of the pass's next `chunk` customers of its time zone (staff left out: the settings'
    admins are `admin_ids`); returns how many rows were inserted, or None when nothing is left to expand (or
    another sender is expanding it right now)."""
    query = select(OutboxPass).where(col(OutboxPass.id) == pass_id).execution_options(populate_existing=True)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    greeting_pass = (await session.execute(query)).scalar_one_or_none()
    if greeting_pass is None or greeting_pass.expanded_to >= greeting_pass.last_customer_id:
        return None
    start, last = greeting_pass.expanded_to, greeting_pass.last_customer_id
    ids = (
        select(col(Customer.id))
        .where(in_range(start, last, greeting_pass.timezone))
        .order_by(col(Customer.id))
        .limit(chunk)
        .subquery()
    )
    highest, count = (await session.execute(select(func.max(ids.c.id), func.count()))).one()
    end = highest if count == chunk else last  # a short chunk reached the end of the pass
    columns = customer_plan(
        key_prefix=greeting_pass.row_key_prefix,
        kind=greeting_pass.kind,
        template=greeting_pass.template,
        params=_params(greeting_pass),
        capped=greeting_pass.capped,
        not_before=greeting_pass.not_before,
        now=now,
    )
    allowed = proactive_allowed(now, admin_ids=admin_ids)
    rows = select(*columns).where(in_range(start, end, greeting_pass.timezone), allowed)
    inserted = await enqueue_query(session, query=rows)
    greeting_pass.expanded_to = end
    greeting_pass.expanded += inserted
    await session.flush()
    return inserted


def in_range(start: int, end: int, timezone: str | None) -> ColumnElement[bool]:
    """Customers of the time zone `timezone` (see `in_zone`) with `start < id <= end`."""
    return col(Customer.id).between(start + 1, end) & in_zone(timezone)


def _params(greeting_pass: OutboxPass) -> Any:
    """The rows' params as SQL: VIP customers' rows may carry more (a gift), as their segment is when expanded."""
    plain = literal(greeting_pass.params)
    if greeting_pass.vip_params is None:
        return plain
    return case((col(Customer.segment) == Segment.VIP.value, literal(greeting_pass.vip_params)), else_=plain)
