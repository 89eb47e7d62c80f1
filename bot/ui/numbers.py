"""Numbers people type or buttons carry: digits only, and only what fits the column they are looked up in.

`int("²")` fails although `"²".isdigit()` is true, and a number too large for its column fails the statement
(see `storage.types`): an id typed or pressed is read here, and anything that is not one is None — the caller
answers it like any other wrong input, never with an error.
"""

from __future__ import annotations

import re

from storage.types import BIGINT_MAX, INTEGER_MAX

_DIGITS = re.compile(r"[0-9]{1,19}")


def _number(text: str, maximum: int) -> int | None:
    if not _DIGITS.fullmatch(text):
        return None
    value = int(text)
    return value if value <= maximum else None


def row_id(text: str) -> int | None:
    """A record number (ticket, customer, FAQ entry, agreement version, …): an INTEGER column's range."""
    return _number(text, INTEGER_MAX)


def record_number(text: str) -> int | None:
    """A record number as staff write it: `#12` or `12`."""
    return row_id(text.removeprefix("#"))


def bigint(text: str) -> int | None:
    """Any number a BIGINT column holds, such as a Telegram id or a Unix time."""
    return _number(text, BIGINT_MAX)


def telegram_id(text: str) -> int | None:
    """A Telegram user id as staff type it (no sign: group ids are never typed)."""
    return bigint(text)
