"""/profile: the customer reviews and sets birthday, phone, email and time zone, one validated answer at a time."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from zoneinfo import ZoneInfo

from telegram import KeyboardButton, ReplyKeyboardMarkup, ReplyKeyboardRemove, Update
from telegram.constants import ParseMode
from telegram.ext import CallbackQueryHandler, CommandHandler

from bot.caller import touch
from bot.context import CarebotApp, Context
from bot.handlers import pending
from bot.handlers.customer import CUSTOMER_CHAT
from bot.handlers.customer.terms import details_refused
from bot.tickets.routing import manager_first_name
from bot.ui import callback_data
from bot.ui.i18n import day, money, t
from bot.ui.keyboards import profile_keyboard
from storage import customers
from storage.db import transaction
from storage.models import Customer, Purchase
from storage.purchases import list_purchases
from storage.types import utcnow
from storage.validation import (
    InvalidValue,
    normalise_email,
    normalise_phone,
    normalise_timezone,
    parse_birthday,
)

FIELDS = ("birthday", "phone", "email", "timezone")
OPTIONAL_DETAILS = ("birthday", "phone", "email")  # stored only under an agreement in force, once one is published


RECENT_PURCHASES = 5


def purchase_lines(recent: Sequence[Purchase], lang: str, zone: ZoneInfo) -> list[str]:
    """The customer's latest purchases, newest first, refunds marked."""
    lines: list[str] = [t(lang, "profile.purchases_title")]
    for purchase in recent:
        key = "profile.purchase_refunded_entry" if purchase.refunded_at else "profile.purchase_entry"
        lines.append(
            t(
                lang,
                key,
                day=day(purchase.occurred_at.astimezone(zone), lang),
                amount=money(purchase.amount, purchase.currency, lang),
                reference=purchase.reference,
            )
        )
    return lines if recent else [*lines, t(lang, "profile.no_purchases")]


async def recent_purchases(context: Context, customer: Customer) -> list[Purchase]:
    assert customer.id is not None
    async with context.services.sessions() as session:
        return await list_purchases(session, customer_id=customer.id, limit=RECENT_PURCHASES)


def customer_zone(customer: Customer, context: Context) -> ZoneInfo:
    return ZoneInfo(customer.timezone) if customer.timezone else context.services.settings.zone


def profile_text(
    customer: Customer,
    lang: str,
    recent: Sequence[Purchase] = (),
    zone: ZoneInfo | None = None,
    manager: str | None = None,
) -> str:
    unset = t(lang, "profile.unset")
    lines = [
        t(lang, "profile.title"),
        t(lang, "profile.name", value=customer.display_name),
        t(lang, "profile.birthday", value=customer.birthday_text or unset),
        t(lang, "profile.phone", value=customer.phone or unset),
        t(lang, "profile.email", value=customer.email or unset),
        t(lang, "profile.timezone", value=customer.timezone or unset),
        *([t(lang, "profile.manager", name=manager)] if manager else []),
        "",
        *purchase_lines(recent, lang, zone or ZoneInfo("UTC")),
        "",
        t(lang, "profile.hint"),
    ]
    return "\n".join(lines)


async def show_profile(update: Update, context: Context) -> None:
    customer, _ = await touch(update, context)
    recent = await recent_purchases(context, customer)
    manager = await manager_first_name(context.application, customer)
    await context.bot.send_message(
        customer.telegram_id,
        profile_text(customer, customer.language, recent, customer_zone(customer, context), manager),
        parse_mode=ParseMode.HTML,
        reply_markup=profile_keyboard(customer.language),
    )


async def profile_button(update: Update, context: Context) -> None:
    query = update.callback_query
    assert query is not None and query.data is not None
    await query.answer()
    action = callback_data.PROFILE.read(query.data).word("field")
    customer, _ = await touch(update, context)
    lang = customer.language
    if action == "done":
        await pending.done(update, context)
        await context.bot.send_message(customer.telegram_id, t(lang, "profile.saved"), parse_mode=ParseMode.HTML)
        return
    if action not in FIELDS:
        return
    if action in OPTIONAL_DETAILS and await details_refused(context, customer):
        return
    await pending.expect(update, context, f"profile:{action}")
    markup: Any = None
    if action == "phone":
        markup = ReplyKeyboardMarkup(
            [[KeyboardButton(t(lang, "profile.share_phone"), request_contact=True)]],
            one_time_keyboard=True,
            resize_keyboard=True,
        )
    await context.bot.send_message(
        customer.telegram_id, t(lang, f"profile.ask.{action}"), parse_mode=ParseMode.HTML, reply_markup=markup
    )


def _parse(field: str, update: Update) -> dict[str, Any]:
    message = update.effective_message
    assert message is not None
    if field == "phone" and message.contact is not None:
        if message.contact.user_id not in (None, message.from_user.id if message.from_user else None):
            raise InvalidValue("phone", "phone_not_yours", "share your own contact")
        return {"phone": normalise_phone(message.contact.phone_number)}
    text = (message.text or "").strip()
    if not text:
        raise InvalidValue(field, "text_expected", "send the value as text")
    if field == "birthday":
        birthday = parse_birthday(text)
        return {"birth_year": birthday.year, "birth_month": birthday.month, "birth_day": birthday.day}
    if field == "phone":
        return {"phone": normalise_phone(text)}
    if field == "email":
        return {"email": normalise_email(text)}
    return {"timezone": normalise_timezone(text)}


@pending.on_input("profile")
async def receive_value(update: Update, context: Context, kind: str, _data: dict[str, Any]) -> None:
    field = kind.split(":", 1)[1]
    customer, _ = await touch(update, context)
    lang = customer.language
    message = update.effective_message
    assert message is not None
    if field in OPTIONAL_DETAILS and await details_refused(context, customer):
        await pending.done(update, context)
        return
    try:
        values = _parse(field, update)
    except InvalidValue as error:
        await message.reply_text(
            t(lang, f"invalid.{error.code}") + "\n" + t(lang, f"profile.ask.{field}"), parse_mode=ParseMode.HTML
        )
        return
    async with transaction(context.services.sessions) as session:
        stored = await customers.get_customer(session, telegram_id=customer.telegram_id)
        assert stored is not None
        for name, value in values.items():
            setattr(stored, name, value)
        stored.updated_at = stored.last_confirmed_at = utcnow()
        session.add(stored)
    await pending.done(update, context)
    await message.reply_text(t(lang, "profile.updated"), parse_mode=ParseMode.HTML, reply_markup=ReplyKeyboardRemove())
    recent = await recent_purchases(context, stored)
    await context.bot.send_message(
        customer.telegram_id,
        profile_text(stored, lang, recent, customer_zone(stored, context)),
        parse_mode=ParseMode.HTML,
        reply_markup=profile_keyboard(lang),
    )


async def menu_profile(update: Update, context: Context) -> None:
    assert update.callback_query is not None
    await update.callback_query.answer()
    await show_profile(update, context)


def register(app: CarebotApp) -> None:
    app.add_handler(CommandHandler("profile", show_profile, filters=CUSTOMER_CHAT))
    app.add_handler(CallbackQueryHandler(profile_button, pattern=callback_data.PROFILE))
    app.add_handler(CallbackQueryHandler(menu_profile, pattern=callback_data.MENU_PROFILE))
