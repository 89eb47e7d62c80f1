"""What staff leave behind in their daily work: notes on customers, broadcasts and CSV imports awaiting a commit."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, ForeignKey, Integer, Text
from sqlmodel import Field, SQLModel

from storage.types import UTCDateTime, utcnow


class CustomerNote(SQLModel, table=True):
    """An internal note on a customer, written by staff and never shown to the customer."""

    __tablename__ = "customer_notes"

    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(
        sa_column=Column(Integer, ForeignKey("customers.id", ondelete="CASCADE"), nullable=False, index=True)
    )
    author_telegram_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    text: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class BroadcastStatus:
    DRAFT = "draft"  # previewed, waiting for Confirm
    QUEUED = "queued"  # outbox rows planned, the sender is working through them
    DONE = "done"  # every row ended sent, failed or skipped; the final report was given
    CANCELLED = "cancelled"


class Broadcast(SQLModel, table=True):
    """A message staff send to a segment: its outbox rows carry the key `broadcast:<id>:customer:<cid>`."""

    __tablename__ = "broadcasts"

    id: int | None = Field(default=None, primary_key=True)
    segment: str = Field(max_length=16)  # a Segment value or `all`
    created_by: int = Field(sa_column=Column(BigInteger, nullable=False))
    source_chat_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    source_message_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    status: str = Field(default=BroadcastStatus.DRAFT, max_length=16, index=True)
    recipients: int = 0
    language: str = Field(default="zh_CN", max_length=8)  # of the admin, for the progress report
    report_chat_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    report_message_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    queued_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class StaffImport(SQLModel, table=True):
    """A checked CSV file waiting for its Commit button: the file is fetched again by `file_id` and must still
    hash to `sha256`, so nothing but this row is kept between the check and the commit."""

    __tablename__ = "staff_imports"

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=16)  # customers | purchases
    file_id: str = Field(max_length=256)
    sha256: str = Field(max_length=64)
    actor_telegram_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    chat_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    accepted: int = 0
    rejected: int = 0
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    committed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
