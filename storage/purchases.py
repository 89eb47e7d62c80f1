"""Recording purchases and refunds; every change re-decides the customer's segment in the same transaction."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from storage.models import Customer, Purchase
from storage.segments import SegmentMove, VipThresholds, apply_totals
from storage.types import utcnow

# What `apply_totals` reads, read again (and locked on PostgreSQL) before a customer's totals move.
_TOTALS = ["segment", "total_spent", "purchase_count"]


async def _fresh_totals(session: AsyncSession, customer: Customer) -> None:
    """Re-read the customer's totals, locking the row on PostgreSQL until the transaction ends: a concurrent
    purchase or refund of the same customer (another handler, another replica) waits, and none is lost."""
    await session.flush()  # a refresh does not flush: totals moved earlier in this transaction would be lost
    await session.refresh(customer, attribute_names=_TOTALS, with_for_update=True)


class PurchaseError(ValueError):
    """A purchase or refund that cannot be recorded; the message says why."""


async def find_purchase(session: AsyncSession, *, customer_id: int, reference: str) -> Purchase | None:
    result = await session.execute(
        select(Purchase).where(col(Purchase.customer_id) == customer_id, col(Purchase.reference) == reference)
    )
    return result.scalar_one_or_none()


async def record_purchase(
    session: AsyncSession,
    *,
    customer: Customer,
    amount: Decimal,
    currency: str,
    reference: str,
    vip: VipThresholds,
    occurred_at: datetime | None = None,
    note: str | None = None,
) -> tuple[Purchase, SegmentMove]:
    if amount <= 0:
        raise PurchaseError("amount must be positive")
    assert customer.id is not None
    await _fresh_totals(session, customer)  # first: the new purchase's foreign key would share-lock the row
    if await find_purchase(session, customer_id=customer.id, reference=reference):
        raise PurchaseError(f"reference {reference} is already recorded for this customer")
    purchase = Purchase(
        customer_id=customer.id,
        amount=amount,
        currency=currency,
        reference=reference,
        occurred_at=occurred_at or utcnow(),
        note=note,
    )
    session.add(purchase)
    move = await apply_totals(
        session, customer=customer, amount_delta=amount, count_delta=1, vip=vip, reason="purchase"
    )
    return purchase, move


async def refund_purchase(
    session: AsyncSession, *, customer: Customer, reference: str, vip: VipThresholds
) -> tuple[Purchase, SegmentMove]:
    assert customer.id is not None
    await _fresh_totals(session, customer)
    purchase = await find_purchase(session, customer_id=customer.id, reference=reference)
    if purchase is None:
        raise PurchaseError(f"no purchase {reference} for this customer")
    if purchase.refunded_at is not None:
        raise PurchaseError(f"purchase {reference} is already refunded")
    purchase.refunded_at = utcnow()
    session.add(purchase)
    move = await apply_totals(
        session, customer=customer, amount_delta=-purchase.amount, count_delta=-1, vip=vip, reason="refund"
    )
    return purchase, move


async def list_purchases(session: AsyncSession, *, customer_id: int, limit: int = 20) -> list[Purchase]:
    result = await session.execute(
        select(Purchase)
        .where(col(Purchase.customer_id) == customer_id)
        .order_by(col(Purchase.occurred_at).desc(), col(Purchase.id).desc())
        .limit(limit)
    )
    return list(result.scalars())
