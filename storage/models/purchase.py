"""Purchases and refunds, and the history of segment changes they cause."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import Column, ForeignKey, Index, Integer, UniqueConstraint
from sqlmodel import Field, SQLModel

from storage.types import Money, UTCDateTime, utcnow


class Purchase(SQLModel, table=True):
    __tablename__ = "purchases"
    __table_args__ = (UniqueConstraint("customer_id", "reference", name="uq_purchases_customer_reference"),)

    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(
        sa_column=Column(Integer, ForeignKey("customers.id", ondelete="CASCADE"), nullable=False, index=True)
    )
    amount: Decimal = Field(sa_type=Money)
    currency: str = Field(max_length=3)
    occurred_at: datetime = Field(sa_type=UTCDateTime, index=True)
    reference: str = Field(max_length=128)
    note: str | None = Field(default=None, max_length=1000)
    refunded_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class SegmentChange(SQLModel, table=True):
    __tablename__ = "segment_changes"
    # Covers the report of moves in a period: an index-only range scan.
    __table_args__ = (Index("ix_segment_changes_changed_moves", "changed_at", "from_segment", "to_segment"),)

    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(
        sa_column=Column(Integer, ForeignKey("customers.id", ondelete="CASCADE"), nullable=False, index=True)
    )
    from_segment: str = Field(max_length=16)
    to_segment: str = Field(max_length=16)
    reason: str = Field(max_length=16)
    changed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
