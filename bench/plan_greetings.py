"""Benchmark: a birthday pass and a holiday pass over many customers on SQLite (time and peak RSS).

    uv run python bench/plan_greetings.py [--customers 1000000] [--expand-chunks 0]

Customers are generated in SQL (a fifth with a time zone of their own, one in twenty VIP, one in fifty opted
out); the holiday pass runs on the eve of Spring Festival, so every customer gets a greeting planned. The holiday
planner records one pass per time zone; the sender expands them into outbox rows a chunk at a time as they fall
due. The benchmark then does that expansion itself, chunk after chunk (`--expand-chunks` of them; 0: all), and
prints the slowest chunk: each must take a small part of the time its rows take to send.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sqlite3
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import time_machine

from scheduler.config import CareConfig
from scheduler.jobs import run_job
from storage.db import create_engine, session_factory, transaction, upgrade_sync
from storage.outbox_passes import CHUNK, expand, open_passes

ZONES = ("Europe/Berlin", "America/New_York", "Asia/Tokyo", "Australia/Sydney")


def fill(path: Path, count: int) -> None:
    connection = sqlite3.connect(path)
    zones = ", ".join(f"'{zone}'" for zone in ZONES)
    connection.executescript(
        f"""
        WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {count})
        INSERT INTO customers (telegram_id, first_name, language, timezone, segment, segment_since, total_spent,
                               purchase_count, proactive_opt_out, unreachable, created_at, updated_at,
                               birth_month, birth_day)
        SELECT 10000000 + i, 'C' || i, CASE i % 3 WHEN 0 THEN 'en' ELSE 'zh_CN' END,
               CASE WHEN i % 5 = 0 THEN json_extract(json_array({zones}), '$[' || (i / 5 % {len(ZONES)}) || ']') END,
               CASE WHEN i % 20 = 0 THEN 'vip' ELSE 'new' END, '2026-01-01 00:00:00.000000', 0, 0,
               i % 50 = 0, 0, '2026-01-01 00:00:00.000000', '2026-01-01 00:00:00.000000',
               1 + i % 12, 1 + i % 28
        FROM n;
        """
    )
    connection.commit()
    connection.close()


async def measure(url: str, job: str, moment: datetime) -> tuple[int, float]:
    engine = create_engine(url)
    try:
        with time_machine.travel(moment, tick=True):
            started = time.perf_counter()
            planned = await run_job(job, sessions=session_factory(engine), config=CareConfig())
            return planned, time.perf_counter() - started
    finally:
        await engine.dispose()


async def expand_passes(url: str, moment: datetime, chunks: int) -> tuple[int, int, float, float]:
    """Expand due passes chunk by chunk, one transaction each, as the sender does; returns (rows, chunks, total
    seconds, slowest chunk's seconds)."""
    engine = create_engine(url)
    sessions = session_factory(engine)
    rows = done = 0
    total = slowest = 0.0
    try:
        with time_machine.travel(moment, tick=True):
            while chunks == 0 or done < chunks:
                started = time.perf_counter()
                async with transaction(sessions) as session:
                    due = await open_passes(session, due_by=moment)
                    if not due:
                        break
                    assert due[0].id is not None
                    rows += await expand(session, due[0].id, now=moment) or 0
                seconds = time.perf_counter() - started
                done, total, slowest = done + 1, total + seconds, max(slowest, seconds)
    finally:
        await engine.dispose()
    return rows, done, total, slowest


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--expand-chunks", type=int, default=0, help="holiday chunks to expand afterwards (0: all)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.db"
        url = f"sqlite+aiosqlite:///{path}"
        upgrade_sync(url)
        fill(path, args.customers)
        for job, moment in (
            ("birthday", datetime(2026, 5, 16, 20, 0, tzinfo=UTC)),
            ("holidays", datetime(2026, 2, 16, 1, 0, tzinfo=UTC)),
        ):
            planned, seconds = asyncio.run(measure(url, job, moment))
            print(f"{job}: {planned} planned over {args.customers} customers in {seconds:.2f} s")
        everywhere_due = datetime(2026, 2, 17, 16, 0, tzinfo=UTC)  # past 10:00 in every zone of the benchmark
        rows, chunks, total, slowest = asyncio.run(expand_passes(url, everywhere_due, args.expand_chunks))
        print(
            f"holidays expanded: {rows} outbox rows in {chunks} chunks of up to {CHUNK} customers, {total:.1f} s, "
            f"slowest chunk {slowest * 1000:.0f} ms (sending a chunk takes {CHUNK / CareConfig().send_rate:.0f} s)"
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {peak:.0f} MB")


if __name__ == "__main__":
    main()
