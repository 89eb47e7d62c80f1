"""The staff side speaks one language: everything the staff group sees is in `CAREBOT_STAFF_LANGUAGE` (default:
`CAREBOT_DEFAULT_LANGUAGE`), whatever the Telegram language of whoever asked; a staff member's private chat follows
their own language, as a customer's does."""

from __future__ import annotations

import re

import pytest

from bot.settings import Settings
from bot.ui.commands import Audience, commands_for
from tests.bot.test_authorization_matrix import COMMANDS, output_since
from tests.botapi import Call, FakeChat, FakeTelegram, FakeUser
from tests.harness import BotHarness
from tests.ids import ADMIN_ID, STAFF_CHAT_ID

pytestmark = pytest.mark.usefixtures("no_handler_errors")

CJK = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # Customers default to Chinese; the team reads English.
    return settings.model_copy(update={"default_language": "zh_CN", "staff_language": "en"})


@pytest.fixture
def admin(tg: FakeTelegram) -> FakeUser:
    return tg.user(ADMIN_ID, "Ada", language_code="zh-hans")  # the admin's Telegram speaks Chinese


@pytest.fixture
def staff(tg: FakeTelegram, admin: FakeUser) -> FakeChat:
    return tg.group(STAFF_CHAT_ID, "Care team", members=[admin])


def shown(calls: list[Call]) -> list[str]:
    """Every text and button label the calls showed."""
    texts = [str(call.params.get(key, "")) for call in calls for key in ("text", "caption")]
    for call in calls:
        markup = call.params.get("reply_markup") or {}
        if isinstance(markup, dict):
            texts += [button.get("text", "") for row in markup.get("inline_keyboard", []) for button in row]
    return [text for text in texts if text.strip()]


def to_group(tg: FakeTelegram, mark: int) -> list[Call]:
    return [
        call
        for call in output_since(tg, mark)
        if call.method.lower() == "answercallbackquery" or call.params.get("chat_id") in (STAFF_CHAT_ID, -100777)
    ]


async def test_every_staff_command_and_button_in_the_group_answers_in_the_staff_language(
    bot: BotHarness, tg: FakeTelegram, staff: FakeChat, admin: FakeUser
) -> None:
    mark = len(tg.calls)
    tg.bot_added_to_group(admin, tg.group(-100777, "New group"))  # the set-up greeting
    tg.sends_command(admin, "/help", -100777)  # before set-up: the set-up help
    tara = tg.user(8101, "Tara", language_code="zh")
    tg.customer_sends_text(tara, "Where is my parcel?")
    await bot.deliver()
    staff_commands = {command.name for command in commands_for(Audience.ADMIN)}
    for command, (_, args) in COMMANDS.items():
        if command in staff_commands:
            tg.sends_command(admin, f"/{command} {args.format(customer=tara.id)}".strip(), staff)
            await bot.deliver()
            tg.sends_command(admin, "/cancel", staff)
            await bot.deliver()
    for action in ("take", "resolve", "close", "reopen", "assign"):
        # Each action pressed on the ticket's card, whether or not the card shows it now (/assign took "Take" off).
        card = next(m for m in tg.sent_to(staff) if any(data.endswith(":1") for data in m.callback_data))
        tg.presses_button(admin, card, f"tk:{action}:1", strict=False)
        await bot.deliver()
    for command in ("/queue", "/take 1", "/resolve 1", "/close 1", "/faq list", "/help"):
        tg.sends_command(admin, command, staff)
        await bot.deliver()

    group_texts = shown(to_group(tg, mark))
    assert len(group_texts) > 40
    chinese = [text for text in group_texts if CJK.search(text)]
    assert chinese == []
    # The customer is answered in their own language all the while.
    assert CJK.search(tg.sent_to(tara)[0].content)


async def test_a_staff_members_private_chat_follows_their_own_language(
    bot: BotHarness, tg: FakeTelegram, staff: FakeChat, admin: FakeUser
) -> None:
    mark = len(tg.calls)
    for command in ("/queue", "/faq list", "/stats", "/help"):
        tg.sends_command(admin, command)
        await bot.deliver()
    private = [call for call in output_since(tg, mark) if call.params.get("chat_id") == ADMIN_ID]
    texts = [text for text in shown(private) if text.strip()]
    assert texts and all(CJK.search(text) for text in texts), texts


async def test_the_staff_language_defaults_to_the_default_language(
    bot: BotHarness, tg: FakeTelegram, staff: FakeChat, settings: Settings
) -> None:
    english = tg.user(ADMIN_ID, "Ada", language_code="en")
    assert settings.model_copy(update={"staff_language": None}).language_of_staff == "zh_CN"
    bot.services.settings.staff_language = None
    tg.sends_command(english, "/queue", staff)
    await bot.deliver()
    assert CJK.search(tg.last_sent(staff).content)  # type: ignore[union-attr]


async def test_a_staff_member_chooses_the_language_of_their_private_chat_with_language(
    bot: BotHarness, tg: FakeTelegram, staff: FakeChat, admin: FakeUser
) -> None:
    tg.sends_command(admin, "/language")
    await bot.deliver()
    choice = tg.last_sent(admin)
    assert choice is not None
    tg.presses_button(admin, choice, "lang:en")
    await bot.deliver()
    tg.sends_command(admin, "/queue")
    await bot.deliver()
    assert "Yours · 0 waiting" in tg.last_sent(admin).content  # type: ignore[union-attr]  # an inbox: theirs first
    tg.sends_command(admin, "/queue", staff)  # the group keeps the staff language
    await bot.deliver()
    assert "The queue is empty" in tg.last_sent(staff).content  # type: ignore[union-attr]
