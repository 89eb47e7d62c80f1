"""Segments follow purchases the moment they are recorded, refunds move customers back down."""

from __future__ import annotations

from decimal import Decimal

import pytest

from storage import customers, purchases
from storage.db import SessionFactory, transaction
from storage.models import Segment, SegmentChange
from storage.segments import VipThresholds, segment_for

VIP = VipThresholds(min_total=Decimal("1000.00"), min_purchases=5)


async def new_customer(sessions: SessionFactory, telegram_id: int = 42) -> int:
    async with transaction(sessions) as session:
        customer, _ = await customers.touch_customer(
            session, telegram_id=telegram_id, first_name="Li", last_name="Wei", username=None, language="zh_CN"
        )
        assert customer.id is not None
        return customer.id


async def buy(sessions: SessionFactory, customer_id: int, amount: str, reference: str) -> tuple[Segment, Segment]:
    async with transaction(sessions) as session:
        customer = await customers.get_customer_by_id(session, customer_id=customer_id)
        assert customer is not None
        _, move = await purchases.record_purchase(
            session, customer=customer, amount=Decimal(amount), currency="CNY", reference=reference, vip=VIP
        )
        return move.before, move.after


async def refund(sessions: SessionFactory, customer_id: int, reference: str) -> tuple[Segment, Segment]:
    async with transaction(sessions) as session:
        customer = await customers.get_customer_by_id(session, customer_id=customer_id)
        assert customer is not None
        _, move = await purchases.refund_purchase(session, customer=customer, reference=reference, vip=VIP)
        return move.before, move.after


async def history(sessions: SessionFactory, customer_id: int) -> list[tuple[str, str, str]]:
    from sqlmodel import col, select

    async with sessions() as session:
        rows = await session.execute(
            select(SegmentChange).where(col(SegmentChange.customer_id) == customer_id).order_by(col(SegmentChange.id))
        )
        return [(r.from_segment, r.to_segment, r.reason) for r in rows.scalars()]


async def test_customer_moves_through_every_segment_and_back_down_on_refunds(sessions: SessionFactory) -> None:
    customer_id = await new_customer(sessions)
    assert await buy(sessions, customer_id, "100.00", "A1") == (Segment.POTENTIAL, Segment.NEW)
    assert await buy(sessions, customer_id, "100.00", "A2") == (Segment.NEW, Segment.RETURNING)
    assert await buy(sessions, customer_id, "50.50", "A3") == (Segment.RETURNING, Segment.RETURNING)
    assert await buy(sessions, customer_id, "749.50", "A4") == (Segment.RETURNING, Segment.VIP)
    assert await refund(sessions, customer_id, "A4") == (Segment.VIP, Segment.RETURNING)
    assert await refund(sessions, customer_id, "A3") == (Segment.RETURNING, Segment.RETURNING)
    assert await refund(sessions, customer_id, "A2") == (Segment.RETURNING, Segment.NEW)
    assert await refund(sessions, customer_id, "A1") == (Segment.NEW, Segment.POTENTIAL)
    assert await history(sessions, customer_id) == [
        ("potential", "new", "purchase"),
        ("new", "returning", "purchase"),
        ("returning", "vip", "purchase"),
        ("vip", "returning", "refund"),
        ("returning", "new", "refund"),
        ("new", "potential", "refund"),
    ]
    async with sessions() as session:
        customer = await customers.get_customer_by_id(session, customer_id=customer_id)
        assert customer is not None
        assert customer.total_spent == Decimal("0.00") and customer.purchase_count == 0


async def test_count_threshold_makes_vip_even_with_small_amounts(sessions: SessionFactory) -> None:
    customer_id = await new_customer(sessions)
    for n in range(4):
        await buy(sessions, customer_id, "1.00", f"S{n}")
    assert await buy(sessions, customer_id, "1.00", "S4") == (Segment.RETURNING, Segment.VIP)


async def test_single_big_purchase_goes_straight_to_vip(sessions: SessionFactory) -> None:
    customer_id = await new_customer(sessions)
    assert await buy(sessions, customer_id, "1000.00", "BIG") == (Segment.POTENTIAL, Segment.VIP)


async def test_money_is_exact(sessions: SessionFactory) -> None:
    customer_id = await new_customer(sessions)
    for n in range(10):
        await buy(sessions, customer_id, "0.10", f"C{n}")
    async with sessions() as session:
        customer = await customers.get_customer_by_id(session, customer_id=customer_id)
        assert customer is not None
        assert customer.total_spent == Decimal("1.00")


async def test_duplicate_reference_and_double_refund_are_refused(sessions: SessionFactory) -> None:
    customer_id = await new_customer(sessions)
    await buy(sessions, customer_id, "10.00", "R1")
    with pytest.raises(purchases.PurchaseError):
        await buy(sessions, customer_id, "10.00", "R1")
    await refund(sessions, customer_id, "R1")
    with pytest.raises(purchases.PurchaseError):
        await refund(sessions, customer_id, "R1")


@pytest.mark.parametrize(
    ("count", "total", "expected"),
    [
        (0, "0", Segment.POTENTIAL),
        (1, "5", Segment.NEW),
        (2, "5", Segment.RETURNING),
        (5, "5", Segment.VIP),
        (1, "1000", Segment.VIP),
    ],
)
def test_segment_rule(count: int, total: str, expected: Segment) -> None:
    assert segment_for(purchase_count=count, total_spent=Decimal(total), vip=VIP) == expected
