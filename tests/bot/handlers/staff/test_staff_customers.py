"""Staff find customers, read their cards, record purchases and refunds, keep notes and redeem gift codes."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from storage.coupons import issue_coupon
from storage.db import transaction
from storage.models import CustomerNote, SurveyResponse, Ticket, TicketStatus
from storage.types import utcnow
from tests.botapi import FakeTelegram
from tests.harness import BotHarness
from tests.ids import ADMIN_ID
from tests.staff_world import add_customer, audit_rows, say, staff_world, stored_customer


async def test_agent_sees_a_masked_card_and_the_view_is_audited(bot: BotHarness, tg: FakeTelegram) -> None:
    world = await staff_world(bot, tg)
    customer = await add_customer(
        bot, 501, "Wang", last_name="Li", username="wangli", phone="13812345678", email="wang@example.com"
    )
    async with transaction(bot.services.sessions) as session:
        session.add(Ticket(customer_id=customer.id, status=TicketStatus.OPEN.value))  # type: ignore[arg-type]
        session.add(SurveyResponse(kind="csat", customer_id=customer.id, score=4))
        session.add(CustomerNote(customer_id=customer.id, author_telegram_id=ADMIN_ID, text="prefers <email>"))  # type: ignore[arg-type]

    card = await say(bot, tg, world.agent, "/customer @wangli", world.staff_chat)
    assert "Wang Li" in card.content and "501" in card.content
    assert "138****5678" in card.content and "13812345678" not in card.content
    assert "w***@example.com" in card.content
    assert "Segment: potential" in card.content
    assert "Open tickets: #1" in card.content
    assert "Last satisfaction: 4/5" in card.content
    assert "prefers <email>" in card.content
    assert card.callback_data == [f"staff:purchases:{customer.id}"]

    card = await say(bot, tg, world.admin, "/customer 13812345678", world.staff_chat)
    assert "13812345678" in card.content and "wang@example.com" in card.content

    views = await audit_rows(bot, "customer.view")
    assert [(row.actor_telegram_id, row.customer_id) for row in views] == [
        (800001, customer.id),
        (ADMIN_ID, customer.id),
    ]


async def test_ambiguous_names_give_a_short_list_and_unknown_ones_say_so(bot: BotHarness, tg: FakeTelegram) -> None:
    world = await staff_world(bot, tg)
    first = await add_customer(bot, 511, "Anna", last_name="Schmidt")
    second = await add_customer(bot, 512, "Anna", last_name="Berg")
    listing = await say(bot, tg, world.agent, "/customer anna")
    assert "Several customers" in listing.content
    assert listing.callback_data == [f"staff:card:{first.id}", f"staff:card:{second.id}"]
    tg.presses_button(world.agent, listing, f"staff:card:{second.id}")
    await bot.deliver()
    assert "Anna Berg" in tg.last_sent(world.agent).content  # type: ignore[union-attr]

    missing = await say(bot, tg, world.agent, "/customer nobody-here")
    assert missing.content == "No such customer: nobody-here"
    usage = await say(bot, tg, world.agent, "/customer")
    assert usage.content.startswith("Usage: /customer <telegram id")


async def test_find_tolerates_typos_and_links_to_cards(bot: BotHarness, tg: FakeTelegram) -> None:
    world = await staff_world(bot, tg)
    target = await add_customer(bot, 521, "Katharina", last_name="Müller", email="kathi@example.org")
    await add_customer(bot, 522, "Peter", last_name="Schulz", phone="+4915112345678")
    result = await say(bot, tg, world.agent, "/find Katarina Muller")
    assert "Katharina Müller" in result.content
    assert result.callback_data[0] == f"staff:card:{target.id}"
    by_phone = await say(bot, tg, world.agent, "/find 12345678")
    assert "Peter Schulz" in by_phone.content and "+491******5678" in by_phone.content
    assert (await say(bot, tg, world.agent, "/find zzzzqqqq")).content == "Nobody matches “zzzzqqqq”."
    assert (await say(bot, tg, world.agent, "/find")).content.startswith("Usage: /find")
    assert len(await audit_rows(bot, "customer.search")) == 3


async def test_purchases_move_the_segment_and_the_answer_shows_it(bot: BotHarness, tg: FakeTelegram) -> None:
    world = await staff_world(bot, tg)
    await add_customer(bot, 531, "Mia", username="mia")
    first = await say(bot, tg, world.agent, "/purchase @mia 120 A-1 gift wrap please")
    assert "Recorded CN¥120.00 for Mia (ref A-1)" in first.content
    assert "Segment: potential → new" in first.content
    second = await say(bot, tg, world.agent, "/purchase 531 80.50")
    assert "Segment: new → returning" in second.content
    big = await say(bot, tg, world.agent, "/purchase @mia 10000 A-3")
    assert "Segment: returning → VIP" in big.content
    customer = await stored_customer(bot, 531)
    assert customer.segment == "vip" and customer.total_spent == Decimal("10200.50") and customer.purchase_count == 3

    assert "already recorded" in (await say(bot, tg, world.agent, "/purchase @mia 5 A-1")).content
    assert "is not an amount" in (await say(bot, tg, world.agent, "/purchase @mia 12,5")).content
    assert "is not an amount" in (await say(bot, tg, world.agent, "/purchase @mia -3")).content
    assert (await say(bot, tg, world.agent, "/purchase @mia")).content.startswith("Usage: /purchase")

    refund = await say(bot, tg, world.agent, "/refund @mia A-3")
    assert "Refunded CN¥10,000.00 to Mia" in refund.content and "Segment: VIP → returning" in refund.content
    assert "already refunded" in (await say(bot, tg, world.agent, "/refund @mia A-3")).content
    assert "no purchase NOPE" in (await say(bot, tg, world.agent, "/refund @mia NOPE")).content
    assert (await say(bot, tg, world.agent, "/refund @mia")).content.startswith("Usage: /refund")

    listing = await say(bot, tg, world.agent, "/purchases @mia")
    assert "A-1" in listing.content and "gift wrap please" in listing.content and "refunded" in listing.content
    assert (await say(bot, tg, world.agent, "/purchases")).content.startswith("Usage: /purchases")
    assert [row.action for row in await audit_rows(bot) if row.action.startswith("purchase")] == [
        "purchase.record",
        "purchase.record",
        "purchase.record",
        "purchase.refund",
        "purchases.view",
    ]


async def test_notes_are_kept_and_a_reply_note_is_left_to_tickets(bot: BotHarness, tg: FakeTelegram) -> None:
    world = await staff_world(bot, tg)
    customer = await add_customer(bot, 541, "Noah", username="noah")
    saved = await say(bot, tg, world.agent, "/note @noah called twice, <b>urgent</b>", world.staff_chat)
    assert saved.content == "📝 Note saved on Noah."
    card = await say(bot, tg, world.agent, "/customer @noah", world.staff_chat)
    assert "called twice, <b>urgent</b>" in card.content

    sent_before = len(tg.sent_to(world.staff_chat))
    tg.group_message(world.agent, world.staff_chat, "/note @noah inside a ticket", reply_to=card)
    await bot.deliver()
    # A reply note is the tickets handler's business: outside a ticket it explains itself, no customer note is made.
    assert [m.content for m in tg.sent_to(world.staff_chat)[sent_before:]] != ["📝 Note saved on Noah."]
    assert (await say(bot, tg, world.agent, "/note @noah")).content.startswith("Usage: /note")
    assert [row.customer_id for row in await audit_rows(bot, "customer.note")] == [customer.id]


async def test_gift_codes_are_redeemed_once(bot: BotHarness, tg: FakeTelegram) -> None:
    world = await staff_world(bot, tg)
    customer = await add_customer(bot, 551, "Ella")
    async with transaction(bot.services.sessions) as session:
        valid = await issue_coupon(
            session,
            customer_id=customer.id,
            reason="birthday",
            value=Decimal("50"),
            currency="CNY",
            expires_at=utcnow() + timedelta(days=30),
        )
        old = await issue_coupon(
            session,
            customer_id=customer.id,
            reason="holiday",
            value=Decimal("20"),
            currency="CNY",
            expires_at=utcnow() - timedelta(days=1),
        )
    assert "redeemed: worth CN¥50.00" in (await say(bot, tg, world.agent, f"/redeem {valid.code.lower()}")).content
    assert "already used" in (await say(bot, tg, world.agent, f"/redeem {valid.code}")).content
    assert "expired" in (await say(bot, tg, world.agent, f"/redeem {old.code}")).content
    assert "no gift code" in (await say(bot, tg, world.agent, "/redeem ABCDEFGH")).content
    assert (await say(bot, tg, world.agent, "/redeem")).content.startswith("Usage: /redeem")
    assert [row.action for row in await audit_rows(bot) if row.action.startswith("coupon")] == [
        "coupon.redeemed",
        "coupon.already_used",
        "coupon.expired",
        "coupon.unknown",
    ]
