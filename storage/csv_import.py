"""Importing customers and purchases from CSV files: every row is checked first, then applied in bulk.

Parsing is pure (bytes in, accepted rows and rejections out) so the CLI and a chat command share it; the `apply_*`
functions write in the caller's transaction and write nothing when they reject a row.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, tzinfo
from decimal import Decimal
from enum import StrEnum
from functools import cache, partial
from typing import Generic, Protocol, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import class_mapper, load_only
from sqlmodel import SQLModel, col

from storage import agreements
from storage.agreements import parse_signed_on
from storage.csv_export import AGREEMENT_COLUMN, CUSTOMER_COLUMNS, PURCHASE_COLUMNS, REFUNDED_COLUMN, restore_cell
from storage.customers import ERASED_TELEGRAM_ID
from storage.models import Customer, Purchase, SegmentChange
from storage.privacy import erased_customers_record
from storage.segments import VipThresholds, apply_totals
from storage.types import utcnow
from storage.validation import (
    Birthday,
    normalise_email,
    normalise_language_field,
    normalise_phone,
    normalise_timezone,
    parse_birthday,
)

__all__ = [
    "CUSTOMER_COLUMNS",
    "MAX_IMPORT_BYTES",
    "PURCHASE_COLUMNS",
    "CsvFileError",
    "CustomerRow",
    "ImportSummary",
    "ParseResult",
    "PurchaseOutcome",
    "PurchaseRow",
    "Rejection",
    "apply_customers",
    "apply_purchases",
    "check_purchases",
    "check_size",
    "derived_reference",
    "parse_amount",
    "parse_currency",
    "parse_customers_csv",
    "parse_occurred_at",
    "parse_purchases_csv",
    "parse_telegram_id",
    "purchase_row_parser",
    "reject_repeated_purchases",
]

MEGABYTE = 1024 * 1024
MAX_IMPORT_BYTES = 50 * MEGABYTE
GENERATED_REFERENCE_PREFIX = "csv-"
IMPORT_REASON = "import"
_IN_CHUNK = 900  # ids per IN (...) query: below every SQLite version's limit of 999 parameters
_INSERT_CHUNK = 5_000
_PROGRESS_EVERY = 1_000
_CENT = Decimal("0.01")
_MAX_AMOUNT = Decimal("1e12")  # NUMERIC(14, 2)
_TOTALS_COLUMNS = ("id", "telegram_id", "segment", "total_spent", "purchase_count")

Progress = Callable[[int], None]
"""Called now and then with the number of rows done so far."""


class CsvFileError(ValueError):
    """The file as a whole cannot be read (size, encoding, header); the message says why in one line."""


@dataclass(frozen=True, order=True)
class Rejection:
    line: int  # the file's line number; the header is line 1
    reason: str


@dataclass
class CustomerRow:
    line: int
    telegram_id: int
    values: dict[str, str | int | None]  # Customer attributes from the row's non-empty cells
    agreement_signed_on: date | None = None  # the customer agreement signed on paper or elsewhere


@dataclass(frozen=True)
class PurchaseRow:
    line: int
    telegram_id: int
    amount: Decimal
    currency: str
    occurred_at: datetime  # UTC
    reference: str
    note: str | None
    refunded_at: datetime | None = None  # UTC; the purchase is imported as refunded at that moment


class _Row(Protocol):
    @property
    def line(self) -> int: ...


RowT = TypeVar("RowT", bound=_Row)
T = TypeVar("T")


@dataclass
class ParseResult(Generic[RowT]):
    rows: list[RowT] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)


class PurchaseOutcome(StrEnum):
    CREATED = "created"  # a new purchase
    REFUNDED = "refunded"  # a stored purchase refunded now, or a new one recorded as refunded
    UNCHANGED = "unchanged"  # already recorded as the row says


@dataclass
class ImportSummary:
    customers_created: int = 0
    customers_updated: int = 0
    customers_unchanged: int = 0
    purchases_imported: int = 0
    purchases_skipped: int = 0
    refunds_imported: int = 0  # purchases recorded as refunded: new ones, or stored ones the file says were refunded
    segment_changes: int = 0
    rejections: list[Rejection] = field(default_factory=list)
    outcomes: dict[int, PurchaseOutcome] = field(default_factory=dict)  # what became of each purchase row, by line


# --- reading the file ---------------------------------------------------------------------------------------------


def check_size(size: int) -> None:
    if size > MAX_IMPORT_BYTES:
        raise CsvFileError(
            f"the file is {size / MEGABYTE:.1f} MB; at most {MAX_IMPORT_BYTES // MEGABYTE} MB can be imported at once"
            " (split it into smaller files)"
        )


def _decode(data: bytes) -> str:
    check_size(len(data))
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise CsvFileError(f"the file is not UTF-8 (line {line}); save it as “CSV UTF-8” and import it again") from None


def _header(reader: Iterator[list[str]], columns: Sequence[str]) -> list[str]:
    first = next(reader, None)
    if first is None:
        raise CsvFileError(f"the file is empty; its first line must name the columns {','.join(columns)}")
    header = [name.strip().lower() for name in first]
    missing = [name for name in columns if name not in header]
    if missing:
        hint = " (the file uses ';' between cells: save it with ',')" if len(first) == 1 and ";" in first[0] else ""
        raise CsvFileError(f"missing column(s): {', '.join(missing)}{hint}")
    doubled = [name for name in columns if header.count(name) > 1]
    if doubled:
        raise CsvFileError(f"column(s) named more than once: {', '.join(doubled)}")
    return header


def _records(reader: Iterator[list[str]], line_num: Callable[[], int]) -> Iterator[tuple[int, list[str]]]:
    """(the line a record starts on, its cells) for every record that is not blank."""
    line = line_num()
    try:
        for cells in reader:
            start, line = line + 1, line_num()
            if any(cell.strip() for cell in cells):
                yield start, cells
    except csv.Error as exc:
        raise CsvFileError(f"line {line + 1}: {exc}") from None


def _cells_by_name(cells: list[str], header: list[str], columns: Sequence[str]) -> dict[str, str]:
    extra = cells[len(header) :]
    if len(cells) < len(header) or any(cell.strip() for cell in extra):
        raise ValueError(f"the row has {len(cells)} cells but the header has {len(header)}")
    return {
        name: restore_cell(cell.strip()).strip() for name, cell in zip(header, cells, strict=False) if name in columns
    }


def _parse(
    data: bytes,
    columns: Sequence[str],
    parse_row: Callable[[int, dict[str, str]], RowT],
    progress: Progress | None,
    *,
    optional: Sequence[str] = (),
) -> ParseResult[RowT]:
    result: ParseResult[RowT] = ParseResult()
    reader = csv.reader(io.StringIO(_decode(data), newline=""))
    try:
        header = _header(reader, columns)
    except csv.Error as exc:
        raise CsvFileError(f"line 1: {exc}") from None
    for count, (line, cells) in enumerate(_records(reader, lambda: reader.line_num), 1):
        try:
            result.rows.append(parse_row(line, _cells_by_name(cells, header, (*columns, *optional))))
        except ValueError as exc:
            result.rejections.append(Rejection(line, str(exc)))
        if progress and count % _PROGRESS_EVERY == 0:
            progress(count)
    if progress:
        progress(len(result.rows) + len(result.rejections))
    return result


def _reject_duplicates(
    result: ParseResult[RowT], key: Callable[[RowT], Hashable], reason: Callable[[RowT, int], str]
) -> None:
    """Keep the first row of each key; later ones are rejected, naming the line they repeat."""
    first_line: dict[Hashable, int] = {}
    kept: list[RowT] = []
    for row in result.rows:
        line = first_line.setdefault(key(row), row.line)
        if line == row.line:
            kept.append(row)
        else:
            result.rejections.append(Rejection(row.line, reason(row, line)))
    result.rows = kept
    result.rejections.sort()


class _Cells:
    """One record's cells by column name; collects every field's problem so that a rejection names them all."""

    def __init__(self, cells: dict[str, str]) -> None:
        self._cells = cells
        self._errors: list[str] = []

    def get(self, name: str, parse: Callable[[str], T], *, required: bool = False) -> T | None:
        text = self._cells.get(name, "")
        if not text:
            if required:
                self._errors.append(f"{name} is required")
            return None
        try:
            return parse(text)
        except ValueError as exc:
            shown = text if len(text) <= 40 else text[:39] + "…"
            self._errors.append(f"{exc} (got {shown!r})")
            return None

    def check(self) -> None:
        if self._errors:
            raise ValueError("; ".join(self._errors))


# --- field rules that only CSV files need (shared ones live in storage.validation) ----------------------------------


@cache
def _max_length(model: type[SQLModel], column: str) -> int:
    length = getattr(class_mapper(model).columns[column].type, "length", None)
    assert isinstance(length, int), f"{model.__name__}.{column} has no length"
    return length


def _text(model: type[SQLModel], column: str, text: str) -> str:
    limit = _max_length(model, column)
    if len(text) > limit:
        raise ValueError(f"{column} is longer than {limit} characters")
    return text


def _username(text: str) -> str:
    return _text(Customer, "username", text.removeprefix("@"))


_TELEGRAM_ID = re.compile(r"\d{1,15}")
_AMOUNT = re.compile(r"[-+]?\d+(?:\.(\d+))?")
_CURRENCY = re.compile(r"[A-Z]{3}")


def parse_telegram_id(text: str) -> int:
    if not _TELEGRAM_ID.fullmatch(text) or int(text) == 0:
        raise ValueError("telegram_id must be a positive whole number")
    return int(text)


def parse_buyer_telegram_id(text: str) -> int:
    """A purchase's telegram_id; 0 is the export's name for erased customers, whose purchases stay anonymous."""
    return ERASED_TELEGRAM_ID if text.strip() == str(ERASED_TELEGRAM_ID) else parse_telegram_id(text)


def parse_amount(text: str) -> Decimal:
    """A positive decimal with `.` and at most 2 decimals, e.g. `199.90`."""
    match = _AMOUNT.fullmatch(text)
    if not match:
        raise ValueError("amount must be a number such as 199.90 (with '.', no thousands separators)")
    if match[1] and len(match[1]) > 2:
        raise ValueError("amount has more than 2 decimals")
    amount = Decimal(text)
    if amount <= 0:
        raise ValueError("amount must be positive")
    if amount >= _MAX_AMOUNT:
        raise ValueError("amount is too large")
    return amount.quantize(_CENT)


def parse_currency(text: str) -> str:
    if not _CURRENCY.fullmatch(text):
        raise ValueError("currency must be 3 capital letters such as CNY")
    return text


def parse_occurred_at(text: str, *, zone: ZoneInfo, now: datetime, column: str = "occurred_at") -> datetime:
    """An ISO 8601 date or date-time, in `zone` unless it carries an offset; returned in UTC."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{column} must be an ISO 8601 date or date-time such as 2024-05-01T14:30") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone)
    value = value.astimezone(UTC)
    if value > now:
        raise ValueError(f"{column} is in the future")
    return value


