"""Webhook mode in-process: Telegram's posts (right secret, wrong secret, redeliveries), /healthz and /metrics."""

from __future__ import annotations

import warnings
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY
from sqlmodel import select

from bot.app import build_application
from bot.context import Services
from bot.runtime import metrics
from bot.runtime.dispatch import ChatOrderedDispatcher
from bot.runtime.webhook import SECRET_HEADER, build_webhook_app
from bot.settings import Settings
from storage.db import create_engine, session_factory, transaction
from storage.models import InboxUpdate
from storage.outbox import PlannedMessage, enqueue_many
from tests.botapi import FakeMessage, FakeRequest, FakeTelegram, serve_botapi
from tests.harness import BotHarness

SECRET = "s3cret-token_for-tests"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"webhook_url": "https://bot.example.com/telegram/hook", "webhook_secret": SECRET}
    )


@pytest.fixture
async def client(bot: BotHarness) -> AsyncIterator[httpx.AsyncClient]:
    asgi = build_webhook_app(bot.app, bot.dispatcher)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=asgi), base_url="http://carebot") as client:
        yield client


def update_of(tg: FakeTelegram, message: FakeMessage) -> dict[str, Any]:
    """The JSON Telegram would post for the update that carried `message`."""
    return next(u.data for u in tg.updates if u.update_id == message.update_id)


def greetings(tg: FakeTelegram, user_id: int) -> int:
    return sum(1 for m in tg.sent_to(user_id) if m.content.startswith("Hello"))


async def stored_update_ids(bot: BotHarness) -> list[int]:
    async with bot.services.sessions() as session:
        return list((await session.execute(select(InboxUpdate.update_id))).scalars())


async def test_an_update_is_stored_before_the_200_and_a_redelivery_greets_nobody_twice(
    bot: BotHarness, tg: FakeTelegram, client: httpx.AsyncClient
) -> None:
    user = tg.user(701, "Ann", language_code="en")
    update = update_of(tg, tg.sends_command(user, "/start"))
    answer = await client.post("/telegram/hook", json=update, headers={SECRET_HEADER: SECRET})
    assert answer.status_code == 200
    assert await stored_update_ids(bot) == [update["update_id"]]
    again = await client.post("/telegram/hook", json=update, headers={SECRET_HEADER: SECRET})
    assert again.status_code == 200  # Telegram must stop redelivering it
    await bot.dispatcher.drain()
    assert greetings(tg, user.id) == 1


async def test_a_post_without_the_right_secret_is_refused_and_not_processed(
    bot: BotHarness, tg: FakeTelegram, client: httpx.AsyncClient
) -> None:
    user = tg.user(702, "Mallory", language_code="en")
    update = update_of(tg, tg.sends_command(user, "/start"))
    wrong = await client.post("/telegram/hook", json=update, headers={SECRET_HEADER: "guess"})
    missing = await client.post("/telegram/hook", json=update)
    assert (wrong.status_code, missing.status_code) == (401, 401)
    await bot.dispatcher.drain()
    assert await stored_update_ids(bot) == []
    assert tg.sent_to(user) == []


async def test_a_post_that_is_not_an_update_gets_400(bot: BotHarness, client: httpx.AsyncClient) -> None:
    for body in (b"{not json", b"[1, 2]"):
        answer = await client.post("/telegram/hook", content=body, headers={SECRET_HEADER: SECRET})
        assert answer.status_code == 400
    assert await stored_update_ids(bot) == []


async def test_healthz_is_200_while_the_database_answers(client: httpx.AsyncClient) -> None:
    answer = await client.get("/healthz")
    assert (answer.status_code, answer.text) == (200, "ok")


async def test_healthz_is_503_when_the_database_does_not_answer(
    settings: Settings, tg: FakeTelegram, tmp_path: Any
) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path}/no/such/dir/carebot.db")
    services = Services(settings=settings, engine=engine, sessions=session_factory(engine))
    app = build_application(settings, request=FakeRequest(tg), services=services)
    asgi = build_webhook_app(app, ChatOrderedDispatcher(app, services.sessions))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=asgi), base_url="http://carebot") as client:
        assert (await client.get("/healthz")).status_code == 503
        assert (await client.get("/metrics")).status_code == 200  # still scrapeable, without the database gauges
    await engine.dispose()


