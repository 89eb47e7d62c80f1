"""routing: agents, their inboxes and VIP account managers

Revision ID: 0015_routing
Revises: 0014_inbox_retries
Create Date: 2026-12-07 12:30:00.000000

`agents` holds each staff member's routing state (inbox open, away, categories, hours, last assignment);
`account_managers` a VIP customer's manager. A ticket remembers the assignee's inbox and its card there;
a staff delivery names its destination (`chat_id`: NULL is the staff group, as before).
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision: str = "0015_routing"
down_revision: str | None = "0014_inbox_retries"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "agents",
        sa.Column("telegram_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=256), nullable=True),
        sa.Column("inbox_open", sa.Boolean(), nullable=False),
        sa.Column("away", sa.Boolean(), nullable=False),
        sa.Column("categories", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("hours", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.Column("last_assigned_at", storage.types.UTCDateTime(), nullable=True),
        sa.Column("updated_at", storage.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("telegram_id"),
    )
    op.create_table(
        "account_managers",
        sa.Column("customer_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("manager_telegram_id", sa.BigInteger(), nullable=False),
        sa.Column("assigned_by", sa.BigInteger(), nullable=True),
        sa.Column("assigned_at", storage.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("customer_id"),
    )
    op.create_index(
        op.f("ix_account_managers_manager_telegram_id"), "account_managers", ["manager_telegram_id"], unique=False
    )
    op.add_column("tickets", sa.Column("inbox_chat_id", sa.BigInteger(), nullable=True))
    op.add_column("tickets", sa.Column("inbox_card_message_id", sa.BigInteger(), nullable=True))
    op.create_index("ix_tickets_assignee_status", "tickets", ["assignee_telegram_id", "status"], unique=False)
    op.add_column("staff_deliveries", sa.Column("chat_id", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    # Plain DROP COLUMN (SQLite 3.35+ has it): a batch rebuild of `tickets` would cascade-delete its messages.
    op.execute("ALTER TABLE staff_deliveries DROP COLUMN chat_id")
    op.drop_index("ix_tickets_assignee_status", table_name="tickets")
    op.execute("ALTER TABLE tickets DROP COLUMN inbox_card_message_id")
    op.execute("ALTER TABLE tickets DROP COLUMN inbox_chat_id")
    op.drop_index(op.f("ix_account_managers_manager_telegram_id"), table_name="account_managers")
    op.drop_table("account_managers")
    op.drop_table("agents")
