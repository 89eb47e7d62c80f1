"""Where a ticket lives for staff: its card (and forum topic) in the staff group, its card in the assignee's inbox.

In a forum supergroup a ticket gets a topic of its own with the card pinned there; a deleted topic is created again;
without the right to create topics the group falls back to plain-group mode and the admins are told once. In an
agent's private chat with the bot (their inbox) the card is sent once per assignment, and every message of the
ticket answers it.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine
from telegram import Bot, ReplyParameters
from telegram.constants import ParseMode
from telegram.error import BadRequest, TelegramError

from bot.tickets.views import CardFacts, card_buttons, card_of, topic_name
from bot.ui.i18n import t
from storage import ticket_places
from storage.db import SessionFactory, transaction
from storage.models import Customer, Ticket
from storage.raw import RawDatabase, raw_database

log = logging.getLogger(__name__)
T = TypeVar("T")
RELAY_LANE = "relay"


def relay_database(engine: AsyncEngine) -> RawDatabase:
    """The staff relay's own hot-path connection (storage/raw.py), for its marks and card places. Its commits are
    not flushed one by one on PostgreSQL: one lost with the database server means a message or card shown again,
    never a lost one (the customers' messages are stored on the inbound lane, flushed)."""
    return raw_database(engine, RELAY_LANE, flush_each_commit=False)


class TopicGone(Exception):
    """The ticket's forum topic was deleted: it gets a new one."""


@dataclass(frozen=True)
class Place:
    """Where a ticket lives in one chat: the group (maybe a topic) or an inbox."""

    chat_id: int
    thread_id: int | None
    card_message_id: int

    def kwargs(self, reply_to: int | None = None) -> dict[str, Any]:
        """Send into the topic; elsewhere, as a reply to the card (or to `reply_to`)."""
        target = reply_to if reply_to is not None else (None if self.thread_id else self.card_message_id)
        found: dict[str, Any] = {}
        if self.thread_id is not None:
            found["message_thread_id"] = self.thread_id
        if target is not None:
            found["reply_parameters"] = ReplyParameters(target, allow_sending_without_reply=True)
        return found


def thread_gone(error: BadRequest) -> bool:
    return "thread not found" in error.message.lower() or "topic_deleted" in error.message.lower()


def _no_topic_rights(error: BadRequest) -> bool:
    text = error.message.lower()
    return "not enough rights" in text or "not a forum" in text or "chat_not_modified" in text


async def topic_call(method: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
    try:
        return await method(*args, **kwargs)
    except BadRequest as error:
        if kwargs.get("message_thread_id") is not None and thread_gone(error):
            raise TopicGone from error
        raise


class GroupPlaces:
    """The tickets' cards and topics in the staff group."""

    def __init__(self, bot: Bot, engine: AsyncEngine, lang: str, admin_ids: frozenset[int]) -> None:
        self.bot = bot
        self.raw = relay_database(engine)
        self.lang = lang
        self.admin_ids = admin_ids
        self.forum: bool | None = None
        self._told_no_topics = False

    async def _is_forum(self, chat_id: int) -> bool:
        if self.forum is None:
            chat = await self.bot.get_chat(chat_id)
            self.forum = bool(chat.is_forum)
        return self.forum

    @staticmethod
    def placed(ticket: Ticket, chat_id: int | None) -> bool:
        return ticket.staff_chat_id == chat_id and ticket.card_message_id is not None

    async def place(self, chat_id: int, ticket: Ticket, customer: Customer, facts: CardFacts) -> tuple[Place, bool]:
        """The ticket's topic and card, created when missing (`ticket` is updated to match); True when the card
        was sent just now."""
        assert ticket.id is not None
        if self.placed(ticket, chat_id):
            assert ticket.card_message_id is not None
            return Place(chat_id, ticket.staff_thread_id, ticket.card_message_id), False
        thread_id = ticket.staff_thread_id if ticket.staff_chat_id == chat_id else None
        if thread_id is None and await self._is_forum(chat_id):
            thread_id = await self._create_topic(chat_id, ticket, customer)
            if thread_id is not None:
                await self.remember(ticket, chat_id, thread_id, None)
        card = await topic_call(
            self.bot.send_message,
            chat_id,
            card_of(ticket, customer, facts, self.lang),
            parse_mode=ParseMode.HTML,
            reply_markup=card_buttons(ticket, self.lang),
            **({"message_thread_id": thread_id} if thread_id else {}),
        )
        await self.remember(ticket, chat_id, thread_id, card.message_id)
        if thread_id is not None:
            with contextlib.suppress(TelegramError):
                await self.bot.pin_chat_message(chat_id, card.message_id, disable_notification=True)
        return Place(chat_id, thread_id, card.message_id), True

    async def remember(
        self, ticket: Ticket, chat_id: int | None, thread_id: int | None, card_message_id: int | None
    ) -> None:
        """Remember where the ticket lives in the group, in the database and on `ticket` (read for the pass)."""
        assert ticket.id is not None
        ticket_id = ticket.id
        await self.raw.run(
            lambda tx: ticket_places.place_in_staff_chat(
                tx, ticket_id=ticket_id, chat_id=chat_id, thread_id=thread_id, card_message_id=card_message_id
            ),
            one_statement=True,
        )
        ticket.staff_chat_id, ticket.staff_thread_id, ticket.card_message_id = chat_id, thread_id, card_message_id

    async def _create_topic(self, chat_id: int, ticket: Ticket, customer: Customer) -> int | None:
        try:
            topic = await self.bot.create_forum_topic(chat_id, topic_name(ticket, customer, self.lang))
        except BadRequest as error:
            if not _no_topic_rights(error):
                raise
            self.forum = False
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
            await self.bot.send_message(chat_id, text, parse_mode=ParseMode.HTML)
        for admin_id in sorted(self.admin_ids):
            with contextlib.suppress(TelegramError):
                await self.bot.send_message(admin_id, text, parse_mode=ParseMode.HTML)


async def inbox_place(
    bot: Bot, sessions: SessionFactory, lang: str, chat_id: int, ticket: Ticket, customer: Customer, facts: CardFacts
) -> tuple[Place, bool]:
    """The ticket's card in an agent's inbox, sent when missing; True when it was sent just now."""
    assert ticket.id is not None
    if ticket.inbox_chat_id == chat_id and ticket.inbox_card_message_id is not None:
        return Place(chat_id, None, ticket.inbox_card_message_id), False
    card = await bot.send_message(
        chat_id,
        card_of(ticket, customer, facts, lang),
        parse_mode=ParseMode.HTML,
        reply_markup=card_buttons(ticket, lang),
    )
    async with transaction(sessions) as session:
        await ticket_places.place_in_inbox(
            session, ticket_id=ticket.id, chat_id=chat_id, card_message_id=card.message_id
        )
    if ticket.inbox_chat_id == chat_id:
        ticket.inbox_card_message_id = card.message_id
    return Place(chat_id, None, card.message_id), True
