"""Receiving updates without ever losing one: stored in the inbox first, then handled in order per chat.

Telegram counts an update as delivered once the next `getUpdates` asks past it (or a webhook answered 200).
PTB's own updater queues updates in memory and confirms them before any handler ran, so a crash loses them.
Here every batch is written to the inbox before the next poll confirms it (or the webhook answers 200), and a
restart resumes what was stored and not yet handled. Handling runs concurrently across chats and strictly in
order within one chat. A handler may mark its update handled in its own transaction (`marking_handled`), and a
chat's next updates may take a fast lane that handles several at once the same way (`set_fast_lane`). With
several replicas, each claims what it stored and renews its claims while it runs;
the updates of a replica that went silent are claimed and handled by another (see `keep_claims`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import socket
import warnings
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Sequence
from datetime import timedelta
from itertools import islice
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Bot, Update
from telegram.error import Conflict, InvalidToken, NetworkError, RetryAfter, TimedOut
from telegram.ext import Application
from telegram.warnings import PTBUserWarning

from bot.context import CarebotApp, Services
from bot.runtime import metrics
from scheduler.sender import retry_after_seconds
from storage import inbox
from storage.db import SessionFactory, transaction
from storage.inbox import IncomingUpdate
from storage.types import fits_bigint, utcnow

log = logging.getLogger(__name__)

POLL_TIMEOUT_SECONDS = 20
FAST_LANE_KEY = "fast_lane"
MARKED_KEY = "marked_handled"
FAST_LANE_LOOKAHEAD = 100
MAX_BACKOFF_SECONDS = 30.0
READ_MARGIN_SECONDS = 10.0


def replica_name() -> str:
    """This process among the replicas: host, pid and a random part (a restarted pid is a new replica)."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(3)}"


async def fetch_updates(bot: Bot, *, offset: int | None, timeout: float) -> tuple[list[Update], int | None]:
    """One getUpdates call, read update by update; returns the updates and the offset that confirms them.

    PTB's `get_updates` fails the whole batch when one update cannot be read (a kind or field this PTB version
    does not know), so the same batch would come back forever and nothing after it would ever be handled; and
    it logs the raw batch, message texts and all. Here such an update is skipped, logged by id and kind only; so
    is one the inbox cannot hold (`storable`), which no Telegram server sends.
    """
    # Calling getUpdates directly is the point here; PTB would warn about it on every poll.
    warnings.filterwarnings("ignore", message=r"Please use 'Bot\.getUpdates'", category=PTBUserWarning)
    params: dict[str, object] = {"timeout": timeout, "allowed_updates": Update.ALL_TYPES}
    if offset is not None:
        params["offset"] = offset
    raw = await bot.do_api_request("getUpdates", api_kwargs=params, read_timeout=timeout + READ_MARGIN_SECONDS)
    updates: list[Update] = []
    for item in raw if isinstance(raw, list) else []:
        update_id = int(item["update_id"])
        offset = max(offset or 0, update_id + 1)
        try:
            update = Update.de_json(item, bot)
        except Exception as exc:
            kinds = ",".join(key for key in item if key != "update_id")
            log.warning("skipped update %d: cannot read kind %s (%s)", update_id, kinds, type(exc).__name__)
            continue
        if update is not None and not storable(update):
            kinds = ",".join(key for key in item if key != "update_id")
            log.warning("skipped update of kind %s: an id out of the database's range", kinds)
            continue
        if update is not None:
            updates.append(update)
    return updates, offset


def storable(update: Update) -> bool:
    """The inbox can hold it: its update id and chat id fit their BIGINT columns (a user id becomes a customer's
    Telegram id, also BIGINT)."""
    chat, user = update.effective_chat, update.effective_user
    ids = (update.update_id, chat.id if chat else 0, user.id if user else 0)
    return all(fits_bigint(value) for value in ids)


FastLane = Callable[[CarebotApp, Sequence[Update]], Awaitable[int]]


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


