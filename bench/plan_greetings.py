"""Benchmark: a birthday pass and a holiday pass over many customers on SQLite (time and peak RSS).

    uv run python bench/plan_greetings.py [--customers 1000000]

Customers are generated in SQL (a fifth with a time zone of their own, one in twenty VIP); the holiday pass runs
on the eve of Spring Festival, so every customer gets a greeting planned.
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
from storage.db import create_engine, session_factory, upgrade_sync

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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=1_000_000)
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
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {peak:.0f} MB")


if __name__ == "__main__":
    main()
