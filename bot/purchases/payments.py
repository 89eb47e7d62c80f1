"""Payments inside Telegram: `/invoice` sends a customer an invoice, Telegram asks before it charges
(`pre_checkout_query`, answered at once: Telegram waits 10 s at most), and the `successful_payment` that follows is
recorded as a purchase whose reference is Telegram's charge id, once, however often Telegram delivers it.

Invoices are in Telegram Stars (`XTR`) unless `CAREBOT_PAYMENT_PROVIDER_TOKEN` is set; then they are in
`CAREBOT_CURRENCY` through that provider. A Stars payment is refunded through Telegram by `/refund`.
"""

from __future__ import annotations

import logging
import secrets
from decimal import Decimal, InvalidOperation

from babel.numbers import get_currency_precision
from sqlalchemy.exc import IntegrityError
from telegram import LabeledPrice, Update
from telegram.constants import ParseMode
from telegram.error import Forbidden, TelegramError
from telegram.ext import ApplicationHandlerStop, CommandHandler, MessageHandler, PreCheckoutQueryHandler, filters

from bot.auth import staff_only
from bot.caller import language_of, touch_in
from bot.context import CarebotApp, Context
from bot.handlers.customer import CUSTOMER_CHAT, reachability
from bot.handlers.customer.reachability import user_is_gone
from bot.handlers.staff.common import actor_id, answer, command_text, resolve_customer, role_and_language
from bot.runtime.dispatch import marking_handled
from bot.settings import Settings
from bot.ui.i18n import TELEGRAM_STARS, money, t
from storage import purchases
from storage.csv_import import parse_amount
from storage.db import transaction
from storage.models import Purchase, Role
from storage.staff import audit

log = logging.getLogger(__name__)

STARS = TELEGRAM_STARS
PAYLOAD_PREFIX = "carebot:"
MAX_TITLE = 32  # Telegram's limit for an invoice title
MAX_PAYLOAD_BYTES = 128
# Before the pending-input router (-10): a payment is never taken for the answer to a dialog step, or a ticket.
PAYMENT_GROUP = -20


def invoice_currency(settings: Settings) -> str:
    return settings.currency if settings.payment_provider_token else STARS


def precision(currency: str) -> int:
    """Digits after the point of the currency's smallest unit (Stars are whole)."""
    return 0 if currency == STARS else get_currency_precision(currency)


def to_smallest_units(amount: Decimal, currency: str) -> int:
    """The amount in the currency's smallest units, as Telegram counts prices; ValueError when it has a fraction
    of that unit (e.g. half a Star)."""
    units = amount.scaleb(precision(currency))
    if units != units.to_integral_value():
        raise ValueError(f"{amount} is not a whole number of {currency} units")
    return int(units)


def from_smallest_units(total: int, currency: str) -> Decimal:
    return Decimal(total).scaleb(-precision(currency))


def _payload(title: str) -> str:
    """Ours (the prefix), unique (a random part) and carrying the title, which becomes the purchase's note."""
    payload = f"{PAYLOAD_PREFIX}{secrets.token_hex(4)}:{title}"
    while len(payload.encode()) > MAX_PAYLOAD_BYTES:
        payload = payload[:-1]
    return payload


def _title_of(payload: str) -> str | None:
    parts = payload.split(":", 2)
    return parts[2] if len(parts) == 3 and parts[2] else None


