"""telegram business: connections, business chats, and business-chat messages in tickets

Revision ID: 0016_business_chats
Revises: 0015_routing
Create Date: 2026-12-07 13:00:00.000000

A customer's business chat and their chat with the bot have the same chat id and overlapping message ids, so a
ticket message is now identified by (chat, message, business connection), "" standing for the bot chat. Columns are
added and the index replaced in place (no table rebuild: a rebuild of `ticket_messages` on SQLite would cascade
into `staff_deliveries`).
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision: str = "0016_business_chats"
down_revision: str | None = "0015_routing"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "business_connections",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("owner_telegram_id", sa.BigInteger(), nullable=False),
        sa.Column("owner_chat_id", sa.BigInteger(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("can_reply", sa.Boolean(), nullable=False),
        sa.Column("rights", sa.Text(), nullable=False),
        sa.Column("connected_at", storage.types.UTCDateTime(), nullable=False),
        sa.Column("updated_at", storage.types.UTCDateTime(), nullable=False),
        sa.Column("disabled_told_at", storage.types.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_business_connections_owner_telegram_id"), "business_connections", ["owner_telegram_id"], unique=False
    )
    op.create_table(
        "business_chats",
        sa.Column("connection_id", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("last_customer_message_at", storage.types.UTCDateTime(), nullable=True),
        sa.Column("last_message_at", storage.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("connection_id", "chat_id"),
    )
    op.create_index(op.f("ix_business_chats_last_message_at"), "business_chats", ["last_message_at"], unique=False)
    op.add_column(
        "ticket_messages",
        sa.Column("business_connection_id", sa.String(length=128), server_default="", nullable=False),
    )
    op.add_column("ticket_messages", sa.Column("deleted_at", storage.types.UTCDateTime(), nullable=True))
    op.drop_index("ix_ticket_messages_customer_message", table_name="ticket_messages")
    op.create_index(
        "ix_ticket_messages_customer_message",
        "ticket_messages",
        ["customer_chat_id", "customer_message_id", "business_connection_id"],
        unique=True,
    )


def downgrade() -> None:
    op.execute("DELETE FROM ticket_messages WHERE business_connection_id != ''")
    op.drop_index("ix_ticket_messages_customer_message", table_name="ticket_messages")
    op.create_index(
        "ix_ticket_messages_customer_message",
        "ticket_messages",
        ["customer_chat_id", "customer_message_id"],
        unique=True,
    )
    # In place on both databases (SQLite >= 3.35), for the same reason as above.
    op.execute("ALTER TABLE ticket_messages DROP COLUMN deleted_at")
    op.execute("ALTER TABLE ticket_messages DROP COLUMN business_connection_id")
    op.drop_index(op.f("ix_business_chats_last_message_at"), table_name="business_chats")
    op.drop_table("business_chats")
    op.drop_index(op.f("ix_business_connections_owner_telegram_id"), table_name="business_connections")
    op.drop_table("business_connections")
