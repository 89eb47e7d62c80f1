"""Shopify → Carebot: turns Shopify's order webhooks into signed `POST /api/purchases` requests.

    SHOPIFY_WEBHOOK_SECRET=... CAREBOT_API_SECRET=... python shopify_adapter.py

Standard library only. Listens on ADAPTER_HOST:ADAPTER_PORT (127.0.0.1:8090) for `POST /shopify/orders` and
forwards to CAREBOT_URL (http://127.0.0.1:8080/api/purchases). Subscribe it in Shopify admin to the webhooks
"Order payment" (orders/paid) and "Order update" (orders/updated; only fully refunded orders are forwarded, as
refunds of the whole order), format JSON. See docs/purchases-api.md.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SHOPIFY_SECRET = os.environ["SHOPIFY_WEBHOOK_SECRET"].encode()
CAREBOT_SECRET = os.environ["CAREBOT_API_SECRET"].encode()
CAREBOT_URL = os.environ.get("CAREBOT_URL", "http://127.0.0.1:8080/api/purchases")
HOST = os.environ.get("ADAPTER_HOST", "127.0.0.1")
PORT = int(os.environ.get("ADAPTER_PORT", "8090"))
MAX_BODY = 1024 * 1024

log = logging.getLogger("shopify_adapter")


def shopify_signed(body: bytes, header: str) -> bool:
    expected = base64.b64encode(hmac.new(SHOPIFY_SECRET, body, hashlib.sha256).digest())
    return hmac.compare_digest(expected, header.encode(errors="replace"))


def purchase_of(topic: str, order: dict) -> dict | None:
    """Carebot's row for a Shopify order, or None when the event is not a payment or a full refund."""
    if topic == "orders/updated" and order.get("financial_status") != "refunded":
        return None
    customer = order.get("customer") or {}
    row = {
        "amount": str(order["total_price"]),
        "currency": order["currency"],
        "occurred_at": order.get("processed_at") or order["created_at"],
        "reference": order.get("name") or str(order["id"]),  # e.g. "#1001": what staff see in /purchases
        "note": "Shopify",
    }
    phone = order.get("phone") or customer.get("phone") or (order.get("billing_address") or {}).get("phone")
    email = order.get("email") or customer.get("email")
    if phone:
        row["phone"] = phone
    elif email:
        row["email"] = email
    else:
        return None
    if topic == "orders/updated":
        row["refunded_at"] = order["updated_at"]
    return row


def forward(row: dict) -> tuple[int, bytes]:
    body = json.dumps(row).encode()
    signature = "sha256=" + hmac.new(CAREBOT_SECRET, body, hashlib.sha256).hexdigest()
    request = urllib.request.Request(
        CAREBOT_URL,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", "X-Carebot-Signature": signature},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


class Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if self.path != "/shopify/orders" or length > MAX_BODY:
            self.reply(404 if self.path != "/shopify/orders" else 413)
            return
        body = self.rfile.read(length)
        if not shopify_signed(body, self.headers.get("X-Shopify-Hmac-Sha256", "")):
            self.reply(401)
            return
        row = purchase_of(self.headers.get("X-Shopify-Topic", ""), json.loads(body))
        if row is None:
            self.reply(200)  # not a payment, not a full refund, or no way to know the customer: nothing to do
            return
        status, answer = forward(row)
        if status in (400, 404):  # Shopify retrying cannot fix it: log it for staff, tell Shopify it arrived
            log.warning("carebot refused order %s: %s", row["reference"], answer.decode(errors="replace")[:500])
            status = 200
        self.reply(status)

    def reply(self, status: int) -> None:
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    ThreadingHTTPServer((HOST, PORT), Handler).serve_forever()
