"""ticket numbers are never reused on SQLite

Revision ID: 0011_ticket_autoincrement
Revises: 0003
Create Date: 2026-11-26 10:00:00.000000

A ticket's id is its number (`#n`). On SQLite a plain INTEGER PRIMARY KEY takes max(id) + 1, so deleting the newest
ticket would hand its number to the next one; AUTOINCREMENT never goes back. SQLite cannot add it to a table, so
the table is rebuilt (batch mode), rows and ids kept. PostgreSQL numbers tickets from a sequence already.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011_ticket_autoincrement"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _rebuild_tickets(*, autoincrement: bool) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    context = op.get_context()
    # The rebuild drops the old table: with foreign keys on, that would delete every ticket's messages and
    # deliveries (ON DELETE CASCADE). The pragma only takes effect outside a transaction.
    with context.autocommit_block():
        op.execute("PRAGMA foreign_keys=OFF")
    if op.get_bind().exec_driver_sql("PRAGMA foreign_keys").scalar():
        raise RuntimeError("could not turn foreign keys off to rebuild the tickets table; nothing was changed")
    with op.batch_alter_table("tickets", recreate="always", table_kwargs={"sqlite_autoincrement": autoincrement}):
        pass
    with context.autocommit_block():
        op.execute("PRAGMA foreign_keys=ON")


def upgrade() -> None:
    _rebuild_tickets(autoincrement=True)


def downgrade() -> None:
    _rebuild_tickets(autoincrement=False)
