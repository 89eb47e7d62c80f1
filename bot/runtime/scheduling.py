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
from telegram.ext import Job
from telegram.request import BaseRequest, HTTPXRequest

from bot.context import CarebotApp, Services
from bot.settings import Settings
from bot.ui.outbox_texts import render
from scheduler.jobs import schedule_jobs
from scheduler.sender import OutboxSender
from storage.db import SessionFactory


def sender_bot(settings: Settings, request: BaseRequest | None = None) -> Bot:
    pool = max(8, int(settings.send_rate) * 2)
    return Bot(
        settings.bot_token,
        base_url=settings.bot_api_url,
        base_file_url=settings.bot_api_file_url,
        request=request or HTTPXRequest(connection_pool_size=pool, read_timeout=20),
    )


def outbox_sender(settings: Settings, sessions: SessionFactory, bot: Bot) -> OutboxSender:
    return OutboxSender(bot=bot, sessions=sessions, config=settings, texts=render)


@dataclass
class CareRuntime:
    bot: Bot
    sender_task: asyncio.Task[None]
    jobs: list[Job[Any]]

    async def stop(self) -> None:
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
    sender = outbox_sender(settings, services.sessions, bot)
    return CareRuntime(bot, asyncio.create_task(sender.run(), name="outbox-sender"), jobs)
