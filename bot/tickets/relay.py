"""The staff chat relay: shows staff every customer message, off the path that answers customers.

Handlers store a customer's message together with a `staff_deliveries` row and return; this relay drains that
queue in order (per ticket, oldest first across tickets), one Telegram call at a time, so Telegram's group limit
(20 a minute, kept by the rate limiter) slows only the staff chat, never the answers to customers. Each row is
marked sent right after its call: a crash re-sends at most the one message that was in flight. A pass reads the
queue once and delivers everything then due (a burst costs one Bot API call and one commit per group, not a
re-read of the queue, the ticket and the customer each time).

A ticket first gets its card — in a forum supergroup inside a topic of its own, pinned there — and every message
is then copied under it. A deleted topic is created again; without the right to create topics the relay falls
back to plain-group mode and tells the admins once. When the queue backs up, a customer's consecutive texts are
combined into one message.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from telegram import Message, MessageId, ReplyParameters
from telegram.constants import ParseMode
from telegram.error import BadRequest, ChatMigrated, Forbidden, RetryAfter, TelegramError
from telegram.ext import Application

from bot.business.sending import resend_stored
from bot.business.views import CardNotes, card_notes
from bot.context import CarebotApp, Services
from bot.runtime.background import add_background
from bot.tickets.albums import ALBUM_MEDIA
from bot.tickets.views import card_buttons, card_text, staff_language, topic_name
from bot.ui.i18n import t
from bot.ui.splitting import TEXT_LIMIT, split_caption, split_text, tg_len
from scheduler.sender import retry_after_seconds
from storage import staff_deliveries, ticket_views, tickets
from storage.db import transaction
from storage.models import Customer, StaffDelivery, Ticket, TicketMessage, TicketStatus
from storage.staff import role_of
from storage.types import utcnow

log = logging.getLogger(__name__)

RELAY_KEY = "staff_relay"
SAFETY_POLL_SECONDS = 3.0  # look at the queue even when nobody woke the relay (another replica may have filled it)
MAX_BACKOFF_SECONDS = 300.0
STOP_GRACE_SECONDS = 5.0
PASS_SECONDS = 1.0  # a pass that runs longer (the rate limiter holds it) reads the queue and the tickets again
COMBINE_SEPARATOR = "\n\n"
T = TypeVar("T")


class TopicGone(Exception):
    """The ticket's forum topic was deleted: it gets a new one."""


@dataclass(frozen=True)
class Place:
    """Where a ticket lives in the staff chat."""

    chat_id: int
    thread_id: int | None
    card_message_id: int

    def kwargs(self, reply_to: int | None = None) -> dict[str, Any]:
        """Send into the topic; in a plain group, as a reply to the card (or to `reply_to`)."""
        target = reply_to if reply_to is not None else (None if self.thread_id else self.card_message_id)
        found: dict[str, Any] = {}
        if self.thread_id is not None:
            found["message_thread_id"] = self.thread_id
        if target is not None:
            found["reply_parameters"] = ReplyParameters(target, allow_sending_without_reply=True)
        return found


def _thread_gone(error: BadRequest) -> bool:
    return "thread not found" in error.message.lower() or "topic_deleted" in error.message.lower()


def _no_topic_rights(error: BadRequest) -> bool:
    text = error.message.lower()
    return "not enough rights" in text or "not a forum" in text or "chat_not_modified" in text


def _source_gone(error: BadRequest) -> bool:
    """The customer deleted the message (or it cannot be copied at all): staff are told instead."""
    text = error.message.lower()
    return "message to copy not found" in text or "can't be copied" in text


def _chat_unreachable(error: BadRequest) -> bool:
    return "chat not found" in error.message.lower()


