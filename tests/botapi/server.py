"""The :class:`FakeTelegram` served over HTTP (starlette + uvicorn), shaped like api.telegram.org.

* ``POST|GET /bot{token}/{method}`` — JSON, urlencoded or multipart bodies, or query parameters.
* ``GET /file/bot{token}/{file_path}`` — downloads of files returned by ``getFile``.
* ``/_fake/...`` — a small control API for benchmarks/manual trials (see :func:`build_app`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import parse_qsl, unquote

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.botapi.models import UploadedFile
from tests.botapi.state import FakeTelegram


class _Server(uvicorn.Server):
    """uvicorn server that leaves signal handlers alone and reports startup through an event."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = asyncio.Event()
        self.exit_requested = asyncio.Event()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def startup(self, sockets: Any = None) -> None:
        await super().startup(sockets)
        self.ready.set()

    async def main_loop(self) -> None:
        await self.on_tick(0)
        await self.exit_requested.wait()


class BotApiServer:
    """A running HTTP fake; use :func:`serve_botapi` to start and stop it."""

    def __init__(self, tg: FakeTelegram, host: str = "127.0.0.1", port: int = 0) -> None:
        self.tg = tg
        self.host = host
        self.port = port
        self._server: _Server | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def root_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """For ``telegram.Bot(token, base_url=...)``: ``http://127.0.0.1:PORT/bot``."""
        return f"{self.root_url}/bot"

    @property
    def file_url(self) -> str:
        """For ``telegram.Bot(token, base_file_url=...)``: ``http://127.0.0.1:PORT/file/bot``."""
        return f"{self.root_url}/file/bot"

    async def start(self) -> None:
        config = uvicorn.Config(
            build_app(self.tg),
            host=self.host,
            port=self.port,
            log_config=None,  # leave the host process' logging configuration alone
            log_level="warning",
            lifespan="off",
            access_log=False,
            timeout_graceful_shutdown=2,
        )
        self._server = _Server(config)
        self._task = asyncio.create_task(self._server.serve(), name="fake-botapi-server")
        ready = asyncio.create_task(self._server.ready.wait())
        await asyncio.wait({self._task, ready}, return_when=asyncio.FIRST_COMPLETED)
        if not ready.done():
            ready.cancel()
            await self._task  # re-raises the startup failure (uvicorn exits with SystemExit)
            raise RuntimeError("fake Bot API server stopped during startup")
        self.port = self._server.servers[0].sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is None or self._task is None:
            return
        self.tg.interrupt_polls()
        self._server.exit_requested.set()
        await self._task
        self._server = self._task = None


