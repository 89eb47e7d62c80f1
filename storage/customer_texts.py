"""The common cases of many customers writing at once, filed in a few set-based statements on the hot path's
connection (the fast lane's group commit, bot/tickets/filing.py): texts to a customer's open ticket, and the
first text of a customer with no ticket to join, which opens one. The same result as `touch_customer` and
`file_customer_message` one message at a time; every other case is left to the handlers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from storage import staff_deliveries
from storage.models import Segment, TicketCategory, TicketStatus
from storage.raw import Tx
from storage.tickets import ACTIVE, IncomingMessage
from storage.types import clean_text, read_utc, utcnow

OPEN = TicketStatus.OPEN.value
OTHER = TicketCategory.OTHER.value
CHUNK = 500  # rows a statement (SQLite takes at most 32,766 parameters)
CUSTOMER_TYPES = (
    *("bigint", "varchar", "varchar", "timestamp", "numeric", "integer", "boolean", "boolean"),
    *("timestamp", "timestamp", "timestamp", "timestamp"),
)


@dataclass(frozen=True)
class TextRun:
    """A customer's next texts (in order), who they are on Telegram now, and the language a customer seen for the
    first time gets."""

    telegram_id: int
    first_name: str | None
    last_name: str | None
    username: str | None
    texts: Sequence[IncomingMessage]
    language: str


@dataclass(frozen=True)
class FiledRun:
    """Where a run of texts went: its ticket, and whether the first text opened it (the customer is told)."""

    customer_id: int
    ticket_id: int
    opened: bool
    language: str
    timezone: str | None
    segment: str


@dataclass(frozen=True)
class _Found:
    customer_id: int
    language: str
    timezone: str | None
    segment: str
    ticket_id: int | None
    status: str | None
    closed_at: datetime | None
    inbox_chat_id: int | None
    dialog: bool


async def file_texts(
    tx: Tx, *, runs: Sequence[TextRun], reopen_days: int, auto_assign: bool, now: datetime | None = None
) -> dict[int, FiledRun]:
    """File each run whose customer's latest ticket is open, or who has no ticket to join (none, or one closed
    longer ago than `reopen_days`) and whose first text neither the FAQ (entries in their language) nor routing
    (`auto_assign` with an agent's inbox open) would handle differently; no dialog step may wait for them. Their
    texts are stored and queued for staff, customers met for the first time are created. Returns the filed runs
    by Telegram id; the others are left alone (theirs is another case).
    """
    moment = now or utcnow()
    at = tx.at(moment)
    by_customer = {run.telegram_id: run for run in runs}
    if not by_customer:
        return {}
    order = sorted(by_customer)  # every batch holds its customers in this order: none waits on another in a circle
    await _touch(tx, [by_customer[telegram_id] for telegram_id in order], at)
    found = await _found(tx, order)
    opening = [
        telegram_id
        for telegram_id, row in found.items()
        if not row.dialog and _starts_ticket(row, moment, reopen_days) and by_customer[telegram_id].texts
    ]
    opening = await _left_to_faq_and_routing(tx, opening, found, auto_assign)
    joining = [
        telegram_id for telegram_id, row in found.items() if not row.dialog and row.status == OPEN and row.ticket_id
    ]
    targets: dict[int, tuple[int, int | None]] = {}  # Telegram id -> (ticket, inbox)
    if joining:
        among, ticket_ids = tx.among([found[telegram_id].ticket_id for telegram_id in joining], "integer")
        still_open = await tx.rows(  # staff may have answered or closed one a moment ago
            "UPDATE tickets SET updated_at = ?, resolved_at = NULL, closed_at = NULL"
            f" WHERE id {among} AND status = ? RETURNING id",
            at,
            *ticket_ids,
            OPEN,
        )
        open_ids = {ticket_id for (ticket_id,) in still_open}
        for telegram_id in joining:
            row = found[telegram_id]
            if row.ticket_id is not None and row.ticket_id in open_ids:
                targets[telegram_id] = (row.ticket_id, row.inbox_chat_id)
    opened = await _open_tickets(tx, [found[telegram_id].customer_id for telegram_id in opening], at)
    for telegram_id in opening:
        targets[telegram_id] = (opened[found[telegram_id].customer_id], None)
    if not targets:
        return {}
    stored = await _store_texts(tx, [(ticket_id, by_customer[t]) for t, (ticket_id, _) in targets.items()], at)
    for telegram_id in opening:
        first = by_customer[telegram_id].texts[0]
        if (first.chat_id, first.message_id) not in stored:
            raise FiledBefore  # no fresh update brings a stored text: the batch is undone, the handlers decide
    inboxes = dict(targets.values())
    copies = [
        (ticket_id, stored[key], inboxes.get(ticket_id))
        for ticket_id, run in ((ticket_id, by_customer[t]) for t, (ticket_id, _) in targets.items())
        for incoming in run.texts
        if (key := (incoming.chat_id, incoming.message_id)) in stored
    ]
    await staff_deliveries.enqueue_copies(tx, copies=copies)
    return {
        telegram_id: FiledRun(
            found[telegram_id].customer_id,
            ticket_id,
            telegram_id in opening,
            found[telegram_id].language,
            found[telegram_id].timezone,
            found[telegram_id].segment,
        )
        for telegram_id, (ticket_id, _) in targets.items()
    }


class FiledBefore(Exception):
    """A text that would open a ticket is stored already."""


async def _touch(tx: Tx, runs: Sequence[TextRun], at: object) -> None:
    """Customers met for the first time created, everyone's Telegram names and last contact refreshed."""
    for start in range(0, len(runs), CHUNK):
        table, params = tx.table(
            [
                (run.telegram_id, run.language, Segment.POTENTIAL.value, at, 0, 0, False, False, at, at, at, at)
                for run in runs[start : start + CHUNK]
            ],
            CUSTOMER_TYPES,
        )
        await tx.run(
            "INSERT INTO customers (telegram_id, language, segment, segment_since, total_spent, purchase_count,"
            f" proactive_opt_out, unreachable, consent_at, created_at, updated_at, last_contact_at) {table}"
            " ON CONFLICT (telegram_id) DO NOTHING",
            *params,
        )
    await tx.many(
        "UPDATE customers SET first_name = ?, last_name = ?, username = ?, last_contact_at = ?, updated_at = ?"
        " WHERE telegram_id = ?",
        [
            (clean_text(run.first_name), clean_text(run.last_name), clean_text(run.username), at, at, run.telegram_id)
            for run in runs
        ],
    )


async def _found(tx: Tx, telegram_ids: Sequence[int]) -> dict[int, _Found]:
    """Each customer with their latest ticket and whether a dialog step waits for them."""
    among, params = tx.among(telegram_ids, "bigint")
    rows = await tx.rows(
        "SELECT c.telegram_id, c.id, c.language, c.timezone, c.segment, t.id, t.status, t.closed_at, t.inbox_chat_id,"
        " EXISTS (SELECT 1 FROM pending_inputs p WHERE p.chat_id = c.telegram_id AND p.user_id = c.telegram_id)"
        " FROM customers c LEFT JOIN tickets t"
        " ON t.id = (SELECT max(newer.id) FROM tickets newer WHERE newer.customer_id = c.id)"
        f" WHERE c.telegram_id {among}",
        *params,
    )
    return {
        row[0]: _Found(row[1], row[2], row[3], row[4], row[5], row[6], read_utc(row[7]), row[8], bool(row[9]))
        for row in rows
    }


def _starts_ticket(row: _Found, now: datetime, reopen_days: int) -> bool:
    """No ticket for the text to join (`storage.tickets.current_ticket` would find none)."""
    if row.ticket_id is None:
        return True
    if row.status in ACTIVE:
        return False
    return row.closed_at is None or now - row.closed_at > timedelta(days=reopen_days)


async def _left_to_faq_and_routing(
    tx: Tx, opening: list[int], found: dict[int, _Found], auto_assign: bool
) -> list[int]:
    """The customers whose new ticket needs neither an FAQ look (entries in their language) nor routing (someone
    could be assigned): the others go through the handlers."""
    if not opening:
        return []
    if auto_assign and await tx.rows("SELECT 1 FROM agents WHERE inbox_open = ? LIMIT 1", True):
        return []
    faq_languages = {language for (language,) in await tx.rows("SELECT DISTINCT language FROM faq_entries")}
    return [telegram_id for telegram_id in opening if found[telegram_id].language not in faq_languages]


async def _open_tickets(tx: Tx, customer_ids: Sequence[int], at: object) -> dict[int, int]:
    """A new ticket for each customer; their ids by customer."""
    opened: dict[int, int] = {}
    for start in range(0, len(customer_ids), CHUNK):
        table, params = tx.table(
            [(customer_id, OTHER, OPEN, at, at, at) for customer_id in customer_ids[start : start + CHUNK]],
            ("integer", "varchar", "varchar", "timestamp", "timestamp", "timestamp"),
        )
        rows = await tx.rows(
            f"INSERT INTO tickets (customer_id, category, status, opened_at, waiting_since, updated_at) {table}"
            " RETURNING id, customer_id",
            *params,
        )
        opened.update((customer_id, ticket_id) for ticket_id, customer_id in rows)
    return opened


async def _store_texts(tx: Tx, runs: Sequence[tuple[int, TextRun]], at: object) -> dict[tuple[int, int], int]:
    """The runs' texts stored in their tickets (a text stored before is skipped); ids by (chat, message)."""
    texts = [(ticket_id, run.telegram_id, incoming) for ticket_id, run in runs for incoming in run.texts]
    stored: dict[tuple[int, int], int] = {}
    for start in range(0, len(texts), CHUNK):
        table, params = tx.table(
            [
                (
                    ticket_id,
                    "in",
                    "text",
                    clean_text(incoming.text),
                    telegram_id,
                    incoming.chat_id,
                    incoming.message_id,
                    incoming.business_connection_id,
                    at,
                )
                for ticket_id, telegram_id, incoming in texts[start : start + CHUNK]
            ],
            ("integer", "varchar", "varchar", "text", "bigint", "bigint", "bigint", "varchar", "timestamp"),
        )
        rows = await tx.rows(
            "INSERT INTO ticket_messages (ticket_id, direction, kind, text, author_telegram_id, customer_chat_id,"
            f" customer_message_id, business_connection_id, created_at) {table}"
            " ON CONFLICT (customer_chat_id, customer_message_id, business_connection_id) DO NOTHING"
            " RETURNING id, customer_chat_id, customer_message_id",
            *params,
        )
        stored.update(((chat_id, number), message_id) for message_id, chat_id, number in rows)
    return stored
