"""What every desk request shares: who is asking (their signed initData, checked every time), in which language,
the templates, and a `Context` for the bot's own functions (replies, lifecycle) to run with.

A request without valid initData gets 401, one from someone who is not staff 403; neither shows any data. No
cookies: the page sends initData in the `X-Telegram-Init-Data` header with every request.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from telegram import User

from bot.auth import role_for
from bot.context import CarebotApp, Context, Services
from bot.ui.i18n import Safe, day, t, when
from bot.web.init_data import InitDataError, WebAppUser, verify
from storage.languages import LANGUAGES, language_from_telegram
from storage.models import Role

log = logging.getLogger(__name__)

INIT_DATA_HEADER = "X-Telegram-Init-Data"
LANGUAGE_HEADER = "X-Desk-Language"
MAX_FORM_BYTES = 64 * 1024
HERE = Path(__file__).resolve().parent
STATIC_DIR = HERE / "static"
NO_STORE = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}


def _finalize(value: object) -> object:
    """Catalog texts (`Safe`: their parameters already escaped) are shown as they are; anything else is escaped."""
    return Markup(value) if isinstance(value, Safe) else value


templates = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
    finalize=_finalize,
)


@dataclass(frozen=True)
class Caller:
    """The staff member behind a request."""

    user: WebAppUser
    role: Role
    lang: str

    @property
    def admin(self) -> bool:
        return self.role == Role.ADMIN

    @property
    def telegram_user(self) -> User:
        """For the bot's functions that take the acting Telegram user."""
        return User(self.user.id, self.user.first_name, is_bot=False, last_name=self.user.last_name)


class Desk:
    """The desk of one running bot."""

    def __init__(self, app: CarebotApp) -> None:
        self.app = app
        self.services: Services = app.bot_data["services"]
        self.base = self.services.settings.webapp_path
        # The report charts, drawn once a minute at most per period and language: (when, PNGs).
        self.charts: dict[tuple[int, str], tuple[float, list[bytes]]] = {}
        self.charts_lock = asyncio.Lock()

    def context(self) -> Context:
        """A context as handlers get one, for the functions the desk shares with them."""
        return Context(self.app)

    async def caller(self, request: Request) -> Caller | Response:
        settings = self.services.settings
        try:
            user = verify(
                request.headers.get(INIT_DATA_HEADER, ""),
                bot_token=settings.bot_token,
                max_age=timedelta(seconds=settings.webapp_max_age),
            )
        except InitDataError as exc:
            log.info("desk: request refused (%s)", exc)
            return self.refusal(request, 401, "webapp.refused.signin")
        role = await role_for(self.services, telegram_id=user.id, username=user.username)
        if role is None:
            log.info("desk: request from someone who is not staff")
            return self.refusal(request, 403, "webapp.refused.staff_only", user)
        return Caller(user=user, role=role, lang=self.language(request, user))

    def language(self, request: Request, user: WebAppUser) -> str:
        chosen = request.headers.get(LANGUAGE_HEADER, "")
        if chosen in LANGUAGES:
            return chosen
        return language_from_telegram(user.language_code, self.services.settings.language_of_staff)

    def refusal(self, request: Request, status: int, key: str, user: WebAppUser | None = None) -> Response:
        lang = self.language(request, user or WebAppUser(0, "", None, None, None))
        return HTMLResponse(
            templates.get_template("refused.html").render(message=Markup(t(lang, key))),
            status_code=status,
            headers=NO_STORE,
        )

    def render(self, name: str, caller: Caller, *, http_status: int = 200, **values: Any) -> Response:
        zone = self.services.settings.zone
        lang = caller.lang

        def text(key: str, /, **params: object) -> Markup:
            return Markup(t(lang, key, **params))  # catalog texts are trusted; their parameters are escaped

        page = templates.get_template(name).render(
            _=text,
            caller=caller,
            base=self.base,
            lang=lang,
            when=lambda moment: when(moment.astimezone(zone), lang) if isinstance(moment, datetime) else "—",
            day=lambda moment: day(moment.astimezone(zone), lang) if isinstance(moment, datetime) else "—",
            **values,
        )
        return HTMLResponse(page, status_code=http_status, headers=NO_STORE)


Page = Callable[[Request, Caller], Awaitable[Response]]


def staff_page(desk: Desk, page: Page) -> Callable[[Request], Awaitable[Response]]:
    """Serve `page` only to current staff with a valid signature; everyone else is refused without data."""

    @functools.wraps(page)
    async def guarded(request: Request) -> Response:
        caller = await desk.caller(request)
        if isinstance(caller, Response):
            return caller
        return await page(request, caller)

    return guarded


async def form_of(request: Request) -> dict[str, str]:
    """A urlencoded form (the desk's forms are small); an oversized body reads as empty."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return {}
    return dict(parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True))
