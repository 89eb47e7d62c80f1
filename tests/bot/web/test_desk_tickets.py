"""The desk's queue and ticket pages through HTTP: who may see them, and a ticket worked from queue to close."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.settings import Settings
from bot.tickets.relay import relay_of
from bot.web.desk import INIT_DATA_HEADER
from storage.models import Ticket, TicketMessage
from storage.types import utcnow
from tests.botapi import FakeTelegram
from tests.desk_support import BASE, customer_opens_ticket, desk_client, init_data, signed, with_desk
from tests.harness import BotHarness
from tests.staff_world import audit_rows, staff_world


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return with_desk(settings)


async def test_only_current_staff_with_a_fresh_signature_see_the_queue(bot: BotHarness, tg: FakeTelegram) -> None:
    world = await staff_world(bot, tg)
    token = bot.services.settings.bot_token
    customer = tg.user(5101, "Mei", language_code="en")
    await customer_opens_ticket(bot, tg, customer, "My parcel is late")
    async with desk_client(bot) as http:
        seen = await http.get(f"{BASE}/view/queue", headers=signed(world.agent, token))
        assert seen.status_code == 200 and "Mei" in seen.text and "#1" in seen.text
        assert seen.headers["cache-control"] == "no-store"
        unsigned = await http.get(f"{BASE}/view/queue")
        tampered = init_data(world.agent, token).replace("Gus", "Bob")
        forged = await http.get(f"{BASE}/view/queue", headers={INIT_DATA_HEADER: tampered})
        wrong_bot = await http.get(f"{BASE}/view/queue", headers=signed(world.agent, "999:OTHER"))
        old = init_data(world.agent, token, auth_date=utcnow() - timedelta(hours=25))
        expired = await http.get(f"{BASE}/view/queue", headers={INIT_DATA_HEADER: old})
        outsider = await http.get(f"{BASE}/view/queue", headers=signed(world.outsider, token))
        customer_asks = await http.get(f"{BASE}/view/ticket/1", headers=signed(customer, token))
    for refused in (unsigned, forged, wrong_bot, expired):
        assert refused.status_code == 401 and "Mei" not in refused.text
    for refused in (outsider, customer_asks):
        assert refused.status_code == 403 and "Mei" not in refused.text and "parcel" not in refused.text


async def test_a_ticket_is_worked_from_the_queue_to_close_without_a_command(bot: BotHarness, tg: FakeTelegram) -> None:
    world = await staff_world(bot, tg)
    token = bot.services.settings.bot_token
    customer = tg.user(5102, "Ren", language_code="en")
    ticket = await customer_opens_ticket(bot, tg, customer, "Where is my order?")
    page = f"{BASE}/view/ticket/{ticket.id}"
    act = f"{BASE}/act/ticket/{ticket.id}"
    async with desk_client(bot) as http:
        shown = await http.get(page, headers=signed(world.agent, token))
        assert shown.status_code == 200 and "Where is my order?" in shown.text
        taken = await http.post(f"{act}/take", headers=signed(world.agent, token))
        assert taken.status_code == 200
        replied = await http.post(
            f"{act}/reply", data={"text": "It ships <today> & tomorrow"}, headers=signed(world.agent, token)
        )
        assert replied.status_code == 200 and "sent" in replied.text
        assert tg.last_sent(customer).content == "It ships <today> & tomorrow"  # type: ignore[union-attr]
        await relay_of(bot.app).settled()  # the staff chat sees the reply under the ticket
        shown = [m.content for m in tg.sent_to(world.staff_chat) if "在工作台回复" in m.content]
        assert shown == ["💬 Gus 在工作台回复：\nIt ships <today> & tomorrow"]
        resolved = await http.post(f"{act}/resolve", headers=signed(world.agent, token))
        closed = await http.post(f"{act}/close", headers=signed(world.agent, token))
        assert resolved.status_code == closed.status_code == 200
        assert "closed" in tg.last_sent(customer).content.lower()  # type: ignore[union-attr]
        again = await http.post(f"{act}/reply", data={"text": "one more"}, headers=signed(world.agent, token))
        assert "closed" in again.text
        reopened = await http.post(f"{act}/reopen", headers=signed(world.agent, token))
        assert reopened.status_code == 200
    async with bot.services.sessions() as session:
        stored = await session.get(Ticket, ticket.id)
        assert stored is not None and stored.status == "open" and stored.assignee_telegram_id == world.agent.id
        assert stored.first_response_at is not None
        replies = [
            m
            for m in (await session.execute(__import__("sqlmodel").select(TicketMessage))).scalars()
            if m.direction == "out"
        ]
    assert [reply.text for reply in replies] == ["It ships <today> & tomorrow"]
    actions = [row.action for row in await audit_rows(bot) if row.action.startswith("ticket.")]
    assert actions.count("ticket.view") >= 1 and {
        "ticket.take",
        "ticket.resolve",
        "ticket.close",
        "ticket.reopen",
    } <= set(actions)
