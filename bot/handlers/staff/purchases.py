"""Staff record what customers buy: `/purchase`, `/refund`, `/purchases` (and its button), `/redeem` a gift code."""

from __future__ import annotations

from telegram import Update
from telegram.ext import CallbackQueryHandler, CommandHandler

from bot.auth import staff_only
from bot.context import CarebotApp, Context
from bot.handlers.staff.common import (
    actor_id,
    answer,
    command_text,
    customer_view,
    lines,
    local_day,
    resolve_customer,
    role_and_language,
    usage,
)
from bot.handlers.staff.customers import segment_name
from bot.handlers.staff.records import PurchaseOutcome, record_staff_purchase, too_long
from bot.purchases.payments import STARS, refund_through_telegram
from bot.ui import callback_data
from bot.ui.i18n import money, t
from storage import coupons, purchases
from storage.coupons import RedeemOutcome
from storage.csv_import import parse_amount
from storage.db import transaction
from storage.models import Customer, Role
from storage.segments import SegmentMove
from storage.staff import audit


def segment_move_line(lang: str, move: SegmentMove) -> str:
    """`new → returning` when the purchase or refund moved the customer, else the segment they stay in."""
    if move.changed:
        return t(
            lang, "staff.purchase.moved", before=segment_name(lang, move.before), after=segment_name(lang, move.after)
        )
    return t(lang, "staff.purchase.stays", segment=segment_name(lang, move.after))


@staff_only(Role.AGENT)
async def purchase_command(update: Update, context: Context) -> None:
    parts = command_text(update).split(maxsplit=3)
    if len(parts) < 2:
        await usage(update, context, "purchase")
        return
    _, lang = await role_and_language(update, context)
    try:
        amount = parse_amount(parts[1])
    except ValueError:
        await answer(
            update, lines(t(lang, "staff.purchase.bad_amount", amount=parts[1]), t(lang, "staff.usage.purchase"))
        )
        return
    reference = parts[2] if len(parts) > 2 else None
    note = parts[3] if len(parts) > 3 else None
    if too_long(reference, note):
        await answer(update, t(lang, "staff.purchase.too_long"))
        return
    customer = await resolve_customer(update, context, parts[0])
    if customer is None:
        return
    assert customer.id is not None
    settings = context.services.settings
    done = await record_staff_purchase(
        context.services,
        customer_id=customer.id,
        amount=amount,
        reference=reference,
        note=note,
        actor_telegram_id=actor_id(update),
    )
    reference = done.reference
    if done.outcome == PurchaseOutcome.DUPLICATE:
        await answer(update, t(lang, "staff.purchase.duplicate", reference=reference))
        return
    stored, move = done.customer, done.move
    assert stored is not None and move is not None
    change = segment_move_line(lang, move)
    await answer(
        update,
        lines(
            t(
                lang,
                "staff.purchase.recorded",
                amount=money(amount, settings.currency, lang),
                name=stored.display_name,
                reference=reference,
            ),
            change,
            t(
                lang,
                "staff.purchase.totals",
                total=money(stored.total_spent, settings.currency, lang),
                count=stored.purchase_count,
            ),
        ),
    )


@staff_only(Role.AGENT)
async def refund_command(update: Update, context: Context) -> None:
    parts = command_text(update).split()
    if len(parts) != 2:
        await usage(update, context, "refund")
        return
    _, lang = await role_and_language(update, context)
    customer = await resolve_customer(update, context, parts[0])
    if customer is None:
        return
    reference = parts[1]
    async with transaction(context.services.sessions) as session:
        stored = await session.get(Customer, customer.id)
        assert stored is not None and stored.id is not None
        found = await purchases.find_purchase(session, customer_id=stored.id, reference=reference)
        if found is None:
            await answer(update, t(lang, "staff.refund.unknown", reference=reference))
            return
        if found.refunded_at is not None:
            await answer(update, t(lang, "staff.refund.already", reference=reference))
            return
        refused = await refund_through_telegram(context, purchase=found, telegram_id=stored.telegram_id)
        if refused is not None:
            await answer(update, t(lang, "staff.refund.star_failed", reference=reference, reason=refused))
            return
        purchase, move = await purchases.refund_purchase(
            session, customer=stored, reference=reference, vip=context.services.vip
        )
        await audit(
            session,
            actor_telegram_id=actor_id(update),
            action="purchase.refund",
            customer_id=stored.id,
            detail=reference,
        )
    change = segment_move_line(lang, move)
    await answer(
        update,
        lines(
            t(
                lang,
                "staff.refund.done",
                amount=money(purchase.amount, purchase.currency, lang),
                name=stored.display_name,
                reference=reference,
            ),
            change,
            t(lang, "staff.refund.stars_returned") if purchase.currency == STARS else None,
        ),
    )


