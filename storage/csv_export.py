"""CSV files Carebot writes: UTF-8 with a BOM for Excel, formula cells neutralised; the exports of customers,
purchases, tickets and survey answers."""

from __future__ import annotations

import csv
import io
from collections.abc import Collection, Iterable, Sequence
from datetime import UTC, datetime, tzinfo
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from storage import agreements
from storage.customers import is_person
from storage.models import Customer, Purchase, SurveyResponse, Ticket
from storage.staff import customers_only

CUSTOMER_COLUMNS = (
    "telegram_id",
    "first_name",
    "last_name",
    "username",
    "phone",
    "email",
    "birthday",
    "language",
    "timezone",
)
AGREEMENT_COLUMN = "agreement_signed_on"  # optional on import: the customer agreement signed offline that day
CUSTOMER_EXPORT_COLUMNS = (
    *CUSTOMER_COLUMNS,
    "segment",
    "total_spent",
    "purchase_count",
    "created_at",
    *agreements.EXPORT_COLUMNS,
)
PURCHASE_COLUMNS = ("telegram_id", "amount", "currency", "occurred_at", "reference", "note")
REFUNDED_COLUMN = "refunded_at"  # optional on import: the purchase was refunded at that moment

BOM = "\ufeff"
# A spreadsheet treats a cell starting with one of these as a formula (tab and CR can hide one).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise_cell(value: object) -> str:
    """The cell as text, prefixed with `'` when a spreadsheet would read it as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def restore_cell(text: str) -> str:
    """Undo `neutralise_cell`, so that an export imports back to the same values."""
    return text[1:] if text.startswith("'") and text[1:].startswith(FORMULA_STARTS) else text


def csv_bytes(header: Sequence[str], rows: Iterable[Sequence[object]]) -> bytes:
    """A CSV file Excel opens as UTF-8 (BOM, CRLF), every cell neutralised against formula injection."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows([neutralise_cell(value) for value in row] for row in rows)
    return (BOM + buffer.getvalue()).encode("utf-8")


def customer_row(customer: Customer, agreement: tuple[str, str] = ("", "")) -> tuple[object, ...]:
    """One customer in `CUSTOMER_EXPORT_COLUMNS` order; `agreement` is (version, valid until) if one counts."""
    return (
        customer.telegram_id,
        customer.first_name,
        customer.last_name,
        customer.username,
        customer.phone,
        customer.email,
        customer.birthday_text,
        customer.language,
        customer.timezone,
        customer.segment,
        customer.total_spent,
        customer.purchase_count,
        customer.created_at.isoformat(timespec="seconds"),
        *agreement,
    )


async def export_customers(session: AsyncSession, *, zone: tzinfo = UTC, admin_ids: Collection[int] = ()) -> bytes:
    """Every customer (staff are not, `customers_only`), oldest first, as a CSV file that `parse_customers_csv`
    reads back to the same data, with the agreement version that counts for them and the day (in `zone`) it ends."""
    query = select(Customer).where(is_person(), customers_only(admin_ids)).order_by(Customer.id)  # type: ignore[arg-type]
    customers = list(await session.scalars(query))
    signed = await agreements.export_values_many(session, customer_ids=[c.id for c in customers if c.id], zone=zone)
    rows = (customer_row(customer, signed.get(customer.id or 0, ("", ""))) for customer in customers)
    return csv_bytes(CUSTOMER_EXPORT_COLUMNS, rows)


async def _query_csv(session: AsyncSession, header: Sequence[str], query: Select[Any]) -> bytes:
    """The rows of `query` as a CSV file; times in ISO 8601 with their UTC offset, so that they import back to the
    same instants whatever the time zone setting."""
    result = await session.execute(query)
    return csv_bytes(header, ([_iso(value) for value in row] for row in result))


def _iso(value: object) -> object:
    return value.isoformat() if isinstance(value, datetime) else value


PURCHASE_EXPORT_COLUMNS = (*PURCHASE_COLUMNS, REFUNDED_COLUMN)


async def export_purchases(session: AsyncSession) -> bytes:
    """Every purchase, oldest first, refunded ones with their `refunded_at`: what `parse_purchases_csv` reads."""
    return await _query_csv(
        session,
        PURCHASE_EXPORT_COLUMNS,
        select(
            col(Customer.telegram_id),
            col(Purchase.amount),
            col(Purchase.currency),
            col(Purchase.occurred_at),
            col(Purchase.reference),
            col(Purchase.note),
            col(Purchase.refunded_at),
        )
        .join(Customer, col(Customer.id) == col(Purchase.customer_id))
        .order_by(col(Purchase.occurred_at), col(Purchase.id)),
    )


TICKET_EXPORT_COLUMNS = (
    "ticket",
    "telegram_id",
    "category",
    "status",
    "assignee_telegram_id",
    "opened_at",
    "first_response_at",
    "resolved_at",
    "closed_at",
)


async def export_tickets(session: AsyncSession) -> bytes:
    """Every ticket's facts (numbers, people, times); the conversation itself stays in the chat."""
    return await _query_csv(
        session,
        TICKET_EXPORT_COLUMNS,
        select(
            col(Ticket.id),
            col(Customer.telegram_id),
            col(Ticket.category),
            col(Ticket.status),
            col(Ticket.assignee_telegram_id),
            col(Ticket.opened_at),
            col(Ticket.first_response_at),
            col(Ticket.resolved_at),
            col(Ticket.closed_at),
        )
        .join(Customer, col(Customer.id) == col(Ticket.customer_id))
        .order_by(col(Ticket.id)),
    )


SURVEY_EXPORT_COLUMNS = ("kind", "telegram_id", "ticket", "staff_telegram_id", "score", "comment", "created_at")


async def export_surveys(session: AsyncSession) -> bytes:
    """Every survey answer (CSAT and NPS), oldest first."""
    return await _query_csv(
        session,
        SURVEY_EXPORT_COLUMNS,
        select(
            col(SurveyResponse.kind),
            col(Customer.telegram_id),
            col(SurveyResponse.ticket_id),
            col(SurveyResponse.staff_telegram_id),
            col(SurveyResponse.score),
            col(SurveyResponse.comment),
            col(SurveyResponse.created_at),
        )
        .outerjoin(Customer, col(Customer.id) == col(SurveyResponse.customer_id))
        .order_by(col(SurveyResponse.created_at), col(SurveyResponse.id)),
    )


EXPORTS = {
    "customers": export_customers,
    "purchases": export_purchases,
    "tickets": export_tickets,
    "surveys": export_surveys,
}
