"""What the relay sends together: each destination's due rows per ticket, in order, grouped into the calls they
become — an album, a backed-up run of a customer's texts combined into one message, a ticket's pending card updates
as one edit, the texts a new card carries."""

from __future__ import annotations

import json
import time

from bot.tickets.sending import COMBINE_SEPARATOR, combinable, text_size
from bot.ui.splitting import tg_len
from storage.models import StaffDelivery, TicketMessage
from storage.types import utcnow

Destination = int | None  # None: the staff group; else an agent's private chat
GROUP: None = None  # the destination key of the staff group; an inbox's is the agent's chat id
Due = dict[int, list[list[StaffDelivery]]]
CARD_TEXTS_LIMIT = 3000  # what a card may carry of the customer's texts, well within a message's 4096


def plan(
    rows: list[StaffDelivery],
    messages: dict[int, TicketMessage],
    retry_at: dict[tuple[Destination, int], float],
    destination: Destination,
) -> tuple[Due, bool, float | None]:
    """Each ticket's rows that may go now, in order, as the groups that go together (an album, the customer's
    texts combined when the queue backed up, a ticket's card updates); tickets oldest first."""
    now, mono = utcnow(), time.monotonic()
    queues: dict[int, list[StaffDelivery]] = {}
    for row in rows:
        queues.setdefault(row.ticket_id, []).append(row)
    due: Due = {}
    idle, wake_in = True, None
    for ticket_id, queue in queues.items():
        again = retry_at.get((destination, ticket_id), 0.0)
        if again > mono:
            wake_in = min(wake_in or again - mono, again - mono)
            continue
        cards = [row for row in queue if row.kind == "card" and not json.loads(row.params).get("message_id")]
        later_cards = {row.id for row in cards[1:]}
        queue = [row for row in queue if row.id not in later_cards]
        groups: list[list[StaffDelivery]] = []
        while queue:
            head = queue[0]
            if head.not_before > now:  # an album still arriving: not idle, it goes in a moment
                idle = False
                wait = (head.not_before - now).total_seconds()
                wake_in = min(wake_in or wait, wait)
                break
            group = carried_along(head, queue[1:], messages)
            if cards and head is cards[0]:
                group = [head, *cards[1:]]
            groups.append(group)
            queue = queue[len(group) if group[0].kind != "card" else 1 :]
        if groups:
            due[ticket_id] = groups
    return due, idle, wake_in


def texts_for_card(has_card: bool, group: list[StaffDelivery], messages: dict[int, TicketMessage]) -> tuple[str, ...]:
    """A new card carries the customer's texts it would be followed by: one message, not two (a group counts 20 a
    minute, an inbox one a second)."""
    if has_card or group[0].kind != "copy":
        return ()
    parts = [messages.get(row.ticket_message_id or 0) for row in group]
    if any(part is None or part.kind != "text" or part.media_group_id for part in parts):
        return ()
    texts = tuple(part.text or "" for part in parts if part is not None)
    return texts if sum(tg_len(text) + 2 for text in texts) <= CARD_TEXTS_LIMIT else ()


def carried_along(
    head: StaffDelivery, later: list[StaffDelivery], messages: dict[int, TicketMessage]
) -> list[StaffDelivery]:
    """An album's other parts, or (when the queue backed up) the customer's next texts, go with `head`."""
    first = messages.get(head.ticket_message_id or 0)
    if head.kind != "copy" or first is None:
        return [head]
    group = [head]
    size = text_size(first)
    for row in later:
        message = messages.get(row.ticket_message_id or 0)
        if row.kind != "copy" or message is None:
            break
        if first.media_group_id:
            if message.media_group_id != first.media_group_id or len(group) == 10:
                break
        else:
            size += len(COMBINE_SEPARATOR) + text_size(message)
            if not combinable(first, message, size):
                break
        group.append(row)
    return group
