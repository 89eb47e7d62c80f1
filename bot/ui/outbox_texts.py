"""Rendering outbox rows in the reader's language: the scheduler's sender is given `render` (it cannot import
`bot/`), so the catalogs stay in one place and the import direction `bot -> scheduler` holds."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from bot.ui.i18n import Safe, day, money, t


def render(language: str, key: str, params: Mapping[str, Any], /) -> str:
    """`key` in `language`, with typed param values (money, dates, localised names, lists) formatted for it."""
    return t(language, key, **{name: _value(language, value) for name, value in params.items()})


def _value(language: str, value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    if "amount" in value and "currency" in value:
        return money(Decimal(str(value["amount"])), str(value["currency"]), language)
    if "date" in value:
        return day(datetime.combine(date.fromisoformat(value["date"]), time(12)), language)
    if "template" in value and "items" in value:
        return Safe("\n".join(render(language, value["template"], item) for item in value["items"]))
    return value.get(language) or value.get("en") or next(iter(value.values()), "")
