"""Benchmark: the signed order endpoint, `POST /api/purchases`, with requests of 1,000 rows (rows/s, latency, RSS).

    uv run python bench/purchases_api.py [--requests 30] [--customers 20000]

Serves the real HTTP app (`bot.runtime.webhook.build_web_app` on uvicorn, SQLite) on 127.0.0.1 and posts signed requests of
1,000 purchases each over HTTP, one after the other, as a shop's backlog would: a third of the rows name the customer
by phone or email, the rest by telegram_id; every request is sent twice (the second time each row is `unchanged`,
as when a shop retries). Baseline, in the same run: the same rows given straight to `apply_purchases` (the CSV
import's apply: no HTTP, JSON, signature or customer lookup), each 1,000 in its own transaction.
Goal (no figure in the issue, so a bound with a wide margin): a 1,000-row request answered in under 2 s (shops
time their webhooks out after about 5 s), ≥ 1,000 rows/s, peak RSS under 300 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from bot.app import build_application
from bot.context import Services
from bot.purchases.api import PATH, SIGNATURE_HEADER, signature
from bot.runtime.dispatch import ChatOrderedDispatcher
from bot.runtime.webhook import WebServer, build_web_app, start_server
from bot.settings import Settings
from storage.csv_import import PurchaseRow, apply_purchases, purchase_row_parser
from storage.db import create_engine, session_factory, transaction, upgrade_sync
from storage.segments import VipThresholds

FIRST_ID = 40_000_000
ROWS_PER_REQUEST = 1_000
SECRET = "bench-secret-0123456789"
GOAL_SECONDS_PER_REQUEST = 2.0
GOAL_ROWS_PER_SECOND = 1_000
GOAL_RSS_MB = 300


def store_customers(path: Path, count: int) -> None:
    connection = sqlite3.connect(path)
    connection.executescript(
        f"""
        WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {count - 1})
        INSERT INTO customers (telegram_id, first_name, phone, email, language, segment, segment_since, total_spent,
                               purchase_count, proactive_opt_out, unreachable, created_at, updated_at)
        SELECT {FIRST_ID} + i, 'C' || i, '+86138' || printf('%08d', i), 'c' || i || '@example.com', 'en',
               'potential', '2026-01-01 00:00:00.000000', 0, 0, 0, 0,
               '2026-01-01 00:00:00.000000', '2026-01-01 00:00:00.000000'
        FROM n;
        """
    )
    connection.commit()
    connection.close()


def request_rows(number: int, customers: int) -> list[dict[str, str | int]]:
    rows: list[dict[str, str | int]] = []
    for n in range(ROWS_PER_REQUEST):
        i = number * ROWS_PER_REQUEST + n
        customer = (i * 7919) % customers
        row: dict[str, str | int] = {
            "amount": f"{10 + i % 490}.{i % 100:02d}",
            "currency": "CNY",
            "occurred_at": f"2026-{1 + i % 10:02d}-{1 + i % 28:02d}T12:{i % 60:02d}:00+08:00",
            "reference": f"SHOP-{i}",
        }
        if i % 3 == 1:
            row["phone"] = f"+86138{customer:08d}"
        elif i % 3 == 2:
            row["email"] = f"c{customer}@example.com"
        else:
            row["telegram_id"] = FIRST_ID + customer
        if i % 10 == 0:
            row["note"] = "gift wrap"
        rows.append(row)
    return rows


async def post_all(settings: Settings, bodies: list[bytes]) -> tuple[list[float], list[float], dict[str, int]]:
    """Serve the app and post every body twice (new, then retried); returns both passes' latencies."""
    engine = create_engine(settings.database_url)
    services = Services(settings=settings, engine=engine, sessions=session_factory(engine))
    app = build_application(settings, services=services)
    server = WebServer(
        build_web_app(app, ChatOrderedDispatcher(app, services.sessions), webhook=False), host="127.0.0.1", port=0
    )
    task = await start_server(server)
    port = server.servers[0].sockets[0].getsockname()[1]
    statuses: dict[str, int] = {}
    passes: list[list[float]] = [[], []]
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:
            for latencies in passes:
                for body in bodies:
                    started = time.perf_counter()
                    answer = await http.post(PATH, content=body, headers={SIGNATURE_HEADER: signature(SECRET, body)})
                    latencies.append(time.perf_counter() - started)
                    assert answer.status_code == 200, answer.text[:500]
                    for result in answer.json()["results"]:
                        statuses[result["status"]] = statuses.get(result["status"], 0) + 1
    finally:
        server.should_exit = True
        await task
        await engine.dispose()
    return passes[0], passes[1], statuses


