"""Telegram's initData signature: what Telegram signs passes; anything changed, foreign, old or future does not."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qsl, urlencode

import pytest

from bot.web.init_data import InitDataError, sign, signed_for, verify
from storage.types import utcnow

TOKEN = "123456:TEST-TOKEN"
DAY = timedelta(hours=24)
USER = {"id": 42, "first_name": "Ada", "last_name": "L", "username": "ada", "language_code": "zh-hans"}


def test_data_signed_with_the_bot_token_names_the_user() -> None:
    user = verify(signed_for(USER, TOKEN), bot_token=TOKEN, max_age=DAY)
    assert (user.id, user.full_name, user.username, user.language_code) == (42, "Ada L", "ada", "zh-hans")


def test_the_documented_algorithm_is_followed() -> None:
    # secret = HMAC(key="WebAppData", msg=token); hash = HMAC(secret, sorted "key=value" lines without hash)
    import hashlib
    import hmac

    fields = {"auth_date": str(int(utcnow().timestamp())), "user": '{"id":7,"first_name":"Z"}', "query_id": "q"}
    secret = hmac.new(b"WebAppData", TOKEN.encode(), hashlib.sha256).digest()
    check = "\n".join(f"{key}={fields[key]}" for key in sorted(fields))
    data = urlencode({**fields, "hash": hmac.new(secret, check.encode(), hashlib.sha256).hexdigest()})
    assert verify(data, bot_token=TOKEN, max_age=DAY).id == 7
    assert sign(fields, TOKEN) == data


@pytest.mark.parametrize(
    "change",
    [
        lambda pairs: pairs.update(user=pairs["user"].replace("42", "43")),
        lambda pairs: pairs.update(auth_date=str(int(pairs["auth_date"]) + 1)),
        lambda pairs: pairs.update(hash="0" * 64),
        lambda pairs: pairs.pop("hash"),
        lambda pairs: pairs.update(extra="1"),
    ],
)
def test_tampered_data_is_refused(change: object) -> None:
    pairs = dict(parse_qsl(signed_for(USER, TOKEN)))
    change(pairs)  # type: ignore[operator]
    with pytest.raises(InitDataError):
        verify(urlencode(pairs), bot_token=TOKEN, max_age=DAY)


def test_foreign_old_future_and_empty_data_are_refused() -> None:
    with pytest.raises(InitDataError, match="signature"):
        verify(signed_for(USER, "999:OTHER"), bot_token=TOKEN, max_age=DAY)
    old = signed_for(USER, TOKEN, auth_date=utcnow() - DAY - timedelta(minutes=1))
    with pytest.raises(InitDataError, match="expired"):
        verify(old, bot_token=TOKEN, max_age=DAY)
    assert verify(old, bot_token=TOKEN, max_age=DAY * 2).id == 42
    with pytest.raises(InitDataError, match="future"):
        verify(signed_for(USER, TOKEN, auth_date=utcnow() + timedelta(hours=1)), bot_token=TOKEN, max_age=DAY)
    for nothing in ("", "hash=abc", "%%%"):
        with pytest.raises(InitDataError):
            verify(nothing, bot_token=TOKEN, max_age=DAY)
    with pytest.raises(InitDataError):
        verify(signed_for(USER, TOKEN), bot_token="", max_age=DAY)
