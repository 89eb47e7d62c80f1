"""What the relay sends for each kind of queue entry, into a ticket's place (group, topic or inbox): copies of
customer messages (albums as albums, a backed-up run of texts as one message), customer edits, notices, the ticket
so far for an agent it was handed to, and the card kept current."""

from __future__ import annotations

import contextlib
import html
import json
from collections.abc import Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from telegram import (
    Bot,
    Message,
    MessageId,
)
from telegram.constants import ParseMode
from telegram.error import BadRequest, TelegramError

from bot.business.sending import resend_stored
from bot.tickets.albums import ALBUM_MEDIA
from bot.tickets.places import Place, thread_gone, topic_call
from bot.tickets.views import CardFacts, alert_buttons, card_buttons, card_of
from bot.ui.i18n import t, when
from bot.ui.splitting import TEXT_LIMIT, split_caption, split_text, tg_len
from storage import ticket_places, ticket_views
from storage.db import SessionFactory
from storage.models import Customer, StaffDelivery, Ticket, TicketMessage, TicketStatus

COMBINE_SEPARATOR = "\n\n"
HISTORY_MESSAGES = 30


def _source_gone(error: BadRequest) -> bool:
    """The customer deleted the message (or it cannot be copied at all): staff are told instead."""
    text = error.message.lower()
    return "message to copy not found" in text or "can't be copied" in text


@dataclass
class Sender:
    bot: Bot
    sessions: SessionFactory
    lang: str
    zone: ZoneInfo

    async def send(
        self, place: Place, ticket: Ticket, group: list[StaffDelivery], messages: dict[int, TicketMessage]
    ) -> list[tuple[list[int], int | None]]:
        """Send one queue entry (or a run of them); returns (row ids, message id) pairs to mark sent."""
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
                message = await topic_call(self.bot.send_message, place.chat_id, combined, **place.kwargs())
                return [(ids, message.message_id)]
            return [(ids, await self._copy(place, parts[0]))]
        if head.kind == "edit":
            edited = messages.get(head.ticket_message_id or 0)
            if edited is None:
                return [(ids, None)]
            return [(ids, await self._send_edit(place, edited, str(params.get("text", ""))))]
        if head.kind == "notice":
            text = t(self.lang, str(params["template"]), **params.get("params", {}))
            notice = await topic_call(
                self.bot.send_message, place.chat_id, text, parse_mode=ParseMode.HTML, **place.kwargs()
            )
            return [(ids, notice.message_id)]
        if head.kind == "alert":  # an escalation in the group: someone takes the ticket or gives it to someone
            text = t(self.lang, str(params["template"]), **params.get("params", {}))
            alert = await topic_call(
                self.bot.send_message,
                place.chat_id,
                text,
                parse_mode=ParseMode.HTML,
                reply_markup=alert_buttons(ticket, self.lang),
                **place.kwargs(),
            )
            return [(ids, alert.message_id)]
        if head.kind == "history":
            return [(ids, await self._send_history(place, ticket))]
        raise BadRequest(f"unknown delivery kind {head.kind!r}")

    async def _copy(self, place: Place, message: TicketMessage) -> int:
        assert message.customer_chat_id is not None and message.customer_message_id is not None
        if message.business_connection_id:  # not copyable out of a business chat: shown again from what is stored
            shown: Message = await topic_call(resend_stored, self.bot, message, chat_id=place.chat_id, **place.kwargs())
            return shown.message_id
        try:
            copied: MessageId = await topic_call(
                self.bot.copy_message,
                place.chat_id,
                message.customer_chat_id,
                message.customer_message_id,
                **place.kwargs(),
            )
        except BadRequest as error:
            if not _source_gone(error):
                raise
            notice = await topic_call(
                self.bot.send_message,
                place.chat_id,
                t(self.lang, "tickets.staff.deleted_before_relay"),
                parse_mode=ParseMode.HTML,
                **place.kwargs(),
            )
            return notice.message_id
        return copied.message_id

    async def _send_album(self, place: Place, parts: list[TicketMessage]) -> list[int]:
        """An album stays one album (and in a plain group or an inbox still answers the card)."""
        if any(part.kind not in ALBUM_MEDIA or part.file_id is None for part in parts):
            return [await self._copy(place, part) for part in parts]
        media = [ALBUM_MEDIA[part.kind](part.file_id, caption=part.text or None) for part in parts]
        try:
            sent: Sequence[Message] = await topic_call(
                self.bot.send_media_group, place.chat_id, media, **place.kwargs()
            )
        except BadRequest as error:
            if thread_gone(error):
                raise
            return [await self._copy(place, part) for part in parts]
        return [message.message_id for message in sent]

    async def _send_edit(self, place: Place, message: TicketMessage, text: str) -> int:
        """A customer edit: the new text (or the media again with its new caption), marked as edited, answering
        the copy of the original in this chat."""
        header = t(self.lang, "tickets.staff.edited")
        async with self.sessions() as session:
            shown_at = await ticket_places.shown_copy(session, message=message, chat_id=place.chat_id)
        kwargs = place.kwargs(reply_to=shown_at)
        follow_ups: list[str]
        shown: Message | MessageId
        if message.kind == "text":
            first, *follow_ups = split_text(f"{header}\n{text}", TEXT_LIMIT)
            shown = await topic_call(
                self.bot.send_message, place.chat_id, html.escape(first, quote=False), parse_mode="HTML", **kwargs
            )
        elif message.business_connection_id:
            caption, follow_ups = split_caption(f"{header}\n{text}")
            shown = await topic_call(resend_stored, self.bot, message, caption=caption, chat_id=place.chat_id, **kwargs)
        else:
            caption, follow_ups = split_caption(f"{header}\n{text}")
            assert message.customer_chat_id is not None and message.customer_message_id is not None
            shown = await topic_call(
                self.bot.copy_message,
                place.chat_id,
                message.customer_chat_id,
                message.customer_message_id,
                caption=html.escape(caption, quote=False),
                parse_mode=ParseMode.HTML,
                **kwargs,
            )
        for part in follow_ups:
            await topic_call(
                self.bot.send_message, place.chat_id, html.escape(part, quote=False), parse_mode="HTML", **kwargs
            )
        return shown.message_id

    async def _send_history(self, place: Place, ticket: Ticket) -> int | None:
        """The ticket so far, as text, for an agent (or the group) it was handed to."""
        async with self.sessions() as session:
            found = await ticket_views.ticket_with_history(session, ticket_id=ticket.id or 0, limit=HISTORY_MESSAGES)
        if found is None or not found[2]:
            return None
        lines = [t(self.lang, "tickets.staff.history", number=ticket.id)]
        for message in found[2]:
            body = (message.text or "").strip()
            if message.kind != "text":
                body = f"[{message.kind}] {body}".strip()
            moment = when(message.created_at.astimezone(self.zone), self.lang)
            lines.append(t(self.lang, f"staff.ticket.{message.direction}", moment=moment, text=body[:500] or "—"))
        first: int | None = None
        for part in split_text("\n".join(lines), TEXT_LIMIT):
            sent = await topic_call(
                self.bot.send_message, place.chat_id, part, parse_mode=ParseMode.HTML, **place.kwargs()
            )
            first = first or sent.message_id
        return first


