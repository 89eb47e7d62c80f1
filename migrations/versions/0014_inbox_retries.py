"""inbox retries: a failed update is tried again on a schedule, then parked

Revision ID: 0014_inbox_retries
Revises: 0013_customer_search
Create Date: 2026-12-07 12:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision: str = "0014_inbox_retries"
down_revision: str | None = "0013_customer_search"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("inbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("retry_at", storage.types.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("last_error", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True))
        batch_op.add_column(sa.Column("parked_at", storage.types.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("inbox", schema=None) as batch_op:
        batch_op.drop_column("parked_at")
        batch_op.drop_column("last_error")
        batch_op.drop_column("retry_at")
        batch_op.drop_column("attempts")
