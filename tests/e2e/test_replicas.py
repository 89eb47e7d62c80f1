"""Three `carebot run --webhook` replicas on one PostgreSQL database, and the lease holder killed mid-way.

A driver plays Telegram: it posts customer updates round-robin, redelivers some (also to two replicas at the same
moment), posts one with a wrong secret, and moves on to the next replica when one does not answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from bot.webhook import SECRET_HEADER
from storage.db import create_engine, upgrade_sync
from tests.botapi import FakeMessage, FakeTelegram, serve_botapi
from tests.conftest import PG_URL
from tests.harness import CarebotProcess, start_carebot

pytestmark = pytest.mark.skipif(not PG_URL, reason="needs PostgreSQL: set CAREBOT_TEST_DATABASE_URL")

SECRET = "replicas-secret"
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


async def test_three_replicas_handle_every_update_once_while_the_lease_holder_is_killed(
    tg: FakeTelegram, tmp_path: Path, blank_postgres: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    customers = [tg.user(7100 + n, f"Customer{n}", language_code="en") for n in range(12)]
    stuck = tg.user(7199, "Stuck", language_code="en")
    intruder = tg.user(7198, "Intruder", language_code="en")
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

        await eventually(all_healthy, timeout=45, what="all replicas healthy")
        assert tg.webhook is not None and tg.webhook["secret_token"] == SECRET
        watch = Watch(replicas, http)
        watching = asyncio.create_task(watch.run())
        telegram = Telegram(tg, replicas, http)
        updates = {user.id: telegram.update_of(tg.sends_command(user, "/start")) for user in [*customers, stuck]}
        intrusion = telegram.update_of(tg.sends_command(intruder, "/start"))

        # Before the kill: round-robin, a redelivery to another replica, and one to two replicas at the same moment.
        for user in customers[:6]:
            await telegram.deliver(updates[user.id])
        await telegram.post_to(replicas[2], updates[customers[0].id])
        await asyncio.gather(*(telegram.post_to(r, updates[customers[1].id]) for r in replicas[:2]))
        assert await telegram.post_to(replicas[0], intrusion, secret="wrong") == 401
        await tg.wait_for(lambda: all(greetings(tg, u.id) for u in customers[:6]), timeout=20, message=logs())
        await eventually(lambda: all_handled(blank_postgres), timeout=10, what="nothing in flight anywhere")
        (holder,) = await lease_holders(replicas, http)

        # The holder receives an update and dies while handling it (its reply never leaves).
        inside, released = asyncio.Event(), asyncio.Event()
        real_handle = tg.handle

        async def handle(method: str, params: Any = None, files: Any = None, *, token: str = "") -> Any:
            if method == "sendMessage" and str((params or {}).get("chat_id")) == str(stuck.id) and not inside.is_set():
                inside.set()
                await released.wait()
                return 502, {"ok": False, "error_code": 502, "description": "Bad Gateway"}
            return await real_handle(method, params, files, token=token)

        monkeypatch.setattr(tg, "handle", handle)
        assert await telegram.post_to(holder, updates[stuck.id]) == 200
        await asyncio.wait_for(inside.wait(), timeout=10)
        watch.live.remove(holder)
        await holder.process.stop(signal.SIGKILL)
        killed_at = time.monotonic()
        released.set()

        # After the kill: the rest round-robin over all three (the dead one refuses), plus redeliveries.
        for user in customers[6:]:
            await telegram.deliver(updates[user.id])
        await telegram.deliver(updates[customers[3].id])
        await telegram.deliver(updates[stuck.id])
        survivors = [r for r in replicas if r is not holder]
        await tg.wait_for(lambda: all(greetings(tg, u.id) for u in [*customers, stuck]), timeout=25, message=logs())
        await eventually(
            lambda: lease_held_by_one_of(survivors, http),
            timeout=LEASE_TAKEOVER_SECONDS - (time.monotonic() - killed_at),
            what="the lease taken over",
        )
        assert len(await lease_holders(survivors, http)) == 1
        await eventually(lambda: all_handled(blank_postgres), timeout=10, what="every stored update handled")

        # Each customer got exactly one reply, the greeting: nothing twice, nothing lost, no error along the way.
        replies = {u.id: [m.content.split("!")[0] for m in tg.sent_to(u)] for u in [*customers, stuck]}
        assert replies == {u.id: [f"Hello, {u.first_name}"] for u in [*customers, stuck]}
        assert tg.sent_to(intruder) == []
        watching.cancel()
        assert watch.rounds >= 3 and watch.failures == []
        for replica in survivors:
            assert await replica.process.stop() == 0, replica.process.log()
    assert all("1000000:TEST-carebot-token" not in r.process.log() for r in replicas)
