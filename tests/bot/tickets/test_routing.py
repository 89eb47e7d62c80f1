"""Routing through the fake Bot API: tickets go to available agents' inboxes (their private chats with the bot),
by load, skills, VIP account manager and continuity; agents answer from there; `/away` hands tickets over; with
nobody available the staff group gets the ticket as before."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from bot.settings import Settings
from bot.tickets.relay import relay_of
from scheduler.config import CareConfig
from scheduler.jobs import run_job
from storage.db import transaction
from storage.models import AccountManager, Customer, StaffDelivery, StaffMember, Ticket
from tests.botapi import FakeChat, FakeMessage, FakeTelegram, FakeUser
from tests.harness import BotHarness

STAFF_CHAT = -100500
ADMIN_ID, MIA_ID, LEO_ID, KAI_ID = 900001, 800001, 800002, 800003

pytestmark = pytest.mark.usefixtures("no_handler_errors")


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"default_language": "en", "reopen_days": 0})


@pytest.fixture
def staff(tg: FakeTelegram) -> FakeChat:
    return tg.group(STAFF_CHAT, "Care team", members=[tg.user(ADMIN_ID, "Ada")])


@pytest.fixture
async def agents(bot: BotHarness, tg: FakeTelegram, staff: FakeChat) -> tuple[FakeUser, FakeUser, FakeUser]:
    """Mia and Leo opened their inboxes (/start in a private chat with the bot); Kai never did."""
    mia, leo, kai = tg.user(MIA_ID, "Mia"), tg.user(LEO_ID, "Leo"), tg.user(KAI_ID, "Kai")
    async with transaction(bot.services.sessions) as session:
        for user in (mia, leo, kai):
            session.add(StaffMember(telegram_id=user.id, name=user.first_name, role="agent"))
    for user in (mia, leo):
        tg.sends_command(user, "/start")
    await bot.deliver()
    assert "this chat is your inbox" in tg.last_sent(mia).content.lower()  # type: ignore[union-attr]
    return mia, leo, kai


def cards(tg: FakeTelegram, chat: FakeUser | FakeChat) -> list[FakeMessage]:
    return [m for m in tg.sent_to(chat) if m.content.startswith("🎫")]


def card_numbers(tg: FakeTelegram, chat: FakeUser | FakeChat) -> list[int]:
    return [int(m.content.split()[1].lstrip("#")) for m in cards(tg, chat)]


async def ticket(bot: BotHarness, number: int) -> Ticket:
    async with bot.services.sessions() as session:
        found = await session.get(Ticket, number)
    assert found is not None
    return found


async def test_tickets_alternate_between_the_agents_with_an_inbox_by_load(
    bot: BotHarness, tg: FakeTelegram, staff: FakeChat, agents: tuple[FakeUser, FakeUser, FakeUser]
) -> None:
    mia, leo, kai = agents
    customers = [tg.user(7001 + n, f"Customer{n}") for n in range(4)]
    for n, customer in enumerate(customers):
        tg.customer_sends_text(customer, f"question {n}")
        await bot.deliver()
    assert card_numbers(tg, mia) == [1, 3] and card_numbers(tg, leo) == [2, 4]
    assert cards(tg, kai) == []
    first_card = cards(tg, mia)[0]  # it carries the customer's first text: one message in the inbox, not two
    assert first_card.content.endswith("\n\nquestion 0") and "Assignee: Mia" in first_card.content
    assert "tk:assign:1" in first_card.callback_data
    # The group keeps the overview: every card, none of the assigned tickets' messages.
    assert card_numbers(tg, staff) == [1, 2, 3, 4]
    assert not [m for m in tg.sent_to(staff) if m.content.startswith("question")]
    assert "Assignee: Leo" in cards(tg, staff)[1].content

    tg.customer_sends_text(customers[0], "and another thing")  # the open ticket's next texts follow it
    await bot.deliver()
    follow_up = tg.sent_to(mia)[-1]
    assert follow_up.content == "and another thing" and follow_up.reply_to_message_id == first_card.message_id
    tg.customer_sends_text(mia, "Glad to help", reply_to=follow_up)
    await bot.deliver()
    assert tg.last_sent(customers[0]).content == "Glad to help"  # type: ignore[union-attr]
    tg.customer_sends_text(mia, "Anything else?", reply_to=first_card)  # its card changed meanwhile (pending)
    await bot.deliver()
    assert tg.last_sent(customers[0]).content == "Anything else?"  # type: ignore[union-attr]
    assert "answered" in first_card.content and first_card.content.endswith("question 0")


async def test_a_category_served_by_one_agent_only_goes_to_them(
    bot: BotHarness, tg: FakeTelegram, staff: FakeChat, agents: tuple[FakeUser, FakeUser, FakeUser]
) -> None:
    mia, leo, _ = agents
    admin = tg.users[ADMIN_ID]
    tg.sends_command(admin, f"/staff skills {LEO_ID} aftersale", staff)
    tg.sends_command(admin, f"/staff skills {MIA_ID} presale order other", staff)
    await bot.deliver()
    assert "After-sale" in tg.sent_to(staff)[-2].content
    for n in range(3):
        customer = tg.user(7101 + n, f"Buyer{n}")
        tg.sends_command(customer, "/start")
        await bot.deliver()
        tg.presses_button(customer, tg.sent_to(customer)[0], "menu:aftersale")
        await bot.deliver()
        tg.customer_sends_text(customer, f"broken {n}")
        await bot.deliver()
    assert card_numbers(tg, leo) == [1, 2, 3] and cards(tg, mia) == []


async def test_a_vip_customers_ticket_goes_to_their_account_manager(
    bot: BotHarness, tg: FakeTelegram, staff: FakeChat, agents: tuple[FakeUser, FakeUser, FakeUser]
) -> None:
    mia, leo, _ = agents
    admin = tg.users[ADMIN_ID]
    vip = tg.user(7201, "Victoria")
    async with transaction(bot.services.sessions) as session:
        session.add(
            Customer(telegram_id=vip.id, first_name="Victoria", language="en", segment="vip", purchase_count=12)
        )
    tg.sends_command(admin, f"/manager {vip.id} {LEO_ID}", staff)
    await bot.deliver()
    assert "Leo is now Victoria's account manager" in tg.last_sent(staff).content  # type: ignore[union-attr]
    for n, name in enumerate(("Otto", "Pia")):  # one each: by load and wait, Mia would be next
        tg.customer_sends_text(tg.user(7202 + n, name), "hello")
        await bot.deliver()
    tg.customer_sends_text(vip, "I need help")
    await bot.deliver()
    assert card_numbers(tg, leo) == [2, 3] and card_numbers(tg, mia) == [1]
    assert "Victoria" in cards(tg, leo)[1].content and "Account manager: Leo" in cards(tg, leo)[1].content
    tg.sends_command(vip, "/profile")
    await bot.deliver()
    assert "Your personal manager: Leo" in tg.last_sent(vip).content  # type: ignore[union-attr]
    tg.sends_command(mia, f"/manager {vip.id}")
    await bot.deliver()
    assert "account manager: Leo" in tg.last_sent(mia).content  # type: ignore[union-attr]


async def test_a_new_vip_gets_the_agent_with_the_fewest_vips_as_manager(
    bot: BotHarness, tg: FakeTelegram, staff: FakeChat, agents: tuple[FakeUser, FakeUser, FakeUser]
) -> None:
    async with transaction(bot.services.sessions) as session:
        for n in range(3):
            session.add(Customer(telegram_id=7300 + n, first_name=f"Vip{n}", language="en", segment="vip"))
    for n in range(3):
        user = tg.user(7300 + n, f"Vip{n}")
        tg.sends_command(user, "/profile")
        await bot.deliver()
    async with bot.services.sessions() as session:
        managers = [row.manager_telegram_id for row in (await session.execute(select(AccountManager))).scalars()]
    assert sorted(managers) == [MIA_ID, MIA_ID, LEO_ID]


async def test_an_away_agent_gets_nothing_new_and_their_open_tickets_move_with_their_history(
    bot: BotHarness, tg: FakeTelegram, staff: FakeChat, agents: tuple[FakeUser, FakeUser, FakeUser]
) -> None:
    mia, leo, _ = agents
    anna, ben = tg.user(7401, "Anna"), tg.user(7402, "Ben")
    tg.customer_sends_text(anna, "my order is late")
    await bot.deliver()
    assert card_numbers(tg, mia) == [1]
    tg.customer_sends_text(mia, "Sorry, checking now", reply_to=cards(tg, mia)[0])
    await bot.deliver()
    tg.sends_command(mia, "/away")
    await bot.deliver()
    assert "1 open ticket handed over: 1 to colleagues" in tg.last_sent(mia).content  # type: ignore[union-attr]
    assert card_numbers(tg, leo) == [1]
    history = [m for m in tg.sent_to(leo) if "Ticket #1 so far" in m.content]
    assert history and "my order is late" in history[0].content and "Sorry, checking now" in history[0].content
    assert "Assignee: Leo" in cards(tg, mia)[0].content  # Mia's card shows where the ticket went
    tg.customer_sends_text(ben, "question")
    await bot.deliver()
    assert card_numbers(tg, leo) == [1, 2] and card_numbers(tg, mia) == [1]
    tg.customer_sends_text(anna, "any news?")  # Anna's ticket follows it to Leo
    await bot.deliver()
    assert tg.sent_to(leo)[-1].content == "any news?"
    tg.sends_command(mia, "/back")
    await bot.deliver()
    tg.customer_sends_text(tg.user(7403, "Cleo"), "hi")
    await bot.deliver()
    assert card_numbers(tg, mia) == [1, 3]


async def test_an_agents_reply_from_the_inbox_reaches_the_customer_text_photo_album_and_edits(
    bot: BotHarness, tg: FakeTelegram, staff: FakeChat, agents: tuple[FakeUser, FakeUser, FakeUser]
) -> None:
    mia, _, _ = agents
    anna = tg.user(7501, "Anna")
    tg.customer_sends_text(anna, "which colour?")
    await bot.deliver()
    card = cards(tg, mia)[0]
    tg.sends_photo(anna, caption="like this one?")
    await bot.deliver()
    (copy,) = [m for m in tg.sent_to(mia) if m.content == "like this one?"]
    reply = tg.customer_sends_text(mia, "Red or blue", reply_to=copy)
    tg.sends_photo(mia, caption="the red one", reply_to=card)
    tg.sends_album(mia, 2, caption="both", reply_to=card)
    tg.customer_sends_text(mia, "// she sounds unsure", reply_to=card)
    await bot.deliver()
    shown = tg.sent_to(anna)[1:]
    assert [m.content for m in shown] == ["Red or blue", "the red one", "both", ""]
    assert [m.media_type for m in shown[1:]] == ["photo", "photo", "photo"]
    assert not [m for m in tg.sent_to(anna) if "unsure" in m.content]
    assert (await ticket(bot, 1)).status == "pending"
    tg.edits_message(mia, reply, "Red or dark blue")
    await bot.deliver()
    assert shown[0].content == "Red or dark blue"
    tg.sends_command(mia, "/resolve")  # a command needs a reply in the inbox: without one, the usage
    await bot.deliver()
    assert (await ticket(bot, 1)).status == "pending"
    resolve = {"text": "/resolve", "entities": [{"type": "bot_command", "offset": 0, "length": 8}]}
    tg._user_message(mia, None, resolve, reply_to=card)
    await bot.deliver()
    assert (await ticket(bot, 1)).status == "resolved"
    assert "is solved" in tg.last_sent(anna).content  # type: ignore[union-attr]


async def test_a_customers_next_ticket_goes_to_the_agent_of_their_last_one(
    bot: BotHarness, tg: FakeTelegram, staff: FakeChat, agents: tuple[FakeUser, FakeUser, FakeUser]
) -> None:
    mia, leo, _ = agents
    anna = tg.user(7601, "Anna")
    tg.customer_sends_text(anna, "first question")
    await bot.deliver()
    assert card_numbers(tg, mia) == [1]
    tg.customer_sends_text(tg.user(7602, "Ben"), "hello")  # Leo: one open ticket
    tg.customer_sends_text(tg.user(7603, "Cleo"), "hello")  # Mia: two; Leo would be next by load
    await bot.deliver()
    tg.sends_command(tg.users[ADMIN_ID], "/close 1", staff)
    await bot.deliver()
    tg.customer_sends_text(anna, "a new question")  # closed, reopen window 0 days: ticket #4
    await bot.deliver()
    assert (await ticket(bot, 4)).assignee_telegram_id == MIA_ID
    assert 4 in card_numbers(tg, mia) and 4 not in card_numbers(tg, leo)


async def test_with_nobody_available_the_group_gets_the_ticket_as_before(
    bot: BotHarness, tg: FakeTelegram, staff: FakeChat
) -> None:
    kai = tg.user(KAI_ID, "Kai")
    async with transaction(bot.services.sessions) as session:
        session.add(StaffMember(telegram_id=kai.id, name="Kai", role="agent"))
    anna = tg.user(7701, "Anna")
    tg.customer_sends_text(anna, "hello?")
    await bot.deliver()
    (card,) = tg.sent_to(staff)
    assert card.content.startswith("🎫 #1") and "Assignee: —" in card.content
    assert card.content.endswith("\n\nhello?")  # the card carries the first text
    assert (await ticket(bot, 1)).assignee_telegram_id is None
    tg.group_message(tg.users[ADMIN_ID], staff, "Hi Anna", reply_to=card)
    await bot.deliver()
    assert tg.last_sent(anna).content == "Hi Anna"  # type: ignore[union-attr]


async def test_taking_a_ticket_in_the_group_brings_it_to_the_takers_inbox(
    bot: BotHarness, tg: FakeTelegram, staff: FakeChat, agents: tuple[FakeUser, FakeUser, FakeUser]
) -> None:
    mia, leo, _ = agents
    tg.sends_command(mia, "/away")
    tg.sends_command(leo, "/away")
    await bot.deliver()
    anna = tg.user(7801, "Anna")
    tg.customer_sends_text(anna, "is anyone there?")
    await bot.deliver()
    (card,) = tg.sent_to(staff)
    assert card.content.startswith("🎫 #1") and card.content.endswith("\n\nis anyone there?")
    tg.presses_button(leo, card, "tk:take:1")
    await bot.deliver()
    assert card_numbers(tg, leo) == [1]
    assert [m for m in tg.sent_to(leo) if "is anyone there?" in m.content]  # the ticket so far
    assert "Assignee: Leo" in card.content and card.content.endswith("\n\nis anyone there?")  # edited, text kept
    tg.customer_sends_text(anna, "hello again")
    await bot.deliver()
    assert tg.sent_to(leo)[-1].content == "hello again"
    assert "hello again" not in [m.content for m in tg.sent_to(staff)]
    async with bot.services.sessions() as session:
        rows = (await session.execute(select(StaffDelivery))).scalars().all()
    assert {row.status for row in rows} == {"sent"}


async def test_the_assign_button_hands_the_ticket_to_the_chosen_agent(
    bot: BotHarness, tg: FakeTelegram, staff: FakeChat, agents: tuple[FakeUser, FakeUser, FakeUser]
) -> None:
    mia, leo, _ = agents
    tg.customer_sends_text(tg.user(7901, "Anna"), "help")
    await bot.deliver()
    card = cards(tg, mia)[0]
    tg.presses_button(mia, card, "tk:assign:1")
    await bot.deliver()
    choice = tg.last_sent(mia)
    assert choice is not None and f"tk:to:1:{LEO_ID}" in choice.callback_data
    tg.presses_button(mia, choice, f"tk:to:1:{LEO_ID}")
    await bot.deliver()
    assert card_numbers(tg, leo) == [1] and (await ticket(bot, 1)).assignee_telegram_id == LEO_ID


async def test_an_assigned_ticket_past_its_first_response_target_is_escalated_to_the_group_once(
    bot: BotHarness, tg: FakeTelegram, staff: FakeChat, agents: tuple[FakeUser, FakeUser, FakeUser]
) -> None:
    mia, leo, _ = agents
    anna = tg.user(8001, "Anna")
    tg.customer_sends_text(anna, "hello?")
    await bot.deliver()
    async with transaction(bot.services.sessions) as session:
        found = await session.get(Ticket, 1)
        assert found is not None and found.assignee_telegram_id == MIA_ID
        found.opened_at = found.opened_at - timedelta(hours=2)
        session.add(found)
    config = CareConfig(staff_chat_id=STAFF_CHAT, quiet_hours="", rate_limits=False)
    for _ in range(2):  # once only
        assert await run_job("escalate", sessions=bot.services.sessions, config=config) == 1
        await relay_of(bot.app).settled()
    alerts = [m for m in tg.sent_to(staff) if "past its first-response target" in m.content]
    assert len(alerts) == 1 and "Mia" in alerts[0].content
    assert alerts[0].callback_data == ["tk:take:1", "tk:assign:1"]
    reminders = [m for m in tg.sent_to(mia) if "waiting for your first answer" in m.content]
    assert len(reminders) == 1
    tg.presses_button(leo, alerts[0], "tk:take:1")  # a colleague takes it over
    await bot.deliver()
    assert card_numbers(tg, leo) == [1] and (await ticket(bot, 1)).assignee_telegram_id == LEO_ID


async def test_queue_in_an_agents_inbox_lists_their_tickets_then_the_unassigned_ones(
    bot: BotHarness, tg: FakeTelegram, staff: FakeChat, agents: tuple[FakeUser, FakeUser, FakeUser]
) -> None:
    mia, leo, _ = agents
    for n in range(2):  # #1 Mia, #2 Leo
        tg.customer_sends_text(tg.user(8101 + n, f"Early{n}"), "hi")
        await bot.deliver()
    tg.sends_command(mia, "/away")
    tg.sends_command(leo, "/away")
    await bot.deliver()  # #1 went to Leo, then Leo left too: both tickets are back with the group
    tg.sends_command(mia, "/back")
    await bot.deliver()
    tg.customer_sends_text(tg.user(8103, "Late"), "hello")  # #3: Mia
    await bot.deliver()
    tg.sends_command(mia, "/queue")
    await bot.deliver()
    queue = tg.last_sent(mia)
    assert queue is not None
    mine, unassigned = queue.content.split("Unassigned")
    assert mine.startswith("Yours · 1 waiting") and "#3 · Late" in mine
    assert "#1 · Early0" in unassigned and "#2 · Early1" in unassigned


async def test_stats_shows_tickets_median_first_answer_and_load_per_agent(
    bot: BotHarness, tg: FakeTelegram, staff: FakeChat, agents: tuple[FakeUser, FakeUser, FakeUser]
) -> None:
    mia, _, _ = agents
    for n in range(3):  # #1 Mia, #2 Leo, #3 Mia
        tg.customer_sends_text(tg.user(8201 + n, f"Buyer{n}"), "hi")
        await bot.deliver()
    tg.customer_sends_text(mia, "Hello!", reply_to=cards(tg, mia)[0])
    await bot.deliver()
    tg.sends_command(tg.users[ADMIN_ID], "/stats 7d", staff)
    await bot.deliver()
    summary = next(m for m in tg.sent_to(staff) if "Per agent" in m.content)
    assert "Mia: 2 · 0 min · 2 open" in summary.content and "Leo: 1 · — · 1 open" in summary.content
    album = tg.calls_to("sendMediaGroup")[-1]
    assert len(album.params["media"]) == 6  # the per-agent chart too


async def test_an_agent_who_blocks_the_bot_loses_their_inbox_and_their_tickets_move(
    bot: BotHarness, tg: FakeTelegram, staff: FakeChat, agents: tuple[FakeUser, FakeUser, FakeUser]
) -> None:
    mia, leo, _ = agents
    anna = tg.user(8301, "Anna")
    tg.customer_sends_text(anna, "hello")
    await bot.deliver()
    assert card_numbers(tg, mia) == [1]
    tg.block_bot(mia)
    await bot.deliver()
    assert card_numbers(tg, leo) == [1] and (await ticket(bot, 1)).assignee_telegram_id == LEO_ID
    tg.customer_sends_text(tg.user(8302, "Ben"), "hi")  # nothing new for Mia
    await bot.deliver()
    assert card_numbers(tg, leo) == [1, 2]
    tg.customer_sends_text(leo, "What a mess", reply_to=tg.sent_to(leo)[0])  # the bot's greeting: no ticket
    await bot.deliver()
    assert "belongs to no ticket" in tg.last_sent(leo).content  # type: ignore[union-attr]


async def test_an_inbox_gets_every_kind_of_customer_message_albums_as_albums_and_edits(
    bot: BotHarness, tg: FakeTelegram, staff: FakeChat, agents: tuple[FakeUser, FakeUser, FakeUser]
) -> None:
    mia, _, _ = agents
    anna = tg.user(8401, "Anna")
    question = tg.customer_sends_text(anna, "about my order")
    await bot.deliver()
    card = cards(tg, mia)[0]
    tg.sends_album(anna, 3, caption="three angles")
    tg.sends_voice(anna)
    tg.sends_location(anna)
    await bot.deliver()
    (album,) = [c for c in tg.calls_to("sendMediaGroup") if c.chat_id == MIA_ID]
    assert len(album.params["media"]) == 3
    voice, location = [m for m in tg.sent_to(mia) if m.media_type in ("voice", "location")]
    assert voice.reply_to_message_id == card.message_id and location.reply_to_message_id == card.message_id
    tg.edits_message(anna, question, "about my order #42")
    await bot.deliver()
    edit = tg.sent_to(mia)[-1]
    assert edit.content.endswith("about my order #42") and edit.reply_to_message_id == card.message_id
    assert not [m for m in tg.sent_to(staff) if m.media_type or "#42" in m.content]  # the group has the card only
