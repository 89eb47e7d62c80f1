"""The staff side of tickets: replies relayed to customers, edits, internal notes, the card buttons and
`/take /resolve /close /reopen /queue /note`.

A staff member answers a ticket by replying (Telegram reply) to its card or any message of it in the staff chat,
or by writing in its forum topic. Lines starting with `//` and `/note …` stay internal. Messages of people who are
not registered staff are never relayed.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Coroutine
from functools import partial
from typing import Any

from telegram import (
    InputMediaAnimation,
    InputMediaAudio,
    InputMediaDocument,
    InputMediaPhoto,
    InputMediaVideo,
    Message,
    ReactionTypeEmoji,
    Update,
    User,
)
from telegram.constants import ChatType, ParseMode
from telegram.error import BadRequest, TelegramError
from telegram.ext import CallbackQueryHandler, CommandHandler, MessageHandler, filters

from bot.auth import staff_only, staff_role
from bot.caller import language_of
from bot.context import CarebotApp, Context
from bot.runtime.scheduling import survey_follows
from bot.tickets import albums
from bot.tickets.filing import incoming_of, to_customer
from bot.tickets.queue import queue_command
from bot.tickets.relay import refresh_cards
from bot.tickets.replies import ReplyPart, keep_note, send_reply
from bot.tickets.views import staff_language, status_label
from bot.ui import callback_data
from bot.ui.i18n import t
from bot.ui.numbers import record_number
from scheduler.jobs.csat import HOLD_AT_CLOSING, plan_at_closing
from storage import business, routing, ticket_places, tickets
from storage.db import transaction
from storage.models import Customer, MessageDirection, Role, Ticket
from storage.staff import audit
from storage.types import utcnow

log = logging.getLogger(__name__)

ACTIONS = ("take", "resolve", "close", "reopen")
EDITABLE_MEDIA = {
    "photo": InputMediaPhoto,
    "video": InputMediaVideo,
    "document": InputMediaDocument,
    "audio": InputMediaAudio,
    "animation": InputMediaAnimation,
}
TOLD_NOT_STAFF = "told_not_staff"


def _lang(context: Context) -> str:
    return staff_language(context.services.settings)


def in_ticket_chat(message: Message, context: Context) -> bool:
    """The staff group, or a private chat (an agent's inbox), where a reply names the ticket."""
    return message.chat_id == context.services.settings.staff_chat_id or message.chat.type == ChatType.PRIVATE


async def _ticket_of(message: Message, context: Context) -> Ticket | None:
    thread_id = message.message_thread_id if message.is_topic_message else None
    reply_to = message.reply_to_message.message_id if message.reply_to_message else None
    async with context.services.sessions() as session:
        return await ticket_places.ticket_in_staff_chat(
            session, chat_id=message.chat_id, thread_id=thread_id, reply_to_message_id=reply_to
        )


# ---------------------------------------------------------------- replies, notes and edits


async def on_staff_message(update: Update, context: Context) -> None:
    message, user = update.effective_message, update.effective_user
    if message is None or user is None or user.is_bot:
        return
    ticket = await _ticket_of(message, context)
    if ticket is None:  # the team talking among themselves; a note that belongs to no ticket gets a hint
        if (message.text or "").startswith("//") and await staff_role(update, context) is not None:
            await message.reply_text(t(_lang(context), "tickets.staff.note_hint"), parse_mode=ParseMode.HTML)
        return
    if await staff_role(update, context) is None:
        await _tell_not_staff(message, user, context)
        return
    if message.text is not None and message.text.startswith("//"):
        await save_note(context, ticket, message, user, message.text[2:].strip())
        return
    await reply_to_customer(context, ticket, message, user)


async def _tell_not_staff(message: Message, user: User, context: Context) -> None:
    """Said once per person (per run), so observers in the staff group are not nagged."""
    told: set[int] = context.application.bot_data.setdefault(TOLD_NOT_STAFF, set())
    if user.id in told:
        return
    told.add(user.id)
    await message.reply_text(t(_lang(context), "tickets.staff.not_staff"), parse_mode=ParseMode.HTML)


async def save_note(context: Context, ticket: Ticket, message: Message, user: User, text: str) -> None:
    saved = await keep_note(
        context,
        ticket,
        author_telegram_id=user.id,
        text=text,
        staff_chat_id=message.chat_id,
        staff_message_id=message.message_id,
    )
    if saved:
        with contextlib.suppress(TelegramError):
            await message.set_reaction(ReactionTypeEmoji("✍"))


async def reply_to_customer(context: Context, ticket: Ticket, message: Message, user: User) -> None:
    async with context.services.sessions() as session:
        if await ticket_places.find_staff_message(session, chat_id=message.chat_id, message_id=message.message_id):
            return  # relayed before a restart: never twice
    collector = albums.albums_of(context.application)
    if albums.album_part(message) is not None:  # the album goes as one, once its last part is here
        collector.add(message, partial(_relay_reply, context, ticket.id or 0, user))
        return
    await collector.flush(message.chat_id)  # an album sent just before goes first
    await _relay_reply(context, ticket.id or 0, user, [message])


async def _relay_reply(context: Context, ticket_id: int, user: User, messages: list[Message]) -> None:
    """Copy a staff reply (one message, or the parts of an album as one album) to the customer and store it."""
    parts = []
    for message in messages:
        incoming = incoming_of(message)
        parts.append(
            ReplyPart(
                kind=incoming.kind if incoming else "other",
                text=incoming.text if incoming else None,
                file_id=incoming.file_id if incoming else None,
                staff_chat_id=message.chat_id,
                staff_message_id=message.message_id,
            )
        )
    problem = await send_reply(
        context,
        ticket_id,
        parts,
        send=lambda **chat: _to_customer_as_sent(context, messages, user, **chat),
        author_telegram_id=user.id,
        lang=_lang(context),
    )
    if problem is not None:
        await messages[0].reply_text(problem, parse_mode=ParseMode.HTML)


CAPTIONED = ("photo", "video", "document", "audio", "animation", "voice")


def signature(context: Context, user: User | None) -> str:
    """`CAREBOT_SHOW_AGENT_NAME=on`: the agent's first name under each reply; off (default): nothing."""
    if context.services.settings.show_agent_name != "on" or user is None:
        return ""
    return f"\n\n— {user.first_name}"


async def _to_customer_as_sent(context: Context, messages: list[Message], user: User, **chat: Any) -> list[int]:
    """The staff message (or album) copied to the customer's chat (`chat`: its id, and a business connection) as
    it is, signed when the business wants it; the ids of the customer's copies, in order."""
    signed = signature(context, user)
    message = messages[0]
    if len(messages) > 1 or not signed:
        return await albums.copy_to(context.bot, messages=messages, **chat)
    if message.text is not None:
        sent = await context.bot.send_message(text=message.text + signed, entities=message.entities, **chat)
        return [sent.message_id]
    if any(getattr(message, kind) for kind in CAPTIONED) and not chat.get("business_connection_id"):
        copied = await context.bot.copy_message(
            from_chat_id=message.chat_id,
            message_id=message.message_id,
            caption=(message.caption or "") + signed,
            caption_entities=message.caption_entities,
            **chat,
        )
        return [copied.message_id]
    return await albums.copy_to(context.bot, messages=messages, **chat)


async def on_staff_edit(update: Update, context: Context) -> None:
    """A staff member edited a relayed reply: the customer's copy changes too."""
    message = update.edited_message
    if message is None:
        return
    async with context.services.sessions() as session:
        stored = await ticket_places.find_staff_message(session, chat_id=message.chat_id, message_id=message.message_id)
    if stored is None:
        return
    incoming = incoming_of(message)
    text = incoming.text if incoming else None
    if stored.direction == MessageDirection.OUT and stored.customer_chat_id and stored.customer_message_id:
        chat_id, message_id = stored.customer_chat_id, stored.customer_message_id
        via = stored.business_connection_id or None
        try:
            if message.text is not None:
                await context.bot.edit_message_text(
                    message.text + signature(context, message.from_user),
                    chat_id=chat_id,
                    message_id=message_id,
                    entities=message.entities,
                    business_connection_id=via,
                )
            elif (
                incoming and incoming.file_id and incoming.file_id != stored.file_id and incoming.kind in EDITABLE_MEDIA
            ):
                media = EDITABLE_MEDIA[incoming.kind](
                    incoming.file_id, caption=message.caption, caption_entities=message.caption_entities
                )
                await context.bot.edit_message_media(
                    media, chat_id=chat_id, message_id=message_id, business_connection_id=via
                )
            else:
                await context.bot.edit_message_caption(
                    chat_id=chat_id,
                    message_id=message_id,
                    caption=(message.caption or "") + signature(context, message.from_user) or None,
                    caption_entities=message.caption_entities,
                    business_connection_id=via,
                )
        except BadRequest as error:
            if "not modified" not in error.message.lower():
                await message.reply_text(
                    t(_lang(context), "tickets.staff.edit_failed", reason=error.message), parse_mode="HTML"
                )
                return
        except TelegramError:
            log.warning("could not edit the customer's copy of a staff reply")
            return
    async with transaction(context.services.sessions) as session:
        await ticket_places.update_staff_message(
            session, message_id=stored.id or 0, text=text, file_id=incoming.file_id if incoming else None
        )


@staff_only(Role.AGENT)
async def note_command(update: Update, context: Context) -> None:
    message, user = update.effective_message, update.effective_user
    assert message is not None and user is not None and message.text is not None
    words = message.text.split(maxsplit=1)
    text = words[1] if len(words) > 1 else ""
    ticket = None
    head, _, rest = text.partition(" ")
    if head.startswith("#") and (number := record_number(head)) is not None:
        async with context.services.sessions() as session:
            ticket = await tickets.get_ticket(session, ticket_id=number)
        text = rest
    elif in_ticket_chat(message, context):
        ticket = await _ticket_of(message, context)
    if ticket is None or not text.strip():
        await message.reply_text(t(await language_of(update, context), "tickets.staff.note_usage"), parse_mode="HTML")
        return
    await save_note(context, ticket, message, user, text.strip())


# ---------------------------------------------------------------- lifecycle: buttons and commands


async def apply_action(
    context: Context, action: str, ticket_id: int, user: User, *, lang: str | None = None
) -> tuple[str, Customer | None]:
    """Take, resolve, close or reopen a ticket; the card is edited in place and the customer told when it closes.

    Returns the text for the staff member (in `lang`, else the staff language), and the customer when a message
    to them bounced.
    """
    lang = lang or _lang(context)
    async with transaction(context.services.sessions) as session:
        ticket = await tickets.get_ticket(session, ticket_id=ticket_id)
        if ticket is None:
            return t(lang, "tickets.staff.no_such_ticket", number=ticket_id), None
        if action == "take":  # the taker's inbox (if they have one) gets the ticket so far
            changed = await routing.assign(
                session, ticket=ticket, telegram_id=user.id, name=user.full_name, history=True
            )
        elif action == "resolve":
            changed = tickets.resolve(ticket)
        elif action == "close":
            changed = tickets.close(ticket)
        else:
            changed = tickets.reopen(ticket)
        session.add(ticket)
        customer = await session.get(Customer, ticket.customer_id)
        assert customer is not None
        connection = await business.reply_connection(session, ticket_id=ticket_id)
        if changed:
            await audit(
                session,
                actor_telegram_id=user.id,
                action=f"ticket.{action}",
                customer_id=customer.id,
                detail=f"#{ticket_id}",
            )
        if changed and action == "close":
            await plan_at_closing(session, ticket_ids=[ticket_id], now=utcnow(), hold=HOLD_AT_CLOSING)
    if not changed:
        return t(lang, "tickets.staff.unchanged", number=ticket_id, status=status_label(ticket.status, lang)), None
    await _refresh(context, ticket_id, topic={"close": "close", "reopen": "reopen"}.get(action))
    bounced = None
    if action in ("resolve", "close"):
        key = "tickets.closed" if action == "close" else "tickets.resolved"
        text = t(customer.language, key, number=ticket_id)
        sent = await to_customer(
            context,
            customer.telegram_id,
            lambda **chat: context.bot.send_message(text=text, parse_mode=ParseMode.HTML, **chat),
            business_connection_id=connection,
        )
        bounced = customer if sent is None and not connection else None
        if action == "close":
            await survey_follows(context.application, context.services, ticket_id)
    return t(lang, f"tickets.staff.done.{action}", number=ticket_id, name=user.full_name), bounced


async def _refresh(context: Context, ticket_id: int, *, topic: str | None = None) -> None:
    await refresh_cards(context.application, ticket_id, topic=topic)


@staff_only(Role.AGENT)
async def card_button(update: Update, context: Context) -> None:
    query = update.callback_query
    assert query is not None and query.data is not None and update.effective_user is not None
    pressed = callback_data.TICKET_CARD.read(query.data)
    action, number = pressed.word("action"), pressed.number("ticket")
    lang = await language_of(update, context)
    feedback, bounced = await apply_action(context, action, number, update.effective_user, lang=lang)
    await query.answer(feedback[:200])
    if bounced is not None and isinstance(query.message, Message):
        await query.message.reply_text(t(lang, "tickets.staff.undeliverable"), parse_mode=ParseMode.HTML)


def _number_from_args(args: list[str]) -> int | None:
    return record_number(args[0]) if args else None


def lifecycle_command(action: str) -> Callable[[Update, Context], Coroutine[Any, Any, None]]:
    @staff_only(Role.AGENT)
    async def command(update: Update, context: Context) -> None:
        message, user = update.effective_message, update.effective_user
        assert message is not None and user is not None
        lang = await language_of(update, context)
        number = _number_from_args(context.args or [])
        if number is None and in_ticket_chat(message, context):
            ticket = await _ticket_of(message, context)
            number = ticket.id if ticket else None
        if number is None:
            await message.reply_text(t(lang, "tickets.staff.usage", command=action), parse_mode="HTML")
            return
        feedback, bounced = await apply_action(context, action, number, user, lang=lang)
        await message.reply_text(feedback, parse_mode=ParseMode.HTML)
        if bounced is not None:
            await message.reply_text(t(lang, "tickets.staff.undeliverable"), parse_mode=ParseMode.HTML)

    command.__name__ = f"{action}_command"
    return command


def register(app: CarebotApp) -> None:
    albums.register(app)
    staff_chat_id = app.bot_data["services"].settings.staff_chat_id
    for action in ACTIONS:
        app.add_handler(CommandHandler(action, lifecycle_command(action)))
    app.add_handler(CommandHandler("queue", queue_command))  # bot/tickets/queue.py
    app.add_handler(CommandHandler("note", note_command))
    app.add_handler(CallbackQueryHandler(card_button, pattern=callback_data.TICKET_CARD))
    if staff_chat_id is None:
        return
    staff_chat = filters.Chat(chat_id=staff_chat_id)
    app.add_handler(
        MessageHandler(
            staff_chat & filters.UpdateType.MESSAGE & ~filters.COMMAND & ~filters.StatusUpdate.ALL, on_staff_message
        )
    )
    app.add_handler(MessageHandler(staff_chat & filters.UpdateType.EDITED_MESSAGE, on_staff_edit))
