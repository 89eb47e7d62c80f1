"""Receiving updates without ever losing one: stored in the inbox first, then handled in order per chat.

Telegram counts an update as delivered once the next `getUpdates` asks past it (or a webhook answered 200).
PTB's own updater queues updates in memory and confirms them before any handler ran, so a crash loses them.
Here every batch is written to the inbox before the next poll confirms it (or the webhook answers 200), and a
restart resumes what was stored and not yet handled. Handling runs concurrently across chats and strictly in
order within one chat. A handler may mark its update handled in its own transaction (`marking_handled`), and a
chat's next updates may take a fast lane that handles several at once the same way (`set_fast_lane`). With
several replicas, each claims what it stored and renews its claims while it runs;
the updates of a replica that went silent are claimed and handled by another (see `keep_claims`).

An update whose handling raises is not marked handled. PTB hands a handler's exception to the error handler
instead of raising it, so the error handler reports it here (`record_failure`). The update is tried again, each
time afresh, after 1 s, 5 s, 30 s, 2 min and 10 min (the schedule is stored in the inbox, so a restart keeps it);
the chat's later updates wait behind it, so order holds. After the last try it is parked: kept in the inbox with
its error's name and number of tries, one alert goes to the staff chat (through the outbox), and the chat moves
on. `carebot inbox retry` hands parked updates back; a running bot picks them up within seconds
(`take_returned`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import socket
import time
import warnings
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Mapping, Sequence
from datetime import datetime, timedelta
from itertools import islice
from typing import Any

import orjson
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Bot, Update
from telegram.error import Conflict, InvalidToken, NetworkError, RetryAfter, TimedOut
from telegram.ext import Application
from telegram.warnings import PTBUserWarning

from bot.context import CarebotApp, Services
from bot.runtime import metrics
from scheduler.sender import retry_after_seconds
from storage import inbox, outbox
from storage.db import SessionFactory, transaction
from storage.inbox import IncomingUpdate
from storage.outbox import PlannedMessage
from storage.types import fits_bigint, utcnow

log = logging.getLogger(__name__)

POLL_TIMEOUT_SECONDS = 20
FAST_LANE_KEY = "fast_lane"
MARKED_KEY = "marked_handled"
FAILURES_KEY = "failed_updates"
ATTEMPTS_KEY = "update_attempts"
# Seconds before each new try of an update whose handling failed; after the last try it is parked.
BACKOFF_SECONDS = (1.0, 5.0, 30.0, 120.0, 600.0)
RETURNED_POLL_SECONDS = 2.0
PARKED_ALERT = "inbox.parked"
FAST_LANE_LOOKAHEAD = 100
MAX_BACKOFF_SECONDS = 30.0
READ_MARGIN_SECONDS = 10.0


def replica_name() -> str:
    """This process among the replicas: host, pid and a random part (a restarted pid is a new replica)."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(3)}"


class Batch(list[Update]):
    """The updates of one `getUpdates` answer, with each one's JSON as Telegram sent it (`payloads`, by update
    id): what the inbox stores, without reading the update back into JSON."""

    def __init__(self) -> None:
        super().__init__()
        self.payloads: dict[int, str] = {}


async def fetch_updates(bot: Bot, *, offset: int | None, timeout: float) -> tuple[Batch, int | None]:
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
    updates = Batch()
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
            updates.payloads[update.update_id] = to_json(item)
    return updates, offset


def to_json(data: object) -> str:
    """orjson, or the standard library for what orjson refuses (integers past 64 bits, in fields Carebot does
    not store in a column)."""
    try:
        return orjson.dumps(data).decode()
    except TypeError:  # orjson.JSONEncodeError
        return json.dumps(data, ensure_ascii=False)


def from_json(text: str | bytes) -> Any:
    try:
        return orjson.loads(text)
    except ValueError:  # orjson.JSONDecodeError: also integers past 64 bits, which the standard library reads
        return json.loads(text)


def storable(update: Update) -> bool:
    """The inbox can hold it: its update id and chat id fit their BIGINT columns (a user id becomes a customer's
    Telegram id, also BIGINT)."""
    chat, user = update.effective_chat, update.effective_user
    ids = (update.update_id, chat.id if chat else 0, user.id if user else 0)
    return all(fits_bigint(value) for value in ids)


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
                    await self._sleep(wait)  # a failed update's next try: the chat's later updates wait behind it
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
    app: CarebotApp,
    sessions: SessionFactory,
    dispatcher: ChatOrderedDispatcher,
    updates: Sequence[Update],
    payloads: Mapping[int, str] | None = None,
) -> int:
    """Store the batch, then hand the updates not seen before to the dispatcher; returns how many were new.

    `payloads` (by update id) are the updates' JSON as received, stored as they are (a `Batch` brings its own)."""
    if payloads is None:
        payloads = updates.payloads if isinstance(updates, Batch) else {}
    async with transaction(sessions) as session:
        fresh = await inbox.store_updates(
            session,
            updates=[incoming(u, payloads.get(u.update_id)) for u in updates],
            claimed_by=dispatcher.replica,
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
    await _hand_over(app, sessions, dispatcher, claimed)
    if claimed:
        log.info("resumed %d stored updates", len(claimed))
    return len(claimed)


async def _hand_over(
    app: CarebotApp, sessions: SessionFactory, dispatcher: ChatOrderedDispatcher, claimed: Sequence[IncomingUpdate]
) -> None:
    for row in claimed:
        update = Update.de_json(from_json(row.payload), app.bot) if row.payload else None
        if update is None:  # nothing left to handle: drop it rather than hold the claim forever
            async with transaction(sessions) as session:
                await inbox.mark_processed(session, update_id=row.update_id)
            continue
        dispatcher.submit(update, attempts=row.attempts, retry_at=row.retry_at)


async def take_returned(
    app: CarebotApp, sessions: SessionFactory, dispatcher: ChatOrderedDispatcher, *, every: float
) -> None:
    """Claim and handle, in order, the parked updates `carebot inbox retry` hands back. Runs until cancelled."""
    while True:
        await asyncio.sleep(every)
        try:
            picked = await pick_up_returned(app, sessions, dispatcher)
        except Exception as exc:  # the database may be briefly away: try again next round
            log.warning("returned updates not picked up (%s)", type(exc).__name__)
            continue
        if picked:
            log.info("picked up %d updates handed back for another try", picked)


async def pick_up_returned(app: CarebotApp, sessions: SessionFactory, dispatcher: ChatOrderedDispatcher) -> int:
    """One look for updates handed back (`inbox.return_parked`): claimed and queued in order; returns how many."""
    async with transaction(sessions) as session:
        claimed = await inbox.claim_returned(session, claimed_by=dispatcher.replica)
    await _hand_over(app, sessions, dispatcher, claimed)
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
