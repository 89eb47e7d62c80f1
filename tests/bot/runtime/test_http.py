"""The HTTP layer under python-telegram-bot (aiohttp): what the Bot API gets and what the bot makes of failures."""

from __future__ import annotations

import socket
import warnings

import pytest
from telegram import Bot
from telegram.error import BadRequest, NetworkError, TimedOut
from telegram.warnings import PTBUserWarning

from bot.runtime.http import AiohttpRequest
from tests.botapi import TOKEN, FakeTelegram, serve_botapi


async def test_texts_with_markup_and_uploads_reach_the_bot_api_as_sent(tg: FakeTelegram) -> None:
    user = tg.user(801, "Dora", language_code="zh-hans")
    async with serve_botapi(tg) as server, Bot(TOKEN, base_url=server.base_url, request=AiohttpRequest()) as bot:
        sent = await bot.send_message(user.id, "<b>您好</b> &amp; welcome", parse_mode="HTML")
        document = await bot.send_document(user.id, b"name,phone\nDora,+86 138\n", filename="data.csv", caption="是")
        with pytest.raises(BadRequest):  # an answer Telegram refuses comes back as PTB's own error
            await bot.send_message(user.id, "")

    assert sent.text == "您好 & welcome"
    (text, upload) = tg.sent_to(user)
    assert text.content == "您好 & welcome" and upload.caption == "是"
    assert upload.upload is not None and upload.upload.filename == "data.csv"
    assert upload.upload.content == b"name,phone\nDora,+86 138\n"
    assert document.document is not None and document.document.file_name == "data.csv"


async def test_a_call_left_unanswered_times_out(tg: FakeTelegram) -> None:
    async with serve_botapi(tg) as server, Bot(TOKEN, base_url=server.base_url, request=AiohttpRequest()) as bot:
        with pytest.raises(TimedOut), warnings.catch_warnings():  # a long poll answers after 5 s; reading stops at 0.2
            warnings.simplefilter("ignore", PTBUserWarning)  # (getUpdates called as the bot's poller calls it)
            await bot.do_api_request("getUpdates", api_kwargs={"timeout": 5}, read_timeout=0.2)


async def test_a_bot_api_that_is_not_there_is_a_network_error() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    bot = Bot(TOKEN, base_url=f"http://127.0.0.1:{port}/bot", request=AiohttpRequest())
    with pytest.raises(NetworkError) as raised:
        async with bot:  # starting asks getMe
            pass
    assert not isinstance(raised.value, TimedOut)


async def test_a_layer_not_initialized_says_so() -> None:
    request = AiohttpRequest()
    with pytest.raises(RuntimeError, match="not initialized"):
        await request.do_request("http://127.0.0.1:1/botx/getMe", "POST")
    await request.initialize()
    await request.shutdown()
    with pytest.raises(RuntimeError, match="not initialized"):  # nor after it was shut down
        await request.do_request("http://127.0.0.1:1/botx/getMe", "POST")
