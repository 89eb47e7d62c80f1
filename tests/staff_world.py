"""A small world for staff scenarios: an admin, an agent, a customer-only user, the staff chat, stored customers."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select

from storage.db import transaction
from storage.models import AuditEntry, Customer, StaffMember
from tests.botapi import FakeChat, FakeMessage, FakeTelegram, FakeUser
from tests.harness import BotHarness
from tests.ids import ADMIN_ID, STAFF_CHAT_ID

AGENT_ID = 800001
OUTSIDER_ID = 700001


@dataclass
class World:
    admin: FakeUser
    agent: FakeUser
    outsider: FakeUser
    staff_chat: FakeChat


async def staff_world(bot: BotHarness, tg: FakeTelegram) -> World:
    admin = tg.user(ADMIN_ID, "Ada", username="ada_admin", language_code="en")
    agent = tg.user(AGENT_ID, "Gus", username="gus_agent", language_code="en")
    outsider = tg.user(OUTSIDER_ID, "Olga", username="olga", language_code="en")
    chat = tg.group(STAFF_CHAT_ID, "Staff", members=[admin, agent, outsider])
    async with transaction(bot.services.sessions) as session:
        session.add(StaffMember(telegram_id=AGENT_ID, username="gus_agent", name="Gus", role="agent"))
    return World(admin, agent, outsider, chat)


async def add_customer(bot: BotHarness, telegram_id: int, first_name: str, **fields: object) -> Customer:
    async with transaction(bot.services.sessions) as session:
        fields.setdefault("language", "en")
        customer = Customer(telegram_id=telegram_id, first_name=first_name, **fields)  # type: ignore[arg-type]
        session.add(customer)
        await session.flush()
        return customer


async def stored_customer(bot: BotHarness, telegram_id: int) -> Customer:
    async with bot.services.sessions() as session:
        found = (await session.execute(select(Customer).where(Customer.telegram_id == telegram_id))).scalar_one()  # type: ignore[arg-type]
        return found


async def audit_rows(bot: BotHarness, action: str | None = None) -> list[AuditEntry]:
    async with bot.services.sessions() as session:
        query = select(AuditEntry).order_by(AuditEntry.id)  # type: ignore[arg-type]
        if action is not None:
            query = query.where(AuditEntry.action == action)  # type: ignore[arg-type]
        return list((await session.execute(query)).scalars())


async def say(
    bot: BotHarness, tg: FakeTelegram, user: FakeUser, text: str, chat: FakeChat | None = None
) -> FakeMessage:
    """`user` sends `text` (in private, or into `chat`) and the bot's last answer there is returned."""
    tg.sends_command(user, text, chat)
    await bot.deliver()
    answer = tg.last_sent(chat or user)
    assert answer is not None, tg.describe()
    return answer


MONEY = Decimal
