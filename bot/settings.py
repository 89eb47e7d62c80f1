"""The one Settings class: every `CAREBOT_*` setting, read once from the environment and `.env`."""

from __future__ import annotations

import re
import sys
from decimal import Decimal
from functools import cached_property
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from scheduler.config import CareConfig
from storage.routing_rules import RoutingPolicy

TELEGRAM_API_URL = "https://api.telegram.org/bot"


class Settings(CareConfig, BaseSettings):
    """Carebot's configuration. Names are an interface: operators set them as `CAREBOT_<NAME>`. The care part
    (greetings, surveys, the outbox sender, response-time targets) is `scheduler.config.CareConfig`, inherited."""

    model_config = SettingsConfigDict(env_prefix="CAREBOT_", env_file=".env", env_file_encoding="utf-8", extra="ignore")

    bot_token: str = ""
    bot_api_url: str = TELEGRAM_API_URL
    bot_api_file_url: str = ""
    database_url: str = "sqlite+aiosqlite:///./carebot.db"
    # The business's name, as the greeting says it ("the customer-care assistant of Acme Tea"); empty: "this shop".
    business_name: str = Field(default="", max_length=64)
    vip_min_total: Decimal = Field(default=Decimal("10000"), ge=0)
    vip_min_purchases: int = Field(default=10, ge=1)
    # Webhook mode (`carebot run --webhook`) and running several replicas.
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8080, ge=1, le=65535)
    webhook_url: str = ""
    webhook_secret: str = Field(default="", pattern=r"^[A-Za-z0-9_-]{0,256}$")
    replica_timeout_seconds: int = Field(default=30, ge=3, le=3600)
    # Purchases that flow in by themselves: the signed order endpoint, and invoices paid inside Telegram.
    api_secret: str = ""
    payment_provider_token: str = ""
    # The staff desk: a Telegram Mini App served under the path of this public HTTPS URL.
    webapp_url: str = ""
    webapp_max_age: int = Field(default=24 * 3600, ge=60)  # seconds a signed initData stays good

    # Tickets and the FAQ.
    reopen_days: int = Field(default=7, ge=0)
    faq_threshold: int = Field(default=80, ge=1, le=100)
    # Telegram Business: what Carebot says in the business account's chats (FAQ answers and the ticket
    # acknowledgement, or nothing but filing tickets), or `off` to leave business chats alone.
    business_replies: Literal["faq+tickets", "tickets", "off"] = "faq+tickets"

    # Routing: agents' inboxes, automatic assignment, VIP account managers, what the staff group shows.
    auto_assign: Literal["on", "off"] = "on"
    show_agent_name: Literal["on", "off"] = "off"
    vip_managers: Literal["auto", "manual"] = "auto"
    group_copies: Literal["unassigned", "all"] = "unassigned"

    @field_validator("api_secret")
    @classmethod
    def _long_enough(cls, value: str) -> str:
        if value and len(value) < 16:
            raise ValueError("must be empty or at least 16 characters (e.g. `openssl rand -hex 32`)")
        return value

    @field_validator("bot_api_url", "bot_api_file_url", "webhook_url", "webapp_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if value and not re.match(r"^https?://", value):
            raise ValueError("must start with http:// or https://")
        return value

    @model_validator(mode="after")
    def _derive_file_url(self) -> Settings:
        if not self.bot_api_file_url:
            base = self.bot_api_url
            self.bot_api_file_url = base[: -len("/bot")] + "/file/bot" if base.endswith("/bot") else base
        return self

    @cached_property
    def routing_policy(self) -> RoutingPolicy:
        """Who may get a new ticket: the routing settings as storage.routing reads them."""
        return RoutingPolicy(
            auto_assign=self.auto_assign == "on",
            admin_ids=self.admin_ids,
            hours=self.hours,
            vip_managers_auto=self.vip_managers == "auto",
        )

    @property
    def webhook_path(self) -> str:
        """The path Telegram posts updates to: the path of `CAREBOT_WEBHOOK_URL`."""
        return urlsplit(self.webhook_url).path or "/"

    @property
    def webapp_path(self) -> str:
        """Where the staff desk is served: the path of `CAREBOT_WEBAPP_URL`, without its trailing slash."""
        return urlsplit(self.webapp_url).path.rstrip("/")


class SettingsError(Exception):
    """A setting is missing or malformed; the message names it in one line."""


def load_settings(*, require_token: bool = False) -> Settings:
    """Read the settings, turning pydantic's report into one line that names the setting."""
    try:
        settings = Settings()
    except ValidationError as exc:
        error = exc.errors()[0]
        name = "CAREBOT_" + str(error["loc"][0]).upper() if error["loc"] else "settings"
        raise SettingsError(f"{name}: {error['msg']}") from None
    if require_token and not settings.bot_token:
        raise SettingsError("CAREBOT_BOT_TOKEN: required to run the bot (set it in the environment or .env)")
    return settings


def load_settings_or_exit(*, require_token: bool = False) -> Settings:
    try:
        return load_settings(require_token=require_token)
    except SettingsError as exc:
        print(f"carebot: invalid setting {exc}", file=sys.stderr)
        raise SystemExit(2) from None
