"""Purchases a shop sends on its own (the signed order endpoint): checked and applied by the CSV import's rules.

A request is one purchase (a JSON object) or a list of up to `MAX_ROWS`. Each row names its customer by
`telegram_id`, `phone` or `email` (an existing customer: nobody is created), and carries the columns of a purchases
CSV: `amount` (a string with a `.`), `currency`, `occurred_at`, `reference` (required here: it is what makes a
retried order change nothing), optionally `note` and `refunded_at`. Every row is checked before anything is written;
then all rows are applied in the caller's transaction by `apply_purchases`, or none is.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from storage.csv_import import (
    ParseResult,
    PurchaseOutcome,
    PurchaseRow,
    apply_purchases,
    parse_telegram_id,
    purchase_row_parser,
    reject_repeated_purchases,
)
from storage.customers import ContactMatches, customers_by_contact
from storage.models import Customer
from storage.segments import VipThresholds
from storage.validation import InvalidValue, normalise_email, normalise_phone

MAX_ROWS = 1_000
FEED_REASON = "shop"  # the segment history's reason for moves a shop's order caused
_FIELDS = ("amount", "currency", "occurred_at", "reference", "note", "refunded_at")
_CONTACTS = ("telegram_id", "phone", "email")


class FeedVerdict(StrEnum):
    ACCEPTED = "accepted"  # every row applied (or already there)
    INVALID = "invalid"  # some row is wrong: nothing written
    NOT_FOUND = "not_found"  # every row is right but some name no known customer: nothing written


@dataclass(frozen=True)
class RowResult:
    index: int  # the row's position in the request, from 0
    reference: str
    status: PurchaseOutcome
    segment: str  # the customer's segment once the whole request is applied


@dataclass(frozen=True)
class RowProblem:
    index: int
    error: str
    not_found: bool = False


@dataclass
class FeedAnswer:
    verdict: FeedVerdict
    results: list[RowResult] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        if self.verdict == FeedVerdict.ACCEPTED:
            return {
                "results": [
                    {"index": r.index, "reference": r.reference, "status": r.status.value, "segment": r.segment}
                    for r in self.results
                ]
            }
        return {
            "errors": [
                {"index": p.index, "error": p.error, **({"not_found": True} if p.not_found else {})}
                for p in self.problems
            ]
        }


class FeedError(ValueError):
    """The request as a whole is not a purchase or a list of purchases; the message says why."""


def rows_of(body: object) -> list[object]:
    """The rows of a decoded JSON body: one object, or a list of 1 to `MAX_ROWS` of them."""
    if isinstance(body, dict):
        return [body]
    if not isinstance(body, list):
        raise FeedError("the body must be a purchase (a JSON object) or a list of purchases")
    if not body:
        raise FeedError("the list of purchases is empty")
    if len(body) > MAX_ROWS:
        raise FeedError(f"at most {MAX_ROWS} purchases per request (got {len(body)}); send them in several requests")
    return body


@dataclass(frozen=True)
class _Contact:
    kind: str  # telegram_id, phone or email
    value: str | int


def _cells(row: object) -> dict[str, str]:
    """A row's fields as the text cells of a CSV record; raises ValueError for a row that is not one."""
    if not isinstance(row, Mapping):
        raise ValueError("each purchase must be a JSON object")
    cells: dict[str, str] = {}
    wrong: list[str] = []
    for name in (*_CONTACTS, *_FIELDS):
        value = row.get(name)
        if name == "telegram_id" and isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if isinstance(value, str):
            cells[name] = value.strip()
        elif value is not None:
            wrong.append(f"{name} must be a string" + (' such as "199.90"' if name == "amount" else ""))
    if wrong:
        raise ValueError("; ".join(wrong))
    return cells


def _contact(cells: dict[str, str]) -> _Contact:
    """Who the row is about: the first of telegram_id, phone, email it gives."""
    if cells.get("telegram_id"):
        return _Contact("telegram_id", parse_telegram_id(cells["telegram_id"]))
    try:
        if cells.get("phone"):
            return _Contact("phone", normalise_phone(cells["phone"]))
        if cells.get("email"):
            return _Contact("email", normalise_email(cells["email"]))
    except InvalidValue as exc:
        raise ValueError(str(exc)) from None
    raise ValueError("telegram_id, phone or email is required")


