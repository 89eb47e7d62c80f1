"""What a newcomer meets on a first run: what is assumed is said — no staff chat yet, the business's name, the time
zone a card really uses — and help where they would otherwise get silence or the wrong help."""

from __future__ import annotations

import logging

import pytest

from bot.app import on_startup
from bot.handlers.staff.membership import NO_STAFF_CHAT
from bot.settings import Settings
from tests.botapi import FakeChat, FakeTelegram, FakeUser
from tests.harness import BotHarness
from tests.ids import ADMIN_ID, STAFF_CHAT_ID

pytestmark = pytest.mark.usefixtures("no_handler_errors")


@pytest.fixture
def admin(tg: FakeTelegram) -> FakeUser:
    return tg.user(ADMIN_ID, "Ada", language_code="en")


class TestWithoutAStaffChat:
    @pytest.fixture
    def settings(self, settings: Settings) -> Settings:
        return settings.model_copy(update={"staff_chat_id": None})

    async def test_start_up_warns_once_and_the_first_admin_who_writes_learns_how_to_set_it(
        self, bot: BotHarness, tg: FakeTelegram, admin: FakeUser, caplog: pytest.LogCaptureFixture
    ) -> None:
        with caplog.at_level(logging.WARNING):
            await on_startup(bot.app)
        assert [r.getMessage() for r in caplog.records].count(NO_STAFF_CHAT) == 1

        anna = tg.user(8301, "Anna", language_code="en")
        tg.customer_sends_text(anna, "Hello, is anyone there?")
        await bot.deliver()
        assert not any("CAREBOT_STAFF_CHAT_ID" in m.content for m in tg.sent_to(anna))

        tg.sends_command(admin, "/whoami")
        await bot.deliver()
        told = [m for m in tg.sent_to(admin) if "CAREBOT_STAFF_CHAT_ID" in m.content]
        assert len(told) == 1 and "No staff chat is set up yet" in told[0].content
        assert any("Your Telegram id" in m.content or str(ADMIN_ID) in m.content for m in tg.sent_to(admin))
        tg.sends_command(admin, "/start")
        await bot.deliver()
        assert len([m for m in tg.sent_to(admin) if "CAREBOT_STAFF_CHAT_ID" in m.content]) == 1  # once

    async def test_help_in_a_group_before_set_up_is_the_set_up_help(
        self, bot: BotHarness, tg: FakeTelegram, admin: FakeUser
    ) -> None:
        group = tg.group(-100901, "Our team", members=[admin])
        tg.sends_command(admin, "/help", group)
        await bot.deliver()
        answer = tg.last_sent(group)
        assert answer is not None and "CAREBOT_STAFF_CHAT_ID=-100901" in answer.content
        assert "Manage topics" in answer.content and "/profile" not in answer.content


class TestNamesAndDefaults:
    @pytest.fixture
    def settings(self, settings: Settings) -> Settings:
        return settings.model_copy(update={"business_name": "Acme Tea", "timezone": "Europe/Berlin"})

    async def test_the_greeting_names_the_business(self, bot: BotHarness, tg: FakeTelegram) -> None:
        anna = tg.user(8302, "Anna", language_code="en")
        tg.sends_command(anna, "/start")
        wang = tg.user(8303, "王", language_code="zh-hans")
        tg.sends_command(wang, "/start")
        await bot.deliver()
        assert "I am the customer-care assistant of Acme Tea." in tg.sent_to(anna)[0].content
        assert "我是Acme Tea的客户服务助手" in tg.sent_to(wang)[0].content

    async def test_a_card_shows_the_time_zone_in_use_and_whether_it_is_the_default(
        self, bot: BotHarness, tg: FakeTelegram, admin: FakeUser
    ) -> None:
        staff = tg.group(STAFF_CHAT_ID, "Care team", members=[admin])
        anna = tg.user(8304, "Anna", language_code="en")
        tg.sends_command(anna, "/start")
        await bot.deliver()
        tg.sends_command(admin, f"/customer {anna.id}", staff)
        await bot.deliver()
        card = tg.last_sent(staff)
        assert card is not None and "time zone: Europe/Berlin (default)" in card.content
        assert "Language: English" in card.content


async def test_a_note_written_outside_a_ticket_gets_a_hint(bot: BotHarness, tg: FakeTelegram, admin: FakeUser) -> None:
    staff: FakeChat = tg.group(STAFF_CHAT_ID, "Care team", members=[admin])
    tg.group_message(admin, staff, "// remember to restock green tea")
    await bot.deliver()
    hint = tg.last_sent(staff)
    assert hint is not None and "reply to a ticket's card or message" in hint.content
    tg.group_message(admin, staff, "lunch at one?")  # the team talking among themselves: no answer
    await bot.deliver()
    assert tg.last_sent(staff) == hint
