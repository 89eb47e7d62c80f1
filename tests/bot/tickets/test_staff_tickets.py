"""`/ticket <n>` shows a ticket's history (audited); `/assign <ticket> <staff>` hands it to a staff member."""

from __future__ import annotations

from storage.db import transaction
from storage.models import Ticket, TicketMessage
from tests.botapi import FakeTelegram
from tests.harness import BotHarness
from tests.staff_world import add_customer, audit_rows, say, staff_world


async def open_ticket(bot: BotHarness) -> Ticket:
    customer = await add_customer(bot, 801, "Tara")
    async with transaction(bot.services.sessions) as session:
        ticket = Ticket(customer_id=customer.id, category="order")  # type: ignore[arg-type]
        session.add(ticket)
        await session.flush()
        session.add(TicketMessage(ticket_id=ticket.id, direction="in", text="Where is my <parcel>?"))  # type: ignore[arg-type]
        session.add(TicketMessage(ticket_id=ticket.id, direction="out", text="On its way!", author_telegram_id=800001))  # type: ignore[arg-type]
        session.add(TicketMessage(ticket_id=ticket.id, direction="note", text="carrier delayed"))  # type: ignore[arg-type]
        session.add(TicketMessage(ticket_id=ticket.id, direction="in", kind="photo", text=None))  # type: ignore[arg-type]
    return ticket


async def test_ticket_history_is_shown_and_audited(bot: BotHarness, tg: FakeTelegram) -> None:
    world = await staff_world(bot, tg)
    ticket = await open_ticket(bot)
    history = await say(bot, tg, world.agent, f"/ticket #{ticket.id}", world.staff_chat)
    assert f"Ticket #{ticket.id}" in history.content and "open · order" in history.content
    assert "Customer: Tara" in history.content and "Not assigned" in history.content
    lines = history.content.splitlines()
    assert any("customer: Where is my <parcel>?" in line for line in lines)
    assert any("staff: On its way!" in line for line in lines)
    assert any("note: carrier delayed" in line for line in lines)
    assert any("customer: [photo]" in line for line in lines)
    assert [(row.action, row.detail) for row in await audit_rows(bot, "ticket.view")] == [
        ("ticket.view", f"#{ticket.id}")
    ]
    assert (await say(bot, tg, world.agent, "/ticket 999")).content == "There is no ticket #999."
    assert (await say(bot, tg, world.agent, "/ticket abc")).content.startswith("Usage: /ticket")


async def test_assigning_a_ticket_to_staff(bot: BotHarness, tg: FakeTelegram) -> None:
    world = await staff_world(bot, tg)
    ticket = await open_ticket(bot)
    await say(bot, tg, world.admin, f"/assign {ticket.id} @gus_agent", world.staff_chat)
    done = f"Ticket #{ticket.id} is assigned to @gus_agent."
    assert done in [m.content for m in tg.sent_to(world.staff_chat)]  # (then the group's card shows Gus)
    assert f"Ticket #{ticket.id} was assigned to you" in tg.last_sent(world.agent).content  # type: ignore[union-attr]
    async with bot.services.sessions() as session:
        assert (await session.get(Ticket, ticket.id)).assignee_telegram_id == 800001  # type: ignore[union-attr]
    assert "is not a staff member" in (await say(bot, tg, world.admin, f"/assign {ticket.id} @olga")).content
    assert "is assigned to me" in (await say(bot, tg, world.agent, f"/assign {ticket.id} me")).content
    assert "is assigned to 900001" in (await say(bot, tg, world.agent, f"/assign {ticket.id} 900001")).content
    assert (await say(bot, tg, world.agent, "/assign 1")).content.startswith("Usage: /assign")
    assert "There is no ticket #77" in (await say(bot, tg, world.agent, "/assign 77 me")).content
    assert len(await audit_rows(bot, "ticket.assign")) == 3
