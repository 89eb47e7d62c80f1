"""The one Settings class: every `CAREBOT_*` setting, read once from the environment and `.env`."""

from __future__ import annotations

import re
import sys
from decimal import Decimal
from typing import Annotated, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

TELEGRAM_API_URL = "https://api.telegram.org/bot"

Language = Literal["zh_CN", "en"]


class Settings(BaseSettings):
    """Carebot's configuration. Names are an interface: operators set them as `CAREBOT_<NAME>`."""

    model_config = SettingsConfigDict(env_prefix="CAREBOT_", env_file=".env", env_file_encoding="utf-8", extra="ignore")

    bot_token: str = ""
    bot_api_url: str = TELEGRAM_API_URL
    bot_api_file_url: str = ""
    database_url: str = "sqlite+aiosqlite:///./carebot.db"
    staff_chat_id: int | None = None
    admin_ids: Annotated[frozenset[int], NoDecode] = frozenset()
    timezone: str = "Asia/Shanghai"
    default_language: Language = "zh_CN"
    vip_min_total: Decimal = Field(default=Decimal("10000"), ge=0)
    vip_min_purchases: int = Field(default=10, ge=1)
    currency: str = Field(default="CNY", pattern=r"^[A-Z]{3}$")
    rate_limits: Literal["on", "off"] = "on"
    agreement_years: int = Field(default=1, ge=1, le=99)
    # Webhook mode (`carebot run --webhook`) and running several replicas.
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8080, ge=1, le=65535)
    webhook_url: str = ""
    webhook_secret: str = Field(default="", pattern=r"^[A-Za-z0-9_-]{0,256}$")
    replica_timeout_seconds: int = Field(default=30, ge=3, le=3600)

    # Proactive messages (greetings, surveys, reminders) and the outbox sender.
    send_rate: float = Field(default=25, gt=0, le=30)
    send_max_attempts: int = Field(default=5, ge=1, le=20)
    quiet_hours: str = "21:00-09:00"
    max_proactive_per_week: int = Field(default=2, ge=0)
    birthday_gift_value: Decimal = Field(default=Decimal("50"), ge=0)
    holiday_gift_value: Decimal = Field(default=Decimal("50"), ge=0)
    gift_valid_days: int = Field(default=30, ge=1)
    holiday_country: str = "CN"
    greet_holidays: Annotated[tuple[str, ...], NoDecode] = (
        "New Year's Day",
        "Spring Festival",
        "Mid-Autumn Festival",
        "National Day",
    )
    checkin_days: int = Field(default=30, ge=1)
    vip_checkin_days: int = Field(default=14, ge=1)
    survey_interval_days: int = Field(default=90, ge=1)
    sla_first_response_minutes: int = Field(default=60, ge=1)
    sla_vip_first_response_minutes: int = Field(default=15, ge=1)
    sla_resolution_hours: int = Field(default=24, ge=1)
    business_hours: str = ""
    autoclose_days: int = Field(default=3, ge=1)

    # Tickets and the FAQ.
    reopen_days: int = Field(default=7, ge=0)
    faq_threshold: int = Field(default=80, ge=1, le=100)

    # Routing: agents' inboxes, automatic assignment, VIP account managers, what the staff group shows.
    auto_assign: Literal["on", "off"] = "on"
    show_agent_name: Literal["on", "off"] = "off"
    vip_managers: Literal["auto", "manual"] = "auto"
    group_copies: Literal["unassigned", "all"] = "unassigned"

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        if isinstance(value, str):
            return frozenset(int(part) for part in re.split(r"[,\s]+", value.strip()) if part)
        return value

    @field_validator("greet_holidays", mode="before")
    @classmethod
    def _split_names(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("quiet_hours")
    @classmethod
    def _quiet_hours(cls, value: str) -> str:
        from scheduler.quiet_hours import QuietHours

        QuietHours.parse(value)
        return value

    @field_validator("holiday_country")
    @classmethod
    def _known_country(cls, value: str) -> str:
        from storage.business_hours import holidays_of

        value = value.strip().upper()
        if value:
            holidays_of(value)
        return value

    @field_validator("business_hours")
    @classmethod
    def _business_hours(cls, value: str, info: ValidationInfo) -> str:
        from storage.business_hours import parse_business_hours

        parse_business_hours(
            value,
            timezone=info.data.get("timezone", "UTC"),
            holiday_country=info.data.get("holiday_country", ""),
        )
        return value

    @field_validator("staff_chat_id", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("default_language", mode="before")
    @classmethod
    def _normalise_language(cls, value: object) -> object:
        from storage.languages import normalise_language

        return normalise_language(value) if isinstance(value, str) else value

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown IANA time zone {value!r}") from exc
        return value

    @field_validator("bot_api_url", "bot_api_file_url", "webhook_url")
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

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def webhook_path(self) -> str:
        """The path Telegram posts updates to: the path of `CAREBOT_WEBHOOK_URL`."""
        return urlsplit(self.webhook_url).path or "/"


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
