"""Business connections: every `business_connection` update stored; `/business` shows them to admins.

A connection is used only while enabled and only when its owner is an admin or a staff member here; any other
owner's connection is recorded and ignored (one log line). When a connection in use stops (the owner disabled it
or removed the bot), the admins are told once, and nothing more is sent through it (storage/business.py).
"""

from __future__ import annotations

import contextlib
import json
import logging

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import BusinessConnection as TelegramConnection
from telegram import Update
from telegram.constants import ParseMode
from telegram.error import TelegramError
from telegram.ext import BusinessConnectionHandler, CommandHandler

from bot.auth import staff_only
from bot.caller import language_of
from bot.context import CarebotApp, Context
from bot.runtime.dispatch import marking_handled
from bot.tickets.relay import refresh_cards
from bot.tickets.views import staff_language
from bot.ui.i18n import Safe, t, when
from bot.ui.splitting import split_text
from storage import business
from storage.db import transaction
from storage.models import ConnectionState, Role

log = logging.getLogger(__name__)
BUSINESS_GROUP = -200  # before every other handler: business updates are this package's alone


async def on_connection(update: Update, context: Context) -> None:
    connection = update.business_connection
    assert connection is not None
    async with marking_handled(context.application, update) as session:
        state, stopped = await save(session, context, connection)
        tell = stopped and state != ConnectionState.IGNORED
        tell = tell and await business.claim_stop_notice(session, connection_id=connection.id)
    if state == ConnectionState.IGNORED:
        log.info("business connection of a user who is not staff: recorded and ignored")
    if tell:
        await tell_admins(context, "business.admin.stopped", owner=connection.user.id)
    if stopped:  # their cards now say to answer from the app
        async with context.services.sessions() as session:
            waiting = await business.active_tickets_via(session, connection_id=connection.id)
        for ticket_id in waiting:
            await refresh_cards(context.application, ticket_id)


async def save(session: AsyncSession, context: Context, connection: TelegramConnection) -> tuple[ConnectionState, bool]:
    """Store the connection as Telegram describes it; returns what Carebot does with it and whether it stopped."""
    rights = connection.rights
    change = await business.save_connection(
        session,
        connection_id=connection.id,
        owner_telegram_id=connection.user.id,
        owner_chat_id=connection.user_chat_id,
        enabled=connection.is_enabled,
        can_reply=bool(rights is not None and rights.can_reply),
        rights=json.dumps(rights.to_dict() if rights is not None else {}, sort_keys=True),
        connected_at=connection.date,
    )
    staff_owner = await business.owner_is_staff(
        session, change.connection, admin_ids=context.services.settings.admin_ids
    )
    return business.state_of(change.connection, staff_owner=staff_owner), change.stopped


async def state_of_connection(context: Context, connection_id: str) -> ConnectionState | None:
    """What Carebot does with a connection; one not stored yet (its update still on the way) is asked for."""
    settings = context.services.settings
    async with context.services.sessions() as session:
        state = await business.connection_state(session, connection_id=connection_id, admin_ids=settings.admin_ids)
    if state is not None:
        return state
    try:
        connection = await context.bot.get_business_connection(connection_id)
    except TelegramError as error:
        log.warning("could not look up a business connection: %s", type(error).__name__)
        return None
    async with transaction(context.services.sessions) as session:
        state, _ = await save(session, context, connection)
    return state


async def tell_admins(context: Context, key: str, **params: object) -> None:
    text = t(staff_language(context.services.settings), key, **params)
    for admin_id in sorted(context.services.settings.admin_ids):
        with contextlib.suppress(TelegramError):
            await context.bot.send_message(admin_id, text, parse_mode=ParseMode.HTML)


@staff_only(Role.ADMIN)
async def business_command(update: Update, context: Context) -> None:
    """`/business`: every connection, its state, the bot's right to reply, the chats it served, its last message."""
    message = update.effective_message
    assert message is not None
    lang = await language_of(update, context)
    settings = context.services.settings
    async with context.services.sessions() as session:
        rows = await business.overview(session, admin_ids=settings.admin_ids)
    if not rows:
        await message.reply_text(t(lang, "business.list.empty"), parse_mode=ParseMode.HTML)
        return
    lines = [t(lang, "business.list.title", count=len(rows))]
    for row in rows:
        last = when(row.last_message_at.astimezone(settings.zone), lang) if row.last_message_at else "—"
        lines.append(
            t(
                lang,
                "business.list.item",
                owner=owner_link(row.connection.owner_telegram_id),
                state=t(lang, f"business.state.{row.state.value}"),
                reply=t(lang, "business.list.yes" if row.connection.can_reply else "business.list.no"),
                chats=row.chats,
                last=last,
            )
        )
    for part in split_text("\n".join(lines)):
        await message.reply_text(part, parse_mode=ParseMode.HTML)


def owner_link(telegram_id: int) -> Safe:
    return Safe(f'<a href="tg://user?id={telegram_id}">{telegram_id}</a>')


def register(app: CarebotApp) -> None:
    app.add_handler(BusinessConnectionHandler(on_connection), group=BUSINESS_GROUP)
    app.add_handler(CommandHandler("business", business_command))
