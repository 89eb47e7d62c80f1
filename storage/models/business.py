"""Telegram Business: the connections business accounts made to the bot, and the business chats they serve."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Column, Text
from sqlmodel import Field, SQLModel

from storage.types import UTCDateTime, utcnow


class ConnectionState(StrEnum):
    """What Carebot does with a connection (worked out from the stored row and the owner's role)."""

    ACTIVE = "active"  # enabled, its owner is staff, it may reply
    READ_ONLY = "read_only"  # enabled, its owner is staff, but the owner did not let the bot reply
    DISABLED = "disabled"  # the owner turned it off or removed the bot
    IGNORED = "ignored"  # its owner is neither an admin nor a staff member: recorded, never used


class ReplyBlock(StrEnum):
    """Why nothing may be sent in a business chat now."""

    UNKNOWN = "unknown"  # no such connection stored
    DISABLED = "disabled"
    IGNORED = "ignored"
    NO_REPLY_RIGHT = "no_reply_right"
    WINDOW_CLOSED = "window_closed"  # the customer has not written in the last 24 hours


class BusinessConnection(SQLModel, table=True):
    """One `business_connection` as Telegram last described it. `rights` is Telegram's JSON of the bot's rights."""

    __tablename__ = "business_connections"

    id: str = Field(primary_key=True, max_length=128)
    owner_telegram_id: int = Field(sa_column=Column(BigInteger, nullable=False, index=True))
    owner_chat_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    enabled: bool = True
    can_reply: bool = False
    rights: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    connected_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    disabled_told_at: datetime | None = Field(default=None, sa_type=UTCDateTime)  # admins told it stopped


class BusinessChat(SQLModel, table=True):
    """A customer's chat with a business account, through one connection: the 24-hour window and `/business`."""

    __tablename__ = "business_chats"

    connection_id: str = Field(primary_key=True, max_length=128)
    chat_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    last_customer_message_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_message_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
