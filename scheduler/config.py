"""What the scheduler needs to know: the care part of the one Settings.

`bot.settings.Settings` extends `CareConfig`, so the scheduler reads the same object the bot was started with (the
`CAREBOT_*` values of these fields), never a copy. Tests build a `CareConfig` of their own.
"""

from __future__ import annotations

import re
from decimal import Decimal
from functools import cached_property
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, ValidationInfo, field_validator
from pydantic_settings import NoDecode

from scheduler.quiet_hours import QuietHours
from storage.business_hours import BusinessHours, holidays_of, parse_business_hours
from storage.languages import normalise_language
from storage.sla import SlaTargets

Language = Literal["zh_CN", "en"]


class CareConfig(BaseModel):
    """Greetings, surveys, reminders, the outbox sender and the response-time targets."""

    timezone: str = "Asia/Shanghai"
    default_language: Language = "zh_CN"
    # What the staff group (and the staff digests) speak; unset: `default_language` (see `language_of_staff`).
    staff_language: Language | None = None
    staff_chat_id: int | None = None
    # The admins named in the settings: staff, so never planned greetings as customers.
    admin_ids: Annotated[frozenset[int], NoDecode] = frozenset()
    currency: str = Field(default="CNY", pattern=r"^[A-Z]{3}$")
    # `CAREBOT_RATE_LIMITS=on|off`: Telegram's published limits kept before each call, or only 429s honoured.
    rate_limits: bool = True
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
    agreement_years: int = Field(default=1, ge=1, le=99)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown IANA time zone {value!r}") from exc
        return value

    @field_validator("default_language", "staff_language", mode="before")
    @classmethod
    def _normalise_language(cls, value: object) -> object:
        if value == "":
            return None
        return normalise_language(value) if isinstance(value, str) else value

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        if isinstance(value, str):
            return frozenset(int(part) for part in re.split(r"[,\s]+", value.strip()) if part)
        return value

    @field_validator("staff_chat_id", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("greet_holidays", mode="before")
    @classmethod
    def _split_names(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("quiet_hours")
    @classmethod
    def _quiet_hours(cls, value: str) -> str:
        QuietHours.parse(value)
        return value

    @field_validator("holiday_country")
    @classmethod
    def _known_country(cls, value: str) -> str:
        value = value.strip().upper()
        if value:
            holidays_of(value)
        return value

    @field_validator("business_hours")
    @classmethod
    def _business_hours(cls, value: str, info: ValidationInfo) -> str:
        parse_business_hours(
            value,
            timezone=info.data.get("timezone", "UTC"),
            holiday_country=info.data.get("holiday_country", ""),
        )
        return value

    @property
    def language_of_staff(self) -> str:
        """`CAREBOT_STAFF_LANGUAGE`, else `CAREBOT_DEFAULT_LANGUAGE`: what the whole staff group reads."""
        return self.staff_language or self.default_language

    @cached_property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @cached_property
    def quiet(self) -> QuietHours:
        return QuietHours.parse(self.quiet_hours)

    @cached_property
    def hours(self) -> BusinessHours:
        return parse_business_hours(self.business_hours, timezone=self.timezone, holiday_country=self.holiday_country)

    @cached_property
    def sla(self) -> SlaTargets:
        return SlaTargets(
            first_response_minutes=self.sla_first_response_minutes,
            vip_first_response_minutes=self.sla_vip_first_response_minutes,
            resolution_hours=self.sla_resolution_hours,
        )

    def zone_of(self, timezone: str | None) -> ZoneInfo:
        """A customer's own zone, or the business's when they have none (or an unknown one)."""
        if timezone:
            try:
                return ZoneInfo(timezone)
            except (ZoneInfoNotFoundError, ValueError):
                pass
        return self.zone
