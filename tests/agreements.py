"""Helpers for the customer-agreement tests: publishing a version in both languages, making customers."""

from __future__ import annotations

from datetime import UTC, datetime

from storage import agreements
from storage.db import SessionFactory, transaction
from storage.models import Customer

TEXTS = {
    "en": "# Customer agreement\n\nBetween **the shop** and you, the customer.\n\n- We answer your questions.\n- We keep your details safe.",
    "zh_CN": "# 客户协议\n\n本协议由**本店**与您（客户）签订。\n\n- 我们解答您的问题。\n- 我们妥善保管您的资料。",
}
SUMMARIES = {
    "en": "We help you, keep your details safe, and write to you only as agreed.",
    "zh_CN": "我们为您服务，保护您的资料，只在约定范围内联系您。",
}


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


async def publish_both(
    sessions: SessionFactory,
    version: int,
    *,
    now: datetime | None = None,
    supplement_to: int | None = None,
    texts: dict[str, str] | None = None,
) -> agreements.PublishResult:
    """Publish `version` in English, then Chinese (it comes into force with the second)."""
    result = None
    for language in ("en", "zh_CN"):
        async with transaction(sessions) as session:
            result = await agreements.publish(
                session,
                version=version,
                language=language,
                text=(texts or TEXTS)[language] + ("" if version == 1 else f"\n\nVersion {version}."),
                summary=SUMMARIES[language],
                supplement_to=supplement_to,
                now=now,
            )
    assert result is not None
    return result


async def new_customer(sessions: SessionFactory, telegram_id: int, **values: object) -> int:
    async with transaction(sessions) as session:
        customer = Customer(telegram_id=telegram_id, first_name=f"C{telegram_id}", **values)
        session.add(customer)
        await session.flush()
        assert customer.id is not None
        return customer.id


async def accept(sessions: SessionFactory, customer_id: int, version: int, now: datetime, years: int = 1) -> None:
    async with transaction(sessions) as session:
        await agreements.accept(
            session, customer_id=customer_id, version=version, telegram_user_id=customer_id, years=years, now=now
        )