async def edit_card(
    bot: Bot, chat_id: int, message_id: int, ticket: Ticket, customer: Customer, facts: CardFacts, lang: str
) -> None:
    """Show the card as the ticket is now (an edit that changes nothing is no error)."""
    try:
        await bot.edit_message_text(
            card_of(ticket, customer, facts, lang),
            chat_id=chat_id,
            message_id=message_id,
            parse_mode=ParseMode.HTML,
            reply_markup=card_buttons(ticket, lang),
        )
    except BadRequest as error:
        if "not modified" not in error.message.lower() and "not found" not in error.message.lower():
            raise


async def follow_topic(bot: Bot, ticket: Ticket, topic: str | None) -> None:
    """Close a closed ticket's forum topic, reopen a reopened one's."""
    if ticket.staff_thread_id is None or ticket.staff_chat_id is None:
        return
    if topic == "close" or ticket.status == TicketStatus.CLOSED.value:
        with contextlib.suppress(TelegramError):
            await bot.close_forum_topic(ticket.staff_chat_id, ticket.staff_thread_id)
    elif topic == "reopen":
        with contextlib.suppress(TelegramError):
            await bot.reopen_forum_topic(ticket.staff_chat_id, ticket.staff_thread_id)


def combinable(first: TicketMessage, message: TicketMessage, size: int) -> bool:
    return first.kind == "text" and message.kind == "text" and not message.media_group_id and size <= TEXT_LIMIT


def text_size(message: TicketMessage) -> int:
    return tg_len(message.text or "")
