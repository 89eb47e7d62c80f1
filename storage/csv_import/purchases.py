"""Purchases from a CSV file (and the order endpoint): rows checked, then applied with the segment rule in the
caller's transaction."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from functools import partial
from zoneinfo import ZoneInfo

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import class_mapper
from sqlmodel import col

from storage.csv_export import PURCHASE_COLUMNS, REFUNDED_COLUMN
from storage.csv_import.common import (
    GENERATED_REFERENCE_PREFIX,
    IMPORT_REASON,
    IN_CHUNK,
    INSERT_CHUNK,
    ImportSummary,
    ParseResult,
    Progress,
    PurchaseOutcome,
    PurchaseRow,
    Rejection,
)
from storage.csv_import.customers import bulk_insert, chunks, customers_by_telegram_id, new_customer_values
from storage.csv_import.reading import (
    Cells,
    bounded_text,
    derived_reference,
    parse_amount,
    parse_buyer_telegram_id,
    parse_currency,
    parse_occurred_at,
    parse_rows,
    reject_duplicates,
)
from storage.customers import ERASED_TELEGRAM_ID
from storage.models import Customer, Purchase, SegmentChange
from storage.privacy import erased_customers_record
from storage.segments import VipThresholds, apply_totals
from storage.types import utcnow

_REFERENCE = partial(bounded_text, Purchase, "reference")
_NOTE = partial(bounded_text, Purchase, "note")


def _purchase_row(line: int, cells: dict[str, str], *, currency: str, occurred: Callable[..., datetime]) -> PurchaseRow:
    row = Cells(cells)
    telegram_id = row.get("telegram_id", parse_buyer_telegram_id, required=True)
    amount = row.get("amount", parse_amount, required=True)
    currency = row.get("currency", parse_currency) or currency
    occurred_at = row.get("occurred_at", occurred, required=True)
    reference = row.get("reference", _REFERENCE)
    note = row.get("note", _NOTE)
    refunded_at = row.get(REFUNDED_COLUMN, partial(occurred, column=REFUNDED_COLUMN))
    row.check()
    assert telegram_id is not None and amount is not None and occurred_at is not None
    if refunded_at is not None and refunded_at < occurred_at:
        raise ValueError(f"{REFUNDED_COLUMN} is before occurred_at")
    reference = reference or derived_reference(
        telegram_id=telegram_id, amount=amount, currency=currency, occurred_at=occurred_at, note=note
    )
    return PurchaseRow(line, telegram_id, amount, currency, occurred_at, reference, note, refunded_at)


def _repeated_purchase(row: PurchaseRow, line: int) -> str:
    if row.reference.startswith(GENERATED_REFERENCE_PREFIX):
        return f"the same purchase as line {line} (rows without a reference must differ, or give each a reference)"
    return f"reference {row.reference} for telegram_id {row.telegram_id} already appears on line {line}"


def parse_purchases_csv(
    data: bytes, *, default_currency: str, default_timezone: str, progress: Progress | None = None
) -> ParseResult[PurchaseRow]:
    """Check every row of a purchases file (`PURCHASE_COLUMNS`, optionally `refunded_at`; others are ignored).

    An empty currency means `default_currency`; a time without an offset is in `default_timezone`; an empty
    reference is derived from the row's content. Raises CsvFileError for the file as a whole.
    """
    parse_row = purchase_row_parser(default_currency=default_currency, default_timezone=default_timezone)
    result = parse_rows(data, PURCHASE_COLUMNS, parse_row, progress, optional=(REFUNDED_COLUMN,))
    reject_repeated_purchases(result)
    return result


def purchase_row_parser(
    *, default_currency: str, default_timezone: str
) -> Callable[[int, dict[str, str]], PurchaseRow]:
    """The check of one purchase record given as cells by column name (a CSV row, or a row another source sent):
    returns the row or raises ValueError naming every problem."""
    occurred = partial(parse_occurred_at, zone=ZoneInfo(default_timezone), now=utcnow())
    return partial(_purchase_row, currency=default_currency, occurred=occurred)


def reject_repeated_purchases(result: ParseResult[PurchaseRow]) -> None:
    """A purchase (telegram_id and reference) given twice: the first row stays, later ones are rejected."""
    reject_duplicates(result, key=lambda row: (row.telegram_id, row.reference), reason=_repeated_purchase)


@dataclass(frozen=True)
class _StoredPurchase:
    id: int
    amount: Decimal
    refunded: bool


async def _stored_purchases(
    session: AsyncSession, customers: dict[int, Customer]
) -> dict[tuple[int, str], _StoredPurchase]:
    """Every purchase the customers have, by (telegram_id, reference)."""
    telegram_id_of = {customer.id: telegram_id for telegram_id, customer in customers.items()}
    found: dict[tuple[int, str], _StoredPurchase] = {}
    for chunk in chunks(sorted({customer.id for customer in customers.values() if customer.id is not None}), IN_CHUNK):
        result = await session.execute(
            select(
                col(Purchase.id),
                col(Purchase.customer_id),
                col(Purchase.reference),
                col(Purchase.amount),
                col(Purchase.refunded_at),
            ).where(col(Purchase.customer_id).in_(chunk))
        )
        for purchase_id, customer_id, reference, amount, refunded_at in result:
            found[(telegram_id_of[customer_id], reference)] = _StoredPurchase(
                purchase_id, amount, refunded_at is not None
            )
    return found


async def _add_missing_customers(
    session: AsyncSession, customers: dict[int, Customer], telegram_ids: set[int], *, language: str | None
) -> int:
    """Create the customers not in `customers` yet and add them to it; returns how many were created."""
    missing = sorted(telegram_ids - customers.keys())
    template = new_customer_values(now=utcnow(), language=language)
    await bulk_insert(session, Customer, [{**template, "telegram_id": telegram_id} for telegram_id in missing])
    customers.update(await customers_by_telegram_id(session, missing, totals_only=True))
    return len(missing)


async def _insert_purchases(
    session: AsyncSession, customers: dict[int, Customer], rows: Sequence[PurchaseRow], progress: Progress | None
) -> None:
    now = utcnow()
    values: list[dict[str, object]] = [
        {
            "customer_id": customers[row.telegram_id].id,
            "amount": row.amount,
            "currency": row.currency,
            "occurred_at": row.occurred_at,
            "reference": row.reference,
            "note": row.note,
            "refunded_at": row.refunded_at,
            "created_at": now,
        }
        for row in rows
    ]
    for done in range(0, len(values), INSERT_CHUNK):
        await bulk_insert(session, Purchase, values[done : done + INSERT_CHUNK])
        if progress:
            progress(min(done + INSERT_CHUNK, len(values)))


@dataclass
class _PurchasePlan:
    customers: dict[int, Customer]  # the stored customers among the rows, by telegram_id
    new_rows: list[PurchaseRow] = field(default_factory=list)
    refunds: list[tuple[int, PurchaseRow]] = field(default_factory=list)  # (stored purchase id, row refunding it)
    unchanged: list[PurchaseRow] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)


async def _plan_purchases(session: AsyncSession, rows: Sequence[PurchaseRow]) -> _PurchasePlan:
    """Sort rows into new, refunds of stored purchases, already imported (same reference and amount, nothing to
    refund) and conflicting (another amount). An import never takes a refund back."""
    customers = await customers_by_telegram_id(session, (row.telegram_id for row in rows), totals_only=True, lock=True)
    stored = await _stored_purchases(session, customers)
    plan = _PurchasePlan(customers)
    for row in rows:
        purchase = stored.get((row.telegram_id, row.reference))
        if purchase is None:
            plan.new_rows.append(row)
        elif purchase.amount != row.amount:
            reason = (
                f"reference {row.reference} is already recorded for telegram_id {row.telegram_id}"
                f" with amount {purchase.amount}"
            )
            plan.rejections.append(Rejection(row.line, reason))
        elif row.refunded_at is not None and not purchase.refunded:
            plan.refunds.append((purchase.id, row))
        else:
            plan.unchanged.append(row)
    return plan


async def check_purchases(session: AsyncSession, rows: Sequence[PurchaseRow]) -> list[Rejection]:
    """The rows `apply_purchases` would reject (a stored reference with another amount); writes nothing."""
    return (await _plan_purchases(session, rows)).rejections


async def apply_purchases(
    session: AsyncSession,
    rows: Sequence[PurchaseRow],
    *,
    vip: VipThresholds,
    default_language: str | None = None,
    progress: Progress | None = None,
    reason: str = IMPORT_REASON,
) -> ImportSummary:
    """Record the purchases; each customer's totals and segment move once, with history reason `reason`.

    A telegram_id that is not a customer yet becomes one. A reference already recorded for the customer with the
    same amount is skipped; with another amount the row is rejected, and then nothing at all is written.
    A row with `refunded_at` is recorded as refunded then, counted back down as a refund is (or refunds the stored
    purchase that is not refunded yet); a refund already stored stays, whatever the row says.
    """
    plan = await _plan_purchases(session, rows)
    summary = ImportSummary(purchases_skipped=len(plan.unchanged), rejections=plan.rejections)
    if plan.rejections:
        return summary
    summary.outcomes = _outcomes(plan)
    customers, new_rows = plan.customers, plan.new_rows
    if any(row.telegram_id == ERASED_TELEGRAM_ID for row in new_rows):
        customers[ERASED_TELEGRAM_ID] = await erased_customers_record(session)
    summary.customers_created = await _add_missing_customers(
        session, customers, {row.telegram_id for row in new_rows}, language=default_language
    )
    await _insert_purchases(session, customers, new_rows, progress)
    await _refund_stored(session, plan.refunds)
    summary.purchases_imported = len(new_rows)
    summary.refunds_imported = sum(row.refunded_at is not None for row in new_rows) + len(plan.refunds)
    for telegram_id, (amount_delta, count_delta) in _totals(new_rows, [row for _, row in plan.refunds]).items():
        if telegram_id == ERASED_TELEGRAM_ID:
            continue  # anonymous amounts for the accounts: nobody's totals, no segment
        move = await apply_totals(
            session,
            customer=customers[telegram_id],
            amount_delta=amount_delta,
            count_delta=count_delta,
            vip=vip,
            reason=reason,
        )
        summary.segment_changes += move.changed
    await _insert_segment_history(session)
    await session.flush()
    return summary


def _outcomes(plan: _PurchasePlan) -> dict[int, PurchaseOutcome]:
    outcomes = {row.line: PurchaseOutcome.UNCHANGED for row in plan.unchanged}
    outcomes |= {row.line: PurchaseOutcome.REFUNDED for _, row in plan.refunds}
    outcomes |= {
        row.line: PurchaseOutcome.REFUNDED if row.refunded_at else PurchaseOutcome.CREATED for row in plan.new_rows
    }
    return outcomes


async def _insert_segment_history(session: AsyncSession) -> None:
    """Write the history rows `apply_totals` queued in the session with bulk INSERTs.

    The ORM would insert them one at a time on SQLite (to learn their ids): minutes for 100,000 customers.
    """
    queued = sorted(
        (change for change in session.new if isinstance(change, SegmentChange)), key=lambda change: change.customer_id
    )
    for change in queued:
        session.expunge(change)
    columns = ("customer_id", "from_segment", "to_segment", "reason", "changed_at")
    await bulk_insert(session, SegmentChange, [{name: getattr(change, name) for name in columns} for change in queued])


async def _refund_stored(session: AsyncSession, refunds: Sequence[tuple[int, PurchaseRow]]) -> None:
    if refunds:
        table = class_mapper(Purchase).local_table
        assert isinstance(table, Table)
        await session.execute(
            update(table)
            .where(table.c.id == bindparam("purchase_id"))
            .values(refunded_at=bindparam("refunded", type_=table.c.refunded_at.type)),
            [{"purchase_id": purchase_id, "refunded": row.refunded_at} for purchase_id, row in refunds],
        )


def _totals(new_rows: Sequence[PurchaseRow], refunds: Sequence[PurchaseRow]) -> dict[int, tuple[Decimal, int]]:
    """How much each telegram_id's (total spent, purchase count) moves: every new purchase counts up, every refund
    (of a new purchase or a stored one) counts back down."""
    totals: defaultdict[int, tuple[Decimal, int]] = defaultdict(lambda: (Decimal("0"), 0))
    moves = [(row, 1) for row in new_rows] + [(row, -1) for row in (*new_rows, *refunds) if row.refunded_at]
    for row, sign in moves:
        amount, count = totals[row.telegram_id]
        totals[row.telegram_id] = (amount + sign * row.amount, count + sign)
    return dict(totals)
