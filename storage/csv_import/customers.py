"""Customers from a CSV file: rows checked, then inserted or updated in bulk in the caller's transaction."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, date, datetime, tzinfo
from functools import partial
from zoneinfo import ZoneInfo

from sqlalchemy import Table, insert, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import class_mapper, load_only
from sqlmodel import SQLModel, col

from storage import agreements
from storage.agreements import parse_signed_on
from storage.csv_export import AGREEMENT_COLUMN, CUSTOMER_COLUMNS
from storage.csv_import.common import (
    IN_CHUNK,
    INSERT_CHUNK,
    PROGRESS_EVERY,
    TOTALS_COLUMNS,
    CustomerRow,
    ImportSummary,
    ParseResult,
    Progress,
    T,
)
from storage.csv_import.reading import (
    Cells,
    bounded_text,
    parse_rows,
    parse_telegram_id,
    parse_username,
    reject_duplicates,
)
from storage.models import Customer
from storage.types import utcnow
from storage.validation import (
    Birthday,
    normalise_email,
    normalise_language_field,
    normalise_phone,
    normalise_timezone,
    parse_birthday,
)

_CUSTOMER_FIELDS: dict[str, Callable[[str], str]] = {
    "first_name": partial(bounded_text, Customer, "first_name"),
    "last_name": partial(bounded_text, Customer, "last_name"),
    "username": parse_username,
    "phone": normalise_phone,
    "email": normalise_email,
    "language": normalise_language_field,
    "timezone": normalise_timezone,
}


def _customer_row(line: int, cells: dict[str, str], *, birthday: Callable[[str], Birthday], today: date) -> CustomerRow:
    row = Cells(cells)
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
    result = parse_rows(data, CUSTOMER_COLUMNS, parse_row, progress, optional=(AGREEMENT_COLUMN,))
    reject_duplicates(
        result,
        key=lambda row: row.telegram_id,
        reason=lambda row, line: f"telegram_id {row.telegram_id} already appears on line {line}",
    )
    return result


def new_customer_values(*, now: datetime, language: str | None) -> dict[str, object]:
    """The columns of a new customer as the model's defaults make them, telegram_id aside."""
    customer = Customer(telegram_id=0, created_at=now, updated_at=now, segment_since=now)
    if language:
        customer.language = language
    return customer.model_dump(exclude={"id", "telegram_id"})


async def bulk_insert(session: AsyncSession, model: type[SQLModel], values: Sequence[dict[str, object]]) -> None:
    """Plain INSERTs in batches, not fetching ids: SQLite would insert ORM objects one row at a time to return them."""
    table = class_mapper(model).local_table
    assert isinstance(table, Table)
    for chunk in chunks(values, INSERT_CHUNK):
        await session.execute(insert(table), list(chunk))


def _assign(customer: Customer, values: dict[str, str | int | None]) -> bool:
    """Set the values that differ; returns whether anything changed."""
    changed = {name: value for name, value in values.items() if getattr(customer, name) != value}
    for name, value in changed.items():
        setattr(customer, name, value)
    return bool(changed)


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


async def customers_by_telegram_id(
    session: AsyncSession, telegram_ids: Iterable[int], *, totals_only: bool = False, lock: bool = False
) -> dict[int, Customer]:
    """The stored customers among `telegram_ids`; `totals_only` loads just what `apply_totals` reads (faster).

    `lock` reads them afresh and, on PostgreSQL, locks their rows until the transaction ends (in telegram_id
    order), so that a concurrent purchase of the same customer waits instead of moving stale totals.
    """
    query = select(Customer)
    if totals_only:
        query = query.options(load_only(*(getattr(Customer, name) for name in TOTALS_COLUMNS)))
    if lock:
        query = query.order_by(col(Customer.telegram_id)).with_for_update().execution_options(populate_existing=True)
    found: dict[int, Customer] = {}
    for chunk in chunks(sorted(set(telegram_ids)), IN_CHUNK):
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
    existing = await customers_by_telegram_id(session, (row.telegram_id for row in rows))
    now = utcnow()
    template = new_customer_values(now=now, language=default_language)
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
        if progress and done % PROGRESS_EVERY == 0:
            progress(done)
    await bulk_insert(session, Customer, new)
    summary.customers_created = len(new)
    await session.flush()
    signed = [row for row in rows if row.agreement_signed_on is not None]
    if signed:
        ids = await customers_by_telegram_id(session, (row.telegram_id for row in signed), totals_only=True)
        pairs = [(ids[row.telegram_id].id, row.agreement_signed_on) for row in signed]
        await agreements.record_offline_many(
            session,
            [(cid, day) for cid, day in pairs if cid is not None and day is not None],
            years=agreement_years,
            zone=zone,
        )
    return summary
