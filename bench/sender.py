"""Benchmark: the outbox sender against the loopback fake Bot API, next to a bare httpx sendMessage loop.

    uv run python bench/sender.py [--rows 10000] [--limited-rows 900]

1. Limits off: `--rows` outbox rows to distinct customers drained by `OutboxSender` (built as `carebot run` builds
   it: `sender_bot` and its connection pool, `rate_limits=False`), against a bare httpx loop sending the same number
   of sendMessage calls with the same concurrency (the sender's batch of 100, over the same pool size). `--rounds` rounds,
   interleaved; the best of each side counts. Goal: sender ≥ 0.8 × the loop.
2. Limits on at 30/s: `--limited-rows` rows (some customers get three, a group gets twenty digests), goal:
   achieved ≥ 0.95 × 30/s with no second holding more than 30 sends, no private chat more than one a second and
   no group more than twenty a minute (checked by the fake's `max_per_window` / `max_global_per_second`).
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import tempfile
import time
from pathlib import Path

import httpx

from bot.runtime.scheduling import render, sender_bot
from bot.settings import Settings
from scheduler.config import CareConfig
from scheduler.sender import GROUP_MAX_PER_WINDOW, GROUP_WINDOW_SECONDS, OutboxSender
from storage.db import create_engine, session_factory, transaction, upgrade_sync
from storage.outbox import PlannedMessage, enqueue_many
from tests.botapi import TOKEN, FakeTelegram, serve_botapi

FIRST_ID = 20_000_000
GROUP = -100500
CONCURRENCY = 100  # the sender's batch when limits are off


def add_customers(path: Path, count: int) -> None:
    connection = sqlite3.connect(path)
    connection.executescript(
        f"""
        WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {count})
        INSERT INTO customers (id, telegram_id, first_name, language, segment, segment_since, total_spent,
                               purchase_count, proactive_opt_out, unreachable, created_at, updated_at)
        SELECT i, {FIRST_ID} + i, 'C' || i, CASE i % 3 WHEN 0 THEN 'zh_CN' ELSE 'en' END, 'new',
               '2026-01-01 00:00:00.000000', 0, 0, 0, 0, '2026-01-01 00:00:00.000000', '2026-01-01 00:00:00.000000'
        FROM n;
        """
    )
    connection.commit()
    connection.close()


def checkin(customer_id: int, n: int = 0) -> PlannedMessage:
    return PlannedMessage(
        key=f"bench:{customer_id}:{n}",
        kind="checkin",
        chat_id=FIRST_ID + customer_id,
        customer_id=customer_id,
        template="care.checkin",
    )


def digest(n: int) -> PlannedMessage:
    empty = {"template": "care.sla.line", "items": []}
    return PlannedMessage(
        key=f"bench:sla:{n}",
        kind="sla",
        chat_id=GROUP,
        template="care.sla.digest",
        params={"count": 1, "tickets": empty, "more": {"template": "care.sla.more", "items": []}},
    )


def fake_with_users(count: int) -> FakeTelegram:
    tg = FakeTelegram()
    for i in range(1, count + 1):
        tg.user(FIRST_ID + i, f"C{i}")
    tg.group(GROUP, "Care team")
    return tg


async def run_sender(messages: list[PlannedMessage], customers: int, config: CareConfig) -> tuple[FakeTelegram, float]:
    """Drain `messages` through the real sender; returns the fake and the seconds from first to last send."""
    tg = fake_with_users(customers)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.db"
        url = f"sqlite+aiosqlite:///{path}"
        await asyncio.to_thread(upgrade_sync, url)  # migrations run their own event loop
        add_customers(path, customers)
        engine = create_engine(url)
        sessions = session_factory(engine)
        async with transaction(sessions) as session:
            await enqueue_many(session, messages=messages)
        try:
            async with serve_botapi(tg) as server:
                settings = Settings(bot_token=TOKEN, bot_api_url=server.base_url, send_rate=config.send_rate)
                async with sender_bot(settings) as bot:
                    sender = OutboxSender(bot=bot, sessions=sessions, config=config, texts=render)
                    started = time.perf_counter()
                    report = await sender.drain()
                    elapsed = time.perf_counter() - started
        finally:
            await engine.dispose()
    assert report.sent == len(messages), f"sent {report.sent} of {len(messages)}: {report}"
    return tg, elapsed


async def run_loop(rows: int, pool: int) -> float:
    """The baseline: `rows` sendMessage calls, CONCURRENCY at a time, over an httpx pool of `pool` connections."""
    tg = fake_with_users(rows)
    text = render("en", "care.checkin", {"name": "C1"})
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(1, rows + 1):
        queue.put_nowait(FIRST_ID + i)
    async with serve_botapi(tg) as server:
        limits = httpx.Limits(max_connections=pool, max_keepalive_connections=pool)
        async with httpx.AsyncClient(limits=limits, timeout=20) as client:
            url = f"{server.base_url}{TOKEN}/sendMessage"

            async def worker() -> None:
                while not queue.empty():
                    chat_id = queue.get_nowait()
                    response = await client.post(url, json={"chat_id": chat_id, "text": text, "parse_mode": "HTML"})
                    response.raise_for_status()

            started = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
            elapsed = time.perf_counter() - started
    assert len(tg.sends) == rows
    return elapsed


async def unlimited(rows: int, rounds: int) -> float:
    config = CareConfig(quiet_hours="", rate_limits=False)
    pool = max(8, int(Settings().send_rate) * 2)  # what `sender_bot` gives the default configuration
    messages = [checkin(i) for i in range(1, rows + 1)]
    loop_best = sender_best = float("inf")
    for _ in range(rounds):
        loop_best = min(loop_best, await run_loop(rows, pool))
        _, seconds = await run_sender(messages, rows, config)
        sender_best = min(sender_best, seconds)
        print(f"  round: loop {rows / loop_best:.0f}/s, sender {rows / seconds:.0f}/s")
    loop_rate, sender_rate = rows / loop_best, rows / sender_best
    print(f"limits off: {rows} messages, httpx loop {loop_rate:.0f}/s, OutboxSender {sender_rate:.0f}/s")
    return sender_rate / loop_rate


async def limited(rows: int) -> tuple[float, bool]:
    rate = 30.0
    config = CareConfig(quiet_hours="", rate_limits=True, send_rate=rate)
    digests = GROUP_MAX_PER_WINDOW  # as many as one minute allows
    repeated = 30  # customers who get three messages each
    singles = rows - digests - 3 * repeated
    customers = repeated + singles
    messages = [checkin(i, n) for i in range(1, repeated + 1) for n in range(3)]
    messages += [checkin(i) for i in range(repeated + 1, customers + 1)]
    messages += [digest(n) for n in range(digests)]
    tg, _ = await run_sender(messages, customers, config)
    times = sorted(s.at for s in tg.sends)
    achieved = (len(times) - 1) / (times[-1] - times[0])
    per_second = tg.max_global_per_second()
    per_chat = max(tg.max_per_window(FIRST_ID + i, 1.0) for i in range(1, customers + 1))
    group = tg.max_per_window(GROUP, GROUP_WINDOW_SECONDS)
    violations = (per_second > rate) + (per_chat > 1) + (group > GROUP_MAX_PER_WINDOW)
    print(
        f"limits on at {rate:.0f}/s: {len(times)} sends in {times[-1] - times[0]:.1f} s = {achieved:.2f}/s; "
        f"busiest second {per_second}, busiest private chat {per_chat}/s, group {group}/min"
    )
    return achieved / rate, violations == 0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--limited-rows", type=int, default=900)
    parser.add_argument("--rounds", type=int, default=1, help="limits-off rounds (the best of each side counts)")
    args = parser.parse_args()
    ratio = asyncio.run(unlimited(args.rows, args.rounds))
    share, clean = asyncio.run(limited(args.limited_rows))
    print(
        f"sender {ratio:.2f}x the httpx loop (goal >= 0.8x); at 30/s {share:.3f}x of 30/s (goal >= 0.95x), "
        f"limit violations: {'none' if clean else 'SOME'} (goal none)"
    )


if __name__ == "__main__":
    main()