@contextlib.asynccontextmanager
async def serve_botapi(tg: FakeTelegram, *, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[BotApiServer]:
    """Serve ``tg`` in the current event loop (``port=0``: a free port) until the block exits."""
    server = BotApiServer(tg, host, port)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


# ---------------------------------------------------------------------- ASGI app
def build_app(tg: FakeTelegram) -> Starlette:
    """The starlette app serving ``tg`` (Bot API, file downloads and the ``/_fake`` control API)."""

    async def bot_method(request: Request) -> Response:
        params, files = await read_params(request)
        status, body = await tg.handle(request.path_params["method"], params, files, token=request.path_params["token"])
        return JSONResponse(body, status_code=status)

    async def download(request: Request) -> Response:
        content = tg.download(unquote(request.path_params["file_path"]))
        if content is None:
            return JSONResponse({"ok": False, "error_code": 404, "description": "Not Found"}, status_code=404)
        return Response(content, media_type="application/octet-stream")

    async def control(request: Request) -> Response:
        body: dict[str, Any] = await request.json() if request.method == "POST" else dict(request.query_params)
        try:
            result = _control(tg, request.path_params["action"], body)
        except (KeyError, ValueError, TypeError) as error:
            return JSONResponse({"ok": False, "description": f"{type(error).__name__}: {error}"}, status_code=400)
        return JSONResponse({"ok": True, "result": result})

    return Starlette(
        routes=[
            Route("/bot{token}/{method}", bot_method, methods=["GET", "POST"]),
            Route("/file/bot{token}/{file_path:path}", download, methods=["GET"]),
            Route("/_fake/{action}", control, methods=["GET", "POST"]),
        ]
    )


async def read_params(request: Request) -> tuple[dict[str, Any], dict[str, UploadedFile]]:
    """Parameters (query string + JSON/urlencoded/multipart body) and uploaded files of a call."""
    params: dict[str, Any] = dict(request.query_params)
    files: dict[str, UploadedFile] = {}
    body = await request.body()
    content_type = request.headers.get("content-type", "")
    if not body:
        return params, files
    if content_type.startswith("application/json"):
        data = json.loads(body)
        if isinstance(data, dict):
            params.update(data)
    elif content_type.startswith("multipart/form-data"):
        fields, files = parse_multipart(body, content_type)
        params.update(fields)
    else:
        params.update(parse_qsl(body.decode(), keep_blank_values=True))
    return params, files


def parse_multipart(body: bytes, content_type: str) -> tuple[dict[str, str], dict[str, UploadedFile]]:
    """Split a ``multipart/form-data`` body into text fields and file parts (bytes kept exact)."""
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    if match is None:
        raise ValueError("multipart body without boundary")
    delimiter = b"--" + match.group(1).encode()
    fields: dict[str, str] = {}
    files: dict[str, UploadedFile] = {}
    for part in body.split(delimiter)[1:]:
        if part.startswith(b"--"):
            break
        head, _, content = part.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        content = content.removesuffix(b"\r\n")
        headers = dict(
            (key.strip().lower(), value.strip())
            for key, _, value in (line.partition(":") for line in head.decode("utf-8", "replace").split("\r\n"))
        )
        disposition = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', headers.get("content-disposition", "")))
        name = unquote(disposition.get("name", ""))
        if "filename" in disposition:
            mime = headers.get("content-type", "application/octet-stream")
            files[name] = UploadedFile(name, unquote(disposition["filename"]), content, mime)
        else:
            fields[name] = content.decode("utf-8")
    return fields, files


# ---------------------------------------------------------------------- control API
def _control(tg: FakeTelegram, action: str, body: dict[str, Any]) -> Any:
    """``/_fake/{action}``: user, group, text, command, group_message, fail_next, stats, calls, sent."""
    if action == "user":
        user = tg.user(
            int(body["id"]),
            str(body.get("first_name", f"User{body['id']}")),
            username=body.get("username"),
            language_code=body.get("language_code", "en"),
        )
        return user.to_json()
    if action == "group":
        return tg.group(int(body["id"]), str(body.get("title", "Group")), forum=bool(body.get("forum"))).to_json()
    if action == "text":
        return _message_info(tg.customer_sends_text(tg.users[int(body["user_id"])], str(body["text"])))
    if action == "command":
        chat = int(body["chat_id"]) if body.get("chat_id") else None
        return _message_info(tg.sends_command(tg.users[int(body["user_id"])], str(body["command"]), chat))
    if action == "group_message":
        group = tg.chat(int(body["group_id"]))
        reply_to = tg.message(group, int(body["reply_to_message_id"])) if body.get("reply_to_message_id") else None
        thread = int(body["thread_id"]) if body.get("thread_id") else None
        return _message_info(
            tg.group_message(tg.users[int(body["user_id"])], group, str(body["text"]), reply_to, thread)
        )
    if action == "fail_next":
        tg.fail_next(
            body.get("method"),
            status=int(body.get("status", 429)),
            description=body.get("description"),
            retry_after=body.get("retry_after"),
            chat_id=body.get("chat_id"),
            times=int(body.get("times", 1)),
        )
        return True
    if action == "stats":
        return _stats(tg)
    if action == "calls":
        since = int(body.get("since", 0))
        method = body.get("method")
        return [
            {
                "index": i,
                "method": c.method,
                "ok": c.ok,
                "at": c.at,
                "chat_id": c.chat_id,
                "error": c.error.description if c.error else None,
            }
            for i, c in enumerate(tg.calls[since:], start=since)
            if not method or c.method.lower() == str(method).lower()
        ]
    if action == "sent":
        return [m.snapshot() for m in tg.sent_to(int(body["chat_id"]))]
    raise KeyError(f"unknown control action {action!r}")


def _message_info(message: Any) -> dict[str, Any]:
    return {
        "chat_id": message.chat_id,
        "message_id": message.message_id,
        "update_id": message.update_id,
        "at": time.monotonic(),
    }


def _stats(tg: FakeTelegram) -> dict[str, Any]:
    per_method: dict[str, int] = {}
    for call in tg.calls:
        per_method[call.method] = per_method.get(call.method, 0) + 1
    return {
        "now": time.monotonic(),
        "calls": len(tg.calls),
        "errors": sum(1 for c in tg.calls if not c.ok),
        "per_method": per_method,
        "pending_updates": len(tg.pending_updates),
        "updates": len(tg.updates),
        "max_global_per_second": tg.max_global_per_second(),
    }
