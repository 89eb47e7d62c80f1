"""Benchmark: customer messages through `carebot run` into the staff chat, next to a bare echo bot.

    uv run python bench/inbound.py [--messages 300] [--customers 30] [--database-url URL]

Both bots run as subprocesses long polling the loopback fake Bot API (`tests.botapi`), one after the other in the
same run, each against a fresh fake. When a bot is polling (Carebot: once it has started, its scheduler lease taken
and its start-up done), the customers (round robin) send every message at once; a message counts when it arrived:
- echo bot (`bench/echo_bot.py`): its reply to the customer;
- Carebot (`CAREBOT_RATE_LIMITS=off`; a new SQLite file, or with `--database-url postgresql+asyncpg://…` a new
  database created on that server and dropped afterwards): the copyMessage into `CAREBOT_STAFF_CHAT_ID` that copies it, or
  the sendMessage there whose text carries it (the relay combines texts when it falls behind); and at the end
  every message is also stored (`ticket_messages`).
Throughput = messages / (last arrival - first message sent); latency = arrival - sent, per message.
CPU = the seconds of CPU the bot's process used from the first message sent to the last arrival (all its threads:
the figure the load of a shared machine moves least); peak RSS = its VmHWM then.
Goal: Carebot's throughput ≥ 1.3 × the echo's and its p99 latency ≤ the echo's.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import importlib.util
import os
import signal
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import func
from sqlalchemy.engine import make_url
from sqlmodel import col, select

from storage.db import create_engine, is_sqlite, upgrade_sync
from tests.botapi import TOKEN, Call, FakeTelegram, serve_botapi
from tests.harness import start_carebot

ROOT = Path(__file__).resolve().parent.parent
STAFF = -100500
FIRST_ID = 40_000_000
TIMEOUT = 600.0
THROUGHPUT_GOAL = 1.3


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far, all its threads (Linux; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident set so far (VmHWM; Linux; 0 elsewhere)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


@dataclass
class Result:
    name: str
    seconds: float
    latencies: list[float]
    cpu: float = 0.0  # CPU seconds the bot's process used from the first message sent to the last arrival
    rss_mb: float = 0.0

    @property
    def throughput(self) -> float:
        return len(self.latencies) / self.seconds

    def percentile(self, share: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))]

    def line(self) -> str:
        return (
            f"{self.name}: {len(self.latencies)} messages in {self.seconds:.2f} s = {self.throughput:.1f}/s, "
            f"latency p50 {self.percentile(0.5) * 1000:.0f} ms, p99 {self.percentile(0.99) * 1000:.0f} ms, "
            f"CPU {self.cpu * 1000 / len(self.latencies):.2f} ms a message, peak RSS {self.rss_mb:.0f} MB"
        )


def text_of(n: int) -> str:
    return f"bench message {n}: where is my order?"


def customers(tg: FakeTelegram, count: int) -> None:
    for i in range(count):
        tg.user(FIRST_ID + i, f"Customer{i}", language_code="en")


async def send_all(tg: FakeTelegram, messages: int, count: int) -> dict[str, tuple[float, tuple[int, int]]]:
    """Every customer message at once; returns text -> (time sent, (chat id, message id))."""
    await tg.wait_for(lambda: tg.polls_waiting > 0, 60, message="the bot polling")
    sent: dict[str, tuple[float, tuple[int, int]]] = {}
    for n in range(messages):
        message = tg.customer_sends_text(tg.users[FIRST_ID + n % count], text_of(n))
        sent[text_of(n)] = (time.monotonic(), (message.chat_id, message.message_id))
    return sent


class Arrivals:
    """When each message arrived, read from the fake's calls as they come (each call is looked at once: the
    benchmark must not spend the CPU it measures on re-reading every call at every call)."""

    def __init__(self, tg: FakeTelegram, arrived: Callable[[Call], list[str]]) -> None:
        self.tg = tg
        self.arrived = arrived
        self.at: dict[str, float] = {}
        self._seen = 0

    def count(self) -> int:
        calls = self.tg.calls
        for call in calls[self._seen :]:
            if call.ok:
                for text in self.arrived(call):
                    self.at.setdefault(text, call.at)
        self._seen = len(calls)
        return len(self.at)


def echoed(sent: dict[str, tuple[float, tuple[int, int]]]) -> Callable[[Call], list[str]]:
    """The echo's reply to a customer carries the message."""

    def texts(call: Call) -> list[str]:
        text = str(call.params.get("text"))
        return [text] if call.method == "sendMessage" and text in sent else []

    return texts


