"""One bot per SQLite file: a second `carebot run` refuses to start; CLI commands still work beside the bot."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from tests.botapi import FakeTelegram
from tests.harness import carebot_against_fake, start_carebot


async def test_a_second_bot_on_the_same_sqlite_file_refuses_with_one_clear_line(
    tg: FakeTelegram, tmp_path: Path
) -> None:
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'carebot.db'}"
    async with carebot_against_fake(tg, tmp_path, database_url) as first:
        user = tg.user(611, "Ann", language_code="en")
        tg.sends_command(user, "/start")
        await tg.wait_for(lambda: tg.sent_to(user), timeout=30, message=first.log())

        second = await start_carebot(first.env, tmp_path / "second.log")
        assert await asyncio.wait_for(second.process.wait(), 30) == 2
        (line,) = second.log().strip().splitlines()
        assert line.endswith(
            f"cannot start: another carebot is already running on {tmp_path / 'carebot.db'} (it holds carebot.db.lock);"
            " stop it first, or use PostgreSQL to run several replicas"
        )

        upgrade = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "db", "upgrade",
            env={**os.environ, **first.env}, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        output, _ = await upgrade.communicate()
        assert upgrade.returncode == 0 and b"database is up to date" in output

        tg.sends_command(user, "/whoami")  # the first bot is still serving
        await tg.wait_for(lambda: "611" in tg.last_sent(user).content, timeout=30, message=first.log())  # type: ignore[union-attr]
    assert first.process.returncode == 0, first.log()