async def baseline(url: str, settings: Settings, requests: list[list[dict[str, str | int]]], customers: int) -> float:
    """The same purchases straight into `apply_purchases` (rows already know their telegram_id)."""
    parse = purchase_row_parser(default_currency="CNY", default_timezone=settings.timezone)
    batches: list[list[PurchaseRow]] = []
    for rows in requests:
        batch = []
        for line, row in enumerate(rows):
            i = int(str(row["reference"]).removeprefix("SHOP-"))
            cells = {k: str(v) for k, v in row.items() if k not in ("phone", "email")}
            cells["telegram_id"] = str(FIRST_ID + (i * 7919) % customers)
            batch.append(parse(line, cells))
        batches.append(batch)
    engine = create_engine(url)
    vip = VipThresholds(min_total=settings.vip_min_total, min_purchases=settings.vip_min_purchases)
    try:
        started = time.perf_counter()
        for batch in batches:
            async with transaction(session_factory(engine)) as session:
                await apply_purchases(session, batch, vip=vip, reason="shop")
        return time.perf_counter() - started
    finally:
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--customers", type=int, default=20_000)
    args = parser.parse_args()
    requests = [request_rows(n, args.customers) for n in range(args.requests)]
    bodies = [json.dumps(rows).encode() for rows in requests]
    rows = args.requests * ROWS_PER_REQUEST
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.db"
        url = f"sqlite+aiosqlite:///{path}"
        upgrade_sync(url)
        store_customers(path, args.customers)
        settings = Settings(
            bot_token="123456:BENCH-abcdefghijklmnopqrstuvwxyz", database_url=url, api_secret=SECRET, _env_file=None
        )  # type: ignore[call-arg]
        new, retried, statuses = asyncio.run(post_all(settings, bodies))
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        floor_path = Path(folder) / "floor.db"
        floor_url = f"sqlite+aiosqlite:///{floor_path}"
        upgrade_sync(floor_url)
        store_customers(floor_path, args.customers)
        floor = asyncio.run(baseline(floor_url, settings, requests, args.customers))
    rate, retry_rate = rows / sum(new), rows / sum(retried)
    print(
        f"{args.requests} requests of {ROWS_PER_REQUEST} rows ({sum(map(len, bodies)) / 1e6:.1f} MB), {args.customers} customers: {statuses}"
    )
    print(
        f"new orders: median {statistics.median(new):.2f} s, slowest {max(new):.2f} s a request; "
        f"retried: median {statistics.median(retried):.2f} s ({retry_rate:,.0f} rows/s); "
        f"apply_purchases alone {rows / floor:,.0f} rows/s"
    )
    print(
        f"purchases api: {rate:,.0f} rows/s ({rate / (rows / floor):.2f}x apply_purchases alone), slowest request "
        f"{max(max(new), max(retried)):.2f} s, peak RSS {peak:.0f} MB (goal >= {GOAL_ROWS_PER_SECOND:,} rows/s, "
        f"< {GOAL_SECONDS_PER_REQUEST:.0f} s a request, < {GOAL_RSS_MB} MB)"
    )


if __name__ == "__main__":
    main()
