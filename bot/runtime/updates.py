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
import json
import logging
import warnings
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

import orjson
from telegram import Bot, Update
from telegram.error import Conflict, InvalidToken, NetworkError, RetryAfter, TimedOut
from telegram.warnings import PTBUserWarning

from bot.context import CarebotApp
from bot.runtime.dispatch import (
    MAX_BACKOFF_SECONDS,
    ChatOrderedDispatcher,
    incoming,
    to_json,
)
from scheduler.outcomes import retry_after_seconds
from storage import inbox
from storage.db import SessionFactory, transaction
from storage.inbox import IncomingUpdate
from storage.raw import raw_database
from storage.types import fits_bigint, utcnow

log = logging.getLogger(__name__)

POLL_TIMEOUT_SECONDS = 20
RETURNED_POLL_SECONDS = 2.0
READ_MARGIN_SECONDS = 10.0
STORE_TIMEOUT_SECONDS = 10.0
FULL_BATCH = 100  # the most updates one getUpdates answer brings


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
    stored = [incoming(u, payloads.get(u.update_id)) for u in updates]
    fresh = await raw_database(app.bot_data["services"].engine).run(
        lambda tx: inbox.store_updates(tx, updates=stored, claimed_by=dispatcher.replica)
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
    unsure = False
    while True:
        try:
            # After a full batch more are waiting: fetched at once, and the dispatcher knows they are coming.
            timeout = 0 if dispatcher.more_coming else POLL_TIMEOUT_SECONDS
            updates, next_offset = await fetch_updates(app.bot, offset=offset, timeout=timeout)
        except RetryAfter as exc:
            dispatcher.more_coming = False
            await asyncio.sleep(retry_after_seconds(exc))
            continue
        except InvalidToken:
            raise
        except (TimedOut, NetworkError, Conflict) as exc:
            dispatcher.more_coming = False
            log.warning("getUpdates failed (%s); retrying in %.0f s", type(exc).__name__, backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
            continue
        backoff = 1.0
        dispatcher.more_coming = len(updates) >= FULL_BATCH
        if updates:
            try:
                async with asyncio.timeout(STORE_TIMEOUT_SECONDS):
                    await accept(app, sessions, dispatcher, updates)
                    if unsure:  # what the cut-off attempt may have stored is handed over too
                        await resume(app, sessions, dispatcher)
                        unsure = False
            except TimeoutError:  # not confirmed: the same batch comes again, stored once (the inbox refuses doubles)
                log.warning("storing %d updates took over %.0f s; trying again", len(updates), STORE_TIMEOUT_SECONDS)
                unsure = True
                continue
        offset = next_offset
