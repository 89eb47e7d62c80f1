"""The one segment rule, and the bookkeeping that applies it in the same transaction as each purchase change."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Customer, Segment, SegmentChange
from storage.types import utcnow


@dataclass(frozen=True)
class VipThresholds:
    """A customer is VIP once their total reaches `min_total` or their purchase count reaches `min_purchases`."""

    min_total: Decimal
    min_purchases: int


def segment_for(*, purchase_count: int, total_spent: Decimal, vip: VipThresholds) -> Segment:
    if purchase_count >= vip.min_purchases or (purchase_count > 0 and total_spent >= vip.min_total):
        return Segment.VIP
    if purchase_count >= 2:
        return Segment.RETURNING
    if purchase_count == 1:
        return Segment.NEW
    return Segment.POTENTIAL


@dataclass(frozen=True)
class SegmentMove:
    before: Segment
    after: Segment

    @property
    def changed(self) -> bool:
        return self.before != self.after


async def apply_totals(
    session: AsyncSession,
    *,
    customer: Customer,
    amount_delta: Decimal,
    count_delta: int,
    vip: VipThresholds,
    reason: str,
) -> SegmentMove:
    """Move a customer's totals and re-decide their segment, writing a history row when it changes."""
    before = Segment(customer.segment)
    customer.total_spent = (customer.total_spent or Decimal("0")) + amount_delta
    customer.purchase_count += count_delta
    after = segment_for(purchase_count=customer.purchase_count, total_spent=customer.total_spent, vip=vip)
    now = utcnow()
    customer.updated_at = now
    if after != before:
        customer.segment = after.value
        customer.segment_since = now
        session.add(
            SegmentChange(
                customer_id=customer.id,  # type: ignore[arg-type]
                from_segment=before.value,
                to_segment=after.value,
                reason=reason,
                changed_at=now,
            )
        )
    session.add(customer)
    return SegmentMove(before, after)
