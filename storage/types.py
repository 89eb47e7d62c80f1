"""Column types shared by every table: UTC timestamps and money."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Numeric
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Stored as naive UTC on every database, always read back as an aware UTC datetime."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):  # SQLite aggregates return text
            value = datetime.fromisoformat(value)
        return value.replace(tzinfo=UTC)


# Money is exact: Decimal in Python, NUMERIC(14, 2) in the database.
Money = Numeric(14, 2, asdecimal=True)


def clean_text(value: str | None) -> str | None:
    """Text as every database stores it: PostgreSQL refuses NUL characters, which Telegram lets through."""
    return None if value is None else value.replace("\x00", "")
