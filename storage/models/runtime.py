"""Runtime state that must survive a restart: the update inbox and dialogs waiting for input."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, Integer, Text
from sqlmodel import Field, SQLModel

from storage.types import UTCDateTime, utcnow


class InboxUpdate(SQLModel, table=True):
    """A Telegram update, stored before Telegram is told it arrived; `processed_at` is set once handled.

    `claimed_by` names the replica handling it; a claim not renewed for the replica timeout is taken over.
    An update whose handling failed keeps its `attempts`, the error's name and when it is tried again
    (`retry_at`); after the last try it is `parked_at`: kept, not handled, until `carebot inbox retry`.
    """

    __tablename__ = "inbox"

    update_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    payload: str = Field(sa_column=Column(Text, nullable=False))
    chat_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    received_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    processed_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    claimed_by: str | None = Field(default=None, max_length=64)
    claimed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    attempts: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    retry_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_error: str | None = Field(default=None, max_length=128)
    parked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class PendingInput(SQLModel, table=True):
    """A dialog step waiting for a user's next message in a chat (e.g. `profile:phone`)."""

    __tablename__ = "pending_inputs"

    chat_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    user_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    kind: str = Field(max_length=64)
    data: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
