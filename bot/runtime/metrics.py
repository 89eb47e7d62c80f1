"""Prometheus metrics, served at `GET /metrics` in webhook mode: one home for every metric and what feeds it.

Counters and the histogram are per replica (Prometheus sums them across replicas); the outbox and ticket gauges
are read from the shared database at scrape time, so every replica reports the same totals.

Bot API sends are measured where they happen, in :class:`InstrumentedRequest` (the Application's HTTP layer):
every reply, staff copy and outbox message goes through it, whoever sends it, so no caller times its own sends.
"""

from __future__ import annotations

import asyncio
import logging
import time

import orjson
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Gauge, Histogram, generate_latest
from telegram._utils.types import JSONDict, ODVInput
from telegram.request import BaseRequest, RequestData

from bot.runtime.http import AiohttpRequest
from bot.runtime.ratelimit import is_message_method
from storage.db import SessionFactory
from storage.inbox import count_parked as count_parked_updates
from storage.models import OutboxStatus, TicketStatus
from storage.outbox import status_counts as outbox_status_counts
from storage.tickets import status_counts as ticket_status_counts

log = logging.getLogger(__name__)

UPDATES_HANDLED = Counter("carebot_updates_handled", "Telegram updates handled by this replica")
UPDATE_RETRIES = Counter(
    "carebot_update_retries", "Updates whose handling failed and that this replica will try again (one per failure)"
)
UPDATES_PARKED_HERE = Counter(
    "carebot_updates_parked_by_replica", "Updates this replica parked after their last try failed"
)
UPDATES_PARKED = Gauge("carebot_updates_parked", "Updates parked in the inbox now, read from the database")
TICKETS_OPENED = Counter("carebot_tickets_opened", "Tickets opened by this replica")
TICKETS_CLOSED = Counter("carebot_tickets_closed", "Tickets closed by this replica")
TICKETS = Gauge("carebot_tickets", "Tickets by status, read from the database", ["status"])
OUTBOX = Gauge("carebot_outbox_messages", "Outbox messages by status, read from the database", ["status"])
SEND_LATENCY = Histogram(
    "carebot_send_latency_seconds",
    "Duration of Bot API calls that send a message",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
TOO_MANY_REQUESTS = Counter("carebot_telegram_429", "429 Too Many Requests answers from the Bot API")
LEASE_HELD = Gauge("carebot_scheduler_lease_held", "1 on the replica holding the scheduler lease, 0 elsewhere")
PURCHASE_API_REQUESTS = Counter(
    "carebot_purchase_api_requests",
    "Requests to POST /api/purchases by outcome: accepted, or refused as unauthorized, invalid, not_found, error",
    ["outcome"],
)
PURCHASE_API_ROWS = Counter("carebot_purchase_api_rows", "Purchase rows of accepted API requests", ["status"])

DATABASE_READ_TIMEOUT_SECONDS = 5


def count_update() -> None:
    UPDATES_HANDLED.inc()


def count_retry() -> None:
    UPDATE_RETRIES.inc()


def count_parked() -> None:
    UPDATES_PARKED_HERE.inc()


def count_ticket_opened() -> None:
    TICKETS_OPENED.inc()


def count_ticket_closed() -> None:
    TICKETS_CLOSED.inc()


def observe_send_latency(seconds: float) -> None:
    SEND_LATENCY.observe(seconds)


def count_429() -> None:
    TOO_MANY_REQUESTS.inc()


def count_purchase_api_request(outcome: str, rows: dict[str, int] | None = None) -> None:
    PURCHASE_API_REQUESTS.labels(outcome=outcome).inc()
    for status, count in (rows or {}).items():
        PURCHASE_API_ROWS.labels(status=status).inc(count)


def set_lease_held(held: bool) -> None:
    LEASE_HELD.set(1 if held else 0)


async def read_database_gauges(sessions: SessionFactory) -> None:
    """Refresh the outbox and ticket gauges from the database (kept as they were if it does not answer)."""
    try:
        async with asyncio.timeout(DATABASE_READ_TIMEOUT_SECONDS), sessions() as session:
            outbox = await outbox_status_counts(session)
            tickets = await ticket_status_counts(session)
            parked = await count_parked_updates(session)
    except Exception as exc:  # a scrape must answer even when the database does not
        log.warning("metrics: database gauges not refreshed (%s)", type(exc).__name__)
        return
    for outbox_status in OutboxStatus:
        OUTBOX.labels(status=outbox_status.value).set(outbox.get(outbox_status.value, 0))
    for ticket_status in TicketStatus:
        TICKETS.labels(status=ticket_status.value).set(tickets.get(ticket_status.value, 0))
    UPDATES_PARKED.set(parked)


def exposition() -> tuple[bytes, str]:
    """The Prometheus text format body and its content type."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


class InstrumentedRequest(AiohttpRequest):
    """The HTTP layer (bot/runtime/http.py), timing sends and counting 429 answers (which PTB then honours and
    retries); answers read with orjson (PTB's own reading, the standard library's, for what orjson refuses)."""

    @staticmethod
    def parse_json_payload(payload: bytes) -> JSONDict:
        try:
            data = orjson.loads(payload)
        except ValueError:  # orjson.JSONDecodeError
            return BaseRequest.parse_json_payload(payload)
        if not isinstance(data, dict):
            return BaseRequest.parse_json_payload(payload)
        return data

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        started = time.perf_counter()
        status, payload = await super().do_request(
            url,
            method,
            request_data,
            read_timeout=read_timeout,
            write_timeout=write_timeout,
            connect_timeout=connect_timeout,
            pool_timeout=pool_timeout,
        )
        if status == 429:
            count_429()
        elif is_message_method(url.rsplit("/", 1)[-1]):  # the calls that put a message into a chat
            observe_send_latency(time.perf_counter() - started)
        return status, payload