class StaffRelay:
    """The background task that drains `staff_deliveries` into the staff chat."""

    def __init__(self, app: CarebotApp) -> None:
        self.app = app
        self._wake = asyncio.Event()
        self._settle_waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._passes = 0  # passes started: a waiter is released by an idle pass that started after it came
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._chat_id: int | None = None
        self._forum: bool | None = None
        self._told_no_topics = False
        self._chat_blocked_until = 0.0
        self._chat_failures = 0
        self._ticket_retry_at: dict[int, float] = {}
        self._ticket_failures: dict[int, int] = {}

    @property
    def services(self) -> Services:
        services: Services = self.app.bot_data["services"]
        return services

    @property
    def chat_id(self) -> int | None:
        return self._chat_id if self._chat_id is not None else self.services.settings.staff_chat_id

    @property
    def lang(self) -> str:
        return staff_language(self.services.settings)

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        if self._task is None:
            self._stopping = False
            self._task = asyncio.create_task(self._run(), name="staff-relay")

    async def stop(self) -> None:
        """Stop after the call in flight (the queue is durable: what is left goes after a restart)."""
        task, self._task = self._task, None
        self._stopping = True
        if task is not None:
            task.cancel()
            # A database driver may swallow a cancellation; the loop also checks `_stopping`.
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(task, STOP_GRACE_SECONDS)
        self._release_waiters()

    def wake(self) -> None:
        self._wake.set()

    async def settled(self) -> None:
        """Wait until the relay has delivered everything it can deliver now (for tests and shutdown)."""
        if self._task is None or self._task.done():
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        # A pass under way may have read the queue before what the caller just stored: only a pass that starts
        # from now on can tell that everything is delivered.
        self._settle_waiters.append((self._passes + 1, waiter))
        self.wake()
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
                if idle:
                    self._release_waiters(current)
                timeout = min(wake_in if wake_in is not None else SAFETY_POLL_SECONDS, SAFETY_POLL_SECONDS)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(max(timeout, 0.01)):
                        await self._wake.wait()
        finally:
            self._release_waiters()

    # ------------------------------------------------------------ the queue

    async def _work(self) -> tuple[bool, float | None]:
        """Deliver everything due; returns (idle, seconds until something else is due).

        A pass reads the queue, the tickets and their customers once, then delivers every ticket's due rows."""
        while True:
            if self.chat_id is None:
                return True, None
            blocked = self._chat_blocked_until - time.monotonic()
            if blocked > 0:
                return True, blocked
            async with self.services.sessions() as session:
                rows = await staff_deliveries.pending(session)
                messages = await _messages_of(session, rows)
                due, idle, wake_in = self._due(rows, messages)
                if not due:
                    return idle, wake_in
                found = await ticket_views.tickets_with_customers(session, ticket_ids=list(due))
                unplaced = [ticket_id for ticket_id, (ticket, _) in found.items() if not self._placed(ticket)]
                earlier = await ticket_views.earlier_ticket_counts(session, ticket_ids=unplaced)
            await self._deliver_pass(due, found, earlier, messages)

    async def _deliver_pass(
        self,
        due: dict[int, list[list[StaffDelivery]]],
        found: dict[int, tuple[Ticket, Customer]],
        earlier: dict[int, int],
        messages: dict[int, TicketMessage],
    ) -> None:
        """The groups in the order they were queued (so tickets take turns), one call at a time, each marked sent
        before the next goes: a crash re-sends at most the one call in flight. A ticket whose group fails waits for
        a later pass; a pass stops after `PASS_SECONDS` so that what it sends is never read long before (a ticket
        erased meanwhile, more texts to combine)."""
        queued = sorted(
            ((group[0].id or 0, ticket_id, group) for ticket_id, groups in due.items() for group in groups),
            key=lambda item: item[0],
        )
        waiting: set[int] = set()
        until = time.monotonic() + PASS_SECONDS
        for index, (_, ticket_id, group) in enumerate(queued):
            now = time.monotonic()
            if self._stopping or self._chat_blocked_until > now or (index and now > until):
                return
            if ticket_id in waiting:
                continue
            ticket, customer = found.get(ticket_id, (None, None))
            if ticket is None or customer is None:
                await self._finish_failed(group, "ticket gone")
            elif not await self._deliver(group, ticket, customer, earlier.get(ticket_id, 0), messages):
                waiting.add(ticket_id)

    def _due(
        self, rows: list[StaffDelivery], messages: dict[int, TicketMessage]
    ) -> tuple[dict[int, list[list[StaffDelivery]]], bool, float | None]:
        """Each ticket's rows that may go now, in order, as the groups that go together (an album, or the customer's
        texts combined when the queue backed up); tickets oldest first."""
        now, mono = utcnow(), time.monotonic()
        queues: dict[int, list[StaffDelivery]] = {}
        for row in rows:
            queues.setdefault(row.ticket_id, []).append(row)
        due: dict[int, list[list[StaffDelivery]]] = {}
        idle, wake_in = True, None
        for ticket_id, queue in queues.items():
            retry_at = self._ticket_retry_at.get(ticket_id, 0.0)
            if retry_at > mono:
                wake_in = min(wake_in or retry_at - mono, retry_at - mono)
                continue
            groups: list[list[StaffDelivery]] = []
            while queue:
                head = queue[0]
                if head.not_before > now:  # an album still arriving: not idle, it goes in a moment
                    idle = False
                    wait = (head.not_before - now).total_seconds()
                    wake_in = min(wake_in or wait, wait)
                    break
                group = _carried_along(head, queue[1:], messages)
                groups.append(group)
                queue = queue[len(group) :]
            if groups:
                due[ticket_id] = groups
        return due, idle, wake_in

    async def _deliver(
        self,
        group: list[StaffDelivery],
        ticket: Ticket,
        customer: Customer,
        earlier: int,
        messages: dict[int, TicketMessage],
    ) -> bool:
        """Send one group and mark it sent; False when this ticket (or the whole chat) must wait."""
        head = group[0]
        ticket_id = head.ticket_id
        try:
            place = await self._place(ticket, customer, earlier)
            sent = await self._send(place, ticket, customer, group, messages)
            rows = {row.id: row for row in group}
            shown = [
                staff_deliveries.Shown(
                    ids,
                    place.chat_id,
                    staff_message_id,
                    copies=[
                        row.ticket_message_id
                        for row in (rows[i] for i in ids)
                        if row.kind == "copy" and row.ticket_message_id is not None
                    ],
                )
                for ids, staff_message_id in sent
            ]
            async with transaction(self.services.sessions) as session:
                await staff_deliveries.mark_sent(session, shown=shown)
            self._ticket_failures.pop(ticket_id, None)
            self._ticket_retry_at.pop(ticket_id, None)
            self._chat_failures = 0
            return True
        except TopicGone:
            log.warning("the forum topic of ticket #%s was deleted; opening a new one", ticket_id)
            await self._place_ticket(ticket, None, None, None)
            self._ticket_backoff(ticket_id, retry_now=True)
        except RetryAfter as error:
            self._chat_blocked_until = time.monotonic() + retry_after_seconds(error)
        except ChatMigrated as error:
            log.warning(
                "the staff group became a supergroup: set CAREBOT_STAFF_CHAT_ID=%s (used until restart)",
                error.new_chat_id,
            )
            self._chat_id = error.new_chat_id
            self._forum = None
        except Forbidden as error:
            self._chat_backoff(f"the bot may not write to the staff chat ({error.message})")
        except BadRequest as error:
            if _chat_unreachable(error):
                self._chat_backoff("the staff chat was not found: check CAREBOT_STAFF_CHAT_ID")
            else:
                log.error("ticket #%s: staff chat refused a %s delivery: %s", ticket_id, head.kind, error.message)
                await self._finish_failed(group, error.message)
                return True
        except TelegramError as error:  # timeouts and network trouble: this ticket tries again later
            log.warning("ticket #%s: staff chat delivery failed (%s); retrying", ticket_id, type(error).__name__)
            async with transaction(self.services.sessions) as session:
                await staff_deliveries.note_attempt(session, ids=[r.id for r in group if r.id], error=str(error))
            self._ticket_backoff(ticket_id)
        return False

    async def _finish_failed(self, group: Sequence[StaffDelivery], error: str) -> None:
        async with transaction(self.services.sessions) as session:
            await staff_deliveries.mark_failed(session, ids=[r.id for r in group if r.id], error=error)

    def _ticket_backoff(self, ticket_id: int, *, retry_now: bool = False) -> None:
        """Try this ticket again later (other tickets go on); a recreated topic is tried again at once."""
        failures = self._ticket_failures.get(ticket_id, 0) + 1
        self._ticket_failures[ticket_id] = failures
        delay = 0.0 if retry_now and failures <= 2 else min(2.0**failures, MAX_BACKOFF_SECONDS)
        self._ticket_retry_at[ticket_id] = time.monotonic() + delay

    def _chat_backoff(self, reason: str) -> None:
        self._chat_failures += 1
        delay = min(5.0 * 2 ** (self._chat_failures - 1), MAX_BACKOFF_SECONDS)
        log.warning("%s; tickets wait in the queue, next try in %.0f s", reason, delay)
        self._chat_blocked_until = time.monotonic() + delay

    # ------------------------------------------------------------ where a ticket lives

    async def _is_forum(self, chat_id: int) -> bool:
        if self._forum is None:
            chat = await self.app.bot.get_chat(chat_id)
            self._forum = bool(chat.is_forum)
        return self._forum

    def _placed(self, ticket: Ticket) -> bool:
        return ticket.staff_chat_id == self.chat_id and ticket.card_message_id is not None

    async def _place(self, ticket: Ticket, customer: Customer, earlier: int) -> Place:
        """The ticket's topic and card, created when missing (`ticket` is updated to match)."""
        chat_id = self.chat_id
        assert chat_id is not None and ticket.id is not None
        if self._placed(ticket):
            assert ticket.card_message_id is not None
            return Place(chat_id, ticket.staff_thread_id, ticket.card_message_id)
        thread_id = ticket.staff_thread_id if ticket.staff_chat_id == chat_id else None
        if thread_id is None and await self._is_forum(chat_id):
            thread_id = await self._create_topic(chat_id, ticket, customer)
            if thread_id is not None:
                await self._place_ticket(ticket, chat_id, thread_id, None)
        card = await self._topic_call(
            self.app.bot.send_message,
            chat_id,
            card_text(
                ticket,
                customer,
                earlier=earlier,
                lang=self.lang,
                staff_role=await self._staff_role(customer),
                notes=await self._card_notes(ticket),
            ),
            parse_mode=ParseMode.HTML,
            reply_markup=card_buttons(ticket, self.lang),
            **({"message_thread_id": thread_id} if thread_id else {}),
        )
        await self._place_ticket(ticket, chat_id, thread_id, card.message_id)
        if thread_id is not None:
            with contextlib.suppress(TelegramError):
                await self.app.bot.pin_chat_message(chat_id, card.message_id, disable_notification=True)
        return Place(chat_id, thread_id, card.message_id)

    async def _place_ticket(
        self, ticket: Ticket, chat_id: int | None, thread_id: int | None, card_message_id: int | None
    ) -> None:
        """Remember where the ticket lives in the staff chat, in the database and on `ticket` (read for the pass)."""
        assert ticket.id is not None
        async with transaction(self.services.sessions) as session:
            await tickets.place_in_staff_chat(
                session, ticket_id=ticket.id, chat_id=chat_id, thread_id=thread_id, card_message_id=card_message_id
            )
        ticket.staff_chat_id, ticket.staff_thread_id, ticket.card_message_id = chat_id, thread_id, card_message_id

    async def _create_topic(self, chat_id: int, ticket: Ticket, customer: Customer) -> int | None:
        try:
            topic = await self.app.bot.create_forum_topic(chat_id, topic_name(ticket, customer, self.lang))
        except BadRequest as error:
            if not _no_topic_rights(error):
                raise
            self._forum = False
            await self._tell_admins_no_topics(chat_id)
            return None
        return topic.message_thread_id

    async def _tell_admins_no_topics(self, chat_id: int) -> None:
        if self._told_no_topics:
            return
        self._told_no_topics = True
        log.warning("cannot create forum topics in the staff chat; using plain-group mode")
        text = t(self.lang, "tickets.staff.no_topics")
        with contextlib.suppress(TelegramError):
            await self.app.bot.send_message(chat_id, text, parse_mode=ParseMode.HTML)
        for admin_id in sorted(self.services.settings.admin_ids):
            with contextlib.suppress(TelegramError):
                await self.app.bot.send_message(admin_id, text, parse_mode=ParseMode.HTML)

    async def _card_notes(self, ticket: Ticket) -> CardNotes:
        async with self.services.sessions() as session:
            return await card_notes(session, ticket, self.services.settings, self.lang)

    async def _topic_call(self, method: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
        try:
            return await method(*args, **kwargs)
        except BadRequest as error:
            if kwargs.get("message_thread_id") is not None and _thread_gone(error):
                raise TopicGone from error
            raise

    # ------------------------------------------------------------ sending

    async def _send(
        self,
        place: Place,
        ticket: Ticket,
        customer: Customer,
        group: list[StaffDelivery],
        messages: dict[int, TicketMessage],
    ) -> list[tuple[list[int], int | None]]:
        """Send one queue entry (or a run of them); returns (row ids, staff message id) pairs to mark sent."""
        head = group[0]
        ids = [row.id for row in group if row.id is not None]
        params = json.loads(head.params)
        if head.kind == "copy":
            rows = [row for row in group if row.ticket_message_id in messages]
            parts = [messages[row.ticket_message_id] for row in rows if row.ticket_message_id is not None]
            if not parts:
                return [(ids, None)]
            if len(parts) > 1 and parts[0].media_group_id:
                sent = await self._send_album(place, parts)
                return [([row.id], sent_id) for row, sent_id in zip(rows, sent, strict=True) if row.id]
            if len(parts) > 1:
                combined = COMBINE_SEPARATOR.join(part.text or "" for part in parts)
                message = await self._topic_call(self.app.bot.send_message, place.chat_id, combined, **place.kwargs())
                return [(ids, message.message_id)]
            return [(ids, await self._copy(place, parts[0]))]
        if head.kind == "edit":
            edited = messages.get(head.ticket_message_id or 0)
            if edited is None:
                return [(ids, None)]
            return [(ids, await self._send_edit(place, edited, str(params.get("text", ""))))]
        if head.kind == "notice":
            text = t(self.lang, str(params["template"]), **params.get("params", {}))
            notice = await self._topic_call(
                self.app.bot.send_message, place.chat_id, text, parse_mode=ParseMode.HTML, **place.kwargs()
            )
            return [(ids, notice.message_id)]
        if head.kind == "card":
            await self.refresh_card(ticket.id or 0, topic="reopen" if params.get("reopen_topic") else None)
            return [(ids, None)]
        raise BadRequest(f"unknown delivery kind {head.kind!r}")

    async def _copy(self, place: Place, message: TicketMessage) -> int:
        assert message.customer_chat_id is not None and message.customer_message_id is not None
        if message.business_connection_id:  # not copyable out of a business chat: shown again from what is stored
            shown: Message = await self._topic_call(
                resend_stored, self.app.bot, message, chat_id=place.chat_id, **place.kwargs()
            )
            return shown.message_id
        try:
            copied: MessageId = await self._topic_call(
                self.app.bot.copy_message,
                place.chat_id,
                message.customer_chat_id,
                message.customer_message_id,
                **place.kwargs(),
            )
        except BadRequest as error:
            if not _source_gone(error):
                raise
            notice = await self._topic_call(
                self.app.bot.send_message,
                place.chat_id,
                t(self.lang, "tickets.staff.deleted_before_relay"),
                parse_mode=ParseMode.HTML,
                **place.kwargs(),
            )
            return notice.message_id
        return copied.message_id

    async def _send_album(self, place: Place, parts: list[TicketMessage]) -> list[int]:
        """An album stays one album in the staff chat (and in a plain group still answers the card)."""
        if any(part.kind not in ALBUM_MEDIA or part.file_id is None for part in parts):
            return [await self._copy(place, part) for part in parts]
        media = [ALBUM_MEDIA[part.kind](part.file_id, caption=part.text or None) for part in parts]
        try:
            sent: Sequence[Message] = await self._topic_call(
                self.app.bot.send_media_group, place.chat_id, media, **place.kwargs()
            )
        except BadRequest as error:
            if _thread_gone(error):
                raise
            return [await self._copy(place, part) for part in parts]
        return [message.message_id for message in sent]

    async def _send_edit(self, place: Place, message: TicketMessage, text: str) -> int:
        """A customer edit: the new text (or the media again with its new caption), marked as edited."""
        header = t(self.lang, "tickets.staff.edited")
        kwargs = place.kwargs(reply_to=message.staff_message_id)
        follow_ups: list[str]
        shown: Message | MessageId
        if message.kind == "text":
            first, *follow_ups = split_text(f"{header}\n{text}", TEXT_LIMIT)
            shown = await self._topic_call(
                self.app.bot.send_message, place.chat_id, html.escape(first, quote=False), parse_mode="HTML", **kwargs
            )
        elif message.business_connection_id:
            caption, follow_ups = split_caption(f"{header}\n{text}")
            shown = await self._topic_call(
                resend_stored, self.app.bot, message, caption=caption, chat_id=place.chat_id, **kwargs
            )
        else:
            caption, follow_ups = split_caption(f"{header}\n{text}")
            assert message.customer_chat_id is not None and message.customer_message_id is not None
            shown = await self._topic_call(
                self.app.bot.copy_message,
                place.chat_id,
                message.customer_chat_id,
                message.customer_message_id,
                caption=html.escape(caption, quote=False),
                parse_mode=ParseMode.HTML,
                **kwargs,
            )
        for part in follow_ups:
            await self._topic_call(
                self.app.bot.send_message, place.chat_id, html.escape(part, quote=False), parse_mode="HTML", **kwargs
            )
        return shown.message_id

    # ------------------------------------------------------------ the card

    async def _staff_role(self, customer: Customer) -> str | None:
        """The role of a staff member writing as a customer (their card says so), else None."""
        async with self.services.sessions() as session:
            role = await role_of(session, telegram_id=customer.telegram_id, admin_ids=self.services.settings.admin_ids)
        return role.value if role else None

    async def refresh_card(self, ticket_id: int, *, topic: str | None = None) -> None:
        """Edit the card in place to show the ticket as it is now; `topic` "close"/"reopen" its forum topic."""
        async with self.services.sessions() as session:
            ticket = await session.get(Ticket, ticket_id)
            customer = await session.get(Customer, ticket.customer_id) if ticket else None
            earlier = await tickets.earlier_tickets(session, ticket=ticket) if ticket else 0
            notes = await card_notes(session, ticket, self.services.settings, self.lang) if ticket else CardNotes()
        if ticket is None or customer is None or ticket.card_message_id is None or ticket.staff_chat_id is None:
            return
        try:
            await self.app.bot.edit_message_text(
                card_text(
                    ticket,
                    customer,
                    earlier=earlier,
                    lang=self.lang,
                    staff_role=await self._staff_role(customer),
                    notes=notes,
                ),
                chat_id=ticket.staff_chat_id,
                message_id=ticket.card_message_id,
                parse_mode=ParseMode.HTML,
                reply_markup=card_buttons(ticket, self.lang),
            )
        except BadRequest as error:
            if "not modified" not in error.message.lower() and "not found" not in error.message.lower():
                raise
        if ticket.staff_thread_id is None:
            return
        if topic == "close" or ticket.status == TicketStatus.CLOSED.value:
            with contextlib.suppress(TelegramError):
                await self.app.bot.close_forum_topic(ticket.staff_chat_id, ticket.staff_thread_id)
        elif topic == "reopen":
            with contextlib.suppress(TelegramError):
                await self.app.bot.reopen_forum_topic(ticket.staff_chat_id, ticket.staff_thread_id)


def _carried_along(
    head: StaffDelivery, later: list[StaffDelivery], messages: dict[int, TicketMessage]
) -> list[StaffDelivery]:
    """An album's other parts, or (when the queue backed up) the customer's next texts, go with `head`."""
    first = messages.get(head.ticket_message_id or 0)
    if head.kind != "copy" or first is None:
        return [head]
    group = [head]
    size = tg_len(first.text or "")
    for row in later:
        if row.ticket_id != head.ticket_id:
            continue
        message = messages.get(row.ticket_message_id or 0)
        if row.kind != "copy" or message is None:
            break
        if first.media_group_id:
            if message.media_group_id != first.media_group_id or len(group) == 10:
                break
        else:
            size += len(COMBINE_SEPARATOR) + tg_len(message.text or "")
            if first.kind != "text" or message.kind != "text" or message.media_group_id or size > TEXT_LIMIT:
                break
        group.append(row)
    return group


async def _messages_of(session: Any, rows: list[StaffDelivery]) -> dict[int, TicketMessage]:
    ids = [row.ticket_message_id for row in rows if row.ticket_message_id is not None]
    return await tickets.messages_by_id(session, ids=ids)


def relay_of(app: Application[Any, Any, Any, Any, Any, Any]) -> StaffRelay:
    relay: StaffRelay = app.bot_data[RELAY_KEY]
    return relay


def register(app: CarebotApp) -> None:
    relay = StaffRelay(app)
    app.bot_data[RELAY_KEY] = relay
    add_background(app, relay)
