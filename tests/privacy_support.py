"""Shared by the privacy tests: a customer with something stored in every table, and a dump of every text column."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import String, select
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import SQLModel

from storage import coupons, purchases
from storage.db import SessionFactory, transaction
from storage.models import (
    Customer,
    OutboxMessage,
    PendingInput,
    StaffMember,
    SurveyResponse,
    Ticket,
    TicketMessage,
)
from storage.outbox import PlannedMessage, enqueue_many
from storage.segments import VipThresholds
from storage.staff import audit
from storage.types import utcnow
from tests.botapi import FakeTelegram, FakeUser
from tests.harness import BotHarness
from tests.ids import STAFF_CHAT_ID

VIP = VipThresholds(min_total=Decimal("10000"), min_purchases=10)
AGENT_ID = 700001


@dataclass
class Seeded:
    user: FakeUser
    customer_id: int
    open_ticket: int
    closed_ticket: int
    staff_copies: list[int]
    secrets: list[str] = field(default_factory=list)
    message_texts: list[str] = field(default_factory=list)


async def seed_customer(
    bot: BotHarness,
    tg: FakeTelegram,
    telegram_id: int = 4242,
    *,
    first_name: str = "Zhivago",
    last_name: str = "Quillfeather",
    username: str = "zq_secret",
    phone: str = "+8613812345678",
    email: str = "zhivago.q@example.com",
    tag: str = "ZQ",
) -> Seeded:
    """A customer who used everything: profile, purchases, two tickets (one open), a survey, a gift code,
    planned and sent greetings, a dialog step in progress, and a staff member who looked at their card."""
    user = tg.user(telegram_id, first_name, last_name=last_name, username=username, language_code="en")
    tg.sends_command(user, "/start")
    await bot.deliver()
    if STAFF_CHAT_ID not in tg.chats:
        tg.group(STAFF_CHAT_ID, "Staff")
    card = await bot.app.bot.send_message(STAFF_CHAT_ID, f"Ticket card: {first_name} {last_name} {phone}")
    copy = await bot.app.bot.send_message(
        STAFF_CHAT_ID, f"{first_name}: my parcel {tag} with the blue umbrella is lost"
    )
    texts = [
        f"my parcel {tag} with the blue umbrella is lost",
        f"receipt photo {tag}-ALPHA-77",
        f"{first_name} seems upset, call {phone}",  # a staff note
        f"{last_name} liked the quick answer {tag}",  # a survey comment
    ]
    sessions: SessionFactory = bot.services.sessions
    async with transaction(sessions) as session:
        customer = (await session.execute(select(Customer).where(Customer.telegram_id == telegram_id))).scalar_one()
        customer.phone, customer.email, customer.timezone = phone, email, "Europe/Berlin"
        customer.birth_year, customer.birth_month, customer.birth_day = 1990, 5, 17
        session.add(customer)
        await session.flush()
        assert customer.id is not None
        for number, amount in ((1, "120.50"), (2, "80.00")):
            await purchases.record_purchase(
                session,
                customer=customer,
                amount=Decimal(amount),
                currency="CNY",
                reference=f"ORDER-{tag}-{number}",
                note=f"deliver to {first_name}",
                vip=VIP,
            )
        now = utcnow()
        open_ticket = Ticket(
            customer_id=customer.id, staff_chat_id=STAFF_CHAT_ID, card_message_id=card.message_id, status="pending"
        )
        closed_ticket = Ticket(customer_id=customer.id, status="closed", closed_at=now)
        session.add_all([open_ticket, closed_ticket])
        await session.flush()
        assert open_ticket.id is not None and closed_ticket.id is not None
        session.add_all(
            [
                TicketMessage(
                    ticket_id=open_ticket.id,
                    direction="in",
                    text=texts[0],
                    author_telegram_id=telegram_id,
                    customer_chat_id=telegram_id,
                    customer_message_id=10,
                    staff_chat_id=STAFF_CHAT_ID,
                    staff_message_id=copy.message_id,
                    created_at=now - timedelta(minutes=5),
                ),
                TicketMessage(
                    ticket_id=open_ticket.id,
                    direction="out",
                    text="We are looking into it.",
                    author_telegram_id=AGENT_ID,
                    created_at=now - timedelta(minutes=4),
                ),
                TicketMessage(
                    ticket_id=open_ticket.id,
                    direction="note",
                    text=texts[2],
                    author_telegram_id=AGENT_ID,
                    created_at=now - timedelta(minutes=3),
                ),
                TicketMessage(
                    ticket_id=closed_ticket.id,
                    direction="in",
                    kind="photo",
                    text=texts[1],
                    file_id=f"AgAC-secret-file-{tag}",
                    author_telegram_id=telegram_id,
                    customer_chat_id=telegram_id,
                    customer_message_id=11,
                ),
                SurveyResponse(
                    kind="csat",
                    customer_id=customer.id,
                    ticket_id=closed_ticket.id,
                    score=4,
                    comment=texts[3],
                    staff_telegram_id=AGENT_ID,
                ),
                PendingInput(
                    chat_id=telegram_id, user_id=telegram_id, kind="profile:email", data=json.dumps({"was": email})
                ),
            ]
        )
        known = await session.execute(select(StaffMember).where(StaffMember.telegram_id == AGENT_ID))
        if known.first() is None:
            session.add(StaffMember(telegram_id=AGENT_ID, name="Agent Smith", role="agent"))
        await coupons.issue_coupon(
            session,
            customer_id=customer.id,
            reason="birthday",
            value=Decimal("20"),
            currency="CNY",
            expires_at=now + timedelta(days=30),
        )
        await enqueue_many(
            session,
            messages=[
                PlannedMessage(
                    key=f"birthday:2099:customer:{customer.id}",
                    kind="birthday",
                    chat_id=telegram_id,
                    template="care.birthday",
                    customer_id=customer.id,
                    params={"name": first_name},
                ),
                PlannedMessage(
                    key=f"checkin:2000:customer:{customer.id}",
                    kind="checkin",
                    chat_id=telegram_id,
                    template="care.checkin",
                    customer_id=customer.id,
                    params={"name": f"{first_name} {last_name}"},
                ),
            ],
        )
        await session.flush()
        sent = (
            await session.execute(
                select(OutboxMessage).where(OutboxMessage.key == f"checkin:2000:customer:{customer.id}")
            )
        ).scalar_one()
        sent.status, sent.sent_at, sent.telegram_message_id = "sent", now, 99
        await audit(session, actor_telegram_id=AGENT_ID, action="card_viewed", customer_id=customer.id)
        customer_id = customer.id
    digits = "".join(ch for ch in phone if ch.isdigit())
    return Seeded(
        user=user,
        customer_id=customer_id,
        open_ticket=open_ticket.id,
        closed_ticket=closed_ticket.id,
        staff_copies=[card.message_id, copy.message_id],
        secrets=[
            first_name,
            last_name,
            username,
            phone,
            digits,
            email,
            f"ORDER-{tag}",
            f"AgAC-secret-file-{tag}",
            *texts,
        ],
        message_texts=texts,
    )


async def text_dump(engine: AsyncEngine) -> list[tuple[str, str, str]]:
    """(table, column, value) for every non-empty value of every text column of every table."""
    found: list[tuple[str, str, str]] = []
    async with engine.connect() as connection:
        for table in SQLModel.metadata.sorted_tables:
            columns = [column for column in table.columns if isinstance(column.type, String)]
            if not columns:
                continue
            for row in (await connection.execute(select(*columns))).all():
                found += [(table.name, column.name, value) for column, value in zip(columns, row, strict=True) if value]
    return found


def leaks(dump: list[tuple[str, str, str]], secrets: list[str]) -> list[tuple[str, str, str]]:
    lowered = [secret.lower() for secret in secrets]
    return [entry for entry in dump if any(secret in entry[2].lower() for secret in lowered)]
