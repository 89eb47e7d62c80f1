"""`POST /api/purchases`: the signed order endpoint shops call when an order is paid (or refunded).

Served when `CAREBOT_API_SECRET` is set. The body is signed the way shops sign webhooks: the header
`X-Carebot-Signature: sha256=<hex HMAC-SHA256 of the raw body, keyed with CAREBOT_API_SECRET>`. A request without
the right signature gets 401 and is not read any further. The rows are checked and applied by
`storage.purchase_feed` (the CSV import's rules) in one transaction: 200 with each row's outcome, or 400 / 404
with what is wrong, row by row, and nothing stored. See docs/purchases-api.md.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
from collections import Counter

from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from bot.context import CarebotApp, Services
from bot.runtime import metrics
from storage.db import transaction
from storage.purchase_feed import FeedAnswer, FeedError, FeedVerdict, record_orders, rows_of

log = logging.getLogger(__name__)

PATH = "/api/purchases"
SIGNATURE_HEADER = "X-Carebot-Signature"
SIGNATURE_PREFIX = "sha256="
MAX_BODY_BYTES = 8 * 1024 * 1024  # 1,000 rows with 1,000-character notes fit, even with every character escaped
ATTEMPTS = 2  # a second try sees what a concurrent request stored first (the same reference): it is unchanged
_STATUS = {FeedVerdict.ACCEPTED: 200, FeedVerdict.INVALID: 400, FeedVerdict.NOT_FOUND: 404}


def signature(secret: str, body: bytes) -> str:
    """The header value a shop sends with `body`."""
    return SIGNATURE_PREFIX + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signed_by(secret: str, body: bytes, header: str | None) -> bool:
    """Whether `header` is the signature of `body` under `secret`, compared in constant time."""
    if not secret or not header:
        return False
    return hmac.compare_digest(header.strip().lower().encode(errors="replace"), signature(secret, body).encode())


def routes(app: CarebotApp) -> list[BaseRoute]:
    """The endpoint's route, or none when `CAREBOT_API_SECRET` is not set."""
    services: Services = app.bot_data["services"]
    if not services.settings.api_secret:
        return []

    # One request applied at a time in this process: a customer's totals are read, then written, in each request,
    # so two requests for the same customer must not interleave (SQLite would also refuse the second writer).
    applying = asyncio.Lock()

    async def receive_purchases(request: Request) -> Response:
        return await _receive(request, services, applying)

    return [Route(PATH, receive_purchases, methods=["POST"])]


def _refused(outcome: str, status: int, error: str) -> Response:
    metrics.count_purchase_api_request(outcome)
    return JSONResponse({"errors": [{"error": error}]}, status_code=status)


async def _read_body(request: Request) -> bytes | None:
    """The raw body, or None when it is larger than `MAX_BODY_BYTES`."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            return None
    return bytes(body)


async def _receive(request: Request, services: Services, applying: asyncio.Lock) -> Response:
    settings = services.settings
    body = await _read_body(request)
    if body is None:
        return _refused("invalid", 413, f"the body is larger than {MAX_BODY_BYTES // (1024 * 1024)} MB")
    if not signed_by(settings.api_secret, body, request.headers.get(SIGNATURE_HEADER)):
        return _refused("unauthorized", 401, f"wrong or missing {SIGNATURE_HEADER}")
    try:
        rows = rows_of(json.loads(body))
    except json.JSONDecodeError:
        return _refused("invalid", 400, "the body is not JSON")
    except FeedError as exc:
        return _refused("invalid", 400, str(exc))
    for attempt in range(1, ATTEMPTS + 1):
        try:
            async with applying, transaction(services.sessions) as session:
                answer = await record_orders(
                    session,
                    rows,
                    default_currency=settings.currency,
                    default_timezone=settings.timezone,
                    vip=services.vip,
                )
            break
        except IntegrityError:
            if attempt == ATTEMPTS:
                return _refused("error", 503, "a concurrent request stored the same purchase; send it again")
        except (SQLAlchemyError, OSError) as exc:
            log.warning("purchases api: not stored (%s)", type(exc).__name__)
            return _refused("error", 503, "not stored, send it again")
    return _answer(answer)


def _answer(answer: FeedAnswer) -> Response:
    if answer.verdict == FeedVerdict.ACCEPTED:
        statuses = Counter(result.status.value for result in answer.results)
        metrics.count_purchase_api_request(answer.verdict.value, dict(statuses))
        log.info("purchases api: %d rows (%s)", len(answer.results), ", ".join(f"{k} {v}" for k, v in statuses.items()))
    else:
        metrics.count_purchase_api_request(answer.verdict.value)
        log.info("purchases api: refused, %d rows wrong (%s)", len(answer.problems), answer.verdict.value)
    return JSONResponse(answer.to_json(), status_code=_STATUS[answer.verdict])
