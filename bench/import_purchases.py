"""Benchmark: importing 100,000 purchases from CSV with segments recomputed (rows per second, peak RSS).

    uv run python bench/import_purchases.py [--rows 100000] [--customers 25000]

The file is generated (four purchases per customer on average, half of the customers already stored, the rest
created by the import). It goes through what `carebot purchases import` runs: `parse_purchases_csv`, then
`apply_purchases` in one transaction, on SQLite. Baseline, in the same run: the same file read with `csv` and
inserted with a bare `sqlite3` executemany (no checks, no totals, no segments) — the floor of the cost.
Goal (no figure in the issue, so a bound with a wide margin): 100,000 rows in under 60 s (≥ 1,667 rows/s) with a
peak RSS under 500 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import resource
import sqlite3
import tempfile
import time
from pathlib import Path

from bot.settings import Settings
from storage.csv_import import apply_purchases, parse_purchases_csv
from storage.db import create_engine, session_factory, transaction, upgrade_sync
from storage.segments import VipThresholds

FIRST_ID = 30_000_000
GOAL_ROWS_PER_SECOND = 100_000 / 60
GOAL_RSS_MB = 500


def generate(rows: int, customers: int) -> bytes:
    out = io.StringIO()
    out.write("telegram_id,amount,currency,occurred_at,reference,note\n")
    for i in range(rows):
        customer = FIRST_ID + (i * 7919) % customers
        day = 1 + i % 28
        out.write(f"{customer},{10 + i % 490}.{i % 100:02d},CNY,2026-{1 + i % 10:02d}-{day:02d} 12:{i % 60:02d},")
        out.write(f"INV-{i},{'gift wrap' if i % 10 == 0 else ''}\n")
    return out.getvalue().encode()


def store_customers(path: Path, count: int) -> None:
    connection = sqlite3.connect(path)
    connection.executescript(
        f"""
        WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {count - 1})
        INSERT INTO customers (telegram_id, first_name, language, segment, segment_since, total_spent,
                               purchase_count, proactive_opt_out, unreachable, created_at, updated_at)
        SELECT {FIRST_ID} + i, 'C' || i, 'en', 'potential', '2026-01-01 00:00:00.000000', 0, 0, 0, 0,
               '2026-01-01 00:00:00.000000', '2026-01-01 00:00:00.000000'
        FROM n;
        """
    )
    connection.commit()
    connection.close()


async def apply(url: str, data: bytes, settings: Settings) -> tuple[float, float, str]:
    engine = create_engine(url)
    try:
        started = time.perf_counter()
        parsed = parse_purchases_csv(data, default_currency=settings.currency, default_timezone=settings.timezone)
        parsed_at = time.perf_counter()
        assert not parsed.rejections, parsed.rejections[:3]
        vip = VipThresholds(min_total=settings.vip_min_total, min_purchases=settings.vip_min_purchases)
        async with transaction(session_factory(engine)) as session:
            summary = await apply_purchases(session, parsed.rows, vip=vip, default_language=settings.default_language)
        done = time.perf_counter()
    finally:
        await engine.dispose()
    described = (
        f"{summary.purchases_imported} imported, {summary.customers_created} new customers, "
        f"{summary.segment_changes} segment changes"
    )
    return parsed_at - started, done - parsed_at, described


def baseline(path: Path, data: bytes) -> float:
    started = time.perf_counter()
    reader = csv.reader(io.StringIO(data.decode()))
    next(reader)
    connection = sqlite3.connect(path)
    connection.executemany(
        "INSERT INTO purchases (customer_id, amount, currency, occurred_at, reference, note, created_at) "
        "VALUES (1, ?, ?, ?, ?, ?, '2026-01-01 00:00:00.000000')",
        (
            (amount, currency, occurred, reference, note or None)
            for _, amount, currency, occurred, reference, note in reader
        ),
    )
    connection.commit()
    connection.close()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--customers", type=int, default=25_000)
    args = parser.parse_args()
    settings = Settings()
    data = generate(args.rows, args.customers)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.db"
        url = f"sqlite+aiosqlite:///{path}"
        upgrade_sync(url)
        store_customers(path, args.customers // 2)
        parse_seconds, apply_seconds, described = asyncio.run(apply(url, data, settings))
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        floor = Path(folder) / "floor.db"
        upgrade_sync(f"sqlite+aiosqlite:///{floor}")
        floor_seconds = baseline(floor, data)
    total = parse_seconds + apply_seconds
    rate = args.rows / total
    print(f"{args.rows} rows ({len(data) / 1e6:.1f} MB): {described}")
    print(f"parse {parse_seconds:.1f} s, apply {apply_seconds:.1f} s; bare csv + sqlite3 insert {floor_seconds:.1f} s")
    print(
        f"import: {rate:,.0f} rows/s ({args.rows / floor_seconds / rate:.1f}x slower than the bare insert), "
        f"peak RSS {peak:.0f} MB (goal >= {GOAL_ROWS_PER_SECOND:,.0f} rows/s, < {GOAL_RSS_MB} MB)"
    )


if __name__ == "__main__":
    main()
