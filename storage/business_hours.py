"""When staff answer: weekly opening hours (`Mon-Fri 09:00-18:00; Sat 10:00-14:00`) minus public holidays.

An empty specification means always open. Times are in the business's time zone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_RANGE = re.compile(r"^(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$")

Windows = dict[int, list[tuple[time, time | None]]]  # weekday -> [(start, end)], end None = midnight


def _day(name: str) -> int:
    key = name.strip().lower()[:3]
    if key not in DAYS:
        raise ValueError(f"unknown day {name!r} (use Mon, Tue, Wed, Thu, Fri, Sat, Sun)")
    return DAYS.index(key)


def _days(text: str) -> list[int]:
    days: list[int] = []
    for part in text.split(","):
        if "-" in part:
            first, last = (_day(x) for x in part.split("-", 1))
            span = (last - first) % 7
            days.extend((first + i) % 7 for i in range(span + 1))
        else:
            days.append(_day(part))
    return days


def _time_range(text: str) -> tuple[time, time | None]:
    match = _RANGE.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a time range like 09:00-18:00")
    h1, m1, h2, m2 = (int(x) for x in match.groups())
    if h1 > 23 or m1 > 59 or h2 > 24 or m2 > 59 or (h2 == 24 and m2):
        raise ValueError(f"{text!r} is not a valid time range")
    start = time(h1, m1)
    end = None if h2 == 24 else time(h2, m2)
    if end is not None and end <= start:
        raise ValueError(f"{text!r} ends before it starts (split ranges that pass midnight)")
    return start, end


def parse_business_hours(spec: str) -> Windows:
    """`Mon-Fri 09:00-18:00; Sat 10:00-14:00` -> {0: [(9:00, 18:00)], …}; raises ValueError with the reason."""
    windows: Windows = {}
    for segment in filter(None, (s.strip() for s in spec.split(";"))):
        parts = segment.split()
        if len(parts) < 2:
            raise ValueError(f"{segment!r} needs days and hours, e.g. Mon-Fri 09:00-18:00")
        ranges = [_time_range(p) for p in parts[1:]]
        for weekday in _days(parts[0]):
            windows.setdefault(weekday, []).extend(ranges)
    for ranges in windows.values():
        ranges.sort(key=lambda r: r[0])
    return windows


@dataclass(frozen=True)
class BusinessHours:
    windows: Windows
    zone: ZoneInfo
    country: str = ""
    _holidays: holidays.HolidayBase | None = field(default=None, compare=False)

    @classmethod
    def from_settings(cls, spec: str, zone: ZoneInfo, country: str) -> BusinessHours:
        calendar = holidays.country_holidays(country) if country else None
        return cls(parse_business_hours(spec), zone, country, calendar)

    @property
    def always_open(self) -> bool:
        return not self.windows

    def _closed_day(self, day: date) -> bool:
        return self._holidays is not None and day in self._holidays

    def _spans(self, day: date) -> list[tuple[datetime, datetime]]:
        if self._closed_day(day):
            return []
        spans = []
        for start, end in self.windows.get(day.weekday(), []):
            begin = datetime.combine(day, start, self.zone)
            finish = datetime.combine(day + timedelta(days=1), time(0), self.zone) if end is None else None
            spans.append((begin, finish or datetime.combine(day, end or time(0), self.zone)))
        return spans

    def is_open(self, at: datetime) -> bool:
        if self.always_open:
            return True
        local = at.astimezone(self.zone)
        return any(begin <= local < end for begin, end in self._spans(local.date()))

    def next_open(self, at: datetime) -> datetime | None:
        """The next moment staff are in (`at` itself when open now); None when never (e.g. every day a holiday)."""
        if self.is_open(at):
            return at
        local = at.astimezone(self.zone)
        for offset in range(0, 370):
            for begin, _end in self._spans(local.date() + timedelta(days=offset)):
                if begin > local:
                    return begin
        return None
