"""Hotline tickets and every message in them, in both directions."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Column, ForeignKey, Index, Integer, String, Text
from sqlmodel import Field, SQLModel

from storage.types import StrEnumColumn, UTCDateTime, utcnow


class TicketStatus(StrEnum):
    OPEN = "open"  # waiting for staff
    PENDING = "pending"  # staff answered, waiting for the customer
    RESOLVED = "resolved"
    CLOSED = "closed"


class MessageDirection(StrEnum):
    IN = "in"  # from the customer
    OUT = "out"  # a staff reply, sent to the customer
    NOTE = "note"  # internal to staff, never sent


class DeliveryKind(StrEnum):
    COPY = "copy"  # a customer message
    EDIT = "edit"  # a customer edited one
    NOTICE = "notice"  # a catalog text with `params`
    CARD = "card"  # refresh the ticket card
    HISTORY = "history"  # the ticket so far, for an agent it was handed to
    ALERT = "alert"  # an escalation in the group: Take or Reassign


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


class TicketCategory(StrEnum):
    PRESALE = "presale"
    ORDER = "order"
    AFTERSALE = "aftersale"
    OTHER = "other"


class Ticket(SQLModel, table=True):
    """`id` is the ticket number shown as `#n`: unique and gap-tolerant on every database (never max()+1), and never
    given again once used, also after the newest ticket is deleted (a sequence; AUTOINCREMENT on SQLite)."""

    __tablename__ = "tickets"
    __table_args__ = (
        Index("ix_tickets_customer_status", "customer_id", "status"),
        Index("ix_tickets_assignee_status", "assignee_telegram_id", "status"),
        {"sqlite_autoincrement": True},
    )

    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(sa_column=Column(Integer, ForeignKey("customers.id", ondelete="CASCADE"), nullable=False))
    category: str = Field(default=TicketCategory.OTHER.value, max_length=16)
    status: TicketStatus = Field(
        default=TicketStatus.OPEN, sa_column=Column(StrEnumColumn(TicketStatus), nullable=False, index=True)
    )
    assignee_telegram_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    assignee_name: str | None = Field(default=None, max_length=256)
    staff_chat_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    staff_thread_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    card_message_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    # The assignee's private chat with the bot (their inbox) while the ticket is delivered there, and its card.
    inbox_chat_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    inbox_card_message_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    opened_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    waiting_since: datetime | None = Field(default=None, sa_type=UTCDateTime)  # customer waits for staff since
    first_response_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    resolved_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class TicketMessage(SQLModel, table=True):
    """One message of a ticket: `in` from the customer, `out` from staff, `note` internal to staff."""

    __tablename__ = "ticket_messages"
    __table_args__ = (
        Index(
            "ix_ticket_messages_customer_message",
            "customer_chat_id",
            "customer_message_id",
            "business_connection_id",
            unique=True,
        ),
        Index("ix_ticket_messages_staff_message", "staff_chat_id", "staff_message_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(
        sa_column=Column(Integer, ForeignKey("tickets.id", ondelete="CASCADE"), nullable=False, index=True)
    )
    direction: MessageDirection = Field(sa_column=Column(StrEnumColumn(MessageDirection, 8), nullable=False))
    kind: str = Field(default="text", max_length=16)
    text: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    file_id: str | None = Field(default=None, max_length=256)
    media_group_id: str | None = Field(default=None, max_length=64)
    author_telegram_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    customer_chat_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    customer_message_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    # The business chat the message is in ("" for the customer's chat with the bot): message ids of the two chats
    # with one customer overlap, so this is part of the message's identity.
    business_connection_id: str = Field(
        default="", sa_column=Column(String(128), nullable=False, server_default="", default="")
    )
    deleted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)  # the customer deleted it (business chat)
    staff_chat_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    staff_message_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    edited_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class StaffDelivery(SQLModel, table=True):
    """Something to show in the staff chat, queued durably and sent in `id` order per ticket.

    `kind`: `copy` (a customer message), `edit` (a customer edited one), `notice` (a catalog text with `params`),
    `card` (show the ticket card as it is now), `history` (the ticket so far, for an agent it was handed to).
    `chat_id`: None for the staff group, else the agent's private chat (their inbox). Each row is planned once under a unique `key` and ends `sent` (with the staff
    message it became, which staff may reply to) or `failed`.
    """

    __tablename__ = "staff_deliveries"
    __table_args__ = (
        Index("ix_staff_deliveries_status_id", "status", "id"),
        Index("ix_staff_deliveries_staff_message", "staff_chat_id", "staff_message_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=96, unique=True)
    ticket_id: int = Field(
        sa_column=Column(Integer, ForeignKey("tickets.id", ondelete="CASCADE"), nullable=False, index=True)
    )
    ticket_message_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("ticket_messages.id", ondelete="CASCADE"), nullable=True),
    )
    kind: DeliveryKind = Field(sa_column=Column(StrEnumColumn(DeliveryKind), nullable=False))
    chat_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    params: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    status: DeliveryStatus = Field(
        default=DeliveryStatus.PENDING, sa_column=Column(StrEnumColumn(DeliveryStatus), nullable=False)
    )
    not_before: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    attempts: int = 0
    last_error: str | None = Field(default=None, max_length=512)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    staff_chat_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    staff_message_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
