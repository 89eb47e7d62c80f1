"""Starting the care machinery inside `carebot run`: the planner jobs on PTB's JobQueue and the outbox sender.

The scheduler gets the settings as its `CareConfig` (the care part of the one Settings), a plain `telegram.Bot` (without PTB's rate limiter: the sender
keeps Telegram's limits itself and must see 429 answers) and the render function of the catalogs.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Any

from telegram import Bot
from telegram.ext import Application, Job
from telegram.request import BaseRequest, HTTPXRequest

from bot.context import CarebotApp, Services
from bot.runtime.ratelimit import CarebotRateLimiter
from bot.settings import Settings
from bot.ui.outbox_texts import render
from scheduler.jobs import schedule_jobs
from scheduler.jobs.csat import release_survey
from scheduler.sender import OutboxSender
from storage.db import SessionFactory
from storage.types import utcnow

SENDER_KEY = "outbox_sender"
AnyApp = Application[Any, Any, Any, Any, Any, Any]


def sender_bot(settings: Settings, request: BaseRequest | None = None) -> Bot:
    pool = max(8, int(settings.send_rate) * 2)
    return Bot(
        settings.bot_token,
        base_url=settings.bot_api_url,
        base_file_url=settings.bot_api_file_url,
        request=request or HTTPXRequest(connection_pool_size=pool, read_timeout=20),
    )


def outbox_sender(
    settings: Settings, sessions: SessionFactory, bot: Bot, *, limiter: CarebotRateLimiter | None = None
) -> OutboxSender:
    """The sender; inside `carebot run` it shares the Application's per-chat limits (`limiter`)."""
    shared = limiter.windows if limiter is not None and limiter.enabled else None
    return OutboxSender(bot=bot, sessions=sessions, config=settings, texts=render, chat_windows=shared)


def register_sender(app: AnyApp, sender: OutboxSender | None) -> None:
    """The sender this replica runs (None: it runs none), so that handlers can wake it."""
    if sender is None:
        app.bot_data.pop(SENDER_KEY, None)
    else:
        app.bot_data[SENDER_KEY] = sender


def wake_sender(app: AnyApp) -> None:
    """Drain the outbox now, when this replica sends (another replica's sender looks within seconds anyway)."""
    sender: OutboxSender | None = app.bot_data.get(SENDER_KEY)
    if sender is not None:
        sender.wake()


async def survey_follows(app: AnyApp, services: Services, ticket_id: int) -> None:
    """The closing message of ticket `ticket_id` went: its satisfaction survey, planned when it closed, goes now."""
    if await release_survey(services.sessions, ticket_id=ticket_id, now=utcnow()):
        wake_sender(app)


@dataclass
class CareRuntime:
    app: AnyApp
    bot: Bot
    sender_task: asyncio.Task[None]
    jobs: list[Job[Any]]

    async def stop(self) -> None:
        register_sender(self.app, None)
        for job in self.jobs:
            job.schedule_removal()
        self.sender_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.sender_task
        await self.bot.shutdown()


async def start_care(app: CarebotApp, services: Services) -> CareRuntime:
    """Schedule the planners and start draining the outbox; `stop()` the result at shutdown."""
    settings = services.settings
    assert app.job_queue is not None, "python-telegram-bot[job-queue] is a dependency"
    jobs = schedule_jobs(app.job_queue, sessions=services.sessions, config=settings)
    bot = sender_bot(settings)
    await bot.initialize()
    limiter = app.bot.rate_limiter
    sender = outbox_sender(
        settings, services.sessions, bot, limiter=limiter if isinstance(limiter, CarebotRateLimiter) else None
    )
    register_sender(app, sender)
    return CareRuntime(app, bot, asyncio.create_task(sender.run(), name="outbox-sender"), jobs)
