"""Chaos benchmark: no customer message lost while the staff chat fails and the bot is killed.

    uv run python bench/chaos.py [--messages 2000] [--customers 200] [--fault-rate 0.1] [--kills 2]
    uv run python bench/chaos.py --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/test

`carebot run` against the loopback fake Bot API (`tests.botapi`, served by this process), 200 customers sending
2,000 texts in a burst, while a tenth of the Bot API calls to the staff chat fail (half 502 Bad Gateway, half 429
with `retry_after` 1):
- SQLite (default): one process long polling, SIGKILLed and started again `--kills` times during the burst;
- `--database-url` (PostgreSQL; a new database is made on that server and dropped afterwards): three
  `carebot run --webhook` replicas; this process plays Telegram, posting each update to the replicas round-robin
  and, like Telegram, posting it again (to the next one) when it got no 200; the replica holding the scheduler
  lease (the one relaying to the staff chat) is SIGKILLed during the burst and started again.
Then it waits until every message has reached the staff chat (copied, or carried in a combined text) and prints:
lost messages (never shown to staff), doubled staff-chat sends (a message shown more than once), parked updates,
and the time to drain (last message sent → last shown to staff). Goal: 0 lost, at most one doubled send per kill,
0 parked. Limits are off (`CAREBOT_RATE_LIMITS=off`), as in bench/inbound.py: 429 answers are still honoured.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import signal
import socket
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func
from sqlalchemy.engine import make_url
from sqlmodel import col, select

from storage.db import create_engine, is_sqlite, upgrade_sync
from tests.botapi import TOKEN, ApiError, FakeTelegram, serve_botapi
from tests.harness import CarebotProcess, start_carebot

STAFF = -100500
ADMIN = 900001
FIRST_ID = 50_000_000
SECRET = "chaos-secret"
DRAIN_TIMEOUT = 600.0
REPLICA_TIMEOUT_SECONDS = 4


def text_of(n: int) -> str:
    return f"chaos message {n}: where is my order?"


@dataclass
class Chaos:
    """Fails a share of the Bot API calls to the staff chat, before the fake sees them (so they never show)."""

    rate: float
    rng: random.Random = field(default_factory=lambda: random.Random(14))
    failed: Counter[str] = field(default_factory=Counter)

    def wrap(self, tg: FakeTelegram) -> None:
        real = tg.handle

        async def handle(method: str, params: Mapping[str, Any] | None = None, *args: Any, **kwargs: Any) -> Any:
            if params and str(params.get("chat_id")) == str(STAFF) and self.rng.random() < self.rate:
                if self.rng.random() < 0.5:
                    error = ApiError(502, "Bad Gateway")
                else:
                    error = ApiError(429, "Too Many Requests: retry after 1", retry_after=1)
                self.failed[f"{method} {error.status}"] += 1
                return error.status, error.payload()
            return await real(method, params, *args, **kwargs)

        tg.handle = handle  # type: ignore[method-assign]


def shown_in_staff_chat(tg: FakeTelegram, by_key: dict[tuple[int, int], str]) -> Counter[str]:
    """How many times each customer message reached the staff chat: copied, or carried in a (combined) text."""
    shown: Counter[str] = Counter()
    for call in list(tg.calls):
        if not call.ok or str(call.params.get("chat_id")) != str(STAFF):
            continue
        if call.method == "copyMessage":
            key = (int(call.params["from_chat_id"]), int(call.params["message_id"]))
            if key in by_key:
                shown[by_key[key]] += 1
        elif call.method == "sendMessage":
            for part in str(call.params.get("text", "")).split("\n\n"):
                if part.startswith("chaos message "):
                    shown[part] += 1
    return shown


async def database_counts(url: str) -> tuple[int, int, int]:
    """Messages stored, updates parked, updates not yet handled."""
    from storage.models import InboxUpdate, TicketMessage

    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            stored = (
                await connection.execute(select(func.count()).where(col(TicketMessage.text).like("chaos message %")))
            ).scalar_one()
            parked = (
                await connection.execute(select(func.count()).where(col(InboxUpdate.parked_at).is_not(None)))
            ).scalar_one()
            waiting = (
                await connection.execute(
                    select(func.count()).where(
                        col(InboxUpdate.processed_at).is_(None), col(InboxUpdate.parked_at).is_(None)
                    )
                )
            ).scalar_one()
    finally:
        await engine.dispose()
    return int(stored), int(parked), int(waiting)


def settings_env(base_url: str, database_url: str) -> dict[str, str]:
    return {
        "CAREBOT_BOT_TOKEN": TOKEN,
        "CAREBOT_BOT_API_URL": base_url,
        "CAREBOT_DATABASE_URL": database_url,
        "CAREBOT_STAFF_CHAT_ID": str(STAFF),
        "CAREBOT_ADMIN_IDS": str(ADMIN),
        "CAREBOT_DEFAULT_LANGUAGE": "en",
        "CAREBOT_RATE_LIMITS": "off",
    }


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Burst:
    sent: dict[str, float] = field(default_factory=dict)  # text -> when sent
    keys: dict[tuple[int, int], str] = field(default_factory=dict)  # (chat, message id) -> text
    updates: list[dict[str, Any]] = field(default_factory=list)
    kills: list[float] = field(default_factory=list)  # when each SIGKILL was sent


def customer_texts(tg: FakeTelegram, messages: int, customers: int) -> list[tuple[int, str]]:
    for i in range(customers):
        tg.user(FIRST_ID + i, f"Customer{i}", language_code="en")
    return [(FIRST_ID + n % customers, text_of(n)) for n in range(messages)]


def send(tg: FakeTelegram, burst: Burst, user_id: int, text: str) -> dict[str, Any]:
    message = tg.customer_sends_text(tg.users[user_id], text)
    burst.sent[text] = time.monotonic()
    burst.keys[(message.chat_id, message.message_id)] = text
    update = next(u.data for u in reversed(tg.updates) if u.update_id == message.update_id)
    burst.updates.append(update)
    return update


async def polling_run(
    tg: FakeTelegram, url: str, workdir: Path, plan: list[tuple[int, str]], kills: int, seconds: float
) -> tuple[Burst, int]:
    """One long-polling process, SIGKILLed and started again `kills` times while the burst goes on."""
    burst = Burst()
    async with serve_botapi(tg) as server:
        env = settings_env(server.base_url, url)
        carebot = await start_carebot(env, workdir / "carebot.log")
        await tg.wait_for(lambda: tg.polls_waiting > 0, 120, message="the bot polling")
        kill_at = {round(len(plan) * (k + 1) / (kills + 1)) for k in range(kills)}
        pause = seconds / len(plan)
        killed = 0
        try:
            for index, (user_id, text) in enumerate(plan):
                if index in kill_at:
                    burst.kills.append(time.monotonic())
                    carebot.process.send_signal(signal.SIGKILL)
                    await carebot.process.wait()
                    killed += 1
                    carebot = await start_carebot(env, workdir / "carebot.log")
                send(tg, burst, user_id, text)
                await asyncio.sleep(pause)
            await drain(tg, burst, url, lambda: carebot.log()[-3000:])
        finally:
            await carebot.stop()
    return burst, killed


class Replicas:
    def __init__(self, base_url: str, url: str, workdir: Path, count: int) -> None:
        self.base_url = base_url
        self.url = url
        self.workdir = workdir
        self.count = count
        self.processes: list[CarebotProcess] = []
        self.ports: list[int] = []
        self.turn = 0

    async def start(self, index: int | None = None) -> None:
        indexes = range(self.count) if index is None else [index]
        for n in indexes:
            port = self.ports[n] if index is not None else free_port()
            env = {
                **settings_env(self.base_url, self.url),
                "CAREBOT_WEBHOOK_URL": "https://bot.example.com/telegram",
                "CAREBOT_WEBHOOK_SECRET": SECRET,
                "CAREBOT_HTTP_PORT": str(port),
                "CAREBOT_REPLICA_TIMEOUT_SECONDS": str(REPLICA_TIMEOUT_SECONDS),
            }
            process = await start_carebot(env, self.workdir / f"replica{n}.log", "--webhook")
            if index is None:
                self.processes.append(process)
                self.ports.append(port)
            else:
                self.processes[n] = process

    def log(self) -> str:
        return "\n".join(p.log()[-1500:] for p in self.processes)

    async def healthy(self, http: httpx.AsyncClient, index: int) -> bool:
        with contextlib.suppress(httpx.HTTPError):
            return (await http.get(f"http://127.0.0.1:{self.ports[index]}/healthz")).status_code == 200
        return False

    async def lease_holder(self, http: httpx.AsyncClient) -> int | None:
        for n, port in enumerate(self.ports):
            with contextlib.suppress(httpx.HTTPError):
                page = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
                if "\ncarebot_scheduler_lease_held 1.0" in page:
                    return n
        return None

    async def post(self, http: httpx.AsyncClient, update: dict[str, Any]) -> None:
        """Like Telegram: round-robin, and the same update again to the next replica until one answers 200."""
        for attempt in range(1000):
            port = self.ports[self.turn % self.count]
            self.turn += 1
            with contextlib.suppress(httpx.HTTPError):
                answer = await http.post(
                    f"http://127.0.0.1:{port}/telegram",
                    json=update,
                    headers={"X-Telegram-Bot-Api-Secret-Token": SECRET},
                )
                if answer.status_code == 200:
                    return
            if attempt % self.count == self.count - 1:
                await asyncio.sleep(0.2)
        raise AssertionError(f"no replica took update {update['update_id']}")


async def webhook_run(
    tg: FakeTelegram, url: str, workdir: Path, plan: list[tuple[int, str]], kills: int, seconds: float
) -> tuple[Burst, int]:
    """Three webhook replicas; the lease holder is SIGKILLed `kills` times during the burst, each time started
    again."""
    burst = Burst()
    async with serve_botapi(tg) as server, httpx.AsyncClient(timeout=10) as http:
        replicas = Replicas(server.base_url, url, workdir, 3)
        await replicas.start()
        try:
            deadline = time.monotonic() + 120
            while not all([await replicas.healthy(http, n) for n in range(3)]) or (
                await replicas.lease_holder(http) is None
            ):
                if time.monotonic() > deadline:
                    raise AssertionError("replicas not up:\n" + replicas.log())
                await asyncio.sleep(0.5)
            kill_at = {round(len(plan) * (k + 1) / (kills + 1)) for k in range(kills)}
            pause = seconds / len(plan)
            killed = 0
            posting: set[asyncio.Task[None]] = set()
            for index, (user_id, text) in enumerate(plan):
                if index in kill_at:
                    holder = await replicas.lease_holder(http)
                    victim = holder if holder is not None else 0
                    burst.kills.append(time.monotonic())
                    replicas.processes[victim].process.send_signal(signal.SIGKILL)
                    await replicas.processes[victim].process.wait()
                    killed += 1
                    await replicas.start(victim)
                task = asyncio.create_task(replicas.post(http, send(tg, burst, user_id, text)))
                posting.add(task)
                task.add_done_callback(posting.discard)
                await asyncio.sleep(pause)
            await asyncio.gather(*posting)
            await drain(tg, burst, url, replicas.log)
        finally:
            for process in replicas.processes:
                await process.stop()
    return burst, killed


async def drain(tg: FakeTelegram, burst: Burst, url: str, log: Any) -> None:
    """Wait until every message has reached the staff chat, or the timeout (what is missing is reported)."""
    deadline = time.monotonic() + DRAIN_TIMEOUT
    with contextlib.suppress(AssertionError):
        await tg.wait_for(lambda: len(shown_in_staff_chat(tg, burst.keys)) >= len(burst.sent), DRAIN_TIMEOUT)
    # Then until nothing is left to handle (the database of other processes), and a little longer: a late double
    # would show up now.
    while (await database_counts(url))[2] and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.5)
    await asyncio.sleep(3)


def doubled_sends(tg: FakeTelegram, keys: dict[tuple[int, int], str]) -> list[tuple[float, str, list[str]]]:
    """The staff-chat calls that showed again a message shown before: (when, method, the messages doubled)."""
    seen: set[str] = set()
    doubled: list[tuple[float, str, list[str]]] = []
    for call in list(tg.calls):
        if not call.ok or str(call.params.get("chat_id")) != str(STAFF):
            continue
        texts: list[str] = []
        if call.method == "copyMessage":
            key = (int(call.params["from_chat_id"]), int(call.params["message_id"]))
            texts = [keys[key]] if key in keys else []
        elif call.method == "sendMessage":
            texts = [p for p in str(call.params.get("text", "")).split("\n\n") if p.startswith("chaos message ")]
        again = [text for text in texts if text in seen]
        if again:
            doubled.append((call.at, call.method, again))
        seen.update(texts)
    return doubled


def arrival_times(tg: FakeTelegram, keys: dict[tuple[int, int], str]) -> dict[str, float]:
    first: dict[str, float] = {}
    for call in list(tg.calls):
        if not call.ok or str(call.params.get("chat_id")) != str(STAFF):
            continue
        texts: list[str] = []
        if call.method == "copyMessage":
            key = (int(call.params["from_chat_id"]), int(call.params["message_id"]))
            texts = [keys[key]] if key in keys else []
        elif call.method == "sendMessage":
            texts = [p for p in str(call.params.get("text", "")).split("\n\n") if p.startswith("chaos message ")]
        for text in texts:
            first.setdefault(text, call.at)
    return first


@contextlib.asynccontextmanager
async def fresh_database(url: str | None, workdir: Path) -> AsyncIterator[str]:
    """A new SQLite file, or for a PostgreSQL `url` a new database on that server, dropped afterwards."""
    if url is None or is_sqlite(url):
        yield url or f"sqlite+aiosqlite:///{workdir / 'carebot.db'}"
        return
    import asyncpg

    server = make_url(url)
    name = f"{server.database}_chaos_bench"
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


def keep_logs(workdir: Path, folder: Path) -> None:
    for log in workdir.glob("*.log"):
        (folder / log.name).write_bytes(log.read_bytes())


async def main_async(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory() as folder:
        workdir = Path(folder)
        async with fresh_database(args.database_url, workdir) as url:
            await asyncio.to_thread(upgrade_sync, url)
            tg = FakeTelegram()
            tg.group(STAFF, "Care team", members=[tg.user(ADMIN, "Admin")])
            chaos = Chaos(args.fault_rate)
            chaos.wrap(tg)
            plan = customer_texts(tg, args.messages, args.customers)
            webhook = not is_sqlite(url)
            run = webhook_run if webhook else polling_run
            started = time.monotonic()
            burst, killed = await run(tg, url, workdir, plan, args.kills, args.seconds)
            shown = shown_in_staff_chat(tg, burst.keys)
            stored, parked, waiting = await database_counts(url)
            if args.keep_logs:
                await asyncio.to_thread(keep_logs, workdir, Path(args.keep_logs))
    arrivals = arrival_times(tg, burst.keys)
    lost = [text for text in burst.sent if text not in shown]
    again = doubled_sends(tg, burst.keys)
    doubled = len(again)
    last_sent = max(burst.sent.values())
    drained = (max(arrivals.values()) - last_sent) if arrivals else float("nan")
    mode = "PostgreSQL, 3 webhook replicas" if webhook else "SQLite, long polling"
    staff_calls = [c for c in tg.calls if str(c.params.get("chat_id")) == str(STAFF)]
    print(
        f"chaos ({mode}): {len(burst.sent)} texts from {args.customers} customers in "
        f"{last_sent - min(burst.sent.values()):.1f} s, {killed} SIGKILL(s) and restarts, "
        f"{sum(chaos.failed.values())} staff-chat calls failed ({dict(chaos.failed)}), "
        f"{len(staff_calls)} answered; whole run {time.monotonic() - started:.0f} s"
    )
    print(f"  stored {stored} of {len(burst.sent)}; not handled at the end: {waiting}")
    if lost:
        print(f"  lost: {', '.join(lost[:10])}{' …' if len(lost) > 10 else ''}")
    for at, method, texts in again:
        before = [k for k in burst.kills if k <= at]
        after = f"{at - before[-1]:.1f} s after kill {len(before)}" if before else "before any kill"
        print(f"  doubled by a {method} {after}: {', '.join(t.split(':')[0] for t in texts)}")
    print(
        f"chaos: lost {len(lost)} (goal 0), doubled staff-chat sends {doubled} (goal <= {killed}; "
        f"{sum(len(texts) for _, _, texts in again)} messages shown twice), "
        f"parked {parked} (goal 0), drained {drained:.1f} s after the last message was sent"
    )
    return 0 if not lost and doubled <= killed and not parked else 1


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--fault-rate", type=float, default=0.1, help="share of staff-chat calls that fail")
    parser.add_argument("--kills", type=int, default=2, help="SIGKILLs (each followed by a restart)")
    parser.add_argument("--seconds", type=float, default=20.0, help="how long the burst of messages lasts")
    parser.add_argument("--database-url", help="PostgreSQL: three webhook replicas on a new database there")
    parser.add_argument("--keep-logs", help="copy the bots' logs into this folder")
    sys.exit(asyncio.run(main_async(parser.parse_args())))


if __name__ == "__main__":
    main()
