"""`carebot run` as a new user starts it: a real process, long polling the loopback Bot API."""

from __future__ import annotations

import signal
from pathlib import Path

from tests.botapi import FakeTelegram
from tests.harness import carebot_against_fake, start_carebot


async def test_start_answers_in_both_languages(tg: FakeTelegram, tmp_path: Path, database_url: str) -> None:
    async with carebot_against_fake(tg, tmp_path, database_url) as carebot:
        zh = tg.user(601, "李雷", language_code="zh-hans")
        en = tg.user(602, "Jack", language_code="en")
        tg.sends_command(zh, "/start")
        tg.sends_command(en, "/start")
        await tg.wait_for(lambda: tg.last_sent(zh) and tg.last_sent(en), timeout=30, message=carebot.log())
        assert "李雷，您好" in tg.last_sent(zh).content  # type: ignore[union-attr]
        assert tg.last_sent(en).content.startswith("Hello, Jack!")  # type: ignore[union-attr]
    assert carebot.process.returncode == 0, carebot.log()
    assert "1000000:TEST-carebot-token" not in carebot.log()


async def test_after_a_crash_the_bot_answers_what_came_meanwhile_and_nothing_twice(
    tg: FakeTelegram, tmp_path: Path, database_url: str
) -> None:
    async with carebot_against_fake(tg, tmp_path, database_url) as carebot:
        user = tg.user(603, "Ann", language_code="en")
        tg.sends_command(user, "/start")
        tg.sends_command(user, "/menu")  # handled after /start is marked done: nothing is in flight at the kill
        await tg.wait_for(lambda: len(tg.sent_to(user)) == 2, timeout=30, message=carebot.log())
        await carebot.stop(signal.SIGKILL)
        tg.sends_command(user, "/whoami")
        restarted = await start_carebot(carebot.env, tmp_path / "carebot.log")
        try:
            await tg.wait_for(lambda: "603" in tg.last_sent(user).content, timeout=30, message=restarted.log())  # type: ignore[union-attr]
        finally:
            await restarted.stop()
    assert len([m for m in tg.sent_to(user) if m.content.startswith("Hello")]) == 1


async def test_missing_token_is_one_clear_line_and_exit_code_2(tmp_path: Path) -> None:
    process = await start_carebot({}, tmp_path / "carebot.log")
    assert await process.process.wait() == 2
    assert process.log().strip().splitlines() == [
        "carebot: invalid setting CAREBOT_BOT_TOKEN: required to run the bot (set it in the environment or .env)"
    ]
