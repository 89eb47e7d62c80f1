"""The staff desk under test: its URL, signed initData for a fake user, an HTTP client on the desk's routes and a
ticket opened by a customer writing to the bot."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime

import httpx
from starlette.applications import Starlette

from bot.settings import Settings
from bot.web import routes as desk_routes
from bot.web.desk import INIT_DATA_HEADER
from bot.web.init_data import signed_for
from storage.models import Ticket
from tests.botapi import FakeTelegram, FakeUser
from tests.harness import BotHarness

DESK_URL = "https://care.example.com/app/"
BASE = "/app"


def with_desk(settings: Settings) -> Settings:
    return settings.model_copy(update={"webapp_url": DESK_URL})


def init_data(user: FakeUser, token: str, *, auth_date: datetime | None = None) -> str:
    fields: dict[str, object] = {"id": user.id, "first_name": user.first_name, "language_code": "en"}
    if user.username:
        fields["username"] = user.username
    return signed_for(fields, token, auth_date=auth_date)


def signed(user: FakeUser, token: str, **extra: str) -> dict[str, str]:
    return {INIT_DATA_HEADER: init_data(user, token), **extra}


@asynccontextmanager
async def desk_client(bot: BotHarness) -> AsyncIterator[httpx.AsyncClient]:
    web = Starlette(routes=desk_routes.routes(bot.app))
    transport = httpx.ASGITransport(app=web)
    async with httpx.AsyncClient(transport=transport, base_url="http://desk.test") as client:
        yield client


async def customer_opens_ticket(bot: BotHarness, tg: FakeTelegram, user: FakeUser, text: str) -> Ticket:
    """`user` writes to the bot; the ticket their message opened."""
    tg.customer_sends_text(user, text)
    await bot.deliver()
    async with bot.services.sessions() as session:
        from sqlmodel import col, select

        from storage.models import Customer

        customer = (await session.execute(select(Customer).where(col(Customer.telegram_id) == user.id))).scalar_one()
        ticket = (await session.execute(select(Ticket).where(col(Ticket.customer_id) == customer.id))).scalar_one()
    return ticket
