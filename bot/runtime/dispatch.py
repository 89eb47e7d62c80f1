"""Handling stored updates: concurrently across chats, strictly in order within one chat, each marked handled once
it went through; one that raises is tried again with backoff (its chat waiting behind it) and parked after its last
try, with one alert to the staff chat (see bot/runtime/updates.py for how updates are received and stored)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import socket
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Sequence
from datetime import datetime, timedelta
from itertools import islice
from typing import Any

import orjson
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Update
from telegram.ext import Application

from bot.context import CarebotApp, Services
from bot.runtime import metrics
from storage import inbox, outbox
from storage.db import SessionFactory, transaction
from storage.inbox import IncomingUpdate
from storage.outbox import PlannedMessage
from storage.types import utcnow

log = logging.getLogger(__name__)

FAST_LANE_KEY = "fast_lane"
DISPATCHER_KEY = "dispatcher"
MARKED_KEY = "marked_handled"
FAILURES_KEY = "failed_updates"
ATTEMPTS_KEY = "update_attempts"
PARKED_ALERT = "inbox.parked"
FAST_LANE_LOOKAHEAD = 100
MAX_BACKOFF_SECONDS = 30.0


# Seconds before each new try of an update whose handling failed; after the last try it is parked.
BACKOFF_SECONDS = (1.0, 5.0, 30.0, 120.0, 600.0)


def replica_name() -> str:
    """This process among the replicas: host, pid and a random part (a restarted pid is a new replica)."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(3)}"


def to_json(data: object) -> str:
    """orjson, or the standard library for what orjson refuses (integers past 64 bits, in fields Carebot does
    not store in a column)."""
    try:
        return orjson.dumps(data).decode()
    except TypeError:  # orjson.JSONEncodeError
        return json.dumps(data, ensure_ascii=False)


FastLane = Callable[[CarebotApp, Sequence[Update]], Awaitable[int]]


Sleep = Callable[[float], Awaitable[None]]


def record_failure(app: Application[Any, Any, Any, Any, Any, Any], update: Update, error: BaseException) -> bool:
    """For the error handler: handling `update` raised `error`, so the dispatcher tries it again later instead
    of marking it handled. Returns True on its first failure (the only one the user is told about)."""
    app.bot_data.setdefault(FAILURES_KEY, {})[update.update_id] = error
    attempts: dict[int, int] = app.bot_data.get(ATTEMPTS_KEY, {})
    return attempts.get(update.update_id, 0) == 0


@contextlib.asynccontextmanager
async def marking_handled(
    app: Application[Any, Any, Any, Any, Any, Any], update: Update
) -> AsyncIterator[AsyncSession]:
    """A transaction that also marks `update` handled in the inbox: what the handler stores and the mark commit
    together, in one go (the dispatcher then does not mark it again). Before the commit a crash leaves the update
    to be handled again; after it, only what the handler was about to send is lost.
    """
    services: Services = app.bot_data["services"]
    async with transaction(services.sessions) as session:
        yield session
        await inbox.mark_processed(session, update_id=update.update_id)
    app.bot_data.setdefault(MARKED_KEY, set()).add(update.update_id)


def set_fast_lane(app: CarebotApp, lane: FastLane) -> None:
    """Let `lane` handle a chat's next updates before the handlers see them.

    `lane(app, updates)` gets the updates waiting in one chat, oldest first, and handles a leading run of them
    completely, marking them handled in the inbox (`inbox.mark_many_processed`) in the same transaction as its
    own work; it returns how many that was, 0 to leave the next one to the handlers.
    """
    app.bot_data[FAST_LANE_KEY] = lane


def inbound_busy(app: Application[Any, Any, Any, Any, Any, Any]) -> bool:
    """Whether updates are being received or handled now (more customer messages may be on their way to the
    staff relay)."""
    dispatcher: ChatOrderedDispatcher | None = app.bot_data.get(DISPATCHER_KEY)
    return dispatcher is not None and dispatcher.busy


def incoming(update: Update, payload: str | None = None) -> IncomingUpdate:
    """What the inbox stores of `update`: `payload`, its JSON as received, when there is one."""
    chat = update.effective_chat
    user = update.effective_user
    chat_id = chat.id if chat else (user.id if user else None)
    if payload is None:
        payload = to_json(update.to_dict())
    return IncomingUpdate(update.update_id, chat_id, payload)


