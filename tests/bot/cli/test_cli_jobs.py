"""`carebot jobs list` and `carebot jobs run NAME` from the command line (`send` drains the outbox and exits)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import time_machine
from typer.testing import CliRunner

from bot.cli import app
from storage.db import create_engine, session_factory, transaction
from storage.models import OutboxMessage
from tests.botapi import TOKEN, FakeTelegram, serve_botapi
from tests.care_support import add_customer, outbox_rows

Cli = Callable[..., Awaitable[str]]


@contextlib.asynccontextmanager
async def carebot_cli(tg: FakeTelegram, url: str) -> AsyncIterator[Cli]:
    """`carebot …` as an operator types it, against `url` (migrated) and the loopback Bot API; returns its output."""
    runner = CliRunner()
    async with serve_botapi(tg) as server:
        env = {
            "CAREBOT_DATABASE_URL": url,
            "CAREBOT_BOT_TOKEN": TOKEN,
            "CAREBOT_BOT_API_URL": server.base_url,
            "CAREBOT_RATE_LIMITS": "off",
            "COLUMNS": "200",
        }

        async def carebot(*args: str) -> str:
            result = await asyncio.to_thread(runner.invoke, app, list(args), env=env)
            assert result.exit_code == 0, result.output
            return result.output

        await carebot("db", "upgrade")
        yield carebot


async def test_jobs_are_listed_run_once_and_the_outbox_drained_from_the_command_line(
    tg: FakeTelegram, tmp_path: Path
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/cli.db"
    user = tg.user(1101, "Cleo")
    with time_machine.travel(datetime(2026, 5, 17, 4, 0, tzinfo=UTC)):  # noon in Shanghai
        async with carebot_cli(tg, url) as carebot:
            engine = create_engine(url)
            sessions = session_factory(engine)
            try:
                await add_customer(sessions, 1101, first_name="Cleo", birth_month=5, birth_day=17)
                async with transaction(sessions) as session:
                    session.add(
                        OutboxMessage(
                            key="crashed:1",
                            kind="checkin",
                            chat_id=1,
                            template="care.checkin",
                            status="sending",
                            claimed_at=datetime.now(UTC) - timedelta(hours=1),
                        )
                    )
                assert "birthday: 1 planned" in await carebot("jobs", "run", "birthday")
                listing = await carebot("jobs", "list")
                jobs = (
                    "birthday",
                    "holidays",
                    "checkin",
                    "csat",
                    "nps",
                    "freshness",
                    "sla",
                    "escalate",
                    "autoclose",
                    "housekeeping",
                )
                for name in (*jobs, "send"):
                    assert f" {name} " in listing
                assert "2026-05-17 12:05" in listing  # the next hourly birthday pass, in the business's time
                assert "next run (Asia/Shanghai)" in listing  # the zone the times are in is named
                tables = [line for line in listing.splitlines() if line[:1] in "┏┃┡│└"]
                assert tables and max(map(len, tables)) <= 80  # though the terminal is wider
                assert "crashed:1" in listing and "not sent again" in listing
                assert "send: 1 sent, 0 failed" in await carebot("jobs", "run", "send")
                statuses = {row.key: row.status for row in await outbox_rows(sessions)}
            finally:
                await engine.dispose()
    assert "Happy birthday, Cleo!" in tg.last_sent(user).content  # type: ignore[union-attr]
    assert statuses == {"crashed:1": "sending", next(k for k in statuses if k.startswith("birthday")): "sent"}


def test_an_unknown_job_is_one_clear_line() -> None:
    result = CliRunner().invoke(app, ["jobs", "run", "greet-everyone"])
    assert result.exit_code == 2
    assert "unknown job 'greet-everyone'" in result.output


async def test_a_holiday_pass_is_listed_with_its_counts_until_the_sender_has_written_it_out(
    tg: FakeTelegram, tmp_path: Path
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/cli.db"
    user = tg.user(1102, "Hui")
    async with carebot_cli(tg, url) as carebot:
        engine = create_engine(url)
        try:
            await add_customer(session_factory(engine), 1102, first_name="Hui")
        finally:
            await engine.dispose()
        with time_machine.travel(datetime(2026, 2, 16, 4, 0, tzinfo=UTC)):  # noon on Spring Festival eve
            assert "holidays: 1 planned" in await carebot("jobs", "run", "holidays")
            listing = await carebot("jobs", "list")
        (row,) = [line for line in listing.splitlines() if "holiday:2026-02-17" in line]
        assert [cell.strip() for cell in row.split("│")[1:-1]] == ["holiday:2026-02-17", "2026-02-17 10:00", "1", "0"]
        with time_machine.travel(datetime(2026, 2, 17, 2, 0, tzinfo=UTC)):  # 10:00 in Shanghai
            assert "send: 1 sent, 0 failed" in await carebot("jobs", "run", "send")
            assert "holiday:" not in await carebot("jobs", "list")
    assert "Spring Festival" in tg.last_sent(user).content  # type: ignore[union-attr]
