"""`carebot run`: migrate, start the Application, resume stored updates, poll until told to stop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from telegram.error import InvalidToken

from bot.app import build_application, start_background, stop_background
from bot.context import Services
from bot.settings import Settings
from bot.updates import ChatOrderedDispatcher, poll, resume
from storage.db import upgrade

log = logging.getLogger(__name__)
SHUTDOWN_GRACE_SECONDS = 10


class StartupError(Exception):
    """The bot cannot start; the message says why in one line."""


async def run_polling(settings: Settings) -> None:
    await upgrade(settings.database_url)
    app = build_application(settings)
    services: Services = app.bot_data["services"]
    dispatcher = ChatOrderedDispatcher(app, services.sessions)
    try:
        await app.initialize()
    except InvalidToken:
        raise StartupError("the Bot API rejected CAREBOT_BOT_TOKEN") from None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await app.start()
        await resume(app, services.sessions, dispatcher)
        await start_background(app)
        log.info("carebot started as @%s (long polling)", app.bot.username)
        poller = asyncio.create_task(poll(app, services.sessions, dispatcher), name="poller")
        stopper = asyncio.create_task(stop.wait())
        await asyncio.wait({poller, stopper}, return_when=asyncio.FIRST_COMPLETED)
        poller.cancel()
        stopper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await poller
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(SHUTDOWN_GRACE_SECONDS):
                await dispatcher.drain()
        await dispatcher.cancel()
        await stop_background(app)
        if app.running:
            await app.stop()
    finally:
        await app.shutdown()
        await services.engine.dispose()
    log.info("carebot stopped")
