"""Starting the care machinery inside `carebot run`: the planner jobs on PTB's JobQueue and the outbox sender.

The scheduler gets plain values (`CareConfig`), a plain `telegram.Bot` (without PTB's rate limiter: the sender
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
from bot.outbox_texts import render
from bot.ratelimit import CarebotRateLimiter
from bot.settings import Settings
from scheduler.config import CareConfig
from scheduler.jobs import schedule_jobs
from scheduler.sender import OutboxSender
from storage.db import SessionFactory


def care_config(settings: Settings) -> CareConfig:
    return CareConfig(
        timezone=settings.timezone,
        default_language=settings.default_language,
        staff_chat_id=settings.staff_chat_id,
        currency=settings.currency,
        send_rate=settings.send_rate,
        rate_limits=settings.rate_limits == "on",
        send_max_attempts=settings.send_max_attempts,
        quiet_hours=settings.quiet_hours,
        max_proactive_per_week=settings.max_proactive_per_week,
        birthday_gift_value=settings.birthday_gift_value,
        holiday_gift_value=settings.holiday_gift_value,
        gift_valid_days=settings.gift_valid_days,
        holiday_country=settings.holiday_country,
        greet_holidays=settings.greet_holidays,
        checkin_days=settings.checkin_days,
        vip_checkin_days=settings.vip_checkin_days,
        survey_interval_days=settings.survey_interval_days,
        sla_first_response_minutes=settings.sla_first_response_minutes,
        sla_vip_first_response_minutes=settings.sla_vip_first_response_minutes,
        business_hours=settings.business_hours,
        autoclose_days=settings.autoclose_days,
        agreement_years=settings.agreement_years,
    )


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
    return OutboxSender(bot=bot, sessions=sessions, config=care_config(settings), texts=render, chat_windows=shared)


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
    jobs = schedule_jobs(app.job_queue, sessions=services.sessions, config=care_config(settings))
    bot = sender_bot(settings)
    await bot.initialize()
    limiter = app.bot.rate_limiter
    sender = outbox_sender(
        settings, services.sessions, bot, limiter=limiter if isinstance(limiter, CarebotRateLimiter) else None
    )
    return CareRuntime(bot, asyncio.create_task(sender.run(), name="outbox-sender"), jobs)
