"""Staff send invoices from the chat; customers pay inside Telegram; each payment is a purchase, recorded once."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlmodel import col, select

from storage.models import Purchase
from tests.botapi import FakeMessage, FakeTelegram, FakeUser
from tests.harness import BotHarness
from tests.staff_world import World, audit_rows, say, staff_world, stored_customer

pytestmark = pytest.mark.usefixtures("no_handler_errors")


async def purchases(bot: BotHarness) -> list[Purchase]:
    async with bot.services.sessions() as session:
        return list((await session.execute(select(Purchase).order_by(col(Purchase.id)))).scalars())


async def customer_started(bot: BotHarness, tg: FakeTelegram, telegram_id: int = 6101) -> FakeUser:
    user = tg.user(telegram_id, "Nora", username="nora", language_code="en")
    tg.sends_command(user, "/start")
    await bot.deliver()
    return user


async def invoiced(bot: BotHarness, tg: FakeTelegram, world: World, user: FakeUser, text: str) -> FakeMessage:
    """Staff send `text` (an /invoice command); returns the invoice the customer got."""
    await say(bot, tg, world.agent, text, world.staff_chat)
    invoice = tg.last_sent(user)
    assert invoice is not None and "invoice" in invoice.data, tg.describe()
    return invoice


async def pays(bot: BotHarness, tg: FakeTelegram, user: FakeUser, invoice: FakeMessage) -> FakeMessage:
    checkout = tg.pays_invoice(user, invoice)
    await bot.deliver()
    paid = tg.payment_succeeds(user, checkout)
    await bot.deliver()
    return paid


async def test_invoice_in_stars_is_sent_paid_and_recorded_once_whatever_telegram_redelivers(
    bot: BotHarness, tg: FakeTelegram
) -> None:
    world = await staff_world(bot, tg)
    user = await customer_started(bot, tg)
    confirmation = await say(bot, tg, world.agent, "/invoice @nora 250 Gift box", world.staff_chat)
    assert (
        confirmation.content
        == "🧾 Invoice for 250 ⭐ sent to Nora: “Gift box”. The purchase is recorded when they pay."
    )
    [call] = tg.calls_to("sendInvoice")
    assert call.params["chat_id"] == user.id
    assert (call.params["currency"], call.params["prices"]) == ("XTR", [{"label": "Gift box", "amount": 250}])
    assert not call.params.get("provider_token")
    assert [row.customer_id for row in await audit_rows(bot, "invoice.send")] == [
        (await stored_customer(bot, user.id)).id
    ]

    invoice = tg.last_sent(user)
    assert invoice is not None and invoice.data["invoice"]["total_amount"] == 250
    checkout = tg.pays_invoice(user, invoice)
    await bot.deliver()
    record = tg.pre_checkout_queries[checkout.data["pre_checkout_query"]["id"]]
    assert record.answered and record.answer["ok"] is True
    paid = tg.payment_succeeds(user, checkout)
    await bot.deliver()
    thanks = [m.content for m in tg.sent_to(user) if m.content.startswith("✅ Payment received")]
    assert thanks == ["✅ Payment received: 250 ⭐. Thank you!"]

    [purchase] = await purchases(bot)
    charge_id = paid.data["successful_payment"]["telegram_payment_charge_id"]
    assert (purchase.reference, purchase.amount, purchase.currency, purchase.note) == (
        charge_id,
        Decimal("250.00"),
        "XTR",
        "Gift box",
    )
    customer = await stored_customer(bot, user.id)
    assert (customer.segment, customer.purchase_count) == ("new", 1)

    tg.redelivers(paid)  # the same payment under a new update id
    await bot.deliver()
    assert len(await purchases(bot)) == 1
    assert (await stored_customer(bot, user.id)).purchase_count == 1
    assert len([m for m in tg.sent_to(user) if m.content.startswith("✅ Payment received")]) == 1


async def test_with_a_payment_provider_the_invoice_is_in_the_shop_currency(
    bot: BotHarness, tg: FakeTelegram, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bot.services.settings, "payment_provider_token", "284685063:TEST:provider")
    world = await staff_world(bot, tg)
    user = await customer_started(bot, tg)
    invoice = await invoiced(bot, tg, world, user, "/invoice nora 199.90 Tea set")
    [call] = tg.calls_to("sendInvoice")
    assert (call.params["currency"], call.params["provider_token"]) == ("CNY", "284685063:TEST:provider")
    assert call.params["prices"] == [{"label": "Tea set", "amount": 19990}]
    await pays(bot, tg, user, invoice)
    [purchase] = await purchases(bot)
    assert (purchase.amount, purchase.currency) == (Decimal("199.90"), "CNY")


async def test_invoice_mistakes_are_explained_and_nothing_is_sent(bot: BotHarness, tg: FakeTelegram) -> None:
    world = await staff_world(bot, tg)
    await customer_started(bot, tg)
    usage = await say(bot, tg, world.agent, "/invoice @nora 250", world.staff_chat)
    assert usage.content.startswith("Usage: /invoice <customer> <amount> <title>")
    half = await say(bot, tg, world.agent, "/invoice @nora 2.5 Tea", world.staff_chat)
    assert half.content == "“2.5” is not an amount in XTR: write it like 250."
    long_title = await say(bot, tg, world.agent, "/invoice @nora 25 " + "x" * 33, world.staff_chat)
    assert long_title.content == "The title may have 32 characters at most."
    nobody = await say(bot, tg, world.agent, "/invoice nobody-here 25 Tea", world.staff_chat)
    assert nobody.content == "No such customer: nobody-here"
    assert tg.calls_to("sendInvoice") == []

    stranger = tg.user(6199, "Sam", username="sam_never_started", language_code="en", started=False)
    async with bot.services.sessions.begin() as session:
        from storage.models import Customer

        session.add(Customer(telegram_id=stranger.id, first_name="Sam", username="sam_never_started"))
    unreachable = await say(bot, tg, world.agent, "/invoice @sam_never_started 25 Tea", world.staff_chat)
    assert "cannot receive messages from the bot" in unreachable.content


async def test_an_invoice_the_bot_does_not_know_is_declined_before_payment(bot: BotHarness, tg: FakeTelegram) -> None:
    user = await customer_started(bot, tg)
    sent = await bot.app.bot.send_invoice(
        user.id, "Old", "An old invoice", "legacy-payload", "XTR", [{"label": "Old", "amount": 5}]
    )
    checkout = tg.pays_invoice(user, tg.message(user.id, sent.message_id))  # type: ignore[arg-type]
    await bot.deliver()
    answer = tg.pre_checkout_queries[checkout.data["pre_checkout_query"]["id"]].answer
    assert answer["ok"] is False and "no longer valid" in answer["error_message"]
    with pytest.raises(ValueError, match="not approved"):
        tg.payment_succeeds(user, checkout)


async def test_a_payment_in_the_middle_of_a_dialog_is_recorded_not_taken_as_the_answer(
    bot: BotHarness, tg: FakeTelegram
) -> None:
    world = await staff_world(bot, tg)
    user = await customer_started(bot, tg)
    invoice = await invoiced(bot, tg, world, user, "/invoice @nora 40 Socks")
    tg.sends_command(user, "/profile")
    await bot.deliver()
    profile = tg.last_sent(user)
    assert profile is not None
    tg.presses_button(user, profile, "profile:birthday")
    await bot.deliver()
    await pays(bot, tg, user, invoice)
    assert len(await purchases(bot)) == 1
    tg.customer_sends_text(user, "1990-05-17")  # the dialog still waits for the birthday
    await bot.deliver()
    assert (await stored_customer(bot, user.id)).birth_month == 5


async def test_refunding_a_stars_payment_gives_the_stars_back_through_telegram(
    bot: BotHarness, tg: FakeTelegram
) -> None:
    world = await staff_world(bot, tg)
    user = await customer_started(bot, tg)
    paid = await pays(bot, tg, user, await invoiced(bot, tg, world, user, "/invoice @nora 300 Lamp"))
    charge_id = paid.data["successful_payment"]["telegram_payment_charge_id"]

    tg.fail_next("refundStarPayment", status=400, description="Bad Request: REFUND_TEMPORARILY_UNAVAILABLE")
    refused = await say(bot, tg, world.agent, f"/refund @nora {charge_id}", world.staff_chat)
    assert "did not refund the Stars payment" in refused.content and "Nothing was recorded" in refused.content
    assert (await purchases(bot))[0].refunded_at is None

    done = await say(bot, tg, world.agent, f"/refund @nora {charge_id}", world.staff_chat)
    assert done.content.startswith("↩️ Refunded 300 ⭐ to Nora")
    assert "The Stars went back" in done.content
    calls = [call for call in tg.calls_to("refundStarPayment") if call.ok]
    assert [(c.params["user_id"], c.params["telegram_payment_charge_id"]) for c in calls] == [(user.id, charge_id)]
    assert tg.star_payments[charge_id].refunded
    customer = await stored_customer(bot, user.id)
    assert (customer.segment, customer.purchase_count) == ("potential", 0)
    again = await say(bot, tg, world.agent, f"/refund @nora {charge_id}", world.staff_chat)
    assert again.content == f"Purchase {charge_id} is already refunded."


async def test_the_customer_sees_their_purchases_in_the_profile(bot: BotHarness, tg: FakeTelegram) -> None:
    world = await staff_world(bot, tg)
    user = await customer_started(bot, tg)
    tg.sends_command(user, "/profile")
    await bot.deliver()
    assert "No purchases yet." in tg.last_sent(user).content  # type: ignore[union-attr]
    await pays(bot, tg, user, await invoiced(bot, tg, world, user, "/invoice @nora 120 Scarf"))
    await say(bot, tg, world.agent, "/purchase @nora 59.90 SHOP-7", world.staff_chat)
    await say(bot, tg, world.agent, "/refund @nora SHOP-7", world.staff_chat)
    tg.sends_command(user, "/profile")
    await bot.deliver()
    text = tg.last_sent(user).content  # type: ignore[union-attr]
    assert "Your purchases" in text
    assert "120 ⭐" in text
    assert "CN¥59.90 refunded · SHOP-7" in text


async def test_invoice_is_on_the_staff_help_and_menus(bot: BotHarness, tg: FakeTelegram) -> None:
    world = await staff_world(bot, tg)
    assert "/invoice" in (await say(bot, tg, world.agent, "/help", world.staff_chat)).content
    customer_help = await say(bot, tg, await customer_started(bot, tg), "/help")
    assert "/invoice" not in customer_help.content