def incoming(update: Update) -> IncomingUpdate:
    chat = update.effective_chat
    user = update.effective_user
    chat_id = chat.id if chat else (user.id if user else None)
    return IncomingUpdate(update.update_id, chat_id, json.dumps(update.to_dict(), ensure_ascii=False))


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
        self, app: CarebotApp, sessions: SessionFactory, *, max_concurrent: int = 256, replica: str | None = None
    ) -> None:
        self._app = app
        self._sessions = sessions
        self.replica = replica or replica_name()
        self._queued: set[int] = set()
        self._queues: dict[Hashable, deque[Update]] = {}
        self._workers: dict[Hashable, asyncio.Task[None]] = {}
        self._slots = asyncio.Semaphore(max_concurrent)
        self._idle = asyncio.Event()
        self._idle.set()

    def submit(self, update: Update) -> None:
        if update.update_id in self._queued:
            return
        self._queued.add(update.update_id)
        key = order_key(update)
        self._queues.setdefault(key, deque()).append(update)
        if key not in self._workers:
            self._idle.clear()
            self._workers[key] = asyncio.create_task(self._work(key), name=f"chat-worker:{key}")

    async def _work(self, key: Hashable) -> None:
        queue = self._queues[key]
        try:
            while queue:
                handled = await self._fast_lane(queue)
                for _ in range(handled):
                    self._queued.discard(queue.popleft().update_id)
                    metrics.count_update()
                if handled:
                    continue
                update = queue[0]
                async with self._slots:
                    await self._app.process_update(update)
                marked: set[int] = self._app.bot_data.get(MARKED_KEY, set())
                if update.update_id in marked:
                    marked.discard(update.update_id)
                else:
                    await self._mark_processed(update.update_id)
                metrics.count_update()
                queue.popleft()
                self._queued.discard(update.update_id)
        finally:
            del self._workers[key]
            if not queue:
                del self._queues[key]
            if not self._workers:
                self._idle.set()

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
        delay = 0.5
        while True:
            try:
                async with transaction(self._sessions) as session:
                    await inbox.mark_processed(session, update_id=update_id)
                return
            except (SQLAlchemyError, OSError) as exc:
                log.warning("could not mark update %d handled (%s); retrying", update_id, type(exc).__name__)
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_BACKOFF_SECONDS)

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


async def accept(
    app: CarebotApp, sessions: SessionFactory, dispatcher: ChatOrderedDispatcher, updates: Sequence[Update]
) -> int:
    """Store the batch, then hand the updates not seen before to the dispatcher; returns how many were new."""
    async with transaction(sessions) as session:
        fresh = await inbox.store_updates(
            session, updates=[incoming(u) for u in updates], claimed_by=dispatcher.replica
        )
    fresh_ids = {u.update_id for u in fresh}
    for update in updates:
        if update.update_id in fresh_ids:
            dispatcher.submit(update)
    return len(fresh)


async def resume(
    app: CarebotApp,
    sessions: SessionFactory,
    dispatcher: ChatOrderedDispatcher,
    *,
    stale_after: timedelta | None = None,
) -> int:
    """Claim and hand over stored updates nobody is handling; returns how many.

    Alone on the database (`stale_after=None`) that is everything an earlier run left unhandled; among replicas,
    only what a replica silent for `stale_after` had claimed.
    """
    stale_before = utcnow() - stale_after if stale_after is not None else None
    async with transaction(sessions) as session:
        claimed = await inbox.claim_unprocessed(session, claimed_by=dispatcher.replica, stale_before=stale_before)
    for row in claimed:
        update = Update.de_json(json.loads(row.payload), app.bot) if row.payload else None
        if update is None:  # nothing left to handle: drop it rather than hold the claim forever
            async with transaction(sessions) as session:
                await inbox.mark_processed(session, update_id=row.update_id)
            continue
        dispatcher.submit(update)
    if claimed:
        log.info("resumed %d stored updates", len(claimed))
    return len(claimed)


async def keep_claims(
    app: CarebotApp, sessions: SessionFactory, dispatcher: ChatOrderedDispatcher, *, timeout: timedelta
) -> None:
    """Among replicas: renew this replica's claims and take over those of silent replicas. Runs until cancelled.

    Renewing three times per timeout keeps a live replica's claims fresh through a slow database call or two.
    """
    interval = timeout.total_seconds() / 3
    while True:
        await asyncio.sleep(interval)
        try:
            async with transaction(sessions) as session:
                await inbox.renew_claims(session, claimed_by=dispatcher.replica)
            await resume(app, sessions, dispatcher, stale_after=timeout)
        except Exception as exc:  # the database may be briefly away: try again next round
            log.warning("inbox claims not renewed (%s)", type(exc).__name__)


async def poll(app: CarebotApp, sessions: SessionFactory, dispatcher: ChatOrderedDispatcher) -> None:
    """Long polling that confirms a batch only after it is stored. Runs until cancelled."""
    async with sessions() as session:
        last = await inbox.last_update_id(session)
    offset = last + 1 if last is not None else None
    backoff = 1.0
    while True:
        try:
            updates, next_offset = await fetch_updates(app.bot, offset=offset, timeout=POLL_TIMEOUT_SECONDS)
        except RetryAfter as exc:
            await asyncio.sleep(retry_after_seconds(exc))
            continue
        except InvalidToken:
            raise
        except (TimedOut, NetworkError, Conflict) as exc:
            log.warning("getUpdates failed (%s); retrying in %.0f s", type(exc).__name__, backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
            continue
        backoff = 1.0
        if updates:
            await accept(app, sessions, dispatcher, updates)
        offset = next_offset
