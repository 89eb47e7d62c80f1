"""Quiet hours: no proactive message reaches a customer at night in their own time zone.

Written `21:00-09:00` (a window may cross midnight); empty text means no quiet hours.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

_WINDOW = re.compile(r"^(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})$")


@dataclass(frozen=True)
class QuietHours:
    start: time | None = None
    end: time | None = None

    @classmethod
    def parse(cls, text: str) -> QuietHours:
        text = text.strip()
        if not text:
            return cls()
        match = _WINDOW.match(text)
        if match is None:
            raise ValueError(f"{text!r} is not like '21:00-09:00'")
        h1, m1, h2, m2 = (int(part) for part in match.groups())
        if h1 > 23 or h2 > 23 or m1 > 59 or m2 > 59:
            raise ValueError(f"{text!r}: hours are 00-23 and minutes 00-59")
        start, end = time(h1, m1), time(h2, m2)
        return cls() if start == end else cls(start, end)

    def held_until(self, moment: datetime, zone: ZoneInfo) -> datetime | None:
        """When quiet hours end if `moment` falls inside them in `zone`, else None."""
        if self.start is None or self.end is None:
            return None
        local = moment.astimezone(zone)
        now = local.time()
        crosses_midnight = self.start > self.end
        quiet = (now >= self.start or now < self.end) if crosses_midnight else (self.start <= now < self.end)
        if not quiet:
            return None
        end_day = local.date()
        if crosses_midnight and now >= self.start:
            end_day += timedelta(days=1)
        return datetime.combine(end_day, self.end, zone).astimezone(UTC)
