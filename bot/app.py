"""Builds the Application in one place: Bot API address, rate limiter, handlers and the error handler."""

from __future__ import annotations

import logging
from typing import Any

from telegram import Update
from telegram.constants import ParseMode
from telegram.error import BadRequest
from telegram.ext import AIORateLimiter, Application, ApplicationBuilder, ContextTypes
from telegram.request import BaseRequest

from bot import pending
from bot.context import CarebotApp, Context, Services
from bot.customers import language_of
from bot.handlers import (
    audit,
    care,
    fallback,
    privacy,
    profile,
    reachability,
    staff_broadcast,
    staff_customers,
    staff_files,
    staff_reports,
    staff_roles,
    staff_tickets,
    start,
    terms,
)
from bot.handlers.reachability import tolerate_blocked_users
from bot.i18n import t
from bot.settings import Settings
from storage.db import create_engine, session_factory

log = logging.getLogger(__name__)

# Each module registers its own handlers; the order here is the order of precedence within a group.
HANDLER_MODULES = (
    pending,
    start,
    profile,
    terms,
    care,
    privacy,
    audit,
    reachability,
    staff_roles,
    staff_customers,
    staff_tickets,
    staff_reports,
    staff_files,
    staff_broadcast,
    fallback,
)


def rate_limiter(settings: Settings) -> AIORateLimiter:
    """Telegram's published limits when on; when off only 429 answers are honoured (and retried)."""
    if settings.rate_limits == "on":
        return AIORateLimiter(
            overall_max_rate=30, overall_time_period=1, group_max_rate=20, group_time_period=60, max_retries=5
        )
    return AIORateLimiter(overall_max_rate=0, group_max_rate=0, max_retries=5)


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
    """Log without personal data and tell the user, politely, that their message is safe."""
    if isinstance(context.error, BadRequest) and "not modified" in str(context.error).lower():
        return  # an edit to what the message already shows (a button pressed twice): nothing to do
    log.error("handler failed: %s", type(context.error).__name__, exc_info=context.error)
    if not isinstance(update, Update) or update.effective_chat is None or update.effective_chat.type != "private":
        return
    try:
        lang = await language_of(update, context)
        await context.bot.send_message(update.effective_chat.id, t(lang, "error.generic"), parse_mode=ParseMode.HTML)
    except Exception:  # the error handler must never raise
        log.warning("could not tell the user about the error")
