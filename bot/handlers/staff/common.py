"""What every staff handler shares: the asker's language and role, answers, usage lines and finding a customer."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Awaitable, Callable, Coroutine
from datetime import datetime
from typing import Any

from telegram import InlineKeyboardMarkup, Message, Update
from telegram.constants import ParseMode
from telegram.error import TelegramError

from bot.auth import staff_only, staff_role
from bot.caller import language_of
from bot.context import Context
from bot.ui.callback_data import CallbackPattern
from bot.ui.i18n import Safe, day, t
from bot.ui.keyboards import button
from storage.models import Customer, Role
from storage.search import lookup_customers

MAX_TEXT = 4096


def message_of(update: Update) -> Message:
    message = update.effective_message
    assert message is not None
    return message


def actor_id(update: Update) -> int:
    assert update.effective_user is not None
    return update.effective_user.id


async def answer(update: Update, text: str, markup: InlineKeyboardMarkup | None = None) -> Message:
    """Reply in the chat (and forum topic) the command came from."""
    return await message_of(update).reply_text(clip(text), parse_mode=ParseMode.HTML, reply_markup=markup)


def clip(text: str, limit: int = MAX_TEXT) -> str:
    """Cut a long text at a line end so that no HTML tag is split."""
    if len(text) <= limit:
        return text
    cut = text.rfind("\n", 0, limit - 2)
    return text[: cut if cut > 0 else limit - 2] + "\n…"


async def usage(update: Update, context: Context, command: str) -> None:
    lang = await language_of(update, context)
    await answer(update, t(lang, f"staff.usage.{command}"))


async def role_and_language(update: Update, context: Context) -> tuple[Role, str]:
    """For handlers already behind `staff_only`: the asker's role and language."""
    role = await staff_role(update, context)
    assert role is not None
    return role, await language_of(update, context)


def command_text(update: Update) -> str:
    """What follows the command word (and @botname), kept exactly as typed, line breaks included."""
    text = message_of(update).text or message_of(update).caption or ""
    return re.sub(r"^/\S+\s?", "", text, count=1).strip()


def customer_label(customer: Customer) -> str:
    label = customer.display_name
    if customer.username and label != f"@{customer.username}":
        label += f" @{customer.username}"
    return label


def choices_markup(customers: list[Customer]) -> InlineKeyboardMarkup:
    """One button a customer, each opening the card."""
    return InlineKeyboardMarkup(
        [[button(customer_label(customer)[:60], f"staff:card:{customer.id}")] for customer in customers]
    )


async def resolve_customer(update: Update, context: Context, query: str) -> Customer | None:
    """The one customer `query` names; otherwise answers "no such customer" or a short list to choose from."""
    lang = await language_of(update, context)
    async with context.services.sessions() as session:
        found = await lookup_customers(session, query=query, limit=6)
    if len(found) == 1:
        return found[0]
    if not found:
        await answer(update, t(lang, "staff.customer.none", query=query))
    else:
        await answer(update, t(lang, "staff.customer.several", query=query), choices_markup(found[:5]))
    return None


def local_day(moment: datetime, context: Context, lang: str) -> str:
    return day(moment.astimezone(context.services.settings.zone), lang)


def lines(*parts: str | None) -> Safe:
    return Safe("\n".join(part for part in parts if part is not None))


class EditedProgress:
    """One message edited every few seconds while long work counts on (`update(n)` may be called from a thread)."""

    def __init__(self, message: Message, render: Callable[[int], str], *, every: float = 2.0) -> None:
        self.message = message
        self.render = render
        self.every = every
        self.count = 0
        self._shown = -1
        self._task: asyncio.Task[None] | None = None

    def update(self, count: int) -> None:
        self.count = count

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.every)
            if self.count != self._shown:
                self._shown = self.count
                with contextlib.suppress(TelegramError):
                    await self.message.edit_text(self.render(self.count), parse_mode=ParseMode.HTML)

    async def __aenter__(self) -> EditedProgress:
        self._task = asyncio.create_task(self._loop())
        return self

    async def __aexit__(self, *_exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


async def customer_by_id(context: Context, customer_id: int) -> Customer | None:
    async with context.services.sessions() as session:
        return await session.get(Customer, customer_id)


Handler = Callable[[Update, Context], Coroutine[Any, Any, None]]


def customer_view(
    command: str, pattern: CallbackPattern, show: Callable[[Update, Context, Customer], Awaitable[None]]
) -> tuple[Handler, Handler]:
    """`/<command> <customer>` and its button (`pattern` carries the customer's id): both `show` that customer."""

    @staff_only(Role.AGENT)
    async def by_command(update: Update, context: Context) -> None:
        query = command_text(update)
        if not query:
            await usage(update, context, command)
            return
        customer = await resolve_customer(update, context, query)
        if customer is not None:
            await show(update, context, customer)

    @staff_only(Role.AGENT)
    async def by_button(update: Update, context: Context) -> None:
        query = update.callback_query
        assert query is not None and query.data is not None
        await query.answer()
        customer = await customer_by_id(context, pattern.read(query.data).number("customer"))
        if customer is not None:
            await show(update, context, customer)

    by_command.__name__, by_button.__name__ = f"{command}_command", f"{command}_button"
    return by_command, by_button
