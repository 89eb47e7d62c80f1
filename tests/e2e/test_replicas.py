"""Three `carebot run --webhook` replicas on one PostgreSQL database, and the lease holder killed mid-way.

A driver plays Telegram: it posts customer updates round-robin, redelivers some (also to two replicas at the same
moment), posts one with a wrong secret, and moves on to the next replica when one does not answer. The lease holder,
which relays every customer message into the staff chat, is killed in the middle of copying one there.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from bot.runtime.webhook import SECRET_HEADER
from storage.db import create_engine, upgrade_sync
from tests.botapi import FakeMessage, FakeTelegram, FakeUser, serve_botapi
from tests.conftest import PG_URL
from tests.harness import CarebotProcess, start_carebot, texts_staff_see

pytestmark = pytest.mark.skipif(not PG_URL, reason="needs PostgreSQL: set CAREBOT_TEST_DATABASE_URL")

SECRET = "replicas-secret"
STAFF = -100700
STAFF_ADMIN = 900007
REPLICA_TIMEOUT_SECONDS = 4
LEASE_TAKEOVER_SECONDS = 30


@pytest.fixture
def blank_postgres(request: pytest.FixtureRequest) -> Iterator[str]:
    """The worker's PostgreSQL database without any table: the replicas migrate it, all at once."""
    url = str(request.getfixturevalue("postgres_url"))
    asyncio.run(_execute(url, "DROP SCHEMA public CASCADE", "CREATE SCHEMA public"))
    yield url
    upgrade_sync(url)  # whatever happened, later tests find the schema they expect


async def _execute(url: str, *statements: str) -> list[Any]:
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            results = [await connection.execute(text(statement)) for statement in statements]
            return [result.scalar() if result.returns_rows else None for result in results]
    finally:
        await engine.dispose()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Replica:
    def __init__(self, process: CarebotProcess, port: int) -> None:
        self.process = process
        self.url = f"http://127.0.0.1:{port}"

    @property
    def alive(self) -> bool:
        return self.process.process.returncode is None


class Telegram:
    """Telegram's side of the webhook: posts updates, retrying on the next replica like a load balancer would."""

    def __init__(self, tg: FakeTelegram, replicas: list[Replica], http: httpx.AsyncClient) -> None:
        self.tg = tg
        self.replicas = replicas
        self.http = http
        self.turn = 0

    def update_of(self, message: FakeMessage) -> dict[str, Any]:
        return next(u.data for u in self.tg.updates if u.update_id == message.update_id)

    async def post_to(self, replica: Replica, update: dict[str, Any], secret: str = SECRET) -> int:
        answer = await self.http.post(f"{replica.url}/telegram", json=update, headers={SECRET_HEADER: secret})
        return answer.status_code

    async def deliver(self, update: dict[str, Any]) -> None:
        """Round-robin; a replica that does not answer 200 gets the update's next attempt sent elsewhere."""
        for _ in range(3 * len(self.replicas)):
            replica = self.replicas[self.turn % len(self.replicas)]
            self.turn += 1
            with contextlib.suppress(httpx.TransportError):
                if await self.post_to(replica, update) == 200:
                    return
        raise AssertionError(f"no replica took update {update['update_id']}")


class Watch:
    """Polls /healthz and /metrics of the live replicas all along; any failure is kept."""

    def __init__(self, replicas: list[Replica], http: httpx.AsyncClient) -> None:
        self.live = list(replicas)
        self.http = http
        self.failures: list[str] = []
        self.rounds = 0

    async def run(self) -> None:
        while True:
            for replica in list(self.live):
                for path in ("/healthz", "/metrics"):
                    try:
                        status = (await self.http.get(replica.url + path)).status_code
                    except httpx.HTTPError as exc:
                        status = type(exc).__name__  # type: ignore[assignment]
                    if status != 200 and replica in self.live:
                        self.failures.append(f"{replica.url}{path}: {status}")
            self.rounds += 1
            await asyncio.sleep(0.2)


