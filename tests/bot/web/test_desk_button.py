"""With the desk served, every staff member's private chat gets the **Open desk** menu button; customers never do,
and a former staff member loses it."""

from __future__ import annotations

import pytest

from bot.app import on_startup
from bot.settings import Settings
from tests.botapi import FakeTelegram
from tests.desk_support import DESK_URL, with_desk
from tests.harness import BotHarness
from tests.ids import ADMIN_ID
from tests.staff_world import add_customer, say, staff_world


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return with_desk(settings)


async def test_staff_get_the_desk_button_and_customers_do_not(bot: BotHarness, tg: FakeTelegram) -> None:
    world = await staff_world(bot, tg)
    customer = tg.user(5301, "Ivy", language_code="en")
    await add_customer(bot, 5301, "Ivy")
    await on_startup(bot.app)
    desk_button = {"type": "web_app", "text": "Open desk", "web_app": {"url": DESK_URL}}
    assert tg.menu_buttons[str(ADMIN_ID)] == desk_button
    assert tg.menu_buttons[str(world.agent.id)] == desk_button
    assert str(customer.id) not in tg.menu_buttons and "" not in tg.menu_buttons

    newcomer = tg.user(5302, "Nora", username="nora_new", language_code="en")
    await add_customer(bot, 5302, "Nora", username="nora_new")
    await say(bot, tg, world.admin, "/staff add 5302")
    assert tg.menu_buttons[str(newcomer.id)] == desk_button
    await say(bot, tg, world.admin, "/staff remove 5302")
    assert tg.menu_buttons[str(newcomer.id)] == {"type": "default"}


async def test_without_the_desk_nobody_gets_the_button(bot: BotHarness, tg: FakeTelegram) -> None:
    bot.services.settings.webapp_url = ""
    await staff_world(bot, tg)
    await on_startup(bot.app)
    assert str(ADMIN_ID) not in tg.menu_buttons
