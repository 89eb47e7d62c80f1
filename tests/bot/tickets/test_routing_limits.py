"""Telegram's limits on (`CAREBOT_RATE_LIMITS=on`): with agents' inboxes the staff group is no bottleneck. Each
inbox takes one message a second, the group 20 calls a minute for the cards; the inboxes do not wait for it."""

from __future__ import annotations

import time

import pytest

from bot.settings import Settings
from storage.db import transaction
from storage.models import StaffMember
from tests.botapi import FakeTelegram
from tests.harness import BotHarness

STAFF_CHAT = -100500
AGENTS = 4
CUSTOMERS = 24

pytestmark = pytest.mark.usefixtures("no_handler_errors")


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"default_language": "en", "rate_limits": "on"})


def max_in_window(times: list[float], seconds: float) -> int:
    ordered, best, start = sorted(times), 0, 0
    for end, at in enumerate(ordered):
        while at - ordered[start] >= seconds:
            start += 1
        best = max(best, end - start + 1)
    return best


async def test_while_many_customers_write_at_once_inboxes_keep_pace_and_the_group_gets_at_most_20_calls_a_minute(
    bot: BotHarness, tg: FakeTelegram
) -> None:
    staff = tg.group(STAFF_CHAT, "Care team", members=[tg.user(900001, "Ada")])
    agents = [tg.user(800001 + n, f"Agent{n}") for n in range(AGENTS)]
    async with transaction(bot.services.sessions) as session:
        for agent in agents:
            session.add(StaffMember(telegram_id=agent.id, name=agent.first_name, role="agent"))
    for agent in agents:
        tg.sends_command(agent, "/start")
    await bot.deliver()
    customers = [tg.user(9000 + n, f"Customer{n}") for n in range(CUSTOMERS)]
    started = time.monotonic()
    for n, customer in enumerate(customers):
        tg.customer_sends_text(customer, f"c{n} hello")
    await bot.deliver()  # returns once the relay has delivered everything, the group's last cards included
    shown = {part for agent in agents for m in tg.sent_to(agent) for part in m.content.split("\n\n")}
    assert {f"c{n} hello" for n in range(CUSTOMERS)} <= shown  # each in its card in an inbox
    inbox_calls = [c.at for c in tg.calls if c.chat_id in {a.id for a in agents} and c.method == "sendMessage"]
    card_calls = [c.at for c in tg.calls if str(c.chat_id) == str(STAFF_CHAT) and c.method == "sendMessage"]
    assert len(card_calls) == CUSTOMERS and max(card_calls) - started > 60  # the group's minute was full
    assert max(inbox_calls) - started < 30  # the inboxes did not wait for it
    group_calls = [call.at for call in tg.calls if str(call.chat_id) == str(STAFF_CHAT) and call.method != "getChat"]
    assert max_in_window(group_calls, 60.0) <= 20
    for agent in agents:
        assert max_in_window([c.at for c in tg.calls if str(c.chat_id) == str(agent.id)], 1.0) <= 1
    assert not [m for m in tg.sent_to(staff) if m.content.startswith("c")]  # assigned: no copies in the group