async def lease_holders(replicas: list[Replica], http: httpx.AsyncClient) -> list[Replica]:
    holders = []
    for replica in replicas:
        page = (await http.get(replica.url + "/metrics")).text
        if "\ncarebot_scheduler_lease_held 1.0" in page:
            holders.append(replica)
    return holders


async def lease_held_by_one_of(replicas: list[Replica], http: httpx.AsyncClient) -> bool:
    return bool(await lease_holders(replicas, http))


async def all_handled(url: str) -> bool:
    (count,) = await _execute(url, "SELECT count(*) FROM inbox WHERE processed_at IS NULL")
    return count == 0


async def eventually(check: Callable[[], Awaitable[bool]], *, timeout: float, what: str) -> None:
    """Poll a condition that lives in other processes (a database, HTTP endpoints) until it holds."""
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:.0f} s: {what}")
        await asyncio.sleep(0.2)


@contextlib.asynccontextmanager
async def replicas_running(
    tg: FakeTelegram, workdir: Path, database_url: str, count: int
) -> AsyncIterator[list[Replica]]:
    async with serve_botapi(tg) as server:
        replicas = []
        for n in range(count):
            port = free_port()
            env = {
                "CAREBOT_BOT_TOKEN": "1000000:TEST-carebot-token",
                "CAREBOT_BOT_API_URL": server.base_url,
                "CAREBOT_DATABASE_URL": database_url,
                "CAREBOT_RATE_LIMITS": "off",
                "CAREBOT_STAFF_CHAT_ID": str(STAFF),
                "CAREBOT_ADMIN_IDS": str(STAFF_ADMIN),
                "CAREBOT_WEBHOOK_URL": "https://bot.example.com/telegram",
                "CAREBOT_WEBHOOK_SECRET": SECRET,
                "CAREBOT_HTTP_PORT": str(port),
                "CAREBOT_REPLICA_TIMEOUT_SECONDS": str(REPLICA_TIMEOUT_SECONDS),
            }
            replicas.append(Replica(await start_carebot(env, workdir / f"replica{n}.log", "--webhook"), port))
        try:
            yield replicas
        finally:
            for replica in replicas:
                await replica.process.stop()


def greetings(tg: FakeTelegram, user_id: int) -> int:
    return sum(1 for m in tg.sent_to(user_id) if m.content.startswith("Hello"))


def ticket_number(acknowledgement: str) -> int:
    found = re.search(r"ticket #(\d+)", acknowledgement)
    assert found is not None, acknowledgement
    return int(found.group(1))


def question(user: FakeUser) -> str:
    return f"Where is my order, {user.first_name}?"


