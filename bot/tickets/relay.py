"""The staff relay: shows staff every customer message, off the path that answers customers.

Handlers store a customer's message together with its `staff_deliveries` rows and return; this relay drains that
queue. Each row has a destination — the staff group or an agent's private chat with the bot (their inbox) — and
each destination is drained by a worker of its own, in order (per ticket, oldest first across tickets), one
Telegram call at a time: the rate limiter keeps each chat's limit (a group 20 a minute, an inbox one a second) and
the 30 a second overall, so a busy group never holds back an inbox, and neither holds back the answers to
customers. Each row is marked sent right after its call: a crash re-sends at most the one message in flight. A
pass reads the queue once and delivers everything then due; it starts once the updates being handled are done
and news of queued messages stops coming (a burst is stored first, half a second at most), and a customer's
consecutive texts found together go as one message (on a new ticket's card), a ticket's pending card updates as
one edit.

The group is the overview: each ticket's card, kept current, and (`CAREBOT_GROUP_COPIES=unassigned`) the messages
of tickets that no agent's inbox receives; with `all`, every message as well.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
import uuid
from collections.abc import Sequence
from typing import Any

from telegram.error import BadRequest, ChatMigrated, Forbidden, RetryAfter, TelegramError
from telegram.ext import Application

from bot.context import CarebotApp, Services
from bot.runtime.background import add_background
from bot.runtime.dispatch import inbound_busy
from bot.tickets.batching import GROUP, Destination, Due, plan
from bot.tickets.card_facts import card_facts
from bot.tickets.places import GroupPlaces, TopicGone, relay_database
from bot.tickets.relay_backoff import RelayBackoff
from bot.tickets.showing import Showing
from bot.tickets.views import CardFacts, staff_language
from scheduler.outcomes import retry_after_seconds
from storage import routing, staff_deliveries, ticket_views, tickets
from storage.db import transaction
from storage.models import Customer, StaffDelivery, Ticket, TicketMessage

log = logging.getLogger(__name__)

RELAY_KEY = "staff_relay"
SAFETY_POLL_SECONDS = 3.0  # look at the queue even when nobody woke the relay (another replica may have filled it)
STOP_GRACE_SECONDS = 5.0
PASS_SECONDS = 1.0  # a pass that runs longer (the rate limiter holds it) reads the queue and the tickets again
QUIET_SECONDS = 0.03  # news of queued messages: the next pass waits until none came for this long …
GATHER_SECONDS = 0.5  # … but not longer than this after the first
BUSY_POLL_SECONDS = 0.005  # how often it looks whether the updates being handled are done


def _chat_unreachable(error: BadRequest) -> bool:
    return "chat not found" in error.message.lower()


class StaffRelay:
    """The background task that drains `staff_deliveries` into the staff group and the agents' inboxes."""

    def __init__(self, app: CarebotApp) -> None:
        self.app = app
        settings = self.services.settings
        self.lang = staff_language(settings)
        self.group = GroupPlaces(app.bot, self.services.engine, self.lang, settings.admin_ids)
        self.shows = Showing(app.bot, self.services, self.lang, self.group)
        self._wake = asyncio.Event()
        self._news = False  # something was queued since the relay last looked
        self._settle_waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._passes = 0  # passes started: a waiter is released by an idle pass that started after it came
        self._task: asyncio.Task[None] | None = None
        self._workers: dict[Destination, asyncio.Task[None]] = {}
        self._stopping = False
        self._chat_id: int | None = None
        self.backoff = RelayBackoff()

    @property
    def services(self) -> Services:
        services: Services = self.app.bot_data["services"]
        return services

    @property
    def chat_id(self) -> int | None:
        return self._chat_id if self._chat_id is not None else self.services.settings.staff_chat_id

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        if self._task is None:
            self._stopping = False
            await relay_database(self.services.engine).open()
            self._task = asyncio.create_task(self._run(), name="staff-relay")

    async def stop(self) -> None:
        """Stop after the calls in flight (the queue is durable: what is left goes after a restart)."""
        task, self._task = self._task, None
        self._stopping = True
        tasks = [task, *self._workers.values()] if task is not None else list(self._workers.values())
        for running in tasks:
            running.cancel()
        for running in tasks:
            # A database driver may swallow a cancellation; the loops also check `_stopping`.
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(running, STOP_GRACE_SECONDS)
        self._workers.clear()
        self._release_waiters()

    def wake(self) -> None:
        """Something was queued: the next pass comes once such news stop coming (`_gather`)."""
        self._news = True
        self._wake.set()

    async def settled(self) -> None:
        """Wait until the relay has delivered everything it can deliver now (for tests and shutdown)."""
        if self._task is None or self._task.done():
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        # A pass under way may have read the queue before what the caller just stored: only a pass that starts
        # from now on can tell that everything is delivered.
        self._settle_waiters.append((self._passes + 1, waiter))
        self._wake.set()
        await waiter

    def _release_waiters(self, upto: int | None = None) -> None:
        """Release the waiters that came before pass `upto` started (every waiter when None)."""
        keep: list[tuple[int, asyncio.Future[None]]] = []
        for first_pass, waiter in self._settle_waiters:
            if upto is not None and first_pass > upto:
                keep.append((first_pass, waiter))
            elif not waiter.done():
                waiter.set_result(None)
        self._settle_waiters = keep

    async def _run(self) -> None:
        try:
            while not self._stopping:
                self._wake.clear()
                self._passes += 1
                current = self._passes
                try:
                    idle, wake_in = await self._work()
                except Exception:
                    log.exception("staff relay pass failed; retrying")
                    idle, wake_in = True, 5.0
                if idle and not self._workers:
                    self._release_waiters(current)
                timeout = min(wake_in if wake_in is not None else SAFETY_POLL_SECONDS, SAFETY_POLL_SECONDS)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(max(timeout, 0.01)):
                        await self._wake.wait()
                await self._gather()
        finally:
            self._release_waiters()

    async def _gather(self) -> None:
        """Wait, for at most `GATHER_SECONDS`, while received updates are being handled and while news keeps coming
        (a burst of messages being stored, a commit every few milliseconds): the pass then finds a customer's texts
        together and shows them in one call (a new ticket's card carries them), and storing the burst has the
        event loop to itself meanwhile. A lone message waits until its handler is done, or `QUIET_SECONDS`."""
        deadline = time.monotonic() + GATHER_SECONDS
        handled = False  # updates were being handled: once they are done, so is what they queued
        while not self._stopping and time.monotonic() < deadline:
            if inbound_busy(self.app):
                handled = True
                await asyncio.sleep(BUSY_POLL_SECONDS)
            elif self._news and not handled:
                self._news = False
                await asyncio.sleep(QUIET_SECONDS)
            else:
                break
        self._news = False

    # ------------------------------------------------------------ the queue

    async def _work(self) -> tuple[bool, float | None]:
        """Start a worker for each destination with rows due and no worker yet; returns (idle, seconds until
        something else is due). A pass reads the queue, the tickets and their customers once."""
        blocked, wake_in = self.backoff.blocked()
        working = list(self._workers)  # their rows are not read now: not idle until they are read again
        busy: list[Destination] = [*working, *blocked]
        if self.chat_id is None:
            busy.append(GROUP)
        async with self.services.sessions() as session:
            rows = await staff_deliveries.pending(session, busy=busy)
            messages = await _messages_of(session, rows)
            by_destination: dict[Destination, list[StaffDelivery]] = {}
            for row in rows:
                by_destination.setdefault(row.chat_id, []).append(row)
            idle = True
            plans: dict[Destination, Due] = {}
            for destination, queue in by_destination.items():
                due, quiet, wait = plan(queue, messages, self.backoff.retry_at, destination)
                idle = idle and quiet
                if wait is not None:
                    wake_in = wait if wake_in is None else min(wake_in, wait)
                if due:
                    plans[destination] = due
            ticket_ids = sorted({ticket_id for due in plans.values() for ticket_id in due})
            found = await ticket_views.tickets_with_customers(session, ticket_ids=ticket_ids)
            carded = {  # most groups go to a ticket whose card is in place: no card to render, no facts to read
                ticket_id: found[ticket_id]
                for destination, due in plans.items()
                for ticket_id, groups in due.items()
                if ticket_id in found and self._renders_card(destination, found[ticket_id][0], groups)
            }
            facts = await card_facts(session, carded, self.services.settings, self.lang)
        for destination, due in plans.items():
            worker = asyncio.create_task(self._deliver_pass(destination, due, found, facts, messages))
            self._workers[destination] = worker
            worker.add_done_callback(functools.partial(self._worker_done, destination))
        return idle and not plans and not working and not self._workers, wake_in

    def _renders_card(self, destination: Destination, ticket: Ticket, groups: list[list[StaffDelivery]]) -> bool:
        """Whether showing these groups may render the ticket's card (`Showing.show`): a card update, or a ticket
        whose card is not in the destination yet."""
        if any(group[0].kind == "card" for group in groups):
            return True
        if destination is GROUP:
            return not GroupPlaces.placed(ticket, self.chat_id)
        return ticket.inbox_chat_id == destination and ticket.inbox_card_message_id is None

    def _worker_done(self, destination: Destination, _task: asyncio.Task[None]) -> None:
        self._workers.pop(destination, None)
        self._wake.set()

    async def _deliver_pass(
        self,
        destination: Destination,
        due: Due,
        found: dict[int, tuple[Ticket, Customer]],
        facts: dict[int, CardFacts],
        messages: dict[int, TicketMessage],
    ) -> None:
        """One destination's groups in the order they were queued (so tickets take turns), one call at a time,
        each marked sent before the next goes: a crash re-sends at most the one call in flight. A ticket whose
        group fails waits for a later pass; a pass stops after `PASS_SECONDS` so that what it sends is never read
        long before (a ticket erased or handed over meanwhile, more texts to combine)."""
        queued = sorted(
            ((group[0].id or 0, ticket_id, group) for ticket_id, groups in due.items() for group in groups),
            key=lambda item: item[0],
        )
        waiting: set[int] = set()
        until = time.monotonic() + PASS_SECONDS
        try:
            for index, (_, ticket_id, group) in enumerate(queued):
                now = time.monotonic()
                if self._stopping or self.backoff.is_blocked(destination) or (index and now > until):
                    return
                if ticket_id in waiting:
                    continue
                ticket, customer = found.get(ticket_id, (None, None))
                if ticket is None or customer is None:
                    await self._finish_failed(group, "ticket gone")
                    continue
                if ticket_id not in facts and self._renders_card(destination, ticket, [group]):
                    async with self.services.sessions() as session:  # its card went missing during the pass
                        facts.update(
                            await card_facts(
                                session, {ticket_id: (ticket, customer)}, self.services.settings, self.lang
                            )
                        )
                if not await self._deliver(
                    destination, group, ticket, customer, facts.get(ticket_id, CardFacts()), messages
                ):
                    waiting.add(ticket_id)
        except Exception:
            log.exception("staff relay worker failed; retrying")
            self.backoff.block(destination, 5.0)

    async def _deliver(
        self,
        destination: Destination,
        group: list[StaffDelivery],
        ticket: Ticket,
        customer: Customer,
        facts: CardFacts,
        messages: dict[int, TicketMessage],
    ) -> bool:
        """Send one group and mark it sent; False when this ticket (or the whole chat) must wait."""
        head = group[0]
        ticket_id = head.ticket_id
        try:
            sent = await self.shows.show(destination, self.chat_id, group, ticket, customer, facts, messages)
            shown = [
                staff_deliveries.Shown(
                    ids,
                    chat_id,
                    message_id,
                    copies=[
                        row.ticket_message_id
                        for row in group
                        if row.id in ids and row.kind == "copy" and row.ticket_message_id is not None
                    ]
                    if destination is GROUP
                    else [],
                )
                for ids, chat_id, message_id in sent
            ]
            await relay_database(self.services.engine).run(
                lambda tx: staff_deliveries.mark_sent(tx, shown=shown), one_statement=True
            )
            self.backoff.delivered(destination, ticket_id)
            return True
        except TopicGone:
            log.warning("the forum topic of ticket #%s was deleted; opening a new one", ticket_id)
            await self.group.remember(ticket, None, None, None)
            self.backoff.ticket_failed(destination, ticket_id, retry_now=True)
        except RetryAfter as error:
            self.backoff.block(destination, retry_after_seconds(error))
        except ChatMigrated as error:
            log.warning(
                "the staff group became a supergroup: set CAREBOT_STAFF_CHAT_ID=%s (used until restart)",
                error.new_chat_id,
            )
            self._chat_id = error.new_chat_id
            self.group.forum = None
        except Forbidden as error:
            if destination is not GROUP:
                await self._inbox_gone(destination)
            else:
                self.backoff.chat_failed(destination, f"the bot may not write to the staff chat ({error.message})")
        except BadRequest as error:
            if _chat_unreachable(error) and destination is not GROUP:
                await self._inbox_gone(destination)
            elif _chat_unreachable(error):
                self.backoff.chat_failed(destination, "the staff chat was not found: check CAREBOT_STAFF_CHAT_ID")
            else:
                log.error("ticket #%s: staff chat refused a %s delivery: %s", ticket_id, head.kind, error.message)
                await self._finish_failed(group, error.message)
                return True
        except TelegramError as error:  # timeouts and network trouble: this ticket tries again later
            log.warning("ticket #%s: staff delivery failed (%s); retrying", ticket_id, type(error).__name__)
            async with transaction(self.services.sessions) as session:
                await staff_deliveries.note_attempt(session, ids=[r.id for r in group if r.id], error=str(error))
            self.backoff.ticket_failed(destination, ticket_id)
        return False

    async def _inbox_gone(self, chat_id: int) -> None:
        """An agent blocked the bot (or their chat is gone): their inbox closes and their tickets move on."""
        log.warning("an agent's inbox is unreachable; their tickets are handed over")
        self.backoff.block(chat_id, 5.0)  # its rows end failed: nothing more this pass
        async with transaction(self.services.sessions) as session:
            await routing.inbox_closed(session, telegram_id=chat_id)
            await routing.release(session, telegram_id=chat_id, policy=self.services.settings.routing_policy)
        self.wake()

    async def _finish_failed(self, group: Sequence[StaffDelivery], error: str) -> None:
        async with transaction(self.services.sessions) as session:
            await staff_deliveries.mark_failed(session, ids=[r.id for r in group if r.id], error=error)


