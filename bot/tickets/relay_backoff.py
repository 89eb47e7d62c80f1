"""When the staff relay tries again: a destination (the group, an inbox) blocked for a while after a 429 or while
it is unreachable, and a ticket whose call failed tried again later (2, 4, 8… s) while the other tickets go on."""

from __future__ import annotations

import logging
import time

from bot.tickets.batching import Destination

log = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 300.0


class RelayBackoff:
    def __init__(self) -> None:
        self.retry_at: dict[tuple[Destination, int], float] = {}  # (destination, ticket id) → time.monotonic()
        self._blocked_until: dict[Destination, float] = {}
        self._chat_failures: dict[Destination, int] = {}
        self._ticket_failures: dict[tuple[Destination, int], int] = {}

    def blocked(self) -> tuple[list[Destination], float | None]:
        """The destinations blocked now, and the seconds until the first of them opens again."""
        mono = time.monotonic()
        waits = {dest: until - mono for dest, until in self._blocked_until.items() if until > mono}
        return list(waits), min(waits.values(), default=None)

    def is_blocked(self, destination: Destination) -> bool:
        return self._blocked_until.get(destination, 0.0) > time.monotonic()

    def block(self, destination: Destination, seconds: float) -> None:
        self._blocked_until[destination] = time.monotonic() + seconds

    def delivered(self, destination: Destination, ticket_id: int) -> None:
        self._ticket_failures.pop((destination, ticket_id), None)
        self.retry_at.pop((destination, ticket_id), None)
        self._chat_failures.pop(destination, None)

    def ticket_failed(self, destination: Destination, ticket_id: int, *, retry_now: bool = False) -> None:
        """Try this ticket again later (other tickets go on); a recreated topic is tried again at once."""
        key = (destination, ticket_id)
        failures = self._ticket_failures.get(key, 0) + 1
        self._ticket_failures[key] = failures
        delay = 0.0 if retry_now and failures <= 2 else min(2.0**failures, MAX_BACKOFF_SECONDS)
        self.retry_at[key] = time.monotonic() + delay

    def chat_failed(self, destination: Destination, reason: str) -> None:
        failures = self._chat_failures.get(destination, 0) + 1
        self._chat_failures[destination] = failures
        delay = min(5.0 * 2 ** (failures - 1), MAX_BACKOFF_SECONDS)
        log.warning("%s; tickets wait in the queue, next try in %.0f s", reason, delay)
        self.block(destination, delay)
