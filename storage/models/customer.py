"""Customers: who they are, how to reach them, and the segment they are in."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import BigInteger, Column, Index, String
from sqlmodel import Field, SQLModel

from storage.types import Money, UTCDateTime, utcnow


class Segment(StrEnum):
    POTENTIAL = "potential"
    NEW = "new"
    RETURNING = "returning"
    VIP = "vip"


class Customer(SQLModel, table=True):
    __tablename__ = "customers"
    __table_args__ = (Index("ix_customers_birthday", "birth_month", "birth_day"),)

    id: int | None = Field(default=None, primary_key=True)
    telegram_id: int = Field(sa_column=Column(BigInteger, unique=True, nullable=False))
    first_name: str | None = Field(default=None, max_length=256)
    last_name: str | None = Field(default=None, max_length=256)
    username: str | None = Field(default=None, max_length=64, index=True)
    phone: str | None = Field(default=None, max_length=32, index=True)
    email: str | None = Field(default=None, max_length=254)
    birth_year: int | None = None
    birth_month: int | None = None
    birth_day: int | None = None
    language: str = Field(default="zh_CN", max_length=8)
    timezone: str | None = Field(default=None, max_length=64)
    segment: str = Field(default=Segment.POTENTIAL.value, sa_column=Column(String(16), nullable=False, index=True))
    segment_since: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    total_spent: Decimal = Field(default=Decimal("0"), sa_type=Money)
    purchase_count: int = 0
    consent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    proactive_opt_out: bool = False
    unreachable: bool = False
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_confirmed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_contact_at: datetime | None = Field(default=None, sa_type=UTCDateTime)

    @property
    def display_name(self) -> str:
        name = " ".join(part for part in (self.first_name, self.last_name) if part)
        return name or (f"@{self.username}" if self.username else str(self.telegram_id))

    @property
    def birthday_text(self) -> str | None:
        if self.birth_month is None or self.birth_day is None:
            return None
        month_day = f"{self.birth_month:02d}-{self.birth_day:02d}"
        return f"{self.birth_year:04d}-{month_day}" if self.birth_year else month_day