async def _messages_of(session: Any, rows: list[StaffDelivery]) -> dict[int, TicketMessage]:
    ids = [row.ticket_message_id for row in rows if row.ticket_message_id is not None]
    return await tickets.messages_by_id(session, ids=ids)


async def refresh_cards(
    app: Application[Any, Any, Any, Any, Any, Any], ticket_id: int, *, topic: str | None = None
) -> None:
    """The ticket's cards (group and inbox) show it as it is now: queued, so that a burst of changes is one edit
    (every call to the group counts against its 20 a minute); `topic` "close"/"reopen" its forum topic."""
    relay = relay_of(app)
    async with transaction(relay.services.sessions) as session:
        ticket = await tickets.get_ticket(session, ticket_id=ticket_id)
        if ticket is None:
            return
        await staff_deliveries.enqueue_for_ticket(
            session, ticket=ticket, key=f"card:{ticket_id}:{uuid.uuid4().hex}", kind="card", params={"topic": topic}
        )
    relay.wake()


def relay_of(app: Application[Any, Any, Any, Any, Any, Any]) -> StaffRelay:
    relay: StaffRelay = app.bot_data[RELAY_KEY]
    return relay


def register(app: CarebotApp) -> None:
    relay = StaffRelay(app)
    app.bot_data[RELAY_KEY] = relay
    add_background(app, relay)