def sample(text: str, name: str, **labels: str) -> float:
    wanted = name + ("{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}" if labels else "")
    for line in text.splitlines():
        if line.startswith(wanted + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{wanted} not in the metrics")


async def test_metrics_count_handled_updates_and_read_the_outbox_from_the_database(
    bot: BotHarness, tg: FakeTelegram, client: httpx.AsyncClient
) -> None:
    before = sample((await client.get("/metrics")).text, "carebot_updates_handled_total")
    user = tg.user(703, "Bo", language_code="en")
    await client.post(
        "/telegram/hook", json=update_of(tg, tg.sends_command(user, "/start")), headers={SECRET_HEADER: SECRET}
    )
    await bot.dispatcher.drain()
    async with transaction(bot.services.sessions) as session:
        planned = [
            PlannedMessage(key=f"checkin:{n}", kind="checkin", chat_id=703, template="care.checkin") for n in (1, 2)
        ]
        await enqueue_many(session, messages=planned)
    page = await client.get("/metrics")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/plain")
    text = page.text
    assert sample(text, "carebot_updates_handled_total") == before + 1
    assert sample(text, "carebot_outbox_messages", status="pending") == 2
    assert sample(text, "carebot_outbox_messages", status="sent") == 0
    assert sample(text, "carebot_tickets", status="open") == 0
    for name in ("carebot_tickets_opened_total", "carebot_telegram_429_total", "carebot_scheduler_lease_held"):
        sample(text, name)
    assert "carebot_send_latency_seconds_bucket" in text


async def test_bot_api_sends_are_timed_and_429_answers_counted(tg: FakeTelegram) -> None:
    from telegram import Bot
    from telegram.error import RetryAfter
    from telegram.warnings import PTBDeprecationWarning

    user = tg.user(704, "Cy", language_code="en")
    sends, too_many = _value("carebot_send_latency_seconds_count"), _value("carebot_telegram_429_total")
    async with serve_botapi(tg) as server:
        bot = Bot("1000000:TEST-carebot-token", base_url=server.base_url, request=metrics.InstrumentedRequest())
        async with bot:
            await bot.send_message(user.id, "hello")
            await bot.get_me()  # not a send: not timed
            tg.fail_next("sendMessage", status=429, retry_after=1)
            with pytest.raises(RetryAfter), warnings.catch_warnings():
                warnings.simplefilter("ignore", PTBDeprecationWarning)  # RetryAfter's float retry_after
                await bot.send_message(user.id, "again")
    assert _value("carebot_send_latency_seconds_count") == sends + 1
    assert _value("carebot_telegram_429_total") == too_many + 1


def _value(name: str) -> float:
    return REGISTRY.get_sample_value(name) or 0.0


async def test_a_port_already_in_use_is_reported_not_crashed_on(bot: BotHarness) -> None:
    import socket

    from bot.runtime.webhook import WebServer, start_server

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = WebServer(build_webhook_app(bot.app, bot.dispatcher), host="127.0.0.1", port=port)
        with pytest.raises(OSError, match=f"cannot listen on 127.0.0.1:{port}"):
            await start_server(server)


async def test_the_webhook_server_serves_until_told_to_stop(bot: BotHarness) -> None:
    from bot.runtime.webhook import WebServer, start_server

    server = WebServer(build_webhook_app(bot.app, bot.dispatcher), host="127.0.0.1", port=0)
    task = await start_server(server)
    port = server.servers[0].sockets[0].getsockname()[1]
    async with httpx.AsyncClient() as http:
        assert (await http.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200
    server.should_exit = True
    await task


async def test_an_update_whose_ids_the_database_cannot_hold_is_refused_for_good(
    bot: BotHarness, tg: FakeTelegram, client: httpx.AsyncClient
) -> None:
    user = tg.user(703, "Ann", language_code="en")
    update = update_of(tg, tg.sends_command(user, "/start"))
    oversized = {**update, "update_id": 2**63}
    answer = await client.post("/telegram/hook", json=oversized, headers={SECRET_HEADER: SECRET})
    assert answer.status_code == 400  # not a 5xx: Telegram would send it again and again
    foreign = {**update, "update_id": update["update_id"] + 1}
    foreign["message"] = {**update["message"], "chat": {**update["message"]["chat"], "id": -(2**70)}}
    assert (await client.post("/telegram/hook", json=foreign, headers={SECRET_HEADER: SECRET})).status_code == 400
    assert await stored_update_ids(bot) == []
    fine = await client.post("/telegram/hook", json=update, headers={SECRET_HEADER: SECRET})
    assert fine.status_code == 200
    await bot.dispatcher.drain()
    assert greetings(tg, user.id) == 1
