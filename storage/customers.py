"""The customer records: finding, creating from Telegram, and keeping details fresh."""

from __future__ import annotations

from sqlalchemy import ColumnElement, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from storage.models import Customer
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

    `language` is used only for a new customer: an existing one keeps the language they chose.
    """
    customer = await get_customer(session, telegram_id=telegram_id)
    now = utcnow()
    created = customer is None
    if customer is None:
        customer = Customer(telegram_id=telegram_id, language=language, created_at=now, consent_at=now)
    customer.first_name = clean_text(first_name)
    customer.last_name = clean_text(last_name)
    customer.username = clean_text(username)
    customer.last_contact_at = now
    customer.updated_at = now
    session.add(customer)
    await session.flush()
    return customer, created


async def set_unreachable(session: AsyncSession, *, telegram_id: int, unreachable: bool) -> bool:
    """Mark a customer who blocked the bot (or deleted their account) unreachable, or reachable again;
    returns whether such a customer exists."""
    result = await session.execute(
        update(Customer)
        .where(col(Customer.telegram_id) == telegram_id)
        .values(unreachable=unreachable, updated_at=utcnow())
    )
    return bool(getattr(result, "rowcount", 0))