def in_staff_chat(by_key: dict[tuple[int, int], str]) -> Callable[[Call], list[str]]:
    """A message reaches the staff chat copied, or carried in a (combined) text."""

    def texts(call: Call) -> list[str]:
        if str(call.params.get("chat_id")) != str(STAFF):
            return []
        if call.method == "copyMessage":
            text = by_key.get((int(call.params["from_chat_id"]), int(call.params["message_id"])))
            return [text] if text is not None else []
        if call.method == "sendMessage":
            parts = str(call.params.get("text", "")).split("\n\n")
            return [part for part in parts if part.startswith("bench message ")]
        return []

    return texts


@contextlib.contextmanager
def burst() -> Iterator[None]:
    """The fake Bot API lives in this process: its garbage collector must not pause it mid-burst (a full
    collection here took up to 170 ms, and landed on one bot or the other at random). Both bots get the same."""
    gc.collect()
    gc.freeze()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.unfreeze()


def result(
    name: str, sent: dict[str, tuple[float, tuple[int, int]]], arrived: dict[str, float], pid: int, cpu_before: float
) -> Result:
    first = min(at for at, _ in sent.values())
    latencies = [arrived[text] - at for text, (at, _) in sent.items()]
    return Result(name, max(arrived.values()) - first, latencies, cpu_seconds(pid) - cpu_before, peak_rss_mb(pid))


async def echo_run(messages: int, count: int, workdir: Path) -> Result:
    tg = FakeTelegram()
    customers(tg, count)
    async with serve_botapi(tg) as server:
        log = (workdir / "echo.log").open("wb")
        process = await asyncio.create_subprocess_exec(
            sys.executable, str(ROOT / "bench" / "echo_bot.py"), TOKEN, server.base_url, stdout=log, stderr=log
        )
        try:
            await tg.wait_for(lambda: tg.polls_waiting > 0, 60, message="the bot polling")
            cpu_before = cpu_seconds(process.pid)
            with burst():
                sent = await send_all(tg, messages, count)
                arrivals = Arrivals(tg, echoed(sent))
                await tg.wait_for(lambda: arrivals.count() == messages, TIMEOUT, message="every echo")
            return result("echo bot", sent, arrivals.at, process.pid, cpu_before)
        finally:
            process.terminate()
            await process.wait()
            log.close()


