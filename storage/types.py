"""Column types shared by every table: UTC timestamps, money, statuses, and the range of integer columns."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TypeVar

from sqlalchemy import DateTime, Numeric, String
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    return datetime.now(UTC)


def stored_utc(moment: datetime) -> datetime:
    """A timestamp as every timestamp column stores it: naive UTC."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime given to a UTC column")
    return moment.astimezone(UTC).replace(tzinfo=None)


def read_utc(value: Any) -> datetime | None:
    """A timestamp column's value read back as an aware UTC datetime (SQLite gives text where SQLAlchemy does not
    convert it: aggregates, plain SQL)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return value.replace(tzinfo=UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Stored as naive UTC on every database, always read back as an aware UTC datetime."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else stored_utc(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        return read_utc(value)


E = TypeVar("E", bound=StrEnum)


class StrEnumColumn(TypeDecorator[E]):
    """A `StrEnum` stored as its plain string (VARCHAR, no database enum type: adding a value needs no migration),
    read back as the enum member."""

    impl = String
    cache_ok = True

    def __init__(self, enum: type[E], length: int = 16) -> None:
        super().__init__(length)
        self.enum = enum

    def process_bind_param(self, value: E | str | None, dialect: Dialect) -> str | None:
        return None if value is None else self.enum(value).value

    def process_result_value(self, value: Any, dialect: Dialect) -> E | None:
        return None if value is None else self.enum(value)


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


def fits_bigint(value: int) -> bool:
    return BIGINT_MIN <= value <= BIGINT_MAX
