"""The desk's customer card, its forms, the search, the reports and ticket files: the same rules, masking and audit
rows as the chat commands."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlmodel import col, select

from bot.settings import Settings
from storage.db import transaction
from storage.models import AccountManager, Customer, TicketMessage
from tests.botapi import FakeTelegram
from tests.desk_support import BASE, customer_opens_ticket, desk_client, signed, with_desk
from tests.harness import BotHarness
from tests.staff_world import add_customer, audit_rows, staff_world


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return with_desk(settings)


async def test_agents_see_contacts_masked_admins_whole_and_every_look_is_audited(
    bot: BotHarness, tg: FakeTelegram
) -> None:
    world = await staff_world(bot, tg)
    token = bot.services.settings.bot_token
    customer = await add_customer(
        bot, 5401, "<b>Bold</b> Bea", phone="+8613812345678", email="bea@example.com", segment="vip"
    )
    page = f"{BASE}/view/customer/{customer.id}"
    async with desk_client(bot) as http:
        agent = await http.get(page, headers=signed(world.agent, token))
        admin = await http.get(page, headers=signed(world.admin, token))
        missing = await http.get(f"{BASE}/view/customer/999", headers=signed(world.agent, token))
    assert agent.status_code == admin.status_code == 200
    assert "+86 138****5678" in agent.text and "b***@example.com" in agent.text and "13812345678" not in agent.text
    assert "+8613812345678" in admin.text and "bea@example.com" in admin.text
    assert "&lt;b&gt;Bold&lt;/b&gt; Bea" in agent.text and "<b>Bold</b>" not in agent.text
    assert missing.status_code == 404
    views = await audit_rows(bot, "customer.view")
    assert [(row.actor_telegram_id, row.customer_id) for row in views] == [
        (world.agent.id, customer.id),
        (world.admin.id, customer.id),
    ]


async def test_notes_and_purchases_from_the_card_follow_the_commands_rules(bot: BotHarness, tg: FakeTelegram) -> None:
    world = await staff_world(bot, tg)
    token = bot.services.settings.bot_token
    customer = await add_customer(bot, 5402, "Kai")
    act = f"{BASE}/act/customer/{customer.id}"
    async with desk_client(bot) as http:
        noted = await http.post(f"{act}/note", data={"text": "Prefers e-mail"}, headers=signed(world.agent, token))
        bought = await http.post(
            f"{act}/purchase", data={"amount": "120.50", "reference": "A-1"}, headers=signed(world.agent, token)
        )
        twice = await http.post(
            f"{act}/purchase", data={"amount": "120.50", "reference": "A-1"}, headers=signed(world.agent, token)
        )
        wrong = await http.post(f"{act}/purchase", data={"amount": "-3"}, headers=signed(world.agent, token))
        empty = await http.post(f"{act}/note", data={"text": "  "}, headers=signed(world.agent, token))
        outsider = await http.post(f"{act}/note", data={"text": "x"}, headers=signed(world.outsider, token))
        card = await http.get(f"{BASE}/view/customer/{customer.id}", headers=signed(world.agent, token))
    assert "Prefers e-mail" in noted.text
    assert "A-1" in bought.text and "potential → <b>new</b>" in bought.text
    assert "already" in twice.text.lower()
    assert "-3" in wrong.text and empty.status_code == 200
    assert outsider.status_code == 403
    assert "Segment history" in card.text and 'potential → new <span class="muted">(purchase)</span>' in card.text
    assert 'data-agreement="none_required"' in card.text and "Prefers e-mail" in card.text
    async with bot.services.sessions() as session:
        stored = await session.get(Customer, customer.id)
    assert stored is not None and stored.purchase_count == 1 and stored.total_spent == Decimal("120.50")
    assert stored.segment == "new"
    assert len(await audit_rows(bot, "customer.note")) == 1
    assert [row.detail for row in await audit_rows(bot, "purchase.record")] == ["A-1"]


async def test_search_finds_customers_despite_typos_and_keeps_the_text_out_of_the_url(
    bot: BotHarness, tg: FakeTelegram
) -> None:
    world = await staff_world(bot, tg)
    token = bot.services.settings.bot_token
    await add_customer(bot, 5403, "Anastasia", last_name="Schmidt", phone="+4915112345678")
    async with desk_client(bot) as http:
        found = await http.post(
            f"{BASE}/view/search", data={"q": "Anastasia Schmitd"}, headers=signed(world.agent, token)
        )
        blank = await http.get(f"{BASE}/view/search", headers=signed(world.agent, token))
    assert "Anastasia Schmidt" in found.text and "12345678" not in found.text  # an agent sees the phone masked
    assert "Anastasia" not in blank.text
    assert [row.detail for row in await audit_rows(bot, "customer.search")] == ["1"]


async def test_reports_show_the_stats_figures_and_charts(bot: BotHarness, tg: FakeTelegram) -> None:
    world = await staff_world(bot, tg)
    token = bot.services.settings.bot_token
    await customer_opens_ticket(bot, tg, tg.user(5404, "Ola", language_code="en"), "Hello")
    async with desk_client(bot) as http:
        page = await http.get(f"{BASE}/view/reports?days=30", headers=signed(world.admin, token))
        chart = await http.get(f"{BASE}/chart/30/1", headers=signed(world.admin, token))
        no_chart = await http.get(f"{BASE}/chart/5/1", headers=signed(world.admin, token))
    assert page.status_code == 200 and "30" in page.text and f"{BASE}/chart/30/5" in page.text
    assert chart.status_code == 200 and chart.content.startswith(b"\x89PNG")
    assert no_chart.status_code == 404
    assert [row.detail for row in await audit_rows(bot, "stats.view")] == ["30d"]


async def test_ticket_pictures_come_through_the_server_without_the_bot_token(bot: BotHarness, tg: FakeTelegram) -> None:
    world = await staff_world(bot, tg)
    token = bot.services.settings.bot_token
    user = tg.user(5405, "Pia", language_code="en")
    ticket = await customer_opens_ticket(bot, tg, user, "Look at this")
    tg.sends_photo(user, caption="the scratch", content=b"\x89PNG-scratch")
    await bot.deliver()
    async with bot.services.sessions() as session:
        photo = (await session.execute(select(TicketMessage).where(col(TicketMessage.kind) == "photo"))).scalar_one()
    async with desk_client(bot) as http:
        page = await http.get(f"{BASE}/view/ticket/{ticket.id}", headers=signed(world.agent, token))
        picture = await http.get(f"{BASE}/file/{photo.id}", headers=signed(world.agent, token))
        unsigned = await http.get(f"{BASE}/file/{photo.id}")
    assert f'data-src="{BASE}/file/{photo.id}"' in page.text and "the scratch" in page.text
    assert token not in page.text and token.split(":")[1] not in page.text
    assert picture.status_code == 200 and picture.content == b"\x89PNG-scratch"
    assert unsigned.status_code == 401


async def test_reports_show_each_agents_figures_and_the_card_a_vips_account_manager(
    bot: BotHarness, tg: FakeTelegram
) -> None:
    world = await staff_world(bot, tg)
    token = bot.services.settings.bot_token
    tg.sends_command(world.agent, "/start")  # the agent's inbox opens
    await bot.deliver()
    customer = await add_customer(bot, 5405, "Vera", segment="vip")
    async with transaction(bot.services.sessions) as session:
        session.add(AccountManager(customer_id=customer.id, manager_telegram_id=world.agent.id))  # type: ignore[arg-type]
    async with desk_client(bot) as http:
        reports = await http.get(f"{BASE}/view/reports?days=7", headers=signed(world.admin, token))
        card = await http.get(f"{BASE}/view/customer/{customer.id}", headers=signed(world.admin, token))
    assert "Per agent" in reports.text and "Gus" in reports.text
    assert "Account manager" in card.text and "Gus" in card.text
