"""Telegram's signed `initData`: who opened the desk, checked on every request.

Telegram signs the data a Mini App is opened with (https://core.telegram.org/bots/webapps#validating-data-received-
via-the-mini-app): `secret_key = HMAC_SHA256(key="WebAppData", msg=bot_token)`, and `hash` is the hex
`HMAC_SHA256(key=secret_key, msg=data_check_string)`, where the data-check string is every other `key=value`
pair, sorted by key, joined with line feeds. Data older than `CAREBOT_WEBAPP_MAX_AGE` is refused.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import parse_qsl, urlencode

from storage.types import utcnow


class InitDataError(Exception):
    """initData that is missing, malformed, wrongly signed or too old; the message says which (no data in it)."""


@dataclass(frozen=True)
class WebAppUser:
    id: int
    first_name: str
    last_name: str | None
    username: str | None
    language_code: str | None

    @property
    def full_name(self) -> str:
        return " ".join(part for part in (self.first_name, self.last_name) if part)


def _secret_key(bot_token: str) -> bytes:
    return hmac.new(b"WebAppData", bot_token.encode(), hashlib.sha256).digest()


def _check_string(pairs: dict[str, str]) -> str:
    return "\n".join(f"{key}={pairs[key]}" for key in sorted(pairs) if key != "hash")


def sign(fields: dict[str, str], bot_token: str) -> str:
    """initData as Telegram would send it for these fields (for tests and local trials)."""
    digest = hmac.new(_secret_key(bot_token), _check_string(fields).encode(), hashlib.sha256).hexdigest()
    return urlencode({**fields, "hash": digest})


def signed_for(user: dict[str, object], bot_token: str, *, auth_date: datetime | None = None) -> str:
    """initData signed for `user` (Telegram's WebAppUser fields), dated now or at `auth_date`."""
    moment = auth_date or utcnow()
    fields = {
        "query_id": "AAEtest",
        "user": json.dumps(user, separators=(",", ":"), ensure_ascii=False),
        "auth_date": str(int(moment.timestamp())),
    }
    return sign(fields, bot_token)


def verify(init_data: str, *, bot_token: str, max_age: timedelta, now: datetime | None = None) -> WebAppUser:
    """The user Telegram vouches for, or InitDataError."""
    if not init_data or not bot_token:
        raise InitDataError("missing")
    try:
        pairs = dict(parse_qsl(init_data, keep_blank_values=True, strict_parsing=True))
    except ValueError:
        raise InitDataError("malformed") from None
    received = pairs.get("hash", "")
    expected = hmac.new(_secret_key(bot_token), _check_string(pairs).encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(received.encode(errors="replace"), expected.encode()):
        raise InitDataError("wrong signature")
    try:
        signed_at = int(pairs["auth_date"])
        raw_user = json.loads(pairs["user"])
        user = WebAppUser(
            id=int(raw_user["id"]),
            first_name=str(raw_user.get("first_name") or ""),
            last_name=raw_user.get("last_name"),
            username=raw_user.get("username"),
            language_code=raw_user.get("language_code"),
        )
    except (KeyError, ValueError, TypeError):
        raise InitDataError("no user") from None
    age = (now or utcnow()).timestamp() - signed_at
    if age > max_age.total_seconds():
        raise InitDataError("expired")
    if age < -300:  # signed in the future: a clock far off, or made up
        raise InitDataError("from the future")
    return user
