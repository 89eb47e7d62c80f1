"""Routing: each staff member's state as an agent (their inbox, availability, skills, hours) and VIP account
managers."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, ForeignKey, Integer
from sqlmodel import Field, SQLModel

from storage.types import UTCDateTime, utcnow


class Agent(SQLModel, table=True):
    """A staff member as a receiver of tickets. `inbox_open`: they started a private chat with the bot (their
    inbox); `categories`: the ticket categories they serve, comma-separated (None: all); `hours`: their working
    hours `HH:MM-HH:MM` in the business's time zone (None: the business hours)."""

    __tablename__ = "agents"

    telegram_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    name: str | None = Field(default=None, max_length=256)
    inbox_open: bool = False
    away: bool = False
    categories: str | None = Field(default=None, max_length=64)
    hours: str | None = Field(default=None, max_length=16)
    last_assigned_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class AccountManager(SQLModel, table=True):
    """A VIP customer's personal account manager (专属客服): their tickets go to the manager first."""

    __tablename__ = "account_managers"

    customer_id: int = Field(
        sa_column=Column(Integer, ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True, autoincrement=False)
    )
    manager_telegram_id: int = Field(sa_column=Column(BigInteger, nullable=False, index=True))
    assigned_by: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    assigned_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
