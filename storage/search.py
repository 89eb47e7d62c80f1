"""Finding customers for staff: an exact lookup for `/customer` and a fuzzy search for `/find`.

The fuzzy search never reads the whole table: the trigram index (storage/search_index.py) narrows it to a bounded
set of candidates (rows containing a word of the query, then rows sharing the most trigrams with it, which is what a
typo leaves intact), then rapidfuzz ranks them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from rapidfuzz import fuzz, utils
from sqlalchemy import ColumnElement, func, or_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from storage import search_index
from storage.customers import is_person
from storage.models import Customer
from storage.types import fits_bigint

CANDIDATES = 400
MIN_SCORE = 60.0


async def lookup_customers(session: AsyncSession, *, query: str, limit: int = 10) -> list[Customer]:
    """The one customer lookup of staff commands (`/customer`, `/audit`, `/purchase`, `/refund`, `/note`, …):
    Telegram id, @username (or a bare username), phone or e-mail match exactly; otherwise names containing the text."""
    text = query.strip()
    if re.fullmatch(r"[^@\s]+@[^@\s]+", text):
        result = await session.execute(
            select(Customer).where(func.lower(col(Customer.email)) == text.lower()).limit(limit)
        )
        return list(result.scalars())
    if re.fullmatch(r"[A-Za-z0-9_]{4,}", text) and not text.isdigit():
        # A bare word may be a username typed without its @.
        result = await session.execute(
            select(Customer).where(func.lower(col(Customer.username)) == text.lower()).limit(limit)
        )
        found = list(result.scalars())
        if found:
            return found
    return await _exact_or_name(session, query=text, limit=limit)


async def _exact_or_name(session: AsyncSession, *, query: str, limit: int = 10) -> list[Customer]:
    """Exact lookups first: Telegram id, @username, phone; then names containing the text."""
    text = query.strip()
    conditions: list[ColumnElement[bool]] = []
    if re.fullmatch(r"-?[0-9]{1,19}", text) and fits_bigint(int(text)):  # a number too large is no Telegram id
        conditions.append(col(Customer.telegram_id) == int(text))
    if text.startswith("@"):
        conditions.append(func.lower(Customer.username) == text[1:].lower())
    digits = "".join(ch for ch in text if ch.isdigit())
    if len(digits) >= 6:
        conditions.append(col(Customer.phone).like(f"%{digits}"))
    if conditions:
        result = await session.execute(select(Customer).where(or_(*conditions), is_person()).limit(limit))
        found = list(result.scalars())
        if found:
            return found
    if search_index.indexable(text):
        ids = await search_index.name_containing(session, piece=text, limit=limit)
        indexed = (await session.execute(select(Customer).where(col(Customer.id).in_(ids)))).scalars()
        return sorted(indexed, key=lambda customer: customer.id or 0)
    # Too short for the index (one or two characters, as many Chinese names are): read the names in id order.
    pattern = f"%{text.lower()}%"
    full_name = func.lower(func.coalesce(Customer.first_name, "") + " " + func.coalesce(Customer.last_name, ""))
    result = await session.execute(
        select(Customer).where(full_name.like(pattern), is_person()).order_by(col(Customer.id)).limit(limit)
    )
    return list(result.scalars())


@dataclass(frozen=True)
class Match:
    customer: Customer
    score: float


def _pieces(query: str) -> set[str]:
    """Substrings a matching row contains: the words of the query, and its digits (a phone number)."""
    words = {word for word in re.split(r"\s+", query.lower().lstrip("@")) if word}
    pieces = {word for word in words if len(word) >= 2 or re.match(r"[^\x00-\x7f]", word)}
    digits = re.sub(r"\D", "", query)
    if len(digits) >= 4:
        pieces.add(digits)
    return pieces


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _searchable(customer: Customer) -> list[str]:
    name = " ".join(part for part in (customer.first_name, customer.last_name) if part)
    return [value for value in (name, customer.username, customer.phone, customer.email) if value]


def _holds_all(pieces: set[str], customer: Customer) -> bool:
    """Every word (and the digits) of the query occur in the customer's name, username, phone or email."""
    values = " ".join(_searchable(customer)).lower()
    return all(piece in values for piece in pieces)


def _score(query: str, customer: Customer) -> float:
    best = 0.0
    for value in _searchable(customer):
        best = max(best, fuzz.WRatio(query, value, processor=utils.default_process))
    digits = re.sub(r"\D", "", query)
    if len(digits) >= 4 and customer.phone and digits in customer.phone:
        best = max(best, 95.0)
    return best


def _text_columns() -> list[ColumnElement[Any]]:
    full_name = func.lower(func.coalesce(Customer.first_name, "") + " " + func.coalesce(Customer.last_name, ""))
    return [full_name, func.lower(func.coalesce(Customer.username, "")), func.lower(func.coalesce(Customer.email, ""))]


async def _scanned(session: AsyncSession, pieces: set[str], limit: int) -> list[int]:
    """Pieces too short for the index (one or two characters): LIKE over the rows, stopping at `limit` matches.
    A rare short piece reads the whole table."""
    conditions = [
        column.like(f"%{_escape_like(piece)}%", escape="\\") for piece in sorted(pieces) for column in _text_columns()
    ]
    result = await session.execute(select(col(Customer.id)).where(or_(*conditions), is_person()).limit(limit))
    return list(result.scalars())


async def _customers(session: AsyncSession, ids: list[int]) -> list[Customer]:
    if not ids:
        return []
    result = await session.execute(select(Customer).where(col(Customer.id).in_(ids)))
    return list(result.scalars())


async def fuzzy_find(session: AsyncSession, *, query: str, limit: int = 10) -> list[Match]:
    """The best `limit` customers for `query`, best first.

    Rows containing a word of the query (or its digits) are candidates first; when fewer than `limit` of them
    contain every word (maybe a typo: `Ana Schmitd` finds plenty of Anas), the rows sharing the most trigrams with
    the query are candidates too. At most twice `CANDIDATES` rows are ranked.
    """
    text = query.strip().lstrip("@")
    pieces = _pieces(text)
    ids = await search_index.containing(session, pieces=pieces, query=text, limit=CANDIDATES)
    if not ids and pieces and not any(search_index.indexable(piece) for piece in pieces):
        ids = await _scanned(session, pieces, CANDIDATES)
    matches = [Match(customer, _score(text, customer)) for customer in await _customers(session, ids)]
    if sum(_holds_all(pieces, match.customer) for match in matches) < limit:  # words not found: maybe a typo
        similar = await search_index.similar(session, query=text, limit=CANDIDATES)
        seen = set(ids)
        more = [customer_id for customer_id in similar if customer_id not in seen]
        matches += [Match(customer, _score(text, customer)) for customer in await _customers(session, more)]
    matches = [match for match in matches if match.score >= MIN_SCORE]
    matches.sort(key=lambda match: (-match.score, match.customer.id or 0))
    return matches[:limit]
