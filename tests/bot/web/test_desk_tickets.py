"""The desk's queue and ticket pages through HTTP: who may see them, and a ticket worked from queue to close."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from sqlmodel import select

from bot.settings import Settings
from bot.tickets.relay import relay_of
from bot.web.desk import INIT_DATA_HEADER, LANGUAGE_HEADER
from storage.db import transaction
from storage.models import Customer, Ticket, TicketMessage
from storage.types import utcnow
from tests.botapi import FakeTelegram
from tests.desk_support import BASE, customer_opens_ticket, desk_client, init_data, signed, with_desk
from tests.harness import BotHarness
from tests.staff_world import audit_rows, staff_world


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return with_desk(settings)


async def test_only_current_staff_with_a_fresh_signature_see_the_queue(
    bot: BotHarness, tg: FakeTelegram, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="bot")
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
    ours = "\n".join(record.getMessage() for record in caplog.records if record.name.startswith("bot."))
    assert "desk: request refused (expired)" in ours
    assert "Mei" not in ours and "parcel" not in ours and "hash=" not in ours


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
        shown = [m.content for m in tg.sent_to(world.staff_chat) if "answered from the desk" in m.content]
        assert shown == ["💬 Gus answered from the desk:\nIt ships <today> & tomorrow"]
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
        replies = [m for m in (await session.execute(select(TicketMessage))).scalars() if m.direction == "out"]
    assert [reply.text for reply in replies] == ["It ships <today> & tomorrow"]
    actions = [row.action for row in await audit_rows(bot) if row.action.startswith("ticket.")]
    assert actions.count("ticket.view") >= 1 and {
        "ticket.take",
        "ticket.resolve",
        "ticket.close",
        "ticket.reopen",
    } <= set(actions)


async def test_the_queue_puts_vip_first_and_filters_by_assignee_status_and_category(
    bot: BotHarness, tg: FakeTelegram
) -> None:
    world = await staff_world(bot, tg)
    token = bot.services.settings.bot_token
    first = await customer_opens_ticket(bot, tg, tg.user(5111, "Early", language_code="en"), "first")
    vip_user = tg.user(5112, "Victoria", language_code="en")
    vip = await customer_opens_ticket(bot, tg, vip_user, "second")
    async with transaction(bot.services.sessions) as session:
        customer = (await session.get(Ticket, vip.id)).customer_id  # type: ignore[union-attr]
        stored = await session.get(Customer, customer)
        assert stored is not None
        stored.segment = "vip"
        later = await session.get(Ticket, first.id)
        assert later is not None
        later.category = "order"
    queue = f"{BASE}/view/queue"
    async with desk_client(bot) as http:
        await http.post(f"{BASE}/act/ticket/{first.id}/take", headers=signed(world.agent, token))
        everyone = await http.get(queue, headers=signed(world.agent, token))
        mine = await http.get(queue, params={"who": "mine"}, headers=signed(world.agent, token))
        unassigned = await http.get(queue, params={"who": "unassigned"}, headers=signed(world.agent, token))
        orders = await http.get(queue, params={"category": "order"}, headers=signed(world.agent, token))
        pending = await http.get(queue, params={"status": "pending"}, headers=signed(world.agent, token))
        chinese = await http.get(queue, headers=signed(world.agent, token, **{LANGUAGE_HEADER: "zh_CN"}))
    assert everyone.text.index("Victoria") < everyone.text.index("Early")
    assert "Early" in mine.text and "Victoria" not in mine.text
    assert "Victoria" in unassigned.text and "Early" not in unassigned.text
    assert "Early" in orders.text and "Victoria" not in orders.text
    assert "Early" not in pending.text and "Victoria" not in pending.text
    assert "等待处理的工单：2" in chinese.text


async def test_an_internal_note_stays_with_staff(bot: BotHarness, tg: FakeTelegram) -> None:
    world = await staff_world(bot, tg)
    token = bot.services.settings.bot_token
    customer = tg.user(5113, "Nia", language_code="en")
    ticket = await customer_opens_ticket(bot, tg, customer, "hello")
    before = len(tg.sent_to(customer))
    async with desk_client(bot) as http:
        noted = await http.post(
            f"{BASE}/act/ticket/{ticket.id}/note", data={"text": "VIP <soon>"}, headers=signed(world.agent, token)
        )
    assert noted.status_code == 200 and "VIP &lt;soon&gt;" in noted.text
    assert len(tg.sent_to(customer)) == before
    async with bot.services.sessions() as session:
        notes = [m for m in (await session.execute(select(TicketMessage))).scalars() if m.direction == "note"]
    assert [(note.text, note.author_telegram_id) for note in notes] == [("VIP <soon>", world.agent.id)]


async def test_a_ticket_is_assigned_only_to_staff(bot: BotHarness, tg: FakeTelegram) -> None:
    world = await staff_world(bot, tg)
    token = bot.services.settings.bot_token
    ticket = await customer_opens_ticket(bot, tg, tg.user(5114, "Oda", language_code="en"), "hi")
    act = f"{BASE}/act/ticket/{ticket.id}/assign"
    async with desk_client(bot) as http:
        refused = await http.post(act, data={"assignee": str(world.outsider.id)}, headers=signed(world.admin, token))
        done = await http.post(act, data={"assignee": str(world.agent.id)}, headers=signed(world.admin, token))
        queue = await http.get(f"{BASE}/view/queue", headers=signed(world.admin, token))
    assert "is not a staff member" in refused.text
    assert f"Ticket #{ticket.id} is assigned to" in done.text
    assert "Gus" in queue.text
    assert f"Ticket #{ticket.id} was assigned to you" in tg.last_sent(world.agent).content  # type: ignore[union-attr]
    assert [row.detail for row in await audit_rows(bot, "ticket.assign")] == [f"#{ticket.id} -> {world.agent.id}"]
