"""Business hours: response-time targets count only the minutes the team is at work."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from scheduler.quiet_hours import QuietHours
from storage.business_hours import parse_business_hours

HOURS = parse_business_hours("Mon-Fri 09:00-18:00, Sat 10:00-14:00", timezone="Asia/Shanghai", holiday_country="CN")


def shanghai(*args: int) -> datetime:
    return datetime(*args, tzinfo=HOURS.zone)  # type: ignore[misc]


def test_open_on_weekdays_and_saturday_morning_closed_on_sunday_and_holidays() -> None:
    assert HOURS.is_open(shanghai(2026, 6, 8, 9, 0))  # Monday
    assert not HOURS.is_open(shanghai(2026, 6, 8, 18, 0))
    assert HOURS.is_open(shanghai(2026, 6, 13, 13, 59))  # Saturday
    assert not HOURS.is_open(shanghai(2026, 6, 14, 11, 0))  # Sunday
    assert not HOURS.is_open(shanghai(2026, 10, 1, 11, 0))  # National Day, a Thursday


def test_next_opening_skips_nights_weekends_and_holidays() -> None:
    assert HOURS.next_opening(shanghai(2026, 6, 8, 10, 0)) == shanghai(2026, 6, 8, 10, 0)
    assert HOURS.next_opening(shanghai(2026, 6, 12, 19, 0)) == shanghai(2026, 6, 13, 10, 0)
    assert HOURS.next_opening(shanghai(2026, 6, 13, 15, 0)) == shanghai(2026, 6, 15, 9, 0)
    assert HOURS.next_opening(shanghai(2026, 9, 30, 18, 30)) == shanghai(2026, 10, 8, 9, 0)


def test_business_minutes_count_only_open_time() -> None:
    assert HOURS.business_minutes_between(shanghai(2026, 6, 8, 17, 30), shanghai(2026, 6, 9, 9, 30)) == 60
    assert HOURS.business_minutes_between(shanghai(2026, 6, 12, 17, 0), shanghai(2026, 6, 15, 10, 0)) == 60 + 240 + 60
    assert HOURS.business_minutes_between(shanghai(2026, 6, 9, 10, 0), shanghai(2026, 6, 9, 9, 0)) == 0


def test_empty_business_hours_mean_always_open() -> None:
    always = parse_business_hours("", timezone="UTC")
    moment = datetime(2026, 6, 14, 3, 0, tzinfo=UTC)
    assert always.is_open(moment) and always.next_opening(moment) == moment
    assert always.business_minutes_between(moment, moment.replace(hour=5)) == 120


@pytest.mark.parametrize("text", ["Mon-Fri", "Mon-Fri 18:00-09:00", "Funday 09:00-10:00", "Mon 25:00-26:00"])
def test_malformed_business_hours_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_business_hours(text, timezone="UTC")


def test_quiet_hours_cross_midnight() -> None:
    quiet = QuietHours.parse("21:00-09:00")
    zone = HOURS.zone
    assert quiet.held_until(shanghai(2026, 6, 8, 20, 59), zone) is None
    assert quiet.held_until(shanghai(2026, 6, 8, 21, 0), zone) == shanghai(2026, 6, 9, 9, 0)
    assert quiet.held_until(shanghai(2026, 6, 9, 3, 0), zone) == shanghai(2026, 6, 9, 9, 0)
    assert QuietHours.parse("").held_until(shanghai(2026, 6, 9, 3, 0), zone) is None
    with pytest.raises(ValueError):
        QuietHours.parse("late")


def test_care_settings_are_read_and_bad_ones_named(monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.settings import SettingsError, load_settings

    monkeypatch.setenv("CAREBOT_GREET_HOLIDAYS", "Spring Festival, National Day")
    monkeypatch.setenv("CAREBOT_BUSINESS_HOURS", "Mon-Fri 09:00-18:00")
    settings = load_settings()
    assert settings.greet_holidays == ("Spring Festival", "National Day") and settings.quiet_hours == "21:00-09:00"
    for name, value in (("QUIET_HOURS", "late"), ("BUSINESS_HOURS", "weekdays"), ("HOLIDAY_COUNTRY", "XX")):
        monkeypatch.setenv(f"CAREBOT_{name}", value)
        with pytest.raises(SettingsError, match=f"CAREBOT_{name}"):
            load_settings()
        monkeypatch.delenv(f"CAREBOT_{name}")
