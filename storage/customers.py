"""The customer records: finding, creating from Telegram, and keeping details fresh."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, func, update
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


async def set_unreachable(session: AsyncSession, *, telegram_id: int, unreachable: bool) -> bool:
    """Mark a customer who blocked the bot (or deleted their account) unreachable, or reachable again;
    returns whether such a customer exists."""
    result = await session.execute(
        update(Customer)
        .where(col(Customer.telegram_id) == telegram_id)
        .values(unreachable=unreachable, updated_at=utcnow())
    )
    return bool(getattr(result, "rowcount", 0))


_IN_CHUNK = 900  # values per IN (...): below every SQLite version's limit of 999 parameters


@dataclass
class ContactMatches:
    """Customers found by exact contact details: by Telegram id, by a phone's digits, by a lower-case email."""

    by_telegram_id: dict[int, Customer] = field(default_factory=dict)
    by_phone_digits: dict[str, list[Customer]] = field(default_factory=lambda: defaultdict(list))
    by_email: dict[str, list[Customer]] = field(default_factory=lambda: defaultdict(list))

    def phone(self, phone: str) -> list[Customer]:
        return self.by_phone_digits.get(phone_digits(phone), [])

    def email(self, email: str) -> list[Customer]:
        return self.by_email.get(email.lower(), [])


def phone_digits(phone: str) -> str:
    return re.sub(r"\D", "", phone)


def _chunks(values: Sequence[object]) -> Iterable[Sequence[object]]:
    for start in range(0, len(values), _IN_CHUNK):
        yield values[start : start + _IN_CHUNK]


async def customers_by_contact(
    session: AsyncSession,
    *,
    telegram_ids: Iterable[int] = (),
    phones: Iterable[str] = (),
    emails: Iterable[str] = (),
) -> ContactMatches:
    """Customers (people only) whose Telegram id, phone (the same digits, with or without `+`) or email (any case)
    is exactly one of those given, looked up in bulk."""
    found = ContactMatches()
    for chunk in _chunks(sorted(set(telegram_ids))):
        result = await session.scalars(select(Customer).where(col(Customer.telegram_id).in_(chunk), is_person()))
        found.by_telegram_id.update((customer.telegram_id, customer) for customer in result)
    variants = sorted({form for digits in map(phone_digits, phones) if digits for form in (digits, "+" + digits)})
    for chunk in _chunks(variants):
        result = await session.scalars(select(Customer).where(col(Customer.phone).in_(chunk), is_person()))
        for customer in result:
            found.by_phone_digits[phone_digits(customer.phone or "")].append(customer)
    for chunk in _chunks(sorted({email.lower() for email in emails})):
        result = await session.scalars(select(Customer).where(func.lower(Customer.email).in_(chunk), is_person()))
        for customer in result:
            found.by_email[(customer.email or "").lower()].append(customer)
    return found
