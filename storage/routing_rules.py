"""What routing reads and checks without the database: the settings it follows, an agent's hours and the
categories they serve."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time

from storage.business_hours import BusinessHours
from storage.models import Agent, TicketCategory

CATEGORIES = tuple(category.value for category in TicketCategory)
_HOURS = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$")


@dataclass(frozen=True)
class RoutingPolicy:
    """The settings routing reads, as plain values."""

    auto_assign: bool
    admin_ids: frozenset[int]
    hours: BusinessHours
    vip_managers_auto: bool


def parse_hours(text: str) -> tuple[time, time]:
    """`09:00-18:00` (a window past midnight such as `22:00-06:00` is allowed); ValueError otherwise."""
    match = _HOURS.match(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not like 09:00-18:00")
    start = time(int(match[1]), int(match[2]))
    end = time(0) if match[3] == "24" else time(int(match[3]), int(match[4]))
    return start, end


def parse_categories(words: Sequence[str]) -> str | None:
    """`all` (None) or a comma list of known categories; ValueError names an unknown one."""
    wanted = [word.strip().lower() for word in words if word.strip()]
    if not wanted or wanted == ["all"]:
        return None
    unknown = [word for word in wanted if word not in CATEGORIES]
    if unknown:
        raise ValueError(unknown[0])
    return ",".join(category for category in CATEGORIES if category in wanted)


def serves(agent: Agent, category: str) -> bool:
    return agent.categories is None or category in agent.categories.split(",")


def within_hours(agent: Agent, hours: BusinessHours, now: datetime) -> bool:
    if not agent.hours:
        return hours.is_open(now)
    start, end = parse_hours(agent.hours)
    local = now.astimezone(hours.zone).time()
    if start < end or end == time(0):
        return start <= local and (end == time(0) or local < end)
    return local >= start or local < end
