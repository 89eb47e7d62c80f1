"""`carebot run`: migrate, start the Application, resume stored updates, receive until told to stop.

Updates arrive by long polling (one process, the default) or by webhook (`--webhook`, any number of replicas on
PostgreSQL). Everything else is the same in both modes: the inbox, the dispatcher and the scheduler lease.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
from datetime import timedelta

from telegram import Update
from telegram.error import InvalidToken, NetworkError, TelegramError

from bot.app import build_application, on_startup
from bot.context import CarebotApp, Services
from bot.runtime import metrics
from bot.runtime.background import start_background, stop_background
from bot.runtime.http import AiohttpRequest
from bot.runtime.instance_lock import AlreadyRunning, single_bot_on
from bot.runtime.scheduling import CareRuntime, start_care
from bot.runtime.updates import RETURNED_POLL_SECONDS, ChatOrderedDispatcher, keep_claims, poll, resume, take_returned
from bot.runtime.webhook import WebServer, build_web_app, feature_routes, start_server
from bot.settings import Settings
from bot.ui import i18n
from scheduler.lease import SchedulerLease
from storage.db import dispose, is_sqlite, upgrade
from storage.raw import raw_database
from storage.types import utcnow

log = logging.getLogger(__name__)
SHUTDOWN_GRACE_SECONDS = 10
# PTB's default pool size for the Application's requests.
CONNECTION_POOL_SIZE = 256


class StartupError(Exception):
    """The bot cannot start; the message says why in one line."""


def check_webhook_settings(settings: Settings) -> None:
    for name, value in (
        ("CAREBOT_WEBHOOK_URL", settings.webhook_url),
        ("CAREBOT_WEBHOOK_SECRET", settings.webhook_secret),
    ):
        if not value:
            raise StartupError(f"{name} is required with --webhook (see docs/deployment.md)")


async def run(settings: Settings, *, webhook: bool = False) -> None:
    if webhook:
        check_webhook_settings(settings)
    try:
        with single_bot_on(settings.database_url):
            await _run(settings, webhook=webhook)
    except AlreadyRunning as exc:
        raise StartupError(str(exc)) from None


def settle_the_heap() -> None:
    """What start-up built (modules, mappers, catalogs: over 150,000 objects) lives as long as the
    process: collected once now and set aside, so that a full collection later walks only what the bot makes while
    it runs (on this heap one took 60-110 ms, the event loop standing still)."""
    gc.collect()
    gc.freeze()


async def _run(settings: Settings, *, webhook: bool) -> None:
    await upgrade(settings.database_url)
    i18n.warm_up()
    settings.hours.next_opening(utcnow())  # the business's hours and holidays, read once now
    app = build_application(
        settings,
        request=metrics.InstrumentedRequest(connection_pool_size=CONNECTION_POOL_SIZE),
        get_updates_request=AiohttpRequest(connection_pool_size=1),
    )
    services: Services = app.bot_data["services"]
    dispatcher = ChatOrderedDispatcher(app, services.sessions)
    try:
        await app.initialize()
    except InvalidToken:
        raise StartupError("the Bot API rejected CAREBOT_BOT_TOKEN") from None
    except NetworkError as exc:
        raise StartupError(f"cannot reach the Bot API at CAREBOT_BOT_API_URL ({exc.message})") from None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    receivers: list[asyncio.Task[None]] = []
    server: WebServer | None = None
    try:
        await app.start()
        # Alone on the database (SQLite is one process; long polling is one consumer) this run takes over what
        # the last one left; among webhook replicas only what a silent replica had claimed.
        alone = not webhook or is_sqlite(settings.database_url)
        timeout = timedelta(seconds=settings.replica_timeout_seconds)
        # Webhook mode always serves HTTP; long polling only when a feature needs it (e.g. the order endpoint).
        if webhook or feature_routes(app):
            web = build_web_app(app, dispatcher, webhook=webhook)
            server = WebServer(web, host=settings.http_host, port=settings.http_port)
            try:
                receivers.append(await start_server(server))
            except OSError as exc:
                raise StartupError(str(exc)) from None
        if webhook:
            await register_webhook(app, settings)
        else:
            await app.bot.delete_webhook()  # getUpdates refuses to work while a webhook is set
        await raw_database(services.engine).open()  # the relay's opens when the lease lets it relay
        await resume(app, services.sessions, dispatcher, stale_after=None if alone else timeout)
        await on_startup(app)
        if webhook and not alone:
            receivers.append(
                asyncio.create_task(keep_claims(app, services.sessions, dispatcher, timeout=timeout), name="claims")
            )
        if not webhook:
            receivers.append(asyncio.create_task(poll(app, services.sessions, dispatcher), name="poller"))
        receivers.append(
            asyncio.create_task(
                take_returned(app, services.sessions, dispatcher, every=RETURNED_POLL_SECONDS), name="returned"
            )
        )
        care: CareRuntime | None = None

        async def lease_acquired() -> None:
            # Only the lease holder plans and sends proactive messages and relays the staff-chat queue: one global
            # rate, nothing planned or relayed twice. Alone on the database the lease is held at once.
            nonlocal care
            metrics.set_lease_held(True)
            await start_background(app)
            care = await start_care(app, services)

        async def lease_lost() -> None:
            nonlocal care
            metrics.set_lease_held(False)
            await stop_background(app)
            if care is not None:
                await care.stop()
                care = None

        async with SchedulerLease(settings.database_url, on_acquired=lease_acquired, on_lost=lease_lost):
            where = f"webhook on {settings.http_host}:{settings.http_port}" if webhook else "long polling"
            if server is not None and not webhook:
                where += f", serving HTTP on {settings.http_host}:{settings.http_port}"
            settle_the_heap()
            log.info("carebot started as @%s (%s, replica %s)", app.bot.username, where, dispatcher.replica)
            await _until_stopped(stop, receivers)
            if server is not None:
                server.should_exit = True
            await _cancel(receivers)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(SHUTDOWN_GRACE_SECONDS):
                    await dispatcher.drain()
            await dispatcher.cancel()
    finally:
        if server is not None:
            server.should_exit = True
        await _cancel(receivers)
        await dispatcher.cancel()
        await stop_background(app)
        if app.running:
            await app.stop()
        await app.shutdown()
        await dispose(services.engine)
    log.info("carebot stopped")


async def register_webhook(app: CarebotApp, settings: Settings) -> None:
    """Point Telegram at this deployment (every replica does; the call is idempotent)."""
    try:
        await app.bot.set_webhook(
            url=settings.webhook_url, secret_token=settings.webhook_secret, allowed_updates=Update.ALL_TYPES
        )
    except TelegramError as exc:
        raise StartupError(f"Telegram refused CAREBOT_WEBHOOK_URL: {exc.message}") from None


async def _until_stopped(stop: asyncio.Event, receivers: list[asyncio.Task[None]]) -> None:
    """Wait for a signal, or for a receiver to end (which only happens when it failed: re-raised)."""
    stopper = asyncio.create_task(stop.wait())
    try:
        done, _ = await asyncio.wait({stopper, *receivers}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopper.cancel()
    for task in done:
        if task is not stopper:
            task.result()
            raise RuntimeError(f"{task.get_name()} stopped unexpectedly")


async def _cancel(tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        if task.get_name() != "webhook-server":  # uvicorn stops itself on should_exit, finishing open requests
            task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    tasks.clear()
