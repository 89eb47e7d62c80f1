"""Routing a user's next message to the dialog step that asked for it (state kept in the database).

A module registers a step with `@on_input("profile")`; the router runs before every other message handler and
stops the update there when a step took it, so a reply to a question never opens a ticket.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from telegram import Update
from telegram.ext import ApplicationHandlerStop, CommandHandler, MessageHandler, filters

from bot.caller import language_of
from bot.context import CarebotApp, Context
from bot.ui.i18n import t
from storage import pending
from storage.db import transaction

InputHandler = Callable[[Update, Context, str, dict[str, Any]], Awaitable[None]]
_STEPS: dict[str, InputHandler] = {}
ROUTER_GROUP = -10


def on_input(prefix: str) -> Callable[[InputHandler], InputHandler]:
    """Register the handler of pending inputs whose kind is `prefix` or starts with `prefix:`."""

    def decorate(handler: InputHandler) -> InputHandler:
        _STEPS[prefix] = handler
        return handler

    return decorate


async def expect(update: Update, context: Context, kind: str, **data: Any) -> None:
    chat, user = update.effective_chat, update.effective_user
    assert chat is not None and user is not None
    async with transaction(context.services.sessions) as session:
        await pending.expect_input(session, chat_id=chat.id, user_id=user.id, kind=kind, **data)


async def done(update: Update, context: Context) -> None:
    chat, user = update.effective_chat, update.effective_user
    assert chat is not None and user is not None
    async with transaction(context.services.sessions) as session:
        await pending.clear_input(session, chat_id=chat.id, user_id=user.id)


async def route(update: Update, context: Context) -> None:
    chat, user = update.effective_chat, update.effective_user
    if chat is None or user is None:
        return
    async with context.services.sessions() as session:
        waiting = await pending.pending_input(session, chat_id=chat.id, user_id=user.id)
    if waiting is None:
        return
    kind, data = waiting
    handler = _STEPS.get(kind.split(":", 1)[0])
    if handler is None:
        await done(update, context)
        return
    await handler(update, context, kind, data)
    raise ApplicationHandlerStop


async def cancel(update: Update, context: Context) -> None:
    """`/cancel` ends whatever dialog step was waiting; the step module answers through its handler."""
    chat, user = update.effective_chat, update.effective_user
    assert chat is not None and user is not None
    async with context.services.sessions() as session:
        waiting = await pending.pending_input(session, chat_id=chat.id, user_id=user.id)
    await done(update, context)
    lang = await language_of(update, context)
    assert update.effective_message is not None
    key = "pending.cancelled" if waiting else "pending.nothing_to_cancel"
    await update.effective_message.reply_text(t(lang, key), parse_mode="HTML")
    raise ApplicationHandlerStop


def register(app: CarebotApp) -> None:
    app.add_handler(CommandHandler("cancel", cancel), group=ROUTER_GROUP)
    app.add_handler(
        MessageHandler(filters.UpdateType.MESSAGE & ~filters.COMMAND, route),
        group=ROUTER_GROUP,
    )
