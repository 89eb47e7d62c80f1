"""A fake Telegram Bot API for tests: one in-memory core, two transports.

* :class:`FakeTelegram` — state, Bot API methods, user-side drivers, assertions helpers.
* :class:`FakeRequest` — in-process PTB request backend (no sockets).
* :func:`serve_botapi` — the same fake over HTTP on 127.0.0.1 (``python -m tests.botapi``).
"""

from tests.botapi.core import SENDING_METHODS, CallbackRecord, Fault, SendRecord, StarPayment
from tests.botapi.markup import MarkupError, parse_html, parse_markdown, parse_markdown_v2
from tests.botapi.models import (
    BOT_FIRST_NAME,
    BOT_ID,
    BOT_USERNAME,
    ApiError,
    Call,
    FakeChat,
    FakeMessage,
    FakeUpdate,
    FakeUser,
    StoredFile,
    Topic,
    UploadedFile,
)
from tests.botapi.request import FakeRequest
from tests.botapi.server import BotApiServer, serve_botapi
from tests.botapi.state import FakeTelegram

TOKEN = "1000000:TEST-carebot-token"

__all__ = [
    "BOT_FIRST_NAME",
    "BOT_ID",
    "BOT_USERNAME",
    "SENDING_METHODS",
    "TOKEN",
    "ApiError",
    "BotApiServer",
    "Call",
    "CallbackRecord",
    "FakeChat",
    "FakeMessage",
    "FakeRequest",
    "FakeTelegram",
    "FakeUpdate",
    "FakeUser",
    "Fault",
    "MarkupError",
    "SendRecord",
    "StarPayment",
    "StoredFile",
    "Topic",
    "UploadedFile",
    "parse_html",
    "parse_markdown",
    "parse_markdown_v2",
    "serve_botapi",
]
