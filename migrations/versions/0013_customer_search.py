"""customer search index: typo-tolerant /find without reading the whole customers table

Revision ID: 0013_customer_search
Revises: 0012_outbox_passes
Create Date: 2026-11-26 12:00:00.000000

PostgreSQL: a GIN trigram index (pg_trgm) on the searchable text of a customer; ILIKE '%…%' and word similarity
(`<%`) use it. SQLite: a contentless FTS5 table with the trigram tokenizer (SQLite >= 3.34), kept in step with
`customers` by triggers and filled from the customers already stored. Both are derived data: `carebot db copy`
copies `customers` and the target's own index follows.

The FTS5 table is contentless: it keeps no copy of the text, only the index. Its rowid is the customer's id.
A later migration that rebuilds `customers` in batch mode on SQLite drops the triggers with the old table and
must create them again (tests/storage/test_customer_search.py fails if the index stops following the customers).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0013_customer_search"
down_revision: str | None = "0012_outbox_passes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Must stay identical to storage/search_index.py (the planner matches the query's expression to the index's).
PG_SEARCH_TEXT = (
    "(coalesce(first_name, '') || ' ' || coalesce(last_name, '') || ' ' || coalesce(username, '') || ' ' "
    "|| coalesce(email, '') || ' ' || coalesce(phone, ''))"
)


def _values(row: str) -> str:
    """The indexed columns of `row` (NEW or OLD) in the FTS5 table's order: name, username, email, phone."""
    return (
        f"coalesce({row}.first_name, '') || ' ' || coalesce({row}.last_name, ''), "
        f"{row}.username, {row}.email, {row}.phone"
    )


# A contentless table is told which values to forget (the 'delete' command): exactly those it was given.
SQLITE_TRIGGERS = {
    "customer_search_insert": f"""
        CREATE TRIGGER customer_search_insert AFTER INSERT ON customers BEGIN
            INSERT INTO customer_search (rowid, name, username, email, phone) VALUES (NEW.id, {_values("NEW")});
        END""",
    "customer_search_delete": f"""
        CREATE TRIGGER customer_search_delete AFTER DELETE ON customers BEGIN
            INSERT INTO customer_search (customer_search, rowid, name, username, email, phone)
            VALUES ('delete', OLD.id, {_values("OLD")});
        END""",
    "customer_search_update": f"""
        CREATE TRIGGER customer_search_update
        AFTER UPDATE OF id, first_name, last_name, username, email, phone ON customers BEGIN
            INSERT INTO customer_search (customer_search, rowid, name, username, email, phone)
            VALUES ('delete', OLD.id, {_values("OLD")});
            INSERT INTO customer_search (rowid, name, username, email, phone) VALUES (NEW.id, {_values("NEW")});
        END""",
}


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        # pg_trgm is a trusted extension (PostgreSQL >= 13): a database owner may create it; it ships with
        # postgresql-contrib (in Debian's and the official images' postgresql packages).
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.execute(f"CREATE INDEX ix_customers_search ON customers USING gin ({PG_SEARCH_TEXT} gin_trgm_ops)")
        return
    op.execute(
        "CREATE VIRTUAL TABLE customer_search USING fts5(name, username, email, phone, content='', tokenize='trigram')"
    )
    op.execute(
        "INSERT INTO customer_search (rowid, name, username, email, phone) "
        f"SELECT id, {_values('customers')} FROM customers"
    )
    for sql in SQLITE_TRIGGERS.values():
        op.execute(sql)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX ix_customers_search")  # the extension stays: other databases' objects may use it
        return
    for name in SQLITE_TRIGGERS:
        op.execute(f"DROP TRIGGER {name}")
    op.execute("DROP TABLE customer_search")