async def send_purchases(update: Update, context: Context, customer: Customer) -> None:
    _, lang = await role_and_language(update, context)
    assert customer.id is not None
    async with transaction(context.services.sessions) as session:
        found = await purchases.list_purchases(session, customer_id=customer.id, limit=20)
        await audit(session, actor_telegram_id=actor_id(update), action="purchases.view", customer_id=customer.id)
    if not found:
        await answer(update, t(lang, "staff.purchases.none", name=customer.display_name))
        return
    entries = [
        t(
            lang,
            "staff.purchases.refunded_entry" if purchase.refunded_at else "staff.purchases.entry",
            day=local_day(purchase.occurred_at, context, lang),
            amount=money(purchase.amount, purchase.currency, lang),
            reference=purchase.reference,
        )
        + (f" — {purchase.note[:80]}" if purchase.note else "")
        for purchase in found
    ]
    currency = context.services.settings.currency
    await answer(
        update,
        lines(
            t(lang, "staff.purchases.title", name=customer.display_name),
            t(
                lang,
                "staff.purchase.totals",
                total=money(customer.total_spent, currency, lang),
                count=customer.purchase_count,
            ),
            *entries,
        ),
    )


purchases_command, purchases_button = customer_view("purchases", callback_data.CUSTOMER_PURCHASES, send_purchases)


@staff_only(Role.AGENT)
async def redeem_command(update: Update, context: Context) -> None:
    args = context.args or []
    if len(args) != 1 or not coupons.normalise_code(args[0]):
        await usage(update, context, "redeem")
        return
    _, lang = await role_and_language(update, context)
    async with transaction(context.services.sessions) as session:
        redemption = await coupons.redeem_coupon(session, code=args[0], staff_telegram_id=actor_id(update))
        coupon = redemption.coupon
        await audit(
            session,
            actor_telegram_id=actor_id(update),
            action=f"coupon.{redemption.outcome.value}",
            customer_id=coupon.customer_id if coupon else None,
            detail=coupons.normalise_code(args[0])[:16],
        )
    code = coupons.normalise_code(args[0])
    if redemption.outcome == RedeemOutcome.REDEEMED and coupon is not None:
        text = t(lang, "staff.redeem.redeemed", code=code, value=money(coupon.value, coupon.currency, lang))
    elif redemption.outcome == RedeemOutcome.EXPIRED and coupon is not None:
        text = t(lang, "staff.redeem.expired", code=code, day=local_day(coupon.expires_at, context, lang))
    elif redemption.outcome == RedeemOutcome.ALREADY_USED and coupon is not None and coupon.redeemed_at:
        text = t(lang, "staff.redeem.already_used", code=code, day=local_day(coupon.redeemed_at, context, lang))
    else:
        text = t(lang, "staff.redeem.unknown", code=code)
    await answer(update, text)


def register(app: CarebotApp) -> None:
    app.add_handler(CommandHandler("purchase", purchase_command))
    app.add_handler(CommandHandler("refund", refund_command))
    app.add_handler(CommandHandler("purchases", purchases_command))
    app.add_handler(CommandHandler("redeem", redeem_command))
    app.add_handler(CallbackQueryHandler(purchases_button, pattern=callback_data.CUSTOMER_PURCHASES))
