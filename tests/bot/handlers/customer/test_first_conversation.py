"""A customer's first conversation: /start in their language, /language, /profile with validation, /whoami."""

from __future__ import annotations

from storage import customers
from tests.botapi import FakeTelegram
from tests.harness import BotHarness


async def stored(bot: BotHarness, telegram_id: int):  # type: ignore[no-untyped-def]
    async with bot.services.sessions() as session:
        return await customers.get_customer(session, telegram_id=telegram_id)


async def test_start_greets_a_chinese_speaker_in_chinese_and_stores_them(bot: BotHarness, tg: FakeTelegram) -> None:
    user = tg.user(501, "小明", last_name="王", language_code="zh-hans")
    tg.sends_command(user, "/start")
    await bot.deliver()
    reply = tg.last_sent(user)
    assert reply is not None
    assert "小明，您好" in reply.content
    assert "/privacy" in reply.content  # the one line on what is stored and why
    assert "🛍 售前咨询" in reply.button_texts and "🌐 语言" in reply.button_texts
    customer = await stored(bot, 501)
    assert customer is not None and customer.language == "zh_CN" and customer.segment == "potential"
    assert customer.first_name == "小明" and customer.last_name == "王"


async def test_start_greets_an_english_speaker_in_english(bot: BotHarness, tg: FakeTelegram) -> None:
    user = tg.user(502, "Anna", language_code="de")
    tg.sends_command(user, "/start")
    await bot.deliver()
    reply = tg.last_sent(user)
    assert reply is not None and reply.content.startswith("Hello, Anna!")
    assert "🛍 Pre-sale question" in reply.button_texts


async def test_html_in_a_name_is_shown_as_text(bot: BotHarness, tg: FakeTelegram) -> None:
    user = tg.user(503, "<b>Eve</b> & co", language_code="en")
    tg.sends_command(user, "/start")
    await bot.deliver()
    reply = tg.last_sent(user)
    assert reply is not None and reply.content.startswith("Hello, <b>Eve</b> & co!")
    assert "&lt;b&gt;Eve&lt;/b&gt; &amp; co" in reply.raw_text


async def test_language_switch_is_remembered(bot: BotHarness, tg: FakeTelegram) -> None:
    user = tg.user(504, "Tom", language_code="en")
    tg.sends_command(user, "/language")
    await bot.deliver()
    menu = tg.last_sent(user)
    assert menu is not None and menu.callback_data == ["lang:zh_CN", "lang:en"]
    tg.presses_button(user, menu, "lang:zh_CN")
    await bot.deliver()
    assert "简体中文" in tg.last_sent(user).content  # type: ignore[union-attr]
    tg.sends_command(user, "/start")
    await bot.deliver()
    assert "Tom，您好" in tg.last_sent(user).content  # type: ignore[union-attr]


async def test_profile_dialog_validates_each_value_and_saves(bot: BotHarness, tg: FakeTelegram) -> None:
    user = tg.user(505, "Lena", language_code="en")
    tg.sends_command(user, "/profile")
    await bot.deliver()
    profile = tg.last_sent(user)
    assert profile is not None and "Birthday: not set" in profile.content
    tg.presses_button(user, profile, "profile:birthday")
    await bot.deliver()
    assert "YYYY-MM-DD" in tg.last_sent(user).content  # type: ignore[union-attr]

    tg.customer_sends_text(user, "31-02")
    await bot.deliver()
    assert (
        "does not look like a date" in tg.sent_to(user)[-1].content or "does not exist" in tg.sent_to(user)[-1].content
    )
    tg.customer_sends_text(user, "02-30")
    await bot.deliver()
    assert "That date does not exist" in tg.sent_to(user)[-1].content
    tg.customer_sends_text(user, "1990-05-17")
    await bot.deliver()
    assert "Birthday: 1990-05-17" in tg.last_sent(user).content  # type: ignore[union-attr]

    tg.presses_button(user, tg.last_sent(user), "profile:phone")  # type: ignore[arg-type]
    await bot.deliver()
    tg.customer_sends_text(user, "call me")
    await bot.deliver()
    assert "only digits" in tg.sent_to(user)[-1].content
    tg.customer_sends_text(user, "+86 138-1234-5678")
    await bot.deliver()

    tg.presses_button(user, tg.last_sent(user), "profile:email")  # type: ignore[arg-type]
    await bot.deliver()
    tg.customer_sends_text(user, "lena@")
    await bot.deliver()
    assert "email address" in tg.sent_to(user)[-1].content
    tg.customer_sends_text(user, "Lena@Example.COM")
    await bot.deliver()

    tg.presses_button(user, tg.last_sent(user), "profile:timezone")  # type: ignore[arg-type]
    await bot.deliver()
    tg.customer_sends_text(user, "Mars/Olympus")
    await bot.deliver()
    assert "don't know that time zone" in tg.sent_to(user)[-1].content
    tg.customer_sends_text(user, "europe/berlin")
    await bot.deliver()

    customer = await stored(bot, 505)
    assert customer is not None
    assert (customer.birth_year, customer.birth_month, customer.birth_day) == (1990, 5, 17)
    assert customer.phone == "+8613812345678"
    assert customer.email == "Lena@example.com"
    assert customer.timezone == "Europe/Berlin"
    assert customer.last_confirmed_at is not None


async def test_profile_dialog_survives_a_restart(tg: FakeTelegram, services) -> None:  # type: ignore[no-untyped-def]
    from tests.harness import running_bot

    user = tg.user(506, "Kai", language_code="en")
    async with running_bot(tg, services) as first:
        tg.sends_command(user, "/profile")
        await first.deliver()
        tg.presses_button(user, tg.last_sent(user), "profile:email")  # type: ignore[arg-type]
        await first.deliver()
    async with running_bot(tg, services) as second:
        tg.customer_sends_text(user, "kai@example.org")
        await second.deliver()
        customer = await stored(second, 506)
        assert customer is not None and customer.email == "kai@example.org"


async def test_cancel_leaves_the_profile_unchanged(bot: BotHarness, tg: FakeTelegram) -> None:
    user = tg.user(507, "Mo", language_code="en")
    tg.sends_command(user, "/profile")
    await bot.deliver()
    tg.presses_button(user, tg.last_sent(user), "profile:phone")  # type: ignore[arg-type]
    await bot.deliver()
    tg.sends_command(user, "/cancel")
    await bot.deliver()
    assert "Cancelled" in tg.sent_to(user)[-1].content
    customer = await stored(bot, 507)
    assert customer is not None and customer.phone is None


async def test_whoami_and_unknown_commands(bot: BotHarness, tg: FakeTelegram) -> None:
    user = tg.user(508, "Ida", language_code="en")
    tg.sends_command(user, "/whoami")
    tg.sends_command(user, "/frobnicate now")
    await bot.deliver()
    first, second = tg.sent_to(user)[-2:]
    assert "508" in first.content
    assert "don't know that command" in second.content
