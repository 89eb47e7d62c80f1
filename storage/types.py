"""Column types shared by every table: UTC timestamps, money, and the range of integer columns."""

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


# Integer columns hold what fits in them, on every database: row ids, counts, versions and scores are INTEGER
# (32-bit on PostgreSQL), Telegram ids and update ids BIGINT (64-bit). A larger Python int fails the statement
# (an OverflowError on SQLite, a DataError on PostgreSQL): numbers from outside are checked before they get there.
INTEGER_MAX = 2**31 - 1
BIGINT_MIN, BIGINT_MAX = -(2**63), 2**63 - 1


def fits_integer(value: int) -> bool:
    return -INTEGER_MAX - 1 <= value <= INTEGER_MAX


def fits_bigint(value: int) -> bool:
    return BIGINT_MIN <= value <= BIGINT_MAX
