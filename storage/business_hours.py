"""Business hours: when the team is at work, in the business's time zone, closed on public holidays.

Written like `Mon-Fri 09:00-18:00, Sat 10:00-14:00` (days as `Mon`…`Sun`, a single day or a range; windows
separated by commas or semicolons; `24:00` may end a window). Empty text means always open. Response-time
targets count only open minutes, so a ticket written on Friday evening is not late on Saturday.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

import holidays

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_WINDOW = re.compile(
    r"^(?P<first>[a-z]{3})(?:\s*-\s*(?P<last>[a-z]{3}))?\s+(?P<start>\d{1,2}:\d{2})\s*-\s*(?P<end>\d{1,2}:\d{2})$"
)
END_OF_DAY = time.max


@cache
def holidays_of(country: str) -> Any:
    """The public holidays of an ISO country code (years filled in on demand); ValueError if unknown."""
    try:
        return holidays.country_holidays(country, observed=True)
    except NotImplementedError:
        raise ValueError(f"the holidays library does not know the country {country!r}") from None


def _clock(text: str) -> time:
    hours, minutes = (int(part) for part in text.split(":"))
    if (hours, minutes) == (24, 0):
        return END_OF_DAY
    if hours > 23 or minutes > 59:
        raise ValueError(f"{text} is not a time of day")
    return time(hours, minutes)


@dataclass(frozen=True)
class Window:
    weekday: int  # Monday is 0
    start: time
    end: time


@dataclass(frozen=True)
class BusinessHours:
    windows: tuple[Window, ...]
    zone: ZoneInfo
    holiday_country: str = ""

    @property
    def always_open(self) -> bool:
        return not self.windows

    def is_holiday(self, day: date) -> bool:
        return bool(self.holiday_country) and day in holidays_of(self.holiday_country)

    def _open_intervals(self, day: date) -> list[tuple[datetime, datetime]]:
        """The open intervals of one local day, as aware datetimes."""
        if self.is_holiday(day):
            return []
        intervals = []
        for window in self.windows:
            if window.weekday == day.weekday():
                start = datetime.combine(day, window.start, self.zone)
                end = (
                    datetime.combine(day + timedelta(days=1), time(0), self.zone)
                    if window.end == END_OF_DAY
                    else datetime.combine(day, window.end, self.zone)
                )
                intervals.append((start, end))
        return sorted(intervals)

    def is_open(self, moment: datetime) -> bool:
        if self.always_open:
            return True
        local = moment.astimezone(self.zone)
        return any(start <= moment < end for start, end in self._open_intervals(local.date()))

    def next_opening(self, moment: datetime) -> datetime:
        """`moment` itself when open, else when the team is next at work (within the coming year)."""
        if self.always_open:
            return moment
        day = moment.astimezone(self.zone).date()
        for offset in range(0, 370):
            for start, end in self._open_intervals(day + timedelta(days=offset)):
                if end > moment:
                    return max(start, moment).astimezone(UTC)
        return moment

    def business_minutes_between(self, start: datetime, end: datetime) -> float:
        """Open minutes from `start` to `end` (0 when `end` is not later)."""
        if end <= start:
            return 0.0
        if self.always_open:
            return (end - start).total_seconds() / 60
        total = 0.0
        day, last = start.astimezone(self.zone).date(), end.astimezone(self.zone).date()
        while day <= last:
            for open_at, close_at in self._open_intervals(day):
                overlap = (min(close_at, end) - max(open_at, start)).total_seconds()
                if overlap > 0:
                    total += overlap / 60
            day += timedelta(days=1)
        return total


def parse_business_hours(text: str, *, timezone: str, holiday_country: str = "") -> BusinessHours:
    """Read `Mon-Fri 09:00-18:00, Sat 10:00-14:00`; ValueError with a readable reason when it is not that."""
    zone = ZoneInfo(timezone)
    if holiday_country:
        holidays_of(holiday_country)
    windows: list[Window] = []
    for part in re.split(r"[,;]", text.strip().lower()):
        part = part.strip()
        if not part:
            continue
        match = _WINDOW.match(part)
        if match is None:
            raise ValueError(f"{part!r} is not like 'Mon-Fri 09:00-18:00'")
        names = [match["first"], match["last"] or match["first"]]
        if any(name not in DAY_NAMES for name in names):
            raise ValueError(f"{part!r}: days are Mon, Tue, Wed, Thu, Fri, Sat, Sun")
        first, last = (DAY_NAMES.index(name) for name in names)
        start, end = _clock(match["start"]), _clock(match["end"])
        if end <= start:
            raise ValueError(f"{part!r}: a window must end after it starts")
        days = range(first, last + 1) if first <= last else [*range(first, 7), *range(0, last + 1)]
        windows.extend(Window(weekday, start, end) for weekday in days)
    return BusinessHours(tuple(windows), zone, holiday_country)