def derived_reference(
    *, telegram_id: int, amount: Decimal, currency: str, occurred_at: datetime, note: str | None
) -> str:
    """A reference made from a row's content, so that re-importing a row without one finds it again."""
    content = "|".join(
        (str(telegram_id), f"{amount:.2f}", currency, occurred_at.astimezone(UTC).isoformat(), note or "")
    )
    return GENERATED_REFERENCE_PREFIX + hashlib.sha1(content.encode(), usedforsecurity=False).hexdigest()[:16]


# --- customers -----------------------------------------------------------------------------------------------------

_CUSTOMER_FIELDS: dict[str, Callable[[str], str]] = {
    "first_name": partial(_text, Customer, "first_name"),
    "last_name": partial(_text, Customer, "last_name"),
    "username": _username,
    "phone": normalise_phone,
    "email": normalise_email,
    "language": normalise_language_field,
    "timezone": normalise_timezone,
}


def _customer_row(line: int, cells: dict[str, str], *, birthday: Callable[[str], Birthday], today: date) -> CustomerRow:
    row = _Cells(cells)
    telegram_id = row.get("telegram_id", parse_telegram_id, required=True)
    values: dict[str, str | int | None] = {}
    for name, parse in _CUSTOMER_FIELDS.items():
        value = row.get(name, parse)
        if value is not None:
            values[name] = value
    born = row.get("birthday", birthday)
    if born is not None:
        values |= {"birth_year": born.year, "birth_month": born.month, "birth_day": born.day}
    signed_on = row.get(AGREEMENT_COLUMN, partial(parse_signed_on, today=today))
    row.check()
    assert telegram_id is not None
    return CustomerRow(line=line, telegram_id=telegram_id, values=values, agreement_signed_on=signed_on)


