"""The customer's side of proactive messages: Stop / start them, answer surveys, confirm or update their details."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Update
from telegram.constants import ParseMode
from telegram.error import TelegramError
from telegram.ext import CallbackQueryHandler, CommandHandler

from bot.caller import touch
from bot.context import CarebotApp, Context
from bot.handlers import pending
from bot.handlers.customer import CUSTOMER_CHAT
from bot.handlers.customer.profile import show_profile
from bot.ui import callback_data
from bot.ui.callback_data import CallbackPattern, Values
from bot.ui.i18n import t
from storage import customers, surveys
from storage.db import transaction
from storage.models import Customer, SurveyResponse
from storage.surveys import CSAT_COMMENT_AT_MOST, NPS_COMMENT_AT_MOST
from storage.types import utcnow


async def _reply(context: Context, customer: Customer, key: str, **params: Any) -> None:
    await context.bot.send_message(customer.telegram_id, t(customer.language, key, **params), parse_mode=ParseMode.HTML)


async def _set_greetings(update: Update, context: Context, *, wanted: bool) -> Customer:
    customer, _ = await touch(update, context)
    async with transaction(context.services.sessions) as session:
        stored = await customers.get_customer(session, telegram_id=customer.telegram_id)
        assert stored is not None
        stored.proactive_opt_out = not wanted
        if wanted:
            stored.unreachable = False  # they are writing to us: they can be reached
        stored.updated_at = utcnow()
        session.add(stored)
    return customer


async def stop_greetings(update: Update, context: Context) -> None:
    customer = await _set_greetings(update, context, wanted=False)
    await _reply(context, customer, "care.stopped")


async def start_greetings(update: Update, context: Context) -> None:
    customer = await _set_greetings(update, context, wanted=True)
    await _reply(context, customer, "care.resumed")


async def stop_button(update: Update, context: Context) -> None:
    query = update.callback_query
    assert query is not None
    await query.answer()
    customer = await _set_greetings(update, context, wanted=False)
    await _reply(context, customer, "care.stopped")


async def _close_buttons(update: Update) -> None:
    """The survey was answered: take its buttons away (an old message may no longer be editable)."""
    query = update.callback_query
    assert query is not None
    with contextlib.suppress(TelegramError):
        await query.edit_message_reply_markup(reply_markup=None)


Recorded = SurveyResponse | None


async def _record_csat(session: AsyncSession, context: Context, customer_id: int, pressed: Values) -> Recorded:
    ticket_id, score = pressed.number("ticket"), pressed.number("score")
    return await surveys.record_csat(session, ticket_id=ticket_id, customer_id=customer_id, score=score)


async def _record_nps(session: AsyncSession, context: Context, customer_id: int, pressed: Values) -> Recorded:
    window_days = context.services.settings.survey_interval_days
    score = pressed.number("score")
    return await surveys.record_nps(session, customer_id=customer_id, score=score, window_days=window_days)


# Each survey's buttons: their callback data, how the score is stored, and up to which score a comment is asked.
SURVEY_BUTTONS: dict[str, tuple[CallbackPattern, Callable[..., Awaitable[Recorded]], int]] = {
    "csat": (callback_data.CSAT, _record_csat, CSAT_COMMENT_AT_MOST),
    "nps": (callback_data.NPS, _record_nps, NPS_COMMENT_AT_MOST),
}


async def survey_button(update: Update, context: Context) -> None:
    """A score pressed on a CSAT or NPS question (a survey not theirs, or a score out of its scale, stores nothing
    and gets the same polite answer)."""
    query = update.callback_query
    assert query is not None and query.data is not None
    kind = query.data.split(":")[1]
    pattern, record, comment_at_most = SURVEY_BUTTONS[kind]
    pressed = pattern.read(query.data)
    customer, _ = await touch(update, context)
    assert customer.id is not None
    async with transaction(context.services.sessions) as session:
        response = await record(session, context, customer.id, pressed)
    await _answered(update, context, customer, response, kind=kind, comment_at_most=comment_at_most)


async def _answered(
    update: Update,
    context: Context,
    customer: Customer,
    response: SurveyResponse | None,
    *,
    kind: str,
    comment_at_most: int,
) -> None:
    """Thank for a survey score (or say the survey is gone); a low score asks for a comment as the next text."""
    query = update.callback_query
    assert query is not None
    if response is None:
        await query.answer(t(customer.language, "care.survey.unavailable"))
        return
    await query.answer(t(customer.language, "care.survey.thanks"))
    await _close_buttons(update)
    if response.score <= comment_at_most:
        await pending.expect(update, context, f"{kind}:{response.id}")
        await _reply(context, customer, f"care.{kind}.ask_comment", score=response.score)
    else:
        await _reply(context, customer, f"care.{kind}.thanks", score=response.score)


@pending.on_input("csat")
@pending.on_input("nps")
async def receive_comment(update: Update, context: Context, kind: str, _data: dict[str, Any]) -> None:
    """The text after a low score is the customer's comment on it, not a new question."""
    customer, _ = await touch(update, context)
    assert customer.id is not None
    message = update.effective_message
    assert message is not None
    if not (message.text or "").strip():
        await _reply(context, customer, "care.survey.text_only")
        return
    async with transaction(context.services.sessions) as session:
        await surveys.add_comment(
            session, response_id=int(kind.split(":", 1)[1]), customer_id=customer.id, comment=message.text or ""
        )
    await pending.done(update, context)
    await _reply(context, customer, "care.survey.comment_saved")


async def freshness_button(update: Update, context: Context) -> None:
    query = update.callback_query
    assert query is not None and query.data is not None
    await query.answer()
    await _close_buttons(update)
    if callback_data.FRESHNESS.read(query.data).word("answer") == "update":
        await show_profile(update, context)
        return
    customer, _ = await touch(update, context)
    async with transaction(context.services.sessions) as session:
        stored = await customers.get_customer(session, telegram_id=customer.telegram_id)
        assert stored is not None
        stored.last_confirmed_at = stored.updated_at = utcnow()
        session.add(stored)
    await _reply(context, customer, "care.fresh.confirmed")


def register(app: CarebotApp) -> None:
    app.add_handler(CommandHandler("stop_greetings", stop_greetings, filters=CUSTOMER_CHAT))
    app.add_handler(CommandHandler("start_greetings", start_greetings, filters=CUSTOMER_CHAT))
    app.add_handler(CallbackQueryHandler(stop_button, pattern=callback_data.CARE_STOP))
    for pattern, _, _ in SURVEY_BUTTONS.values():
        app.add_handler(CallbackQueryHandler(survey_button, pattern=pattern))
    app.add_handler(CallbackQueryHandler(freshness_button, pattern=callback_data.FRESHNESS))
