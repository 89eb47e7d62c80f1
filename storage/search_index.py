"""The customer search index (migration 0013_customer_search): look-ups by pieces of text that never read the
whole customers table.

PostgreSQL: a GIN trigram index (pg_trgm) on `SEARCH_TEXT`, used by ILIKE '%…%' and by word similarity (`<%`).
SQLite: `customer_search`, a contentless FTS5 table with the trigram tokenizer whose rowid is the customer's id,
kept in step with `customers` by triggers.

Either index needs pieces of at least three characters (a trigram): shorter text cannot use it.
"""

from __future__ import annotations

from sqlalchemy import BindParameter, ColumnElement, bindparam, func, literal_column, or_, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from storage.customers import is_person
from storage.models import Customer

TRIGRAM = 3
# Identical to the expression of the index in migration 0013: PostgreSQL matches the two to use the index.
SEARCH_TEXT: ColumnElement[str] = literal_column(
    "(coalesce(first_name, '') || ' ' || coalesce(last_name, '') || ' ' || coalesce(username, '') || ' ' "
    "|| coalesce(email, '') || ' ' || coalesce(phone, ''))"
)
# Share of the query's trigrams a customer's text must contain to be a typo candidate on PostgreSQL.
SIMILARITY_THRESHOLD = 0.3


def indexable(piece: str) -> bool:
    return len(piece) >= TRIGRAM


def trigrams(word: str) -> set[str]:
    return {word[i : i + TRIGRAM] for i in range(len(word) - TRIGRAM + 1)}


def _on_postgresql(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _escape_like(piece: str) -> str:
    return piece.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _fts_string(piece: str) -> str:
    """An FTS5 string: with the trigram tokenizer it matches wherever `piece` occurs, in any case."""
    return '"' + piece.replace('"', '""') + '"'


async def _fts_ids(session: AsyncSession, match: str, limit: int) -> list[int]:
    """Customers (never the erased-customers record) whose index matches the FTS5 query, best first."""
    result = await session.execute(
        text(
            "SELECT customers.id FROM customer_search JOIN customers ON customers.id = customer_search.rowid "
            "WHERE customer_search MATCH :match AND customers.telegram_id != 0 "
            "ORDER BY customer_search.rank LIMIT :limit"
        ),
        {"match": match, "limit": limit},
    )
    return [row[0] for row in result]


async def containing(session: AsyncSession, *, pieces: set[str], query: str, limit: int) -> list[int]:
    """Up to `limit` customers whose name, username, email or phone contains one of `pieces` (each indexable),
    those most like `query` first."""
    pieces = {piece for piece in pieces if indexable(piece)}
    if not pieces or limit <= 0:
        return []
    if not _on_postgresql(session):
        return await _fts_ids(session, " OR ".join(_fts_string(piece) for piece in sorted(pieces)), limit)
    statement = (
        select(col(Customer.id))
        .where(or_(*(SEARCH_TEXT.ilike(f"%{_escape_like(piece)}%", escape="\\") for piece in sorted(pieces))))
        .where(is_person())
        .order_by(func.word_similarity(query, SEARCH_TEXT).desc(), col(Customer.id))
        .limit(limit)
    )
    return list((await session.execute(statement)).scalars())


async def similar(session: AsyncSession, *, query: str, limit: int) -> list[int]:
    """Up to `limit` customers sharing the most trigrams with the words of `query`: what a typo leaves intact.

    Only words of letters count: the trigrams of emails and phone numbers ("exa", "com", "138") are shared by a
    large part of the table, and ranking that many rows would cost as much as reading it.
    """
    words = [word for word in query.lower().split() if indexable(word) and word.isalpha()]
    if not words or limit <= 0:
        return []
    if not _on_postgresql(session):
        grams = set().union(*(trigrams(word) for word in words))
        return await _fts_ids(session, " OR ".join(_fts_string(gram) for gram in sorted(grams)), limit)
    await session.execute(
        text("SELECT set_config('pg_trgm.word_similarity_threshold', :threshold, true)"),
        {"threshold": str(SIMILARITY_THRESHOLD)},
    )
    words_text: BindParameter[str] = bindparam("words", " ".join(words))
    statement = (
        select(col(Customer.id))
        .where(words_text.op("<%")(SEARCH_TEXT), is_person())
        .order_by(func.word_similarity(words_text, SEARCH_TEXT).desc(), col(Customer.id))
        .limit(limit)
    )
    return list((await session.execute(statement)).scalars())


async def name_containing(session: AsyncSession, *, piece: str, limit: int) -> list[int]:
    """Up to `limit` customers whose full name contains `piece` (indexable), in the order they came."""
    if not _on_postgresql(session):
        result = await session.execute(
            text(
                "SELECT customers.id FROM customer_search JOIN customers ON customers.id = customer_search.rowid "
                "WHERE customer_search MATCH :match AND customers.telegram_id != 0 "
                "ORDER BY customers.id LIMIT :limit"
            ),
            {"match": "name : " + _fts_string(piece), "limit": limit},
        )
        return [row[0] for row in result]
    pattern = f"%{_escape_like(piece)}%"
    full_name = func.coalesce(Customer.first_name, "") + " " + func.coalesce(Customer.last_name, "")
    statement = (
        select(col(Customer.id))
        .where(SEARCH_TEXT.ilike(pattern, escape="\\"), full_name.ilike(pattern, escape="\\"), is_person())
        .order_by(col(Customer.id))
        .limit(limit)
    )
    return list((await session.execute(statement)).scalars())


async def forget_erased(session: AsyncSession) -> None:
    """Take erased customers' entries out of the index's storage too, not only out of its answers.

    FTS5 (before SQLite 3.44's secure-delete) records a deletion as a marker in a new segment and keeps the
    deleted trigrams in the older segments until they are merged; 'optimize' merges every segment into one, which
    drops them. PostgreSQL's GIN entries go with the deleted row when the table is vacuumed.
    """
    if not _on_postgresql(session):
        await session.execute(text("INSERT INTO customer_search (customer_search) VALUES ('optimize')"))
