"""Who is staff: admins add and remove staff; each scope gets its command menu; `/help` lists a role's commands."""

from __future__ import annotations

import json

from bot.app import on_startup
from bot.ui.commands import COMMANDS, Audience, commands_for
from bot.ui.i18n import catalog_keys
from tests.botapi import FakeTelegram
from tests.harness import BotHarness
from tests.ids import ADMIN_ID, STAFF_CHAT_ID
from tests.staff_world import add_customer, audit_rows, say, staff_world


def menu(tg: FakeTelegram, scope: dict[str, object], language: str = "") -> list[str]:
    return [entry["command"] for entry in tg.commands.get((json.dumps(scope, sort_keys=True), language), [])]


def test_every_command_has_a_description_in_both_languages() -> None:
    for language in ("en", "zh_CN"):
        keys = catalog_keys(language)
        assert [c.key for c in COMMANDS if not keys.get(c.key)] == []
    names = [c.name for c in COMMANDS]
    assert len(names) == len(set(names))
    assert {"take", "resolve", "mydata", "forget", "audit"} <= set(names)


async def test_menus_are_set_per_scope_at_start_up(bot: BotHarness, tg: FakeTelegram) -> None:
    await staff_world(bot, tg)
    await on_startup(bot.app)  # what `carebot run` does once the Application started
    customers = menu(tg, {"type": "default"})
    assert "start" in customers and "customer" not in customers
    assert menu(tg, {"type": "default"}, "en") == customers
    group = menu(tg, {"type": "chat", "chat_id": STAFF_CHAT_ID})
    assert "customer" in group and "stats" in group and "broadcast" not in group
    assert "broadcast" in menu(tg, {"type": "chat", "chat_id": ADMIN_ID})
    assert "broadcast" in menu(tg, {"type": "chat_member", "chat_id": STAFF_CHAT_ID, "user_id": ADMIN_ID})
    agent_menu = menu(tg, {"type": "chat", "chat_id": 800001}, "en")
    assert "find" in agent_menu and "export" not in agent_menu
    descriptions = tg.commands[(json.dumps({"type": "chat", "chat_id": 800001}, sort_keys=True), "zh")]
    assert descriptions[0]["description"].startswith("客户卡片")


async def test_an_admin_adds_changes_lists_and_removes_staff(bot: BotHarness, tg: FakeTelegram) -> None:
    world = await staff_world(bot, tg)
    newcomer = tg.user(820001, "Nora", username="nora_new", language_code="en")
    await add_customer(bot, 820001, "Nora", username="nora_new")
    assert "This command is for staff." in (await say(bot, tg, newcomer, "/find anna")).content

    added = await say(bot, tg, world.admin, "/staff add @nora_new", world.staff_chat)
    assert added.content == "Nora is now staff: agent."
    assert "find" in menu(tg, {"type": "chat", "chat_id": 820001})
    assert "Nobody matches" in (await say(bot, tg, newcomer, "/find anna")).content
    assert "This command is for staff." in (await say(bot, tg, newcomer, "/export customers")).content

    assert (await say(bot, tg, world.admin, "/staff add 820001 admin")).content == "Nora is now admin."
    listing = await say(bot, tg, world.admin, "/staff list")
    assert "900001 — admin (CAREBOT_ADMIN_IDS)" in listing.content
    assert "Nora 820001 — admin" in listing.content and "Gus 800001 — agent" in listing.content

    later = await say(bot, tg, world.admin, "/staff add @someone_new")
    assert "when they first write to me" in later.content
    stranger = tg.user(830001, "Sam", username="someone_new")
    assert "Nobody matches" in (await say(bot, tg, stranger, "/find anna")).content  # recognised by username

    assert (await say(bot, tg, world.admin, "/staff remove 820001")).content == "820001 is no longer staff."
    assert menu(tg, {"type": "chat", "chat_id": 820001}) == []
    assert "This command is for staff." in (await say(bot, tg, newcomer, "/find anna")).content
    assert "CAREBOT_ADMIN_IDS" in (await say(bot, tg, world.admin, "/staff remove 900001")).content
    assert "is not a staff member" in (await say(bot, tg, world.admin, "/staff remove 123456")).content
    for wrong in ("/staff", "/staff add", "/staff add @x1234 boss", "/staff promote 1"):
        assert (await say(bot, tg, world.admin, wrong)).content.startswith("Usage: /staff")
    assert [row.action for row in await audit_rows(bot) if row.action.startswith("staff")] == [
        "staff.add",
        "staff.add",
        "staff.add",
        "staff.remove",
    ]


async def test_help_lists_the_commands_of_the_askers_role(bot: BotHarness, tg: FakeTelegram) -> None:
    world = await staff_world(bot, tg)
    customer_help = await say(bot, tg, world.outsider, "/help")
    assert "/profile" in customer_help.content and "/customer" not in customer_help.content
    agent_help = await say(bot, tg, world.agent, "/help")
    assert "/find" in agent_help.content and "/broadcast" not in agent_help.content
    assert "/customer — Customer card: /customer <id" in agent_help.content
    admin_help = await say(bot, tg, world.admin, "/help", world.staff_chat)
    assert all(f"/{c.name}" in admin_help.content for c in commands_for(Audience.ADMIN))