def _customer(contact: _Contact, matches: ContactMatches) -> Customer:
    """The one customer the contact names; raises LookupError when none does, ValueError when several do."""
    if contact.kind == "telegram_id":
        found = [matches.by_telegram_id[contact.value]] if contact.value in matches.by_telegram_id else []
    elif contact.kind == "phone":
        found = matches.phone(str(contact.value))
    else:
        found = matches.email(str(contact.value))
    if not found:
        raise LookupError(f"no customer with this {contact.kind}")
    if len(found) > 1:
        raise ValueError(f"{len(found)} customers have this {contact.kind}: send their telegram_id")
    return found[0]


async def record_orders(
    session: AsyncSession,
    rows: Sequence[object],
    *,
    default_currency: str,
    default_timezone: str,
    vip: VipThresholds,
) -> FeedAnswer:
    """Check every row, then record them all in the caller's transaction (or nothing, when any row is wrong)."""
    errors: defaultdict[int, list[str]] = defaultdict(list)  # by row index
    unknown: dict[int, str] = {}  # rows whose customer nobody is: the reason, by row index
    contacts: dict[int, _Contact] = {}
    cells_of: dict[int, dict[str, str]] = {}
    for index, row in enumerate(rows):
        try:
            cells_of[index] = _cells(row)
            contacts[index] = _contact(cells_of[index])
        except ValueError as exc:
            errors[index].append(str(exc))
    matches = await customers_by_contact(
        session,
        telegram_ids=[int(c.value) for c in contacts.values() if c.kind == "telegram_id"],
        phones=[str(c.value) for c in contacts.values() if c.kind == "phone"],
        emails=[str(c.value) for c in contacts.values() if c.kind == "email"],
    )
    parse_row = purchase_row_parser(default_currency=default_currency, default_timezone=default_timezone)
    parsed: ParseResult[PurchaseRow] = ParseResult()
    for index, cells in cells_of.items():
        # An unknown customer's row is still checked, so that one answer names every problem.
        customer: Customer | None = None
        if index in contacts:
            try:
                customer = _customer(contacts[index], matches)
            except LookupError as exc:
                unknown[index] = str(exc)
            except ValueError as exc:
                errors[index].append(str(exc))
        if not cells.get("reference"):
            errors[index].append("reference is required (the shop's order id)")
        try:
            row = parse_row(index, {**cells, "telegram_id": str(customer.telegram_id if customer else 1)})
        except ValueError as exc:
            errors[index].append(str(exc))
        else:
            if customer is not None and not errors[index]:
                parsed.rows.append(row)
    reject_repeated_purchases(parsed)
    for rejection in parsed.rejections:
        errors[rejection.line].append(rejection.reason)
    problems = [RowProblem(index, "; ".join(found)) for index, found in errors.items() if found]
    problems += [RowProblem(index, reason, not_found=True) for index, reason in unknown.items()]
    if problems:
        return _refused(problems)
    applied = await apply_purchases(session, parsed.rows, vip=vip, reason=FEED_REASON)
    if applied.rejections:
        return _refused([RowProblem(rejection.line, rejection.reason) for rejection in applied.rejections])
    segments = await _segments(session, {row.telegram_id for row in parsed.rows})
    return FeedAnswer(
        FeedVerdict.ACCEPTED,
        results=[
            RowResult(row.line, row.reference, applied.outcomes[row.line], segments[row.telegram_id])
            for row in parsed.rows
        ],
    )


def _refused(problems: list[RowProblem]) -> FeedAnswer:
    problems = sorted(problems, key=lambda problem: (problem.index, problem.not_found))
    verdict = FeedVerdict.NOT_FOUND if all(problem.not_found for problem in problems) else FeedVerdict.INVALID
    return FeedAnswer(verdict, problems=problems)


async def _segments(session: AsyncSession, telegram_ids: set[int]) -> dict[int, str]:
    found: dict[int, str] = {}
    ordered = sorted(telegram_ids)
    for start in range(0, len(ordered), 900):
        result = await session.execute(
            select(col(Customer.telegram_id), col(Customer.segment)).where(
                col(Customer.telegram_id).in_(ordered[start : start + 900])
            )
        )
        found.update(result.tuples().all())
    return found


__all__ = [
    "FEED_REASON",
    "MAX_ROWS",
    "FeedAnswer",
    "FeedError",
    "FeedVerdict",
    "RowProblem",
    "RowResult",
    "record_orders",
    "rows_of",
]
