"""`carebot run` in long polling mode serves the staff desk when CAREBOT_WEBAPP_URL is set, under that URL's path."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from bot.web.desk import INIT_DATA_HEADER
from bot.web.init_data import signed_for
from tests.botapi import FakeTelegram
from tests.e2e.test_purchases_api_polling import free_port
from tests.harness import carebot_against_fake
from tests.ids import ADMIN_ID

TOKEN = "1000000:TEST-carebot-token"  # what carebot_against_fake runs the bot with


async def test_a_polling_bot_serves_the_desk_and_gives_staff_its_button(
    tg: FakeTelegram, tmp_path: Path, database_url: str
) -> None:
    port = free_port()
    url = "https://care.example.com/desk/"
    async with carebot_against_fake(
        tg, tmp_path, database_url, webapp_url=url, http_port=str(port), admin_ids=str(ADMIN_ID)
    ) as carebot:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            for _ in range(100):  # listening starts before polling; be patient on a slow machine
                try:
                    if (await http.get("/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.2)
            shell = await http.get("/desk/")
            script = await http.get("/desk/static/desk.js")
            unsigned = await http.get("/desk/view/queue")
            admin = signed_for({"id": ADMIN_ID, "first_name": "Ada", "language_code": "en"}, TOKEN)
            queue = await http.get("/desk/view/queue", headers={INIT_DATA_HEADER: admin})
        await tg.wait_for(lambda: str(ADMIN_ID) in tg.menu_buttons, timeout=30, message=carebot.log())
    assert shell.status_code == 200 and 'data-base="/desk"' in shell.text, carebot.log()
    assert "script-src 'self' https://telegram.org" in shell.headers["content-security-policy"]
    assert script.status_code == 200 and "X-Telegram-Init-Data" in script.text
    assert unsigned.status_code == 401
    assert queue.status_code == 200 and "No ticket is waiting." in queue.text, carebot.log()
    assert tg.menu_buttons[str(ADMIN_ID)]["web_app"] == {"url": url}
    assert "serving HTTP on 127.0.0.1" in carebot.log()