async def profile(pid: int, output: Path) -> asyncio.subprocess.Process:
    """py-spy (installed apart from the project: `pip install py-spy`) sampling `carebot run` while it holds the
    GIL, folded stacks."""
    spy = await asyncio.create_subprocess_exec(
        "py-spy",
        "record",
        "--pid",
        str(pid),
        "--format",
        "raw",
        "--rate",
        "200",
        "--gil",  # samples of the thread holding the GIL: where the CPU goes, not who waits
        "--output",
        str(output),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    await asyncio.sleep(1)  # attached
    return spy


async def stored_messages(url: str) -> tuple[int, float, datetime | None]:
    """How many of the messages Carebot stored, the seconds between the first and the last stored, and when the
    last was stored."""
    from storage.models import TicketMessage  # the tickets feature

    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            created = col(TicketMessage.created_at)
            query = select(func.count(), func.min(created), func.max(created)).where(
                col(TicketMessage.text).like("bench message %")
            )
            stored, first, last = (await connection.execute(query)).one()
    finally:
        await engine.dispose()
    return stored, (last - first).total_seconds() if stored else 0.0, last


async def carebot_run(
    messages: int, count: int, workdir: Path, database_url: str | None = None, profile_to: Path | None = None
) -> Result:
    tg = FakeTelegram()
    customers(tg, count)
    admin = tg.user(900001, "Admin")
    tg.group(STAFF, "Care team", members=[admin])
    url = database_url or f"sqlite+aiosqlite:///{workdir / 'carebot.db'}"
    await asyncio.to_thread(upgrade_sync, url)
    async with serve_botapi(tg) as server:
        env = {
            "CAREBOT_BOT_TOKEN": TOKEN,
            "CAREBOT_BOT_API_URL": server.base_url,
            "CAREBOT_DATABASE_URL": url,
            "CAREBOT_STAFF_CHAT_ID": str(STAFF),
            "CAREBOT_ADMIN_IDS": "900001",
            "CAREBOT_DEFAULT_LANGUAGE": "en",
            "CAREBOT_RATE_LIMITS": "off",
        }
        carebot = await start_carebot(env, workdir / "carebot.log")
        spy = None
        try:
            # started: polling, and the scheduler lease taken (its holder relays to the staff chat), start-up done
            await tg.wait_for(lambda: tg.polls_waiting > 0 and "carebot started" in carebot.log(), 60, message="start")
            spy = await profile(carebot.process.pid, profile_to) if profile_to else None  # the burst, not the start
            cpu_before = cpu_seconds(carebot.process.pid)
            with burst():
                sent = await send_all(tg, messages, count)
                by_key = {key: text for text, (_, key) in sent.items()}
                arrivals = Arrivals(tg, in_staff_chat(by_key))
                await tg.wait_for(
                    lambda: arrivals.count() == messages,
                    TIMEOUT,
                    message=f"every message in the staff chat\n{carebot.log()[-3000:]}",
                )
            outcome = result("Carebot", sent, arrivals.at, carebot.process.pid, cpu_before)
        finally:
            if spy is not None:
                spy.send_signal(signal.SIGINT)
                await spy.wait()
            await carebot.stop()
    stored, span, last_stored = await stored_messages(url)
    assert stored == messages, f"{stored} of {messages} messages stored"
    staff_calls = [c for c in tg.calls if str(c.params.get("chat_id")) == str(STAFF)]
    # The database's clock is the wall clock; the arrivals are on the monotonic one.
    first_sent = min(at for at, _ in sent.values())
    stored_after = (last_stored.timestamp() - time.time() + time.monotonic() - first_sent) if last_stored else 0.0
    print(
        f"  Carebot stored the messages within {span:.2f} s of each other, the last {stored_after:.2f} s after "
        f"the first was sent; the staff chat got {len(staff_calls)} calls "
        f"({sum(c.method == 'copyMessage' for c in staff_calls)} copies, "
        f"{sum(c.method == 'sendMessage' for c in staff_calls)} sendMessage)"
    )
    return outcome


@contextlib.asynccontextmanager
async def fresh_database(url: str | None) -> AsyncIterator[str | None]:
    """For a PostgreSQL `url`: a new database on that server, dropped afterwards (a run needs an empty one)."""
    if url is None or is_sqlite(url):
        yield url
        return
    import asyncpg  # type: ignore[import-untyped]

    server = make_url(url)
    name = f"{server.database}_inbound_bench"
    admin = server.set(drivername="postgresql").render_as_string(hide_password=False)

    async def run(*statements: str) -> None:
        connection = await asyncpg.connect(admin)
        try:
            for statement in statements:
                await connection.execute(statement)
        finally:
            await connection.close()

    await run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}"')
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        await run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def main_async(messages: int, count: int, database_url: str | None, profile_to: Path | None) -> None:
    with tempfile.TemporaryDirectory() as folder:
        workdir = Path(folder)
        echo = await echo_run(messages, count, workdir)
        print(echo.line())
        async with fresh_database(database_url) as url:
            carebot = await carebot_run(messages, count, workdir, url, profile_to)
        print(carebot.line() + " (every message stored)")
    ratio = carebot.throughput / echo.throughput
    p99 = carebot.percentile(0.99) / echo.percentile(0.99)
    cpu = carebot.cpu / echo.cpu if echo.cpu else 0.0
    print(
        f"inbound: throughput {ratio:.2f}x the echo bot (goal >= {THROUGHPUT_GOAL}x), "
        f"p99 latency {p99:.2f}x the echo's (goal <= 1.0x); CPU {cpu:.2f}x the echo's, "
        f"peak RSS of carebot run {carebot.rss_mb:.0f} MB"
    )


def main() -> None:
    if importlib.util.find_spec("bot.tickets.relay") is None:
        sys.exit("inbound: this checkout has no ticket relay to the staff chat yet (the tickets feature)")
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument("--customers", type=int, default=30)
    parser.add_argument(
        "--database-url", help="PostgreSQL: a new database is made on its server (default: a new SQLite file)"
    )
    parser.add_argument("--profile", type=Path, help="write py-spy folded stacks of `carebot run` to this file")
    args = parser.parse_args()
    asyncio.run(main_async(args.messages, args.customers, args.database_url, args.profile))


if __name__ == "__main__":
    main()
