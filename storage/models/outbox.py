"""Proactive messages waiting to be sent, and the gift codes some of them carry."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import BigInteger, Column, ForeignKey, Index, Integer, Text
from sqlmodel import Field, SQLModel

from storage.types import Money, UTCDateTime, utcnow


class OutboxStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    SKIPPED = "skipped"


class OutboxMessage(SQLModel, table=True):
    """Planned once under a unique idempotency key (e.g. `birthday:2026:customer:42`), sent at most once.

    `template` and `params` (JSON) are rendered in the customer's language at send time.
    """

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_due", "status", "not_before"),)

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=128, unique=True)
    kind: str = Field(max_length=32, index=True)
    customer_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("customers.id", ondelete="CASCADE"), nullable=True, index=True),
    )
    chat_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    template: str = Field(max_length=64)
    params: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    capped: bool = Field(default=False, description="counts against the weekly proactive-message cap")
    not_before: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    status: str = Field(default=OutboxStatus.PENDING.value, max_length=16)
    attempts: int = 0
    last_error: str | None = Field(default=None, max_length=512)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    claimed_at: datetime | None = Field(
        default=None, sa_type=UTCDateTime, description="when a sender marked it `sending` (stuck rows are reported)"
    )
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    telegram_message_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))


class OutboxPass(SQLModel, table=True):
    """One greeting for every customer of a time zone (e.g. a holiday's), planned as this one row.

    The sender expands it into outbox rows shortly before they are due: customers `expanded_to < id <= last_customer_id`
    in the time zone `timezone` (None: customers without one), in id order, a chunk at a time, each row keyed
    `<row_key_prefix><customer id>`. A chunk and `expanded_to` move in one transaction, and the keys are unique,
    so an expansion that crashed resumes and a customer never gets the row twice.
    """

    __tablename__ = "outbox_passes"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=160, unique=True)
    row_key_prefix: str = Field(max_length=100)
    kind: str = Field(max_length=32)
    template: str = Field(max_length=64)
    params: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    vip_params: str | None = Field(
        default=None, sa_column=Column(Text, nullable=True), description="the params of VIP customers' rows (a gift)"
    )
    capped: bool = False
    timezone: str | None = Field(default=None, max_length=64)
    not_before: datetime = Field(sa_type=UTCDateTime)
    last_customer_id: int = Field(description="the highest customer id covered; a later planning may raise it")
    expanded_to: int = Field(default=0, description="customers up to this id are expanded")
    planned: int = Field(default=0, description="customers allowed proactive messages when planned")
    expanded: int = Field(default=0, description="outbox rows inserted so far")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Coupon(SQLModel, table=True):
    """A gift code: 8 capital letters and digits without look-alikes, redeemed once by staff."""

    __tablename__ = "coupons"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=16, unique=True)
    customer_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("customers.id", ondelete="SET NULL"), nullable=True, index=True),
    )
    reason: str = Field(max_length=64)
    value: Decimal = Field(sa_type=Money)
    currency: str = Field(max_length=3)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    redeemed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    redeemed_by: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
