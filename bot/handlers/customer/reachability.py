"""A customer who blocks the bot (or deletes their account) cannot be written to: Telegram answers 403.

Both ways of learning it end here, in `mark`: Telegram's `my_chat_member` update for the private chat, and a reply
that fails with 403 while handling that customer's own update (see `tolerate_blocked_users`). The customer is
marked unreachable, so proactive messages stop, and staff are told once if a ticket of theirs is active;
unblocking marks them reachable again. Nothing is answered: the person cannot read it.
"""

from __future__ import annotations

import functools
import inspect
import logging
from typing import Any

from telegram import ChatMember, Update
from telegram.constants import ChatType
from telegram.error import Forbidden
from telegram.ext import BaseHandler, ChatMemberHandler

from bot.auth import staff_role
from bot.context import CarebotApp, Context
from bot.tickets.relay import relay_of
from bot.tickets.routing import inbox_gone
from storage import customers, staff_deliveries, tickets
from storage.db import transaction
from storage.tickets import ACTIVE
from storage.types import utcnow

log = logging.getLogger(__name__)

# Beside group 0, where bot/handlers/staff/membership.py sees the same kind of update for groups.
GROUP = 5

# 403 descriptions that are about the person, not a chat the bot was removed from.
_USER_GONE = ("blocked by the user", "user is deactivated", "initiate conversation")


async def mark(context: Context, telegram_id: int, *, unreachable: bool, tell_staff: bool = True) -> None:
    """The one place a customer becomes unreachable (or reachable again). Their active ticket's card says so;
    staff get a notice too unless the caller tells them itself (a staff reply that bounced)."""
    async with transaction(context.services.sessions) as session:
        customer = await customers.get_customer(session, telegram_id=telegram_id)
        if customer is None or customer.id is None or customer.unreachable == unreachable:
            return
        await customers.set_unreachable(session, telegram_id=telegram_id, unreachable=unreachable)
        log.info("customer with telegram id %d is %s", telegram_id, "unreachable" if unreachable else "reachable")
        ticket = await tickets.latest_ticket(session, customer_id=customer.id)
        told = unreachable and ticket is not None and ticket.status in ACTIVE and ticket.id is not None
        if told and ticket is not None and ticket.id is not None:
            moment = utcnow().isoformat()
            await staff_deliveries.enqueue(
                session,
                key=f"notice:blocked:{ticket.id}:{moment}",
                ticket_id=ticket.id,
                kind="notice",
                params={"template": "tickets.staff.undeliverable"},
            )
            await staff_deliveries.enqueue(
                session, key=f"card:blocked:{ticket.id}:{moment}", ticket_id=ticket.id, kind="card"
            )
    if told:
        relay_of(context.application).wake()


async def private_membership(update: Update, context: Context) -> None:
    change = update.my_chat_member
    if change is None or change.chat.type != ChatType.PRIVATE:
        return
    status = change.new_chat_member.status
    if status in (ChatMember.BANNED, ChatMember.LEFT):
        if await staff_role(update, context) is not None:
            await inbox_gone(context.application, change.chat.id)  # an agent's inbox closes, their tickets move
        await mark(context, change.chat.id, unreachable=True)
    elif status == ChatMember.MEMBER:
        await mark(context, change.chat.id, unreachable=False)


def user_is_gone(error: Forbidden) -> bool:
    return any(phrase in error.message.lower() for phrase in _USER_GONE)


def tolerate_blocked_users(app: CarebotApp) -> None:
    """Wrap every handler so that a 403 from the very user being served, in their private chat, marks them
    unreachable instead of reaching the error handler. Any other failure goes on to the error handler."""
    for handlers in app.handlers.values():
        for handler in handlers:
            if inspect.iscoroutinefunction(handler.callback):
                handler.callback = _blocked_ok(handler)


def _blocked_ok(handler: BaseHandler[Any, Any, Any]) -> Any:
    callback = handler.callback

    @functools.wraps(callback)
    async def guarded(update: object, context: Context) -> Any:
        try:
            return await callback(update, context)
        except Forbidden as error:
            chat = update.effective_chat if isinstance(update, Update) else None
            if chat is None or chat.type != ChatType.PRIVATE or not user_is_gone(error):
                raise
            await mark(context, chat.id, unreachable=True)
            return None

    return guarded


def register(app: CarebotApp) -> None:
    app.add_handler(ChatMemberHandler(private_membership, ChatMemberHandler.MY_CHAT_MEMBER), group=GROUP)
