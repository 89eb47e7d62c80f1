"""Every staff command and button against a customer, an agent and an admin: customers get one refusal line and
nothing more, agents are refused admin work, admins may do everything."""

from __future__ import annotations

import pytest

from tests.botapi import FakeTelegram, FakeUser
from tests.harness import BotHarness
from tests.staff_world import add_customer, staff_world

REFUSAL = "This command is for staff."
AGENT_COMMANDS = [
    "/customer 990001",
    "/find Zoe",
    "/purchase 990001 10 AUTH-1",
    "/refund 990001 AUTH-1",
    "/purchases 990001",
    "/note 990001 secret",
    "/ticket 1",
    "/assign 1 me",
    "/stats",
    "/redeem ABCDEFGH",
]
ADMIN_COMMANDS = ["/staff list", "/export customers", "/import customers", "/broadcast all"]
AGENT_BUTTONS = ["staff:card:{cid}", "staff:purchases:{cid}"]
ADMIN_BUTTONS = ["staff:import:commit:1", "staff:import:discard:1", "staff:bcast:go:1", "staff:bcast:no:1"]


async def answers_to(bot: BotHarness, tg: FakeTelegram, user: FakeUser, command: str) -> list[str]:
    before = len(tg.sent_to(user))
    tg.sends_command(user, command)
    await bot.deliver()
    return [message.content for message in tg.sent_to(user)[before:]]


@pytest.mark.parametrize("command", AGENT_COMMANDS + ADMIN_COMMANDS)
async def test_a_customer_gets_one_refusal_line_for_every_staff_command(
    bot: BotHarness, tg: FakeTelegram, command: str
) -> None:
    world = await staff_world(bot, tg)
    await add_customer(bot, 990001, "Zoe")
    assert await answers_to(bot, tg, world.outsider, command) == [REFUSAL]
    before = len(tg.sent_to(world.staff_chat))
    tg.sends_command(world.outsider, command, world.staff_chat)
    await bot.deliver()
    assert [m.content for m in tg.sent_to(world.staff_chat)[before:]] == [REFUSAL]


async def test_an_agent_may_do_agent_work_but_not_admin_work(bot: BotHarness, tg: FakeTelegram) -> None:
    world = await staff_world(bot, tg)
    await add_customer(bot, 990001, "Zoe")
    for command in AGENT_COMMANDS:
        answers = await answers_to(bot, tg, world.agent, command)
        assert answers and REFUSAL not in answers, command
    for command in ADMIN_COMMANDS:
        assert await answers_to(bot, tg, world.agent, command) == [REFUSAL], command


async def test_an_admin_may_use_every_staff_command(bot: BotHarness, tg: FakeTelegram) -> None:
    world = await staff_world(bot, tg)
    await add_customer(bot, 990001, "Zoe")
    for command in AGENT_COMMANDS + ADMIN_COMMANDS:
        answers = await answers_to(bot, tg, world.admin, command)
        assert answers and REFUSAL not in answers, command
        tg.sends_command(world.admin, "/cancel")  # leave no dialog step open for the next command
        await bot.deliver()


async def press(bot: BotHarness, tg: FakeTelegram, user: FakeUser, data: str) -> tuple[dict[str, object], int]:
    """Press a button with `data` on a bot message in the user's chat; returns (the callback answer, messages sent)."""
    tg.sends_command(user, "/whoami")
    await bot.deliver()
    shown = tg.last_sent(user)
    assert shown is not None
    sent_before = len(tg.sent_to(user))
    update = tg.presses_button(user, shown, data, strict=False)
    await bot.deliver()
    record = tg.callback_queries[update.data["callback_query"]["id"]]
    return record.answer, len(tg.sent_to(user)) - sent_before


async def test_staff_buttons_check_the_role_of_whoever_presses_them(bot: BotHarness, tg: FakeTelegram) -> None:
    world = await staff_world(bot, tg)
    customer = await add_customer(bot, 990001, "Zoe")
    agent_buttons = [data.format(cid=customer.id) for data in AGENT_BUTTONS]
    for data in agent_buttons + ADMIN_BUTTONS:
        answer, sent = await press(bot, tg, world.outsider, data)
        assert (answer.get("text"), answer.get("show_alert"), sent) == (REFUSAL, True, 0), data
    for data in ADMIN_BUTTONS:
        answer, sent = await press(bot, tg, world.agent, data)
        assert (answer.get("text"), sent) == (REFUSAL, 0), data
    for data in agent_buttons:
        answer, sent = await press(bot, tg, world.agent, data)
        assert answer.get("text") is None and sent == 1, data
