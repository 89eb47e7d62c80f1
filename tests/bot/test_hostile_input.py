"""Hostile and odd input never breaks the bot: each gets a clear, polite answer or is ignored by design, every
message the bot sends is valid Telegram HTML (the fake answers 400 otherwise), and no exception reaches the error
handler (`no_handler_errors`)."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from storage import customers
from tests.botapi import FakeTelegram
from tests.harness import BotHarness

pytestmark = pytest.mark.usefixtures("no_handler_errors")

ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff"
RTL = "\u202e\u202b\u200f\u061c"
METACHARACTERS = "<>&\"'*_`[]()~#+-=|{}.!\\/"
AWKWARD = st.sampled_from(
    [
        "",
        " ",
        "\n\t ",
        ZERO_WIDTH,
        RTL + "evil" + "\u202c",
        "<b>bold</b>",
        "<script>alert(1)</script>",
        "&amp; &lt; &#x27;",
        "*bold* _it_ `code` [link](http://x) ~strike~ ||spoiler||",
        "😀👨‍👩‍👧‍👦🏳️‍🌈",
        "a" * 4096,
        "界" * 5000,
        "</i><i>",
        "<a href='javascript:x'>x</a>",
    ]
)
TEXTS = st.one_of(
    AWKWARD,
    st.text(alphabet=st.characters(codec="utf-8") | st.sampled_from(METACHARACTERS + ZERO_WIDTH + RTL), max_size=300),
)
# Telegram names are 1 to 64 characters.
NAMES = st.one_of(AWKWARD.map(lambda s: s[:64]), st.text(min_size=1, max_size=64)).filter(lambda s: s.strip())

_ids = itertools.count(20_000)
EXAMPLES = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)


@EXAMPLES
@given(first=NAMES, last=st.one_of(st.none(), NAMES))
async def test_any_name_is_greeted_as_plain_text(
    bot: BotHarness, tg: FakeTelegram, first: str, last: str | None
) -> None:
    user = tg.user(next(_ids), first, last_name=last, language_code="en")
    tg.sends_command(user, "/start")
    tg.sends_command(user, "/profile")
    await bot.deliver()
    greeting, profile = tg.sent_to(user)[-2:]
    assert greeting.content.startswith("Hello, ")
    shown = first.replace("\x00", "").strip()[:20]  # NUL is dropped from stored texts (PostgreSQL refuses it)
    assert shown in greeting.content
    assert "Your profile" in profile.content


@EXAMPLES
@given(field=st.sampled_from(["birthday", "phone", "email", "timezone"]), text=TEXTS)
async def test_any_answer_to_a_profile_question_gets_a_polite_reply(
    bot: BotHarness, tg: FakeTelegram, field: str, text: str
) -> None:
    user = tg.user(next(_ids), "Pat", language_code="en")
    tg.sends_command(user, "/profile")
    await bot.deliver()
    tg.presses_button(user, tg.last_sent(user), f"profile:{field}")  # type: ignore[arg-type]
    await bot.deliver()
    asked = len(tg.sent_to(user))
    if text:
        tg.customer_sends_text(user, text)
    else:
        tg.sends_sticker(user)
    await bot.deliver()
    replies = tg.sent_to(user)[asked:]
    assert replies, "every answer gets a reply"
    async with bot.services.sessions() as session:
        stored = await customers.get_customer(session, telegram_id=user.id)
    assert stored is not None
    if replies[0].content == "Saved.":
        assert getattr(stored, field if field != "birthday" else "birth_month") is not None
    else:
        assert replies[0].content.endswith("/cancel to stop."), replies[0].content  # the question, asked again


async def test_a_caption_at_and_over_the_limit_in_a_dialog_is_answered(bot: BotHarness, tg: FakeTelegram) -> None:
    user = tg.user(301, "Pat", language_code="en")
    tg.sends_command(user, "/profile")
    await bot.deliver()
    tg.presses_button(user, tg.last_sent(user), "profile:email")  # type: ignore[arg-type]
    await bot.deliver()
    tg.sends_photo(user, caption="x@example.com" + "!" * 1011)
    tg.sends_photo(user, caption="<b>" * 400)
    tg.sends_document(user, caption=RTL * 300)
    await bot.deliver()
    answers = [m.content for m in tg.sent_to(user)[-3:]]
    assert all(answer.startswith("Please send the answer as a text message.") for answer in answers)


async def test_forged_and_oversized_buttons_are_answered_and_change_nothing(bot: BotHarness, tg: FakeTelegram) -> None:
    user = tg.user(302, "Pat", language_code="en")
    tg.sends_command(user, "/start")
    await bot.deliver()
    menu = tg.last_sent(user)
    assert menu is not None
    forged = [
        "lang:xx",
        "lang:",
        "profile:../",
        "profile:phone:extra",
        "privacy:forget:-1",
        "privacy:forget:99999999999999999999999",
        "privacy:",
        "audit:1:1",
        "unknown-prefix",
        "menu:profile" + "x" * 100,
        "z" * 300,
        "",
        ZERO_WIDTH,
    ]
    presses = [tg.presses_button(user, menu, data, strict=False) for data in forged]
    await bot.deliver()
    answers = [tg.callback_queries[p.data["callback_query"]["id"]] for p in presses]
    assert all(answer.answered for answer in answers)
    assert answers[7].answer["text"] == "This command is for staff."
    assert answers[8].answer["text"].startswith("This button no longer works")
    async with bot.services.sessions() as session:
        stored = await customers.get_customer(session, telegram_id=user.id)
    assert stored is not None and stored.language == "en"


async def test_unknown_update_kinds_and_edits_are_ignored(
    bot: BotHarness, tg: FakeTelegram, caplog: pytest.LogCaptureFixture
) -> None:
    user = tg.user(303, "Pat", language_code="en")
    sent = tg.customer_sends_text(user, "hello")
    await bot.deliver()
    before = len(tg.calls)
    chat = {"id": user.id, "type": "private", "first_name": "Pat"}
    tg.edits_message(user, sent, "<b>edited</b> " + ZERO_WIDTH)
    tg.raw_update(
        {
            "message_reaction": {
                "chat": chat,
                "message_id": sent.message_id,
                "user": user.to_json(),
                "date": tg.now(),
                "old_reaction": [],
                "new_reaction": [{"type": "emoji", "emoji": "👍"}],
            }
        }
    )
    tg.raw_update(
        {
            "poll": {
                "id": "1",
                "question": "<b>secret question</b>",
                "options": [{"text": "a", "voter_count": 0}],
                "total_voter_count": 0,
                "is_closed": False,
                "is_anonymous": True,
                "type": "regular",
                "allows_multiple_answers": False,
            }
        }
    )
    tg.raw_update(
        {
            "chat_boost": {
                "chat": {"id": -100900, "type": "channel", "title": "News"},
                "boost": {
                    "boost_id": "b1",
                    "add_date": tg.now(),
                    "expiration_date": tg.now() + 86400,
                    "source": {"source": "premium", "user": user.to_json()},
                },
            }
        }
    )
    tg.raw_update({"update_kind_from_the_future": {"anything": [1, 2, 3]}})  # not asked for: not delivered
    # The poll lacks a field this PTB version requires: it cannot be read, and is skipped alone.
    assert await bot.deliver() == 3
    assert "skipped update" in caplog.text and "secret question" not in caplog.text
    assert [c.method for c in tg.calls[before:] if c.method != "getUpdates"] == []
    tg.sends_command(user, "/privacy")
    await bot.deliver()
    assert "What we store" in tg.last_sent(user).content  # type: ignore[union-attr]


async def test_groups_adding_the_bot_get_nothing_personal(bot: BotHarness, tg: FakeTelegram) -> None:
    stranger = tg.user(304, "<Mallory>", language_code="en")
    group = tg.group(-100999, "Random <group>", bot_status="left")
    tg.bot_added_to_group(stranger, group)
    await bot.deliver()
    for command in (
        "/start",
        "/profile",
        "/mydata",
        "/forget",
        "/privacy",
        "/menu",
        "/audit 304",
        "/whoami",
        "/nonsense",
    ):
        tg.sends_command(stranger, command, group)
    tg.group_message(stranger, group, "@carebot_test_bot hello <b>")
    await bot.deliver()
    # Added by someone who is not an admin, to a group that is not the staff chat: the bot leaves, says nothing.
    assert [m.content for m in tg.sent_to(group)] == []
    assert [call.params["chat_id"] for call in tg.calls_to("leaveChat")] == [-100999]
    async with bot.services.sessions() as session:
        assert await customers.get_customer(session, telegram_id=304) is None


async def test_a_customer_who_blocked_the_bot_is_marked_unreachable_without_an_error(
    bot: BotHarness, tg: FakeTelegram
) -> None:
    user = tg.user(305, "Pat", language_code="en")
    tg.sends_command(user, "/start")
    await bot.deliver()
    tg.sends_command(user, "/mydata")  # answered after the block: 403
    tg.block_bot(user, notify_bot=False)
    await bot.deliver()
    assert tg.calls_to("sendDocument")[-1].error is not None
    async with bot.services.sessions() as session:
        stored = await customers.get_customer(session, telegram_id=305)
    assert stored is not None and stored.unreachable

    tg.unblock_bot(user)
    await bot.deliver()
    async with bot.services.sessions() as session:
        stored = await customers.get_customer(session, telegram_id=305)
    assert stored is not None and not stored.unreachable

    tg.block_bot(user)  # Telegram's own notice marks them too
    await bot.deliver()
    async with bot.services.sessions() as session:
        stored = await customers.get_customer(session, telegram_id=305)
    assert stored is not None and stored.unreachable