def parse_customers_csv(
    data: bytes, *, default_timezone: str, progress: Progress | None = None
) -> ParseResult[CustomerRow]:
    """Check every row of a customers file (`CUSTOMER_COLUMNS`; extra columns are ignored).

    `default_timezone` decides what "today" is when checking birthdays. Raises CsvFileError for the file as a whole.
    """
    today = datetime.now(ZoneInfo(default_timezone)).date()
    parse_row = partial(_customer_row, birthday=partial(parse_birthday, today=today), today=today)
    result = _parse(data, CUSTOMER_COLUMNS, parse_row, progress, optional=(AGREEMENT_COLUMN,))
    _reject_duplicates(
        result,
        key=lambda row: row.telegram_id,
        reason=lambda row, line: f"telegram_id {row.telegram_id} already appears on line {line}",
    )
    return result


def _new_customer_values(*, now: datetime, language: str | None) -> dict[str, object]:
    """The columns of a new customer as the model's defaults make them, telegram_id aside."""
    customer = Customer(telegram_id=0, created_at=now, updated_at=now, segment_since=now)
    if language:
        customer.language = language
    return customer.model_dump(exclude={"id", "telegram_id"})


async def _bulk_insert(session: AsyncSession, model: type[SQLModel], values: Sequence[dict[str, object]]) -> None:
    """Plain INSERTs in batches, not fetching ids: SQLite would insert ORM objects one row at a time to return them."""
    table = class_mapper(model).local_table
    assert isinstance(table, Table)
    for chunk in _chunks(values, _INSERT_CHUNK):
        await session.execute(insert(table), list(chunk))


