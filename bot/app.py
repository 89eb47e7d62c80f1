"""Builds the Application in one place: Bot API address, rate limiter, handlers and the error handler."""

from __future__ import annotations

import logging
from typing import Any

from telegram import Update
from telegram.constants import ParseMode
from telegram.error import BadRequest
from telegram.ext import Application, ApplicationBuilder, ContextTypes
from telegram.request import BaseRequest

from bot.business import chats as business_chats
from bot.business import connections as business_connections
from bot.caller import language_of
from bot.context import CarebotApp, Context, Services
from bot.handlers import fallback, pending
from bot.handlers.customer import care, faq, privacy, profile, reachability, start, terms
from bot.handlers.customer.reachability import tolerate_blocked_users
from bot.handlers.staff import agents as staff_agents
from bot.handlers.staff import audit, faq_admin, membership
from bot.handlers.staff import broadcast as staff_broadcast
from bot.handlers.staff import customers as staff_customers
from bot.handlers.staff import files as staff_files
from bot.handlers.staff import purchases as staff_purchases
from bot.handlers.staff import reports as staff_reports
from bot.handlers.staff import roles as staff_roles
from bot.purchases import payments
from bot.runtime.dispatch import record_failure
from bot.runtime.ratelimit import CarebotRateLimiter
from bot.runtime.throttle import auto_replies
from bot.settings import Settings
from bot.tickets import customer as tickets
from bot.tickets import desk as ticket_desk
from bot.tickets import history as staff_tickets
from bot.tickets import inbox as agent_inbox
from bot.tickets import relay as staff_chat
from bot.ui.i18n import t
from storage.db import create_engine, session_factory

log = logging.getLogger(__name__)

# Each module registers its own handlers; the order here is the order of precedence within a group.
HANDLER_MODULES = (
    business_connections,
    business_chats,
    pending,
    start,
    profile,
    terms,
    care,
    privacy,
    audit,
    reachability,
    staff_chat,
    staff_roles,
    staff_agents,
    staff_customers,
    staff_purchases,
    payments,
    staff_tickets,
    staff_reports,
    staff_files,
    staff_broadcast,
    faq_admin,
    faq,
    ticket_desk,
    agent_inbox,
    tickets,
    membership,
    fallback,
)


def rate_limiter(settings: Settings) -> CarebotRateLimiter:
    """Telegram's published limits when on; when off only 429 answers are honoured (and retried)."""
    return CarebotRateLimiter(enabled=settings.rate_limits, max_retries=5)


def build_application(
    settings: Settings,
    *,
    request: BaseRequest | None = None,
    get_updates_request: BaseRequest | None = None,
    services: Services | None = None,
) -> CarebotApp:
    builder: ApplicationBuilder[Any, Any, Any, Any, Any, Any] = (
        Application.builder()
        .token(settings.bot_token)
        .base_url(settings.bot_api_url)
        .base_file_url(settings.bot_api_file_url)
        .context_types(ContextTypes(context=Context))
        .rate_limiter(rate_limiter(settings))
        .updater(None)
    )
    if request is not None:
        builder = builder.request(request)
    if get_updates_request is not None:
        builder = builder.get_updates_request(get_updates_request)
    app: CarebotApp = builder.build()
    if services is None:
        engine = create_engine(settings.database_url)
        services = Services(settings=settings, engine=engine, sessions=session_factory(engine))
    app.bot_data["services"] = services
    for module in HANDLER_MODULES:
        module.register(app)
    tolerate_blocked_users(app)
    app.add_error_handler(on_error)
    return app


async def on_startup(app: CarebotApp) -> None:
    """Start-up work of the handler modules that have some (command menus, following unfinished broadcasts)."""
    for module in HANDLER_MODULES:
        hook = getattr(module, "on_startup", None)
        if hook is not None:
            await hook(app)


async def on_error(update: object, context: Context) -> None:
    """Log without personal data, have the update tried again later (`bot.runtime.updates`), and tell the user, politely
    and once, that their message is safe."""
    if isinstance(context.error, BadRequest) and "not modified" in str(context.error).lower():
        return  # an edit to what the message already shows (a button pressed twice): nothing to do
    log.error("handler failed: %s", type(context.error).__name__, exc_info=context.error)
    first_failure = True
    if isinstance(update, Update) and context.error is not None:
        first_failure = record_failure(context.application, update, context.error)
    if not isinstance(update, Update) or update.effective_chat is None or update.effective_chat.type != "private":
        return
    if update.business_message or update.edited_business_message or update.deleted_business_messages:
        return  # a business chat: the business's customer is not told about the bot's errors there
    if not first_failure:  # told on the first try already
        return
    if not auto_replies(context.application).allow(update.effective_chat.id, "error"):
        return
    try:
        lang = await language_of(update, context)
        await context.bot.send_message(update.effective_chat.id, t(lang, "error.generic"), parse_mode=ParseMode.HTML)
    except Exception:  # the error handler must never raise
        log.warning("could not tell the user about the error")
