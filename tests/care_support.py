"""Helpers for the care tests: customers stored directly, the outbox read back, a sender over the fake Bot API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlmodel import col, select
from telegram import Bot

from bot.ui.outbox_texts import render
from scheduler.config import CareConfig
from scheduler.sender import OutboxSender
from storage.db import SessionFactory, transaction
from storage.models import Customer, OutboxMessage
from tests.botapi import TOKEN, FakeRequest, FakeTelegram


async def add_customer(sessions: SessionFactory, telegram_id: int, **fields: Any) -> Customer:
    fields.setdefault("first_name", f"Customer{telegram_id}")
    fields.setdefault("language", "en")
    async with transaction(sessions) as session:
        customer = Customer(telegram_id=telegram_id, **fields)
        session.add(customer)
        await session.flush()
        return customer


async def outbox_rows(sessions: SessionFactory, **where: Any) -> list[OutboxMessage]:
    async with sessions() as session:
        query = select(OutboxMessage).order_by(col(OutboxMessage.id))
        for name, value in where.items():
            query = query.where(getattr(OutboxMessage, name) == value)
        return list((await session.execute(query)).scalars())


class RecordedSleep:
    """An injected `sleep` that returns at once and remembers how long it was asked to wait."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@asynccontextmanager
async def fake_sender(
    tg: FakeTelegram, sessions: SessionFactory, config: CareConfig | None = None, **kwargs: Any
) -> AsyncIterator[OutboxSender]:
    """The real sender, over a plain `telegram.Bot` talking to the in-process fake."""
    config = config or CareConfig(quiet_hours="", rate_limits=False)
    async with Bot(TOKEN, request=FakeRequest(tg)) as bot:
        yield OutboxSender(bot=bot, sessions=sessions, config=config, texts=render, **kwargs)
