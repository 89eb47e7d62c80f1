"""Rendering an outbox row for Telegram: its text in the reader's language, its buttons, the Stop button under
every proactive message. The texts come from `bot/` as a `Texts` function (the scheduler cannot import `bot/`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from storage.outbox import DueMessage

STOP_CALLBACK = "care:stop"
STOP_TEXT = "care.stop_button"
GIFT_TEXT = "care.gift"
NAME_FALLBACK = "care.customer"
SERVICE_KINDS = frozenset({"autoclose", "sla"})
SPECIAL_PARAMS = frozenset({"buttons", "copy_from", "gift"})


class Texts(Protocol):
    """Renders catalog key `key` in `language` with `params` (typed values as the outbox contract says)."""

    def __call__(self, language: str, key: str, params: Mapping[str, Any], /) -> str: ...


def is_proactive(kind: str, customer_id: int | None) -> bool:
    return customer_id is not None and kind not in SERVICE_KINDS


def markup_of(texts: Texts, language: str, item: DueMessage, params: Mapping[str, Any]) -> InlineKeyboardMarkup | None:
    """The message's buttons, and Stop under every proactive one."""
    rows = [
        [InlineKeyboardButton(texts(language, text, {}), callback_data=data) for text, data in row]
        for row in params.get("buttons") or []
    ]
    if is_proactive(item.message.kind, item.message.customer_id):
        rows.append([InlineKeyboardButton(texts(language, STOP_TEXT, {}), callback_data=STOP_CALLBACK)])
    return InlineKeyboardMarkup(rows) if rows else None


def text_of(texts: Texts, language: str, item: DueMessage, params: Mapping[str, Any]) -> str:
    """The message's text in `language`, addressed to the customer by name, with its gift code if it has one."""
    values = {k: v for k, v in params.items() if k not in SPECIAL_PARAMS}
    if item.message.customer_id is not None:
        values.setdefault("name", item.first_name or texts(language, NAME_FALLBACK, {}))
    text = texts(language, item.message.template, values)
    gift = params.get("gift")
    if isinstance(gift, dict) and "code" in gift:
        gift_text = texts(
            language,
            GIFT_TEXT,
            {
                "code": gift["code"],
                "value": {"amount": str(gift["value"]), "currency": gift["currency"]},
                "expires": {"date": gift["expires"]},
            },
        )
        text = f"{text}\n\n{gift_text}"
    return text
