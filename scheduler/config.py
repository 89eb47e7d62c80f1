"""What the scheduler needs to know, as plain values: `bot/` builds it from the settings (see bot/runtime/scheduling.py)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from functools import cached_property
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from scheduler.quiet_hours import QuietHours
from storage.business_hours import BusinessHours, parse_business_hours


@dataclass(frozen=True)
class CareConfig:
    timezone: str = "Asia/Shanghai"
    default_language: str = "zh_CN"
    staff_chat_id: int | None = None
    currency: str = "CNY"
    send_rate: float = 25
    rate_limits: bool = True
    send_max_attempts: int = 5
    quiet_hours: str = "21:00-09:00"
    max_proactive_per_week: int = 2
    birthday_gift_value: Decimal = Decimal("50")
    holiday_gift_value: Decimal = Decimal("50")
    gift_valid_days: int = 30
    holiday_country: str = "CN"
    greet_holidays: tuple[str, ...] = ("New Year's Day", "Spring Festival", "Mid-Autumn Festival", "National Day")
    checkin_days: int = 30
    vip_checkin_days: int = 14
    survey_interval_days: int = 90
    sla_first_response_minutes: int = 60
    sla_vip_first_response_minutes: int = 15
    business_hours: str = ""
    autoclose_days: int = 3
    agreement_years: int = 1

    @cached_property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @cached_property
    def quiet(self) -> QuietHours:
        return QuietHours.parse(self.quiet_hours)

    @cached_property
    def hours(self) -> BusinessHours:
        return parse_business_hours(self.business_hours, timezone=self.timezone, holiday_country=self.holiday_country)

    def zone_of(self, timezone: str | None) -> ZoneInfo:
        """A customer's own zone, or the business's when they have none (or an unknown one)."""
        if timezone:
            try:
                return ZoneInfo(timezone)
            except (ZoneInfoNotFoundError, ValueError):
                pass
        return self.zone
