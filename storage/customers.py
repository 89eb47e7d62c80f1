"""The customer records: finding, creating from Telegram, and keeping details fresh."""

from __future__ import annotations

from sqlalchemy import ColumnElement, func, or_, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from storage.models import Customer
from storage.outbox import insert_ignoring_duplicates
from storage.types import clean_text, utcnow

# The record that keeps erased customers' purchases and tickets (storage/privacy.py): never a person.
# Telegram never uses chat id 0.
ERASED_TELEGRAM_ID = 0


def is_person() -> ColumnElement[bool]:
    """A condition over `customers` that leaves the erased-customers record out: for lists, counts and reports."""
    return col(Customer.telegram_id) != ERASED_TELEGRAM_ID


async def get_customer(session: AsyncSession, *, telegram_id: int) -> Customer | None:
    result = await session.execute(select(Customer).where(col(Customer.telegram_id) == telegram_id))
    return result.scalar_one_or_none()


async def get_customer_by_id(session: AsyncSession, *, customer_id: int) -> Customer | None:
    return await session.get(Customer, customer_id)


async def touch_customer(
    session: AsyncSession,
    *,
    telegram_id: int,
    first_name: str | None,
    last_name: str | None,
    username: str | None,
    language: str,
) -> tuple[Customer, bool]:
    """Create the customer on first contact or refresh their Telegram names; returns (customer, created).

    `language` is used only for a new customer: an existing one keeps the language they chose. Race-free: two
    transactions touching the same new customer at once (two replicas, two chat workers) insert one row
    (`INSERT … ON CONFLICT DO NOTHING`: the second waits for the first and inserts nothing), and the customer's
    row stays held until the transaction ends (`hold_customer`), so what the caller then decides for this
    customer — which ticket a message joins — is decided by one transaction at a time.
    """
    now = utcnow()
    new = Customer(telegram_id=telegram_id, language=language, created_at=now, consent_at=now, last_contact_at=now)
    table = Customer.__table__  # type: ignore[attr-defined]
    values = {name: value for name, value in new.model_dump().items() if name != "id"}
    inserted = await session.execute(
        insert_ignoring_duplicates(session, table, ["telegram_id"]).values(**values).returning(table.c.id)
    )
    created = inserted.first() is not None
    await session.execute(
        update(Customer).where(col(Customer.telegram_id) == telegram_id).values(last_contact_at=now)
    )  # holds the row (PostgreSQL) or the database (SQLite) until the transaction ends
    result = await session.execute(
        select(Customer).where(col(Customer.telegram_id) == telegram_id).execution_options(populate_existing=True)
    )
    customer = result.scalar_one()
    customer.first_name = clean_text(first_name)
    customer.last_name = clean_text(last_name)
    customer.username = clean_text(username)
    customer.updated_at = now
    session.add(customer)
    await session.flush()
    return customer, created


async def hold_customer(session: AsyncSession, *, customer_id: int) -> None:
    """Hold the customer's row until the transaction ends (a write: a row lock on PostgreSQL, the write lock on
    SQLite), so that two transactions choosing or opening this customer's ticket go one after the other, and
    the second sees what the first committed."""
    await session.execute(update(Customer).where(col(Customer.id) == customer_id).values(last_contact_at=utcnow()))


async def find_customers(session: AsyncSession, *, query: str, limit: int = 10) -> list[Customer]:
    """Exact lookups first: Telegram id, @username, phone; then names containing the text."""
    text = query.strip()
    conditions: list[ColumnElement[bool]] = []
    if text.lstrip("-").isdigit():
        conditions.append(col(Customer.telegram_id) == int(text))
    if text.startswith("@"):
        conditions.append(func.lower(Customer.username) == text[1:].lower())
    digits = "".join(ch for ch in text if ch.isdigit())
    if len(digits) >= 6:
        conditions.append(col(Customer.phone).like(f"%{digits}"))
    if conditions:
        result = await session.execute(select(Customer).where(or_(*conditions), is_person()).limit(limit))
        found = list(result.scalars())
        if found:
            return found
    from storage import search_index  # imported here: search_index imports this module

    if search_index.indexable(text):
        ids = await search_index.name_containing(session, piece=text, limit=limit)
        indexed = (await session.execute(select(Customer).where(col(Customer.id).in_(ids)))).scalars()
        return sorted(indexed, key=lambda customer: customer.id or 0)
    # Too short for the index (one or two characters, as many Chinese names are): read the names in id order.
    pattern = f"%{text.lower()}%"
    full_name = func.lower(func.coalesce(Customer.first_name, "") + " " + func.coalesce(Customer.last_name, ""))
    result = await session.execute(
        select(Customer).where(full_name.like(pattern), is_person()).order_by(col(Customer.id)).limit(limit)
    )
    return list(result.scalars())


async def set_unreachable(session: AsyncSession, *, telegram_id: int, unreachable: bool) -> bool:
    """Mark a customer who blocked the bot (or deleted their account) unreachable, or reachable again;
    returns whether such a customer exists."""
    result = await session.execute(
        update(Customer)
        .where(col(Customer.telegram_id) == telegram_id)
        .values(unreachable=unreachable, updated_at=utcnow())
    )
    return bool(getattr(result, "rowcount", 0))
