"""`carebot run` in long polling mode serves the order endpoint too, when CAREBOT_API_SECRET is set."""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path

import httpx

from bot.purchases.api import PATH, SIGNATURE_HEADER, signature
from tests.botapi import FakeTelegram
from tests.harness import carebot_against_fake

SECRET = "polling-shop-secret"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_a_polling_bot_serves_the_signed_order_endpoint(
    tg: FakeTelegram, tmp_path: Path, database_url: str
) -> None:
    port = free_port()
    async with carebot_against_fake(tg, tmp_path, database_url, api_secret=SECRET, http_port=str(port)) as carebot:
        user = tg.user(611, "Lin", language_code="en")
        tg.sends_command(user, "/start")  # the customer exists once the bot greeted them
        await tg.wait_for(lambda: tg.last_sent(user), timeout=30, message=carebot.log())
        body = json.dumps(
            {
                "telegram_id": 611,
                "amount": "88.00",
                "currency": "CNY",
                "occurred_at": "2026-02-01T12:00:00Z",
                "reference": "ORDER-611",
            }
        ).encode()
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            for _ in range(100):  # listening starts before polling; be patient on a slow machine
                try:
                    if (await http.get("/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.2)
            answer = await http.post(PATH, content=body, headers={SIGNATURE_HEADER: signature(SECRET, body)})
            unsigned = await http.post(PATH, content=body)
            assert (await http.post("/telegram", content=b"{}")).status_code in (404, 405)  # no webhook when polling
    assert answer.status_code == 200, carebot.log()
    assert answer.json()["results"] == [{"index": 0, "reference": "ORDER-611", "status": "created", "segment": "new"}]
    assert unsigned.status_code == 401
    assert "serving HTTP on 127.0.0.1" in carebot.log()
    assert carebot.process.returncode == 0, carebot.log()
