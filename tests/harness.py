"""Carebot under test: in-process (the real Application over FakeRequest) or as a `carebot run` subprocess.

In-process, `await bot.deliver()` fetches what the fake users sent through the same inbox path as long polling
(store, then dispatch in order per chat) and waits until every handler finished and every background service
(the staff-chat relay) has done what it can do now: deterministic, no sleeping. A failed update's next tries
do not wait either: the dispatcher's sleep only records the delays it was asked for (`retry_waits`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from bot.app import build_application
from bot.context import CarebotApp, Services
from bot.runtime.background import background_of, start_background, stop_background
from bot.runtime.dispatch import ChatOrderedDispatcher
from bot.runtime.updates import accept, fetch_updates, pick_up_returned
from tests.botapi import FakeChat, FakeMessage, FakeRequest, FakeTelegram, serve_botapi

ROOT = Path(__file__).resolve().parent.parent
STOP_SECONDS = 40


class RecordedWaits:
    """An injected `sleep` that returns at once and remembers how long it was asked to wait."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        await asyncio.sleep(0)


@dataclass
class BotHarness:
    tg: FakeTelegram
    app: CarebotApp
    services: Services
    dispatcher: ChatOrderedDispatcher
    retry_waits: RecordedWaits = field(default_factory=RecordedWaits)
    offset: int | None = None

    async def deliver(self) -> int:
        """Hand every update waiting at the fake to the bot and wait until all are handled; returns the count."""
        total = 0
        while True:
            updates, offset = await fetch_updates(self.app.bot, offset=self.offset, timeout=0)
            if offset == self.offset:
                break
            await accept(self.app, self.services.sessions, self.dispatcher, updates)
            self.offset = offset
            total += len(updates)
            await self.settle()
        return total

    async def settle(self) -> None:
        """Wait until every queued update is handled (or parked) and the relay has sent what it can."""
        await self.dispatcher.drain()
        for service in background_of(self.app):
            await service.settled()

    async def pick_up_returned(self) -> int:
        """What a running bot does every few seconds: take the updates `carebot inbox retry` handed back."""
        picked = await pick_up_returned(self.app, self.services.sessions, self.dispatcher)
        await self.settle()
        return picked


def texts_shown_by(message: FakeMessage) -> list[str]:
    """The customer texts one staff-chat message shows: a new ticket's card carries its first texts after its own
    lines, a backlog goes combined into one message, the rest as copies (a customer's edit is not counted)."""
    text = message.text or ""
    body = text.partition("\n\n")[2] if text.startswith("🎫") else text
    return body.split("\n\n") if body and not body.startswith("✏️") else []


def texts_staff_see(tg: FakeTelegram, chat: FakeChat | int) -> list[str]:
    """The customer texts a staff chat shows, in order."""
    return [text for m in sorted(tg.sent_to(chat), key=lambda m: m.message_id) for text in texts_shown_by(m)]


@contextlib.asynccontextmanager
async def running_bot(tg: FakeTelegram, services: Services) -> AsyncIterator[BotHarness]:
    app = build_application(
        services.settings, request=FakeRequest(tg), get_updates_request=FakeRequest(tg), services=services
    )
    await app.initialize()
    await app.start()
    await start_background(app)
    waits = RecordedWaits()
    dispatcher = ChatOrderedDispatcher(app, services.sessions, sleep=waits)
    harness = BotHarness(tg=tg, app=app, services=services, dispatcher=dispatcher, retry_waits=waits)
    try:
        yield harness
    finally:
        await harness.dispatcher.cancel()
        await stop_background(app)
        await app.stop()
        await app.shutdown()


@dataclass
class CarebotProcess:
    """`carebot run` as a real subprocess talking to the fake over HTTP."""

    process: asyncio.subprocess.Process
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    async def stop(self, sig: int = signal.SIGTERM) -> int:
        """Stop it with `sig`. A SIGTERM lets it finish its work for up to its shutdown grace (the dispatcher's,
        then each relay worker's): a loaded machine may need most of that."""
        if self.process.returncode is None:
            self.process.send_signal(sig)
        try:
            return await asyncio.wait_for(self.process.wait(), STOP_SECONDS)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()
            raise AssertionError(f"carebot did not stop within {STOP_SECONDS} s:\n{self.log()[-3000:]}") from None


async def start_carebot(env: dict[str, str], log_path: Path, *args: str) -> CarebotProcess:
    """Start `carebot run` with exactly the given CAREBOT_* settings (plus PATH and friends)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("CAREBOT_")}
    log_file = log_path.open("ab")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "run",
        *args,
        env={**base, **env, "PYTHONUNBUFFERED": "1"},
        stdout=log_file,
        stderr=asyncio.subprocess.STDOUT,
        cwd=log_path.parent,
    )
    log_file.close()
    return CarebotProcess(process=process, log_path=log_path, env=env)


@contextlib.asynccontextmanager
async def carebot_against_fake(
    tg: FakeTelegram, workdir: Path, database_url: str, **settings: str
) -> AsyncIterator[CarebotProcess]:
    """Serve the fake Bot API, run `carebot run` against it, stop it (SIGTERM) afterwards."""
    async with serve_botapi(tg) as server:
        env = {
            "CAREBOT_BOT_TOKEN": "1000000:TEST-carebot-token",
            "CAREBOT_BOT_API_URL": server.base_url,
            "CAREBOT_DATABASE_URL": database_url,
            **{f"CAREBOT_{name.upper()}": value for name, value in settings.items()},
        }
        process = await start_carebot(env, workdir / "carebot.log")
        try:
            yield process
        finally:
            await process.stop()
