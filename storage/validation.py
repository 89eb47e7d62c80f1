"""Validation of the customer details people type or import; one rule per field, shared by chat and CSV."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from storage.languages import normalise_language


class InvalidValue(ValueError):
    """`code` names the problem for translated messages; the text is plain English for operators."""

    def __init__(self, field: str, code: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.code = code


@dataclass(frozen=True)
class Birthday:
    month: int
    day: int
    year: int | None = None


_BIRTHDAY = re.compile(r"^(?:(\d{4})-)?(\d{1,2})-(\d{1,2})$")


def parse_birthday(text: str, *, today: date | None = None) -> Birthday:
    """`YYYY-MM-DD` or `MM-DD` (year optional); 29 February is allowed without a year."""
    match = _BIRTHDAY.match(text.strip().replace("/", "-").replace(".", "-"))
    if not match:
        raise InvalidValue("birthday", "birthday_format", "birthday must be YYYY-MM-DD or MM-DD")
    year = int(match[1]) if match[1] else None
    month, day = int(match[2]), int(match[3])
    try:
        date(year or 2000, month, day)
    except ValueError:
        raise InvalidValue("birthday", "birthday_date", "birthday is not a real date") from None
    today = today or date.today()
    if year is not None and not (today.year - 120 <= year and date(year, month, day) <= today):
        raise InvalidValue("birthday", "birthday_range", "birthday year is out of range")
    return Birthday(month=month, day=day, year=year)


_PHONE_CHARS = re.compile(r"^\+?[\d\s\-().]+$")


def normalise_phone(text: str) -> str:
    """Digits with an optional leading `+`, 6 to 15 digits (E.164 allows at most 15)."""
    text = text.strip()
    if not _PHONE_CHARS.match(text):
        raise InvalidValue("phone", "phone_format", "phone may hold only digits, spaces, dashes and a leading +")
    digits = re.sub(r"\D", "", text)
    if not 6 <= len(digits) <= 15:
        raise InvalidValue("phone", "phone_length", "phone must have 6 to 15 digits")
    return ("+" if text.startswith("+") else "") + digits


_EMAIL = re.compile(r"^[^@\s<>\"]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9-]{1,63})+$")


def normalise_email(text: str) -> str:
    text = text.strip()
    if len(text) > 254 or not _EMAIL.match(text):
        raise InvalidValue("email", "email_format", "email must look like name@example.com")
    local, domain = text.rsplit("@", 1)
    return f"{local}@{domain.lower()}"


def _zone_names() -> dict[str, str]:
    return {name.lower(): name for name in available_timezones()}


def normalise_timezone(text: str) -> str:
    """An IANA zone name such as `Asia/Shanghai` or `Europe/Berlin`, matched without regard to case."""
    name = _zone_names().get(text.strip().lower())
    if name is None:
        raise InvalidValue("timezone", "timezone_unknown", "timezone must be an IANA name such as Asia/Shanghai")
    try:
        ZoneInfo(name)
    except ZoneInfoNotFoundError:
        raise InvalidValue("timezone", "timezone_unknown", "unknown timezone") from None
    return name


def normalise_language_field(text: str) -> str:
    try:
        return normalise_language(text)
    except ValueError:
        raise InvalidValue("language", "language_unknown", "language must be en or zh_CN") from None
