"""Staff members and the audit log of what they looked at or changed."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Column
from sqlmodel import Field, SQLModel

from storage.types import UTCDateTime, utcnow


class Role(StrEnum):
    ADMIN = "admin"
    AGENT = "agent"


class StaffMember(SQLModel, table=True):
    __tablename__ = "staff_members"

    id: int | None = Field(default=None, primary_key=True)
    telegram_id: int | None = Field(default=None, sa_column=Column(BigInteger, unique=True, nullable=True))
    username: str | None = Field(default=None, max_length=64, index=True)
    name: str | None = Field(default=None, max_length=256)
    role: str = Field(default=Role.AGENT.value, max_length=8)
    added_by: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class AuditEntry(SQLModel, table=True):
    """Who did what to which customer. Ids and action names only: never contact details or message texts."""

    __tablename__ = "audit_log"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    actor_telegram_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    action: str = Field(max_length=64)
    customer_id: int | None = Field(default=None, index=True)
    detail: str | None = Field(default=None, max_length=256)
