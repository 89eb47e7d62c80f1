"""The fake Bot API's Telegram Business: updates PTB reads, business chats kept apart, Telegram's sending rules."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from telegram import Bot, Update
from telegram.error import BadRequest, Forbidden

from tests.botapi import TOKEN, FakeRequest, FakeTelegram


@pytest.fixture
def tg() -> FakeTelegram:
    return FakeTelegram()


@pytest.fixture
async def bot(tg: FakeTelegram) -> AsyncIterator[Bot]:
    async with Bot(TOKEN, request=FakeRequest(tg), get_updates_request=FakeRequest(tg)) as bot:
        yield bot


async def test_business_updates_read_by_ptb_and_sends_follow_the_owners_rights_and_the_window(
    tg: FakeTelegram, bot: Bot
) -> None:
    owner, customer = tg.user(1, "Owner"), tg.user(2, "Cara", started=False)
    connection = tg.connect_business(owner, can_reply=False)
    with pytest.raises(Forbidden):  # no chat yet, and no right to reply
        await bot.send_message(customer.id, "hi", business_connection_id=connection)
    tg.customer_sends_text(tg.user(3, "Bob"), "in a bot chat")
    question = tg.writes_to_business(customer, connection, "Open today?")
    updates = await bot.get_updates()
    first, _, second = (Update.de_json(u.to_dict(), bot) for u in updates)
    assert first.business_connection is not None and first.business_connection.user.id == owner.id
    assert second.business_message is not None and second.business_message.business_connection_id == connection
    assert second.effective_chat is not None and second.effective_chat.id == customer.id

    with pytest.raises(Forbidden):
        await bot.send_message(customer.id, "Yes", business_connection_id=connection)
    tg.change_business(connection, can_reply=True)
    sent = await bot.send_message(customer.id, "Yes, until 6", business_connection_id=connection)
    assert [m.content for m in tg.sent_in_business(connection, customer)] == ["Yes, until 6"]
    assert tg.sent_to(customer) == [] and sent.message_id == question.message_id + 1
    await bot.edit_message_text("Yes, until 7", customer.id, sent.message_id, business_connection_id=connection)
    assert tg.sent_in_business(connection, customer)[0].content == "Yes, until 7"

    tg.age_business_chat(connection, customer, hours=25)
    with pytest.raises(Forbidden):
        await bot.send_message(customer.id, "Still there?", business_connection_id=connection)
    tg.change_business(connection, enabled=False)
    with pytest.raises(BadRequest):
        await bot.send_message(customer.id, "Hello", business_connection_id=connection)
    assert (await bot.get_business_connection(connection)).is_enabled is False


async def test_a_business_chat_and_the_bot_chat_of_one_customer_keep_their_messages_apart(
    tg: FakeTelegram, bot: Bot
) -> None:
    owner, customer = tg.user(1, "Owner"), tg.user(2, "Cara")
    connection = tg.connect_business(owner)
    in_bot_chat = tg.customer_sends_text(customer, "to the bot")
    in_business = tg.writes_to_business(customer, connection, "to the shop")
    assert in_bot_chat.key == in_business.key  # same chat id, same message id: two chats all the same
    assert tg.message(customer.id, in_bot_chat.message_id) is in_bot_chat
    copied = await bot.copy_message(customer.id, customer.id, in_bot_chat.message_id)
    assert tg.message(customer.id, copied.message_id).content == "to the bot"  # type: ignore[union-attr]
