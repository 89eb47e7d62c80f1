"""Holiday greetings on the public holidays of `CAREBOT_HOLIDAY_COUNTRY` that `CAREBOT_GREET_HOLIDAYS` names.

Holidays come from the `holidays` library (for CN: New Year, Spring Festival, Mid-Autumn, National Day…). A
listed name matches a holiday whose English name contains it; a holiday lasting several days is greeted on its
first day, at 10:00 in each customer's time zone. VIP customers get a gift code.

Everyone is greeted, so the planner writes one pass per time zone rather than one outbox row per customer; the
sender turns a pass into rows in chunks when it is due (storage/outbox_passes.py).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

import holidays as holiday_calendars
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger

from scheduler.config import CareConfig
from scheduler.jobs.birthday import gift
from scheduler.jobs.common import JobSpec, customer_zones, local_time
from storage.db import SessionFactory, transaction
from storage.outbox_passes import PassPlan, plan_pass

NAME_LANGUAGES = {"en": "en_US", "zh_CN": "zh_CN"}


@cache
def _calendar(country: str, year: int, language: str) -> dict[date, str]:
    supported = holiday_calendars.country_holidays(country).supported_languages
    chosen = language if language in supported else None
    return dict(holiday_calendars.country_holidays(country, years=year, language=chosen, observed=False))


def greeted_holiday(config: CareConfig, day: date) -> dict[str, str] | None:
    """The holiday to greet on `day`, named in each language, or None."""
    if not config.holiday_country or not config.greet_holidays:
        return None
    english = _calendar(config.holiday_country, day.year, "en_US")
    name = english.get(day)
    if name is None or not any(wanted.lower() in name.lower() for wanted in config.greet_holidays):
        return None
    previous = day - timedelta(days=1)
    if _calendar(config.holiday_country, previous.year, "en_US").get(previous) == name:
        return None  # greeted on the first day already
    return {
        lang: _calendar(config.holiday_country, day.year, code).get(day, name) for lang, code in NAME_LANGUAGES.items()
    }


async def plan(sessions: SessionFactory, config: CareConfig, now: datetime) -> int:
    """Plan a greeting pass for every time zone whose today or tomorrow is a holiday; returns how many customers
    they newly cover. The sender expands each pass into outbox rows from 10:00 local (storage/outbox_passes.py)."""
    async with sessions() as session:
        zones = await customer_zones(session, config)
    planned = 0
    for value, zone in zones:
        today = now.astimezone(zone).date()
        for day in (today, today + timedelta(days=1)):
            names = greeted_holiday(config, day)
            if names is None:
                continue
            async with transaction(sessions) as session:  # one short transaction per pass
                planned += await plan_pass(
                    session, _greeting(config, day, value, zone, names), now=now, admin_ids=config.admin_ids
                )
    return planned


def _greeting(config: CareConfig, day: date, value: str | None, zone: ZoneInfo, names: dict[str, str]) -> PassPlan:
    """The holiday greeting of everyone whose `customers.timezone` is `value`: VIPs' carries a gift."""
    params: dict[str, Any] = {"holiday": names}
    vip_params = None
    if config.holiday_gift_value > 0:
        vip_params = {**params, "gift": gift(config, "holiday", config.holiday_gift_value)}
    return PassPlan(
        key=f"holiday:{day.isoformat()}" + ("" if value is None else f":zone:{value}"),
        row_key_prefix=f"holiday:{day.isoformat()}:customer:",
        kind="holiday",
        template="care.holiday",
        params=params,
        vip_params=vip_params,
        capped=True,
        timezone=value,
        not_before=local_time(day, zone),
    )


def trigger(config: CareConfig) -> BaseTrigger:
    return CronTrigger(minute=10, timezone=config.zone)


JOB = JobSpec(
    "holidays",
    "holiday greetings (VIPs get a gift code), sent at 10:00 in each customer's own time zone",
    trigger,
    plan,
)
