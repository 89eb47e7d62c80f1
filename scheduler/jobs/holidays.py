"""Holiday greetings on the public holidays of `CAREBOT_HOLIDAY_COUNTRY` that `CAREBOT_GREET_HOLIDAYS` names.

Holidays come from the `holidays` library (for CN: New Year, Spring Festival, Mid-Autumn, National Day…). A
listed name matches a holiday whose English name contains it; a holiday lasting several days is greeted on its
first day, at 10:00 in each customer's time zone. VIP customers get a gift code.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from functools import cache
from typing import Any

import holidays as holiday_calendars
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import case, func, literal
from sqlmodel import col, select

from scheduler.config import CareConfig
from scheduler.jobs.birthday import gift
from scheduler.jobs.common import JobSpec, customer_zones, in_zone, local_time
from storage.db import SessionFactory, transaction
from storage.models import Customer, Segment
from storage.outbox import customer_plan, enqueue_query, params_json
from storage.proactive import proactive_allowed

NAME_LANGUAGES = {"en": "en_US", "zh_CN": "zh_CN"}
CHUNK = 50_000  # customer ids per transaction


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
    async with sessions() as session:
        zones = await customer_zones(session, config)
        highest = (await session.execute(select(func.max(col(Customer.id))))).scalar_one_or_none() or 0
    passes = []  # (zone value, day, greeting params) for every zone whose today or tomorrow is a holiday
    for value, zone in zones:
        today = now.astimezone(zone).date()
        for day in (today, today + timedelta(days=1)):
            names = greeted_holiday(config, day)
            if names is not None:
                passes.append((value, zone, day, names))
    planned = 0
    # Everyone is greeted: plan in id ranges, one short transaction each, so the bot keeps writing in between.
    for low in range(0, highest if passes else 0, CHUNK):
        async with transaction(sessions) as session:
            for value, zone, day, names in passes:
                columns = customer_plan(
                    key_prefix=f"holiday:{day.isoformat()}:customer:",
                    kind="holiday",
                    template="care.holiday",
                    params=_params(config, names),
                    capped=True,
                    not_before=local_time(day, zone),
                    now=now,
                )
                query = select(*columns).where(
                    col(Customer.id) > low, col(Customer.id) <= low + CHUNK, in_zone(value), proactive_allowed()
                )
                planned += await enqueue_query(session, query=query)
    return planned


def _params(config: CareConfig, names: dict[str, str]) -> Any:
    """The greeting's params as SQL: VIP customers' rows also carry a gift."""
    params: dict[str, Any] = {"holiday": names}
    plain = literal(params_json(params))
    if config.holiday_gift_value <= 0:
        return plain
    with_gift = {**params, "gift": gift(config, "holiday", config.holiday_gift_value)}
    return case((col(Customer.segment) == Segment.VIP.value, literal(params_json(with_gift))), else_=plain)


def trigger(config: CareConfig) -> BaseTrigger:
    return CronTrigger(minute=10, timezone=config.zone)


JOB = JobSpec("holidays", "holiday greetings (VIPs get a gift code), 10:00 local", trigger, plan)
