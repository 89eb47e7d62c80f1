"""The common case of many customers writing to their open tickets at once, filed in a few set-based statements
(the fast lane's group commit, bot/tickets/filing.py): the same result as `storage.tickets.file_customer_message`
one message at a time."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from storage import staff_deliveries
from storage.models import TicketStatus
from storage.raw import Tx, placeholders
from storage.tickets import IncomingMessage
from storage.types import clean_text, utcnow

OPEN = TicketStatus.OPEN.value
CHUNK = 500  # rows a statement (SQLite takes at most 32,766 parameters)


@dataclass(frozen=True)
class TextRun:
    """A customer's next texts (in order) and who they are on Telegram now."""

    telegram_id: int
    first_name: str | None
    last_name: str | None
    username: str | None
    texts: Sequence[IncomingMessage]


async def append_to_open_tickets(tx: Tx, *, runs: Sequence[TextRun], now: datetime | None = None) -> set[int]:
    """The common case for many customers at once, in a few statements on the hot path's connection: texts of
    customers whose latest ticket is open and for whom no dialog step waits. Each such customer is touched and
    their texts stored and queued for staff, as `touch_customer` and `file_customer_message` do one message at a
    time. Returns the Telegram ids of the customers whose texts were stored; the others' are left alone (theirs
    is another case).
    """
    at = tx.at(now or utcnow())
    by_customer = {run.telegram_id: run for run in runs}
    if not by_customer:
        return set()
    candidates = await tx.rows(
        "SELECT c.telegram_id, c.id, t.id, t.inbox_chat_id FROM customers c JOIN tickets t ON t.customer_id = c.id"
        f" WHERE c.telegram_id IN ({placeholders(len(by_customer))})"
        " AND t.id = (SELECT max(newer.id) FROM tickets newer WHERE newer.customer_id = c.id) AND t.status = ?"
        " AND NOT EXISTS (SELECT 1 FROM pending_inputs p WHERE p.chat_id = c.telegram_id AND p.user_id = c.telegram_id)",
        *by_customer,
        OPEN,
    )
    targets = {telegram_id: (customer_id, ticket_id) for telegram_id, customer_id, ticket_id, _ in candidates}
    inboxes = {ticket_id: inbox for _, _, ticket_id, inbox in candidates}
    if not targets:
        return set()
    # The customers first, then their tickets: the order a handler takes them in (`touch_customer`, then the
    # ticket), so that a handler of another replica and this never wait for each other in a circle.
    await tx.many(
        "UPDATE customers SET first_name = ?, last_name = ?, username = ?, last_contact_at = ?, updated_at = ?"
        " WHERE id = ?",
        [
            (
                clean_text(by_customer[telegram_id].first_name),
                clean_text(by_customer[telegram_id].last_name),
                clean_text(by_customer[telegram_id].username),
                at,
                at,
                customer_id,
            )
            for telegram_id, (customer_id, _) in sorted(targets.items(), key=lambda item: item[1][0])
        ],
    )
    ticket_ids = [ticket_id for _, ticket_id in targets.values()]
    still_open = await tx.rows(  # staff may have answered or closed one a moment ago
        "UPDATE tickets SET updated_at = ?, resolved_at = NULL, closed_at = NULL"
        f" WHERE id IN ({placeholders(len(ticket_ids))}) AND status = ? RETURNING id",
        at,
        *ticket_ids,
        OPEN,
    )
    open_ids = {ticket_id for (ticket_id,) in still_open}
    targets = {key: value for key, value in targets.items() if value[1] in open_ids}
    if not targets:
        return set()
    texts = [
        (ticket_id, telegram_id, incoming)
        for telegram_id, (_, ticket_id) in targets.items()
        for incoming in by_customer[telegram_id].texts
    ]
    stored: dict[tuple[int, int], int] = {}
    for start in range(0, len(texts), CHUNK):
        chunk = texts[start : start + CHUNK]
        rows = await tx.rows(
            "INSERT INTO ticket_messages (ticket_id, direction, kind, text, author_telegram_id, customer_chat_id,"
            " customer_message_id, business_connection_id, created_at) VALUES "
            + ", ".join(["(?, 'in', 'text', ?, ?, ?, ?, ?, ?)"] * len(chunk))
            + " ON CONFLICT (customer_chat_id, customer_message_id, business_connection_id) DO NOTHING"
            " RETURNING id, customer_chat_id, customer_message_id",
            *(
                value
                for ticket_id, telegram_id, incoming in chunk
                for value in (
                    ticket_id,
                    clean_text(incoming.text),
                    telegram_id,
                    incoming.chat_id,
                    incoming.message_id,
                    incoming.business_connection_id,
                    at,
                )
            ),
        )
        stored.update(((chat_id, number), message_id) for message_id, chat_id, number in rows)
    copies = [
        (ticket_id, stored[key], inboxes.get(ticket_id))
        for ticket_id, _, incoming in texts
        if (key := (incoming.chat_id, incoming.message_id)) in stored
    ]
    await staff_deliveries.enqueue_copies(tx, copies=copies)
    return set(targets)
