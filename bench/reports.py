"""Benchmark: the figures behind `/stats` over 1,000,000 customers and 5,000,000 purchases on SQLite.

    uv run python bench/reports.py [--customers 1000000] [--purchases 5000000]

Everything is generated in SQL (recursive CTEs; the secondary indexes are dropped during the load and built again
afterwards, exactly as the migrations define them): customers in four segments, five purchases each over two
years, a segment change for every third customer spread over a year and 200,000 CSAT answers over a year. Then
`storage.reports.segment_counts`, and for 30 days `segment_changes`, `csat_summary` and `surveys_by_segment`, run
through the real async session, three times each; the query plans SQLite chose for the very statements are printed.
Goal: each < 1 s.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import event, text

from storage import reports
from storage.db import create_engine, session_factory, upgrade_sync

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
DAY0 = "2026-11-26 12:00:00"  # NOW in the stored format
STAMP = "strftime('%Y-%m-%d %H:%M:%S', '{day0}', {offset}) || '.000000'"
TABLES = ("customers", "purchases", "segment_changes", "survey_responses")
SURVEYS = 200_000
GOAL_SECONDS = 1.0


def stamp(offset_sql: str) -> str:
    return STAMP.format(day0=DAY0, offset=offset_sql)


def fill(path: Path, customers: int, purchases: int) -> float:
    started = time.perf_counter()
    connection = sqlite3.connect(path)
    connection.executescript("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA cache_size = -200000;")
    names = ", ".join(f"'{t}'" for t in TABLES)
    indexes = connection.execute(
        f"SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL AND tbl_name IN ({names})"
    ).fetchall()
    for name, _ in indexes:
        connection.execute(f"DROP INDEX {name}")
    per_customer = max(1, purchases // customers)
    # One time stamp per day (at a time of day that varies), looked up by key: far cheaper than strftime per row.
    connection.executescript(
        f"""
        CREATE TEMP TABLE days (d INTEGER PRIMARY KEY, at TEXT NOT NULL);
        WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 729)
        INSERT INTO days SELECT i, {stamp("'-' || i || ' days', '-' || (i * 7919 % 86400) || ' seconds'")} FROM n;
        WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {customers})
        INSERT INTO customers (id, telegram_id, first_name, language, segment, segment_since, total_spent,
                               purchase_count, proactive_opt_out, unreachable, created_at, updated_at)
        SELECT i, 10000000 + i, 'C' || i, 'en',
               CASE WHEN i % 20 = 0 THEN 'vip' WHEN i % 4 = 0 THEN 'returning' WHEN i % 4 = 1 THEN 'new'
                    ELSE 'potential' END,
               (SELECT at FROM days WHERE d = i % 365), 100, {per_customer}, 0, 0,
               (SELECT at FROM days WHERE d = i % 730), (SELECT at FROM days WHERE d = i % 365)
        FROM n;

        WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {purchases - 1})
        INSERT INTO purchases (id, customer_id, amount, currency, occurred_at, reference, created_at)
        SELECT i + 1, 1 + (i / {per_customer}) % {customers}, 10 + i % 490, 'CNY', at, 'R' || i, at
        FROM n JOIN days ON d = i % 730;

        WITH RECURSIVE n(i) AS (SELECT 3 UNION ALL SELECT i + 3 FROM n WHERE i + 3 <= {customers})
        INSERT INTO segment_changes (customer_id, from_segment, to_segment, reason, changed_at)
        SELECT i, CASE i % 2 WHEN 0 THEN 'new' ELSE 'returning' END,
               CASE i % 2 WHEN 0 THEN 'returning' ELSE 'vip' END, 'purchase',
               (SELECT at FROM days WHERE d = i % 365)
        FROM n;

        WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {SURVEYS})
        INSERT INTO survey_responses (kind, customer_id, score, created_at)
        SELECT CASE WHEN i % 10 = 0 THEN 'nps' ELSE 'csat' END, 1 + i * 7 % {customers},
               CASE WHEN i % 10 = 0 THEN i % 11 ELSE 1 + i % 5 END,
               (SELECT at FROM days WHERE d = i % 365)
        FROM n;
        """
    )
    for _, sql in indexes:
        connection.execute(sql)
    connection.execute("ANALYZE")
    connection.commit()
    connection.close()
    return time.perf_counter() - started


async def measure(url: str) -> list[tuple[str, float, float, list[str]]]:
    """Each report three times: (name, first run, best run, the statements it executed)."""
    engine = create_engine(url)
    statements: list[tuple[str, Any]] = []

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def remember(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        statements.append((statement, parameters))

    sessions = session_factory(engine)
    async with sessions() as session:  # connect once, so the figures are the queries'
        await session.execute(text("SELECT 1"))
    since = NOW - timedelta(days=30)
    cases: list[tuple[str, Callable[[Any], Awaitable[Any]]]] = [
        ("segment counts", lambda s: reports.segment_counts(s)),
        ("segment changes, 30 days", lambda s: reports.segment_changes(s, since=since, until=NOW)),
        ("CSAT summary, 30 days", lambda s: reports.csat_summary(s, since=since, until=NOW)),
        ("CSAT and NPS per segment, 30 days", lambda s: reports.surveys_by_segment(s, since=since)),
    ]
    results = []
    try:
        for name, run in cases:
            times = []
            for _ in range(3):
                statements.clear()
                async with sessions() as session:
                    started = time.perf_counter()
                    await run(session)
                    times.append(time.perf_counter() - started)
            results.append((name, times[0], min(times), [explain(url, sql, params) for sql, params in statements]))
    finally:
        await engine.dispose()
    return results


def explain(url: str, sql: str, params: Any) -> str:
    connection = sqlite3.connect(url.split("///", 1)[1])
    try:
        rows = connection.execute(f"EXPLAIN QUERY PLAN {sql}", params).fetchall()
    finally:
        connection.close()
    flat = " ".join(sql.split())
    return f"{flat}\n" + "\n".join(f"    {row[-1]}" for row in rows)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--purchases", type=int, default=5_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.db"
        url = f"sqlite+aiosqlite:///{path}"
        upgrade_sync(url)
        seconds = fill(path, args.customers, args.purchases)
        print(f"generated {args.customers} customers and {args.purchases} purchases in {seconds:.1f} s")
        results = asyncio.run(measure(url))
    for name, first, best, plans in results:
        print(f"{name}: first {first * 1000:.0f} ms, best of 3 {best * 1000:.0f} ms")
        for plan in plans:
            print(f"  {plan}")
    slowest = max(first for _, first, _, _ in results)
    print(f"reports: slowest first run {slowest * 1000:.0f} ms (goal < {GOAL_SECONDS * 1000:.0f} ms each)")


if __name__ == "__main__":
    main()
