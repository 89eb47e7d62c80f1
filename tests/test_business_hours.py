"""Business hours: weekly windows in the business's time zone, public holidays closed."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from storage.business_hours import BusinessHours, parse_business_hours

SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


def test_open_hours_weekends_and_public_holidays() -> None:
    hours = BusinessHours.from_settings("Mon-Fri 09:00-18:00; Sat 10:00-14:00", SHANGHAI, "CN")
    assert hours.is_open(at("2026-09-30 12:00"))  # a Wednesday
    assert not hours.is_open(at("2026-09-30 18:00"))
    assert hours.next_open(at("2026-11-27 20:00")) == at("2026-11-28 10:00")  # Friday night -> Saturday
    assert hours.next_open(at("2026-09-30 19:00")) == at("2026-10-08 09:00")  # National Day week is closed
    assert BusinessHours.from_settings("", SHANGHAI, "CN").is_open(at("2026-10-01 03:00"))


def test_specifications_are_checked() -> None:
    assert parse_business_hours("Sat-Mon 10:00-24:00")[6][0][1] is None  # wraps the week; 24:00 is midnight
    for bad in ("Mon-Fri", "Moon 09:00-18:00", "Mon 9-18", "Mon 18:00-09:00", "Mon 25:00-26:00"):
        with pytest.raises(ValueError):
            parse_business_hours(bad)