async def test_three_replicas_handle_every_update_once_while_the_lease_holder_is_killed(
    tg: FakeTelegram, tmp_path: Path, blank_postgres: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    tg.group(STAFF, "Care team", members=[tg.user(STAFF_ADMIN, "Alice")])
    customers = [tg.user(7100 + n, f"Customer{n}", language_code="en") for n in range(12)]
    stuck = tg.user(7199, "Stuck", language_code="en")
    intruder = tg.user(7198, "Intruder", language_code="en")
    everyone = [*customers, stuck]
    async with replicas_running(tg, tmp_path, blank_postgres, 3) as replicas, httpx.AsyncClient(timeout=10) as http:
        logs = lambda: "\n".join(r.process.log()[-3000:] for r in replicas)  # noqa: E731

        async def all_healthy() -> bool:
            for replica in replicas:
                assert replica.alive, logs()
                with contextlib.suppress(httpx.TransportError):
                    if (await http.get(replica.url + "/healthz")).status_code == 200:
                        continue
                return False
            return True

        await eventually(all_healthy, timeout=120, what="all replicas healthy")  # start-up is slow on a busy machine
        assert tg.webhook is not None and tg.webhook["secret_token"] == SECRET
        watch = Watch(replicas, http)
        watching = asyncio.create_task(watch.run())
        telegram = Telegram(tg, replicas, http)
        starts = {user.id: telegram.update_of(tg.sends_command(user, "/start")) for user in everyone}
        intrusion = telegram.update_of(tg.customer_sends_text(intruder, "let me in"))

        # Before the kill: greetings round-robin, a redelivery to another replica, one to two replicas at once.
        for user in everyone:
            await telegram.deliver(starts[user.id])
        await telegram.post_to(replicas[2], starts[customers[0].id])
        await asyncio.gather(*(telegram.post_to(r, starts[customers[1].id]) for r in replicas[:2]))
        assert await telegram.post_to(replicas[0], intrusion, secret="wrong") == 401
        await tg.wait_for(lambda: all(greetings(tg, u.id) for u in everyone), timeout=20, message=logs())
        questions = {user.id: telegram.update_of(tg.customer_sends_text(user, question(user))) for user in everyone}
        for user in customers[:6]:
            await telegram.deliver(questions[user.id])
        await telegram.post_to(replicas[1], questions[customers[2].id])
        await asyncio.gather(*(telegram.post_to(r, questions[customers[4].id]) for r in replicas[1:]))
        await tg.wait_for(
            lambda: {question(u) for u in customers[:6]} <= set(texts_staff_see(tg, STAFF)), timeout=20, message=logs()
        )
        await eventually(lambda: all_handled(blank_postgres), timeout=10, what="nothing in flight anywhere")
        (holder,) = await lease_holders(replicas, http)

        # The lease holder relays the queue: it dies while copying the next customer message into the staff chat,
        # before Telegram has shown it (the call never completes).
        inside, released = asyncio.Event(), asyncio.Event()
        real_handle = tg.handle

        async def handle(method: str, params: Any = None, files: Any = None, *, token: str = "") -> Any:
            params = params or {}
            carries_stuck = str(params.get("from_chat_id")) == str(stuck.id) or question(stuck) in str(
                params.get("text")
            )
            if str(params.get("chat_id")) == str(STAFF) and carries_stuck and not inside.is_set():
                inside.set()
                await released.wait()
                return 502, {"ok": False, "error_code": 502, "description": "Bad Gateway"}
            return await real_handle(method, params, files, token=token)

        monkeypatch.setattr(tg, "handle", handle)
        await telegram.deliver(questions[stuck.id])  # to any replica: the holder relays it
        await asyncio.wait_for(inside.wait(), timeout=15)
        watch.live.remove(holder)
        await holder.process.stop(signal.SIGKILL)
        killed_at = time.monotonic()
        released.set()

        # After the kill: the rest round-robin over all three (the dead one refuses), plus redeliveries.
        for user in customers[6:]:
            await telegram.deliver(questions[user.id])
        await telegram.deliver(questions[customers[7].id])
        await telegram.deliver(questions[stuck.id])
        await telegram.deliver(starts[customers[3].id])
        survivors = [r for r in replicas if r is not holder]
        await eventually(
            lambda: lease_held_by_one_of(survivors, http),
            timeout=LEASE_TAKEOVER_SECONDS - (time.monotonic() - killed_at),
            what="the lease taken over",
        )
        assert len(await lease_holders(survivors, http)) == 1
        await tg.wait_for(
            lambda: {question(u) for u in everyone} <= set(texts_staff_see(tg, STAFF)), timeout=30, message=logs()
        )
        await eventually(lambda: all_handled(blank_postgres), timeout=10, what="every stored update handled")

        # Every customer message reached the staff chat exactly once; each customer got one greeting and one
        # acknowledgement of their own ticket; nothing from the intruder went anywhere.
        assert sorted(texts_staff_see(tg, STAFF)) == sorted(question(u) for u in everyone)
        numbers = []
        for user in everyone:
            greeting, acknowledgement = tg.sent_to(user)  # exactly two replies each
            assert greeting.content.startswith(f"Hello, {user.first_name}!"), greeting.content
            numbers.append(ticket_number(acknowledgement.content))
        assert len(set(numbers)) == len(everyone)  # one ticket each, numbers unique across replicas
        assert tg.sent_to(intruder) == []
        watching.cancel()
        assert watch.rounds >= 3 and watch.failures == []
        for replica in survivors:
            assert await replica.process.stop() == 0, replica.process.log()
    assert all("1000000:TEST-carebot-token" not in r.process.log() for r in replicas)