def _assign(customer: Customer, values: dict[str, str | int | None]) -> bool:
    """Set the values that differ; returns whether anything changed."""
    changed = {name: value for name, value in values.items() if getattr(customer, name) != value}
    for name, value in changed.items():
        setattr(customer, name, value)
    return bool(changed)


def _chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


async def _customers_by_telegram_id(
    session: AsyncSession, telegram_ids: Iterable[int], *, totals_only: bool = False, lock: bool = False
) -> dict[int, Customer]:
    """The stored customers among `telegram_ids`; `totals_only` loads just what `apply_totals` reads (faster).

    `lock` reads them afresh and, on PostgreSQL, locks their rows until the transaction ends (in telegram_id
    order), so that a concurrent purchase of the same customer waits instead of moving stale totals.
    """
    query = select(Customer)
    if totals_only:
        query = query.options(load_only(*(getattr(Customer, name) for name in _TOTALS_COLUMNS)))
    if lock:
        query = query.order_by(col(Customer.telegram_id)).with_for_update().execution_options(populate_existing=True)
    found: dict[int, Customer] = {}
    for chunk in _chunks(sorted(set(telegram_ids)), _IN_CHUNK):
        result = await session.scalars(query.where(col(Customer.telegram_id).in_(chunk)))
        found.update((customer.telegram_id, customer) for customer in result)
    return found


async def apply_customers(
    session: AsyncSession,
    rows: Sequence[CustomerRow],
    *,
    default_language: str | None = None,
    progress: Progress | None = None,
    agreement_years: int = 1,
    zone: tzinfo = UTC,
) -> ImportSummary:
    """Upsert by telegram_id: non-empty cells overwrite stored values, empty cells keep them.

    New customers get `default_language` unless their row names one (None: the model's default).
    An `agreement_signed_on` cell records the customer agreement as signed offline that day (in `zone`).
    """
    summary = ImportSummary()
    existing = await _customers_by_telegram_id(session, (row.telegram_id for row in rows))
    now = utcnow()
    template = _new_customer_values(now=now, language=default_language)
    new: list[dict[str, object]] = []
    for done, row in enumerate(rows, 1):
        customer = existing.get(row.telegram_id)
        if customer is None:
            new.append({**template, "telegram_id": row.telegram_id, **row.values})
        elif _assign(customer, row.values):
            customer.updated_at = now
            summary.customers_updated += 1
        else:
            summary.customers_unchanged += 1
        if progress and done % _PROGRESS_EVERY == 0:
            progress(done)
    await _bulk_insert(session, Customer, new)
    summary.customers_created = len(new)
    await session.flush()
    signed = [row for row in rows if row.agreement_signed_on is not None]
    if signed:
        ids = await _customers_by_telegram_id(session, (row.telegram_id for row in signed), totals_only=True)
        pairs = [(ids[row.telegram_id].id, row.agreement_signed_on) for row in signed]
        await agreements.record_offline_many(
            session,
            [(cid, day) for cid, day in pairs if cid is not None and day is not None],
            years=agreement_years,
            zone=zone,
        )
    return summary


# --- purchases -----------------------------------------------------------------------------------------------------


_REFERENCE = partial(_text, Purchase, "reference")
_NOTE = partial(_text, Purchase, "note")


def _purchase_row(line: int, cells: dict[str, str], *, currency: str, occurred: Callable[..., datetime]) -> PurchaseRow:
    row = _Cells(cells)
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
    result = _parse(data, PURCHASE_COLUMNS, parse_row, progress, optional=(REFUNDED_COLUMN,))
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
    _reject_duplicates(result, key=lambda row: (row.telegram_id, row.reference), reason=_repeated_purchase)


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
    for chunk in _chunks(
        sorted({customer.id for customer in customers.values() if customer.id is not None}), _IN_CHUNK
    ):
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
    template = _new_customer_values(now=utcnow(), language=language)
    await _bulk_insert(session, Customer, [{**template, "telegram_id": telegram_id} for telegram_id in missing])
    customers.update(await _customers_by_telegram_id(session, missing, totals_only=True))
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
    for done in range(0, len(values), _INSERT_CHUNK):
        await _bulk_insert(session, Purchase, values[done : done + _INSERT_CHUNK])
        if progress:
            progress(min(done + _INSERT_CHUNK, len(values)))


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
    customers = await _customers_by_telegram_id(session, (row.telegram_id for row in rows), totals_only=True, lock=True)
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
    await _bulk_insert(session, SegmentChange, [{name: getattr(change, name) for name in columns} for change in queued])


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