@staff_only(Role.AGENT)
async def invoice_command(update: Update, context: Context) -> None:
    settings = context.services.settings
    currency = invoice_currency(settings)
    parts = command_text(update).split(maxsplit=2)
    _, lang = await role_and_language(update, context)
    if len(parts) < 3:
        await answer(update, t(lang, "staff.usage.invoice", currency=currency))
        return
    example = "250" if currency == STARS else "199.90"
    try:
        amount = parse_amount(parts[1])
        units = to_smallest_units(amount, currency)
    except (ValueError, InvalidOperation):
        await answer(update, t(lang, "staff.invoice.bad_amount", amount=parts[1], currency=currency, example=example))
        return
    title = parts[2].strip()
    if len(title) > MAX_TITLE:
        await answer(update, t(lang, "staff.invoice.too_long", limit=MAX_TITLE))
        return
    customer = await resolve_customer(update, context, parts[0])
    if customer is None:
        return
    try:
        await context.bot.send_invoice(
            chat_id=customer.telegram_id,
            title=title,
            description=str(t(customer.language, "payment.invoice_description")),
            payload=_payload(title),
            currency=currency,
            prices=[LabeledPrice(title, units)],
            provider_token=settings.payment_provider_token or None,
        )
    except Forbidden as error:
        if user_is_gone(error):
            await reachability.mark(context, customer.telegram_id, unreachable=True, tell_staff=False)
        await answer(update, t(lang, "staff.invoice.unreachable", name=customer.display_name))
        return
    except TelegramError as error:
        await answer(update, t(lang, "staff.invoice.failed", reason=error.message))
        return
    async with transaction(context.services.sessions) as session:
        await audit(
            session,
            actor_telegram_id=actor_id(update),
            action="invoice.send",
            customer_id=customer.id,
            detail=f"{amount} {currency}",
        )
    await answer(
        update,
        t(
            lang,
            "staff.invoice.sent",
            amount=money(amount, currency, lang),
            name=customer.display_name,
            title=title,
        ),
    )


async def pre_checkout(update: Update, context: Context) -> None:
    """Approve the invoices this bot sent; anything else (an old or foreign payload) is declined with a reason."""
    query = update.pre_checkout_query
    assert query is not None
    if query.invoice_payload.startswith(PAYLOAD_PREFIX):
        await query.answer(ok=True)
        return
    lang = await language_of(update, context)
    await query.answer(ok=False, error_message=str(t(lang, "payment.unknown_invoice")))


async def successful_payment(update: Update, context: Context) -> None:
    """Record the payment as the payer's purchase, its reference Telegram's charge id: once, whatever comes twice."""
    message = update.effective_message
    assert message is not None and message.successful_payment is not None
    payment = message.successful_payment
    amount = from_smallest_units(payment.total_amount, payment.currency)
    reference = payment.telegram_payment_charge_id
    recorded: Purchase | None = None
    lang = await language_of(update, context)
    try:
        async with marking_handled(context.application, update) as session:
            customer, _ = await touch_in(session, update, context)
            assert customer.id is not None
            lang = customer.language
            if await purchases.find_purchase(session, customer_id=customer.id, reference=reference) is None:
                recorded, _ = await purchases.record_purchase(
                    session,
                    customer=customer,
                    amount=amount,
                    currency=payment.currency,
                    reference=reference,
                    vip=context.services.vip,
                    note=_title_of(payment.invoice_payload),
                )
    except IntegrityError:  # the same charge recorded meanwhile through another delivery: nothing to add
        recorded = None
    if recorded is not None:
        await message.reply_text(
            t(lang, "payment.received", amount=money(amount, payment.currency, lang)), parse_mode=ParseMode.HTML
        )
    else:
        log.info("payment update %d: charge already recorded", update.update_id)
    raise ApplicationHandlerStop


async def refund_through_telegram(context: Context, *, purchase: Purchase, telegram_id: int) -> str | None:
    """Give a Stars payment back through Telegram before its refund is recorded. Returns None when that is done
    (or not needed: not a Stars payment, or Telegram had refunded it already), else Telegram's reason."""
    if purchase.currency != STARS:
        return None
    try:
        await context.bot.refund_star_payment(user_id=telegram_id, telegram_payment_charge_id=purchase.reference)
    except TelegramError as error:
        if "CHARGE_ALREADY_REFUNDED" in error.message.upper():
            return None
        return error.message
    return None


def register(app: CarebotApp) -> None:
    app.add_handler(CommandHandler("invoice", invoice_command))
    app.add_handler(PreCheckoutQueryHandler(pre_checkout))
    app.add_handler(MessageHandler(filters.SUCCESSFUL_PAYMENT & CUSTOMER_CHAT, successful_payment), group=PAYMENT_GROUP)
