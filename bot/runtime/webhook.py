"""The HTTP face: the Telegram webhook, `GET /healthz`, `GET /metrics` and the features' routes (starlette on
uvicorn). `build_web_app` is the one place the served routes are put together: the webhook in webhook mode, and
the routes of every feature in `WEB_FEATURES` that is switched on (e.g. the order endpoint with CAREBOT_API_SECRET,
the staff desk with CAREBOT_WEBAPP_URL).

Telegram posts each update to the path of `CAREBOT_WEBHOOK_URL` with the secret given to `setWebhook` in the
`X-Telegram-Bot-Api-Secret-Token` header. A request without the right secret gets 401 and is not looked at; an update whose ids the database cannot hold
(no Telegram server sends one) gets 400.
An update is stored in the inbox before the 200 goes out; until then Telegram keeps it and delivers it again.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
from collections.abc import Callable, Iterator
from typing import Any

import uvicorn
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route
from telegram import Update

from bot.context import CarebotApp, Services
from bot.purchases import api as purchases_api
from bot.runtime import metrics
from bot.runtime.updates import ChatOrderedDispatcher, accept, from_json, storable
from bot.web import routes as desk_routes

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
HEALTH_TIMEOUT_SECONDS = 5

WebFeature = Callable[[CarebotApp], list[BaseRoute]]
# Each feature served over HTTP gives its routes, none while it is switched off. A new feature adds itself here.
WEB_FEATURES: tuple[WebFeature, ...] = (purchases_api.routes, desk_routes.routes)


def feature_routes(app: CarebotApp) -> list[BaseRoute]:
    """The routes of the features that are switched on."""
    return [route for feature in WEB_FEATURES for route in feature(app)]


def build_web_app(app: CarebotApp, dispatcher: ChatOrderedDispatcher, *, webhook: bool) -> Starlette:
    """Every route this process serves: health and metrics, the webhook in webhook mode, the features' routes."""
    routes = _base_routes(app, dispatcher, webhook=webhook)
    return Starlette(routes=[*routes, *feature_routes(app)])


def build_webhook_app(app: CarebotApp, dispatcher: ChatOrderedDispatcher) -> Starlette:
    """What webhook mode serves."""
    return build_web_app(app, dispatcher, webhook=True)


def _utf8(body: bytes) -> bool:
    try:
        body.decode()
    except UnicodeDecodeError:
        return False
    return True


def _base_routes(app: CarebotApp, dispatcher: ChatOrderedDispatcher, *, webhook: bool) -> list[BaseRoute]:
    services: Services = app.bot_data["services"]
    settings = services.settings
    secret = settings.webhook_secret.encode()

    async def receive_update(request: Request) -> Response:
        if not secret or not hmac.compare_digest(request.headers.get(SECRET_HEADER, "").encode(), secret):
            return PlainTextResponse("wrong or missing secret token", status_code=401)
        try:
            body = await request.body()
            data = from_json(body)
            update = Update.de_json(data, app.bot) if isinstance(data, dict) else None
        except Exception as exc:  # malformed JSON or not an update: nothing to store
            log.warning("webhook: unreadable update (%s)", type(exc).__name__)
            update = None
        if update is None:
            return PlainTextResponse("not a Telegram update", status_code=400)
        if not storable(update):  # refused for good: a 5xx would have Telegram send it again and again
            log.warning("webhook: update with an id out of the database's range")
            return PlainTextResponse("update_id or chat id out of range", status_code=400)
        try:
            # the JSON as Telegram sent it (always UTF-8) is what the inbox stores
            payloads = {update.update_id: body.decode()} if _utf8(body) else {}
            await accept(app, services.sessions, dispatcher, [update], payloads)
        except Exception as exc:  # not stored: Telegram delivers it again after a non-2xx answer
            log.warning("webhook: update %d not stored (%s)", update.update_id, type(exc).__name__)
            return PlainTextResponse("not stored, try again", status_code=503)
        return JSONResponse({"ok": True})

    async def healthz(_request: Request) -> Response:
        try:
            async with asyncio.timeout(HEALTH_TIMEOUT_SECONDS), services.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        except Exception as exc:
            log.warning("healthz: database not answering (%s)", type(exc).__name__)
            return PlainTextResponse("database not answering", status_code=503)
        return PlainTextResponse("ok")

    async def metrics_page(_request: Request) -> Response:
        await metrics.read_database_gauges(services.sessions)
        body, content_type = metrics.exposition()
        return Response(body, media_type=content_type)

    return [
        *([Route(settings.webhook_path, receive_update, methods=["POST"])] if webhook else []),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/metrics", metrics_page, methods=["GET"]),
    ]


class WebServer(uvicorn.Server):
    """uvicorn inside the bot's own event loop: the runner handles signals and says when to stop."""

    def __init__(self, asgi_app: Starlette, *, host: str, port: int) -> None:
        super().__init__(
            uvicorn.Config(
                asgi_app,
                host=host,
                port=port,
                log_config=None,  # keep the bot's logging (and its redaction) in charge
                access_log=False,
                lifespan="off",
                timeout_graceful_shutdown=5,
            )
        )
        self.ready = asyncio.Event()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def startup(self, sockets: Any = None) -> None:
        try:
            await super().startup(sockets)
        except SystemExit:  # uvicorn's answer to an address it cannot use: stop serving, start_server reports it
            self.should_exit = True
            return
        self.ready.set()


async def start_server(server: WebServer) -> asyncio.Task[None]:
    """Serve in the background; returns once listening, or raises OSError when the address cannot be used."""
    task = asyncio.create_task(server.serve(), name="webhook-server")
    ready = asyncio.create_task(server.ready.wait())
    await asyncio.wait({task, ready}, return_when=asyncio.FIRST_COMPLETED)
    if not ready.done():
        ready.cancel()
        await task
        config = server.config
        raise OSError(f"cannot listen on {config.host}:{config.port} (in use, or not an address of this machine)")
    return task
