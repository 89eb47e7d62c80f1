"""Staff reads and changes of customer records, one rule each, whether typed in chat (`/customer`, `/find`,
`/note`, `/purchase`) or done on the desk: what is accepted, what is stored or read, and the audit row written."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from bot.context import Services
from storage import purchases, search
from storage.customer_card import CustomerCard, customer_card
from storage.db import transaction
from storage.models import Customer
from storage.notes import MAX_NOTE_LENGTH, add_note
from storage.segments import SegmentMove
from storage.staff import audit
from storage.types import utcnow

MAX_REFERENCE_LENGTH = 128
MIN_SEARCH_LENGTH = 2
MAX_PURCHASE_NOTE_LENGTH = 1000


async def open_card(services: Services, *, customer: Customer, actor_telegram_id: int, recent: int = 3) -> CustomerCard:
    """Everything the card shows (the `recent` closed tickets and segment changes); the look is audited."""
    assert customer.id is not None
    async with transaction(services.sessions) as session:
        card = await customer_card(session, customer=customer, recent=recent)
        await audit(session, actor_telegram_id=actor_telegram_id, action="customer.view", customer_id=customer.id)
    return card


async def find_customers(services: Services, *, query: str, actor_telegram_id: int) -> list[search.Match]:
    """`/find`: the best ten customers for the text, typos included; audited with the count (not the text)."""
    async with transaction(services.sessions) as session:
        matches = await search.fuzzy_find(session, query=query, limit=10)
        await audit(session, actor_telegram_id=actor_telegram_id, action="customer.search", detail=f"{len(matches)}")
    return matches


async def save_note(services: Services, *, customer_id: int, actor_telegram_id: int, text: str) -> bool:
    """Keep an internal note on the customer (audited); False when it is empty or longer than allowed."""
    text = text.strip()
    if not text or len(text) > MAX_NOTE_LENGTH:
        return False
    async with transaction(services.sessions) as session:
        await add_note(session, customer_id=customer_id, author_telegram_id=actor_telegram_id, text=text)
        await audit(session, actor_telegram_id=actor_telegram_id, action="customer.note", customer_id=customer_id)
    return True


class PurchaseOutcome(StrEnum):
    RECORDED = "recorded"
    DUPLICATE = "duplicate"
    TOO_LONG = "too_long"


@dataclass(frozen=True)
class StaffPurchase:
    outcome: PurchaseOutcome
    reference: str
    customer: Customer | None = None  # with its new totals, once recorded
    move: SegmentMove | None = None


def chat_reference() -> str:
    """The reference of a purchase recorded by staff without one."""
    return f"chat-{utcnow():%Y%m%d%H%M%S}-{secrets.token_hex(2)}"


def too_long(reference: str | None, note: str | None) -> bool:
    return len(reference or "") > MAX_REFERENCE_LENGTH or (note is not None and len(note) > MAX_PURCHASE_NOTE_LENGTH)


async def record_staff_purchase(
    services: Services,
    *,
    customer_id: int,
    amount: Decimal,
    reference: str | None,
    note: str | None,
    actor_telegram_id: int,
) -> StaffPurchase:
    """Record a purchase a staff member took (the amount already parsed and positive): once per reference, the
    segment moved at once, audited."""
    reference = reference or chat_reference()
    if too_long(reference, note):
        return StaffPurchase(PurchaseOutcome.TOO_LONG, reference)
    async with transaction(services.sessions) as session:
        stored = await session.get(Customer, customer_id)
        assert stored is not None and stored.id is not None
        if await purchases.find_purchase(session, customer_id=stored.id, reference=reference):
            return StaffPurchase(PurchaseOutcome.DUPLICATE, reference)
        _, move = await purchases.record_purchase(
            session,
            customer=stored,
            amount=amount,
            currency=services.settings.currency,
            reference=reference,
            vip=services.vip,
            note=note,
        )
        await audit(
            session,
            actor_telegram_id=actor_telegram_id,
            action="purchase.record",
            customer_id=stored.id,
            detail=reference,
        )
    return StaffPurchase(PurchaseOutcome.RECORDED, reference, stored, move)