def order_key(update: Update) -> Hashable:
    """Updates with one key are handled one after the other: a chat's (a business chat's is the customer's id,
    like their chat with the bot), a business connection's changes, else each update alone."""
    chat = update.effective_chat
    if chat is not None:
        return chat.id
    if update.business_connection is not None:
        return ("business_connection", update.business_connection.id)
    return ("update", update.update_id)


class ChatOrderedDispatcher:
    """Hands updates to the Application: one worker per chat keeps order, a semaphore bounds the total."""

    def __init__(
        self,
        app: CarebotApp,
        sessions: SessionFactory,
        *,
        max_concurrent: int = 256,
        replica: str | None = None,
        backoff: Sequence[float] = BACKOFF_SECONDS,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._app = app
        self._sessions = sessions
        self.replica = replica or replica_name()
        self._backoff = tuple(backoff)
        self._sleep = sleep
        self._attempts: dict[int, int] = app.bot_data.setdefault(ATTEMPTS_KEY, {})  # failed tries so far
        self._due: dict[int, float] = {}  # when an update that failed is tried again (time.monotonic)
        self._queued: set[int] = set()
        self._queues: dict[Hashable, deque[Update]] = {}
        self._workers: dict[Hashable, asyncio.Task[None]] = {}
        self._slots = asyncio.Semaphore(max_concurrent)
        self._idle = asyncio.Event()
        self._idle.set()
        self._retrying = 0  # chats whose worker waits to try a failed update again
        self.more_coming = False  # the poller got a full batch: more updates are on their way in
        app.bot_data[DISPATCHER_KEY] = self

    def submit(self, update: Update, *, attempts: int = 0, retry_at: datetime | None = None) -> None:
        """Queue `update` behind its chat's others; `attempts` failed tries so far, the next not before `retry_at`."""
        if update.update_id in self._queued:
            return
        self._queued.add(update.update_id)
        if attempts:
            self._attempts[update.update_id] = attempts
        if retry_at is not None:
            self._due[update.update_id] = time.monotonic() + max(0.0, (retry_at - utcnow()).total_seconds())
        key = order_key(update)
        self._queues.setdefault(key, deque()).append(update)
        if key not in self._workers:
            self._idle.clear()
            self._workers[key] = asyncio.create_task(self._work(key), name=f"chat-worker:{key}")

    async def _work(self, key: Hashable) -> None:
        queue = self._queues[key]
        try:
            while queue:
                due = self._due.pop(queue[0].update_id, None)
                if due is not None and (wait := due - time.monotonic()) > 0:
                    self._retrying += 1
                    try:
                        await self._sleep(wait)  # a failed update's next try: the chat's later updates wait behind it
                    finally:
                        self._retrying -= 1
                handled = await self._fast_lane(queue)
                for _ in range(handled):
                    self._forget(queue.popleft().update_id)
                    metrics.count_update()
                if handled:
                    continue
                update = queue[0]
                error = await self._handle(update)
                if error is None:
                    metrics.count_update()
                elif not await self._failed(update, error):
                    continue  # tried again once due, still at the head of its chat
                queue.popleft()
                self._forget(update.update_id)
        finally:
            del self._workers[key]
            if not queue:
                del self._queues[key]
            if not self._workers:
                self._idle.set()

    def _forget(self, update_id: int) -> None:
        self._queued.discard(update_id)
        self._attempts.pop(update_id, None)
        self._due.pop(update_id, None)

    async def _handle(self, update: Update) -> BaseException | None:
        """Run the handlers; None once the update is marked handled, else what made them fail.

        An update a handler marked handled itself (`marking_handled`) stays handled even when the handler failed
        afterwards: what it stored is committed, and a new try would only send its replies again."""
        failures: dict[int, BaseException] = self._app.bot_data.setdefault(FAILURES_KEY, {})
        failures.pop(update.update_id, None)
        error: BaseException | None
        try:
            async with self._slots:
                await self._app.process_update(update)
        except Exception as exc:  # PTB passes handler errors to the error handler; anything else lands here
            error = exc
        else:
            error = failures.pop(update.update_id, None)
        marked: set[int] = self._app.bot_data.get(MARKED_KEY, set())
        if update.update_id in marked:
            marked.discard(update.update_id)
            return None
        if error is None:
            await self._mark_processed(update.update_id)
        return error

    async def _failed(self, update: Update, error: BaseException) -> bool:
        """Schedule the next try, or park the update after the last; returns True when parked."""
        update_id = update.update_id
        attempts = self._attempts.get(update_id, 0) + 1
        self._attempts[update_id] = attempts
        name = type(error).__name__
        parked = attempts > len(self._backoff)
        delay = 0.0 if parked else self._backoff[attempts - 1]
        retry_at = None if parked else utcnow() + timedelta(seconds=delay)
        chat = update.effective_chat
        chat_id = chat.id if chat else None

        async def note(session: AsyncSession) -> None:
            await inbox.note_failure(session, update_id=update_id, attempts=attempts, error=name, retry_at=retry_at)
            if parked:
                await self._alert(session, update_id=update_id, chat_id=chat_id, attempts=attempts, error=name)

        await self._persist(update_id, note)
        if parked:
            metrics.count_parked()
            log.error("update %d (chat %s) parked after %d tries: %s", update_id, chat_id, attempts, name)
            return True
        metrics.count_retry()
        self._due[update_id] = time.monotonic() + delay
        log.warning("update %d failed (%s, try %d); trying again in %.0f s", update_id, name, attempts, delay)
        return False

    async def _alert(
        self, session: AsyncSession, *, update_id: int, chat_id: int | None, attempts: int, error: str
    ) -> None:
        """One alert to the staff chat per parking, through the outbox (ids and the error's name, no text)."""
        services: Services = self._app.bot_data["services"]
        staff_chat_id = services.settings.staff_chat_id
        if staff_chat_id is None:
            return
        params = {"update_id": update_id, "chat_id": chat_id if chat_id is not None else "-", "attempts": attempts}
        await outbox.enqueue_many(
            session,
            messages=[
                PlannedMessage(
                    key=f"inbox:parked:{update_id}:{utcnow().isoformat()}",
                    kind="inbox",
                    chat_id=staff_chat_id,
                    template=PARKED_ALERT,
                    params={**params, "error": error},
                )
            ],
        )

    async def _fast_lane(self, queue: deque[Update]) -> int:
        lane: FastLane | None = self._app.bot_data.get(FAST_LANE_KEY)
        if lane is None:
            return 0
        try:
            async with self._slots:
                return await lane(self._app, list(islice(queue, FAST_LANE_LOOKAHEAD)))
        except (SQLAlchemyError, OSError) as exc:  # the handlers take the updates, the slow way
            log.warning("fast lane failed (%s); the handlers take over", type(exc).__name__)
            return 0
        except Exception:
            log.exception("fast lane failed; the handlers take over")
            return 0

    async def _mark_processed(self, update_id: int) -> None:
        """Handled is handled: keep trying through a database outage rather than handle it again later."""

        async def mark(session: AsyncSession) -> None:
            await inbox.mark_processed(session, update_id=update_id)

        await self._persist(update_id, mark)

    async def _persist(self, update_id: int, write: Callable[[AsyncSession], Awaitable[None]]) -> None:
        """Commit what became of an update, trying again through a database outage."""
        delay = 0.5
        while True:
            try:
                async with transaction(self._sessions) as session:
                    await write(session)
                return
            except (SQLAlchemyError, OSError) as exc:
                log.warning("could not record update %d (%s); retrying", update_id, type(exc).__name__)
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_BACKOFF_SECONDS)

    @property
    def busy(self) -> bool:
        """Updates are being handled now or more are being received (a chat waiting to try a failed one again
        does not count)."""
        return self.more_coming or len(self._workers) > self._retrying

    @property
    def pending(self) -> int:
        return sum(len(queue) for queue in self._queues.values())

    async def drain(self) -> None:
        """Wait until every submitted update is handled (used at shutdown and by tests)."""
        await self._idle.wait()

    async def cancel(self) -> None:
        for task in list(self._workers.values()):
            task.cancel()
        for task in list(self._workers.values()):
            with contextlib.suppress(asyncio.CancelledError):
                await task
