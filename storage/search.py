"""Finding customers for staff: an exact lookup for `/customer` and a fuzzy search for `/find`.

The fuzzy search never reads the whole table: SQL narrows it to a bounded set of candidates (LIKE on names,
username, phone and email, with pieces of each word so that a typo still finds the row), then rapidfuzz ranks them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from rapidfuzz import fuzz, utils
from sqlalchemy import ColumnElement, func, or_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from storage.customers import find_customers
from storage.models import Customer

CANDIDATES = 400
MIN_SCORE = 60.0


async def lookup_customers(session: AsyncSession, *, query: str, limit: int = 10) -> list[Customer]:
    """Telegram id, @username, phone or email match exactly; otherwise names containing the text."""
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
    return await find_customers(session, query=text, limit=limit)


@dataclass(frozen=True)
class Match:
    customer: Customer
    score: float


def _pieces(query: str) -> tuple[set[str], set[str]]:
    """Substrings a matching row is likely to contain: (whole words and digits, ends of longer words for typos)."""
    words = [word for word in re.split(r"\s+", query.lower().lstrip("@")) if word]
    whole = {word for word in words if len(word) >= 2 or re.match(r"[^\x00-\x7f]", word)}
    digits = re.sub(r"\D", "", query)
    if len(digits) >= 4:
        whole.add(digits)
    fragments: set[str] = set()
    for word in words:
        if len(word) >= 5:
            fragments.update({word[:3], word[-3:]})
        elif len(word) == 4:
            fragments.update({word[:2], word[-2:]})
    return whole, fragments - whole


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _searchable(customer: Customer) -> list[str]:
    name = " ".join(part for part in (customer.first_name, customer.last_name) if part)
    return [value for value in (name, customer.username, customer.phone, customer.email) if value]


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


async def _candidates(session: AsyncSession, pieces: set[str], exclude: set[int], limit: int) -> list[Customer]:
    """Up to `limit` customers whose name, username or email contains a piece (phones: pieces of digits)."""
    if not pieces or limit <= 0:
        return []
    conditions: list[ColumnElement[bool]] = []
    for piece in sorted(pieces):
        pattern = f"%{_escape_like(piece)}%"
        if piece.isdigit():
            conditions.append(col(Customer.phone).like(pattern, escape="\\"))
        conditions += [column.like(pattern, escape="\\") for column in _text_columns()]
    query = select(Customer).where(or_(*conditions))
    if exclude:
        query = query.where(col(Customer.id).not_in(exclude))
    result = await session.execute(query.limit(limit))
    return list(result.scalars())


async def fuzzy_find(session: AsyncSession, *, query: str, limit: int = 10) -> list[Match]:
    """The best `limit` customers for `query`, best first.

    Rows containing a whole word of the query are candidates first; rows containing only the ends of a word (what a
    typo leaves intact) fill the rest of the bounded candidate set.
    """
    text = query.strip().lstrip("@")
    whole, fragments = _pieces(text)
    found = await _candidates(session, whole, set(), CANDIDATES)
    matches = [Match(customer, _score(text, customer)) for customer in found]
    if sum(match.score >= MIN_SCORE for match in matches) < limit:  # few good hits: maybe a typo
        more = await _candidates(session, fragments, {c.id for c in found if c.id}, CANDIDATES - len(found))
        matches += [Match(customer, _score(text, customer)) for customer in more]
    matches = [match for match in matches if match.score >= MIN_SCORE]
    matches.sort(key=lambda match: (-match.score, match.customer.id or 0))
    return matches[:limit]
