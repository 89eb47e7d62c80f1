"""Purchases from a shop's requests and from the chat, at the same moment, for the same customer: none is lost."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from sqlalchemy.engine import make_url

from storage import purchases
from storage.db import SessionFactory, transaction
from storage.models import Customer
from storage.purchase_feed import FeedVerdict, record_orders
from storage.segments import VipThresholds

VIP = VipThresholds(min_total=Decimal("1000000"), min_purchases=1000)


async def shop_request(sessions: SessionFactory, batch: int) -> FeedVerdict:
    rows = [
        {"telegram_id": 5001, "amount": "10.00", "occurred_at": "2026-01-01", "reference": f"S-{batch}-{n}"}
        for n in range(10)
    ]
    async with transaction(sessions) as session:
        answer = await record_orders(session, rows, default_currency="CNY", default_timezone="UTC", vip=VIP)
    return answer.verdict


async def chat_purchase(sessions: SessionFactory, customer_id: int, n: int) -> None:
    async with transaction(sessions) as session:
        customer = await session.get(Customer, customer_id)
        assert customer is not None
        await purchases.record_purchase(
            session, customer=customer, amount=Decimal("1.00"), currency="CNY", reference=f"C-{n}", vip=VIP
        )


async def test_concurrent_shop_requests_and_chat_purchases_all_count(
    sessions: SessionFactory, database_url: str
) -> None:
    if make_url(database_url).get_backend_name() == "sqlite":
        pytest.skip("SQLite has no row locks: one bot process applies the order endpoint's requests one at a time")
    async with transaction(sessions) as session:
        customer = Customer(telegram_id=5001, first_name="Mia")
        session.add(customer)
        await session.flush()
        customer_id = customer.id
    assert customer_id is not None
    results = await asyncio.gather(
        *(shop_request(sessions, batch) for batch in range(6)),
        *(chat_purchase(sessions, customer_id, n) for n in range(6)),
    )
    assert results[:6] == [FeedVerdict.ACCEPTED] * 6
    async with sessions() as session:
        stored = await session.get(Customer, customer_id)
    assert stored is not None
    assert (stored.purchase_count, stored.total_spent) == (66, Decimal("606.00"))
