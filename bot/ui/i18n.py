"""Translated texts: gettext catalogs (`bot/locale/<lang>/LC_MESSAGES/<concern>.po`) read with Babel.

Message ids are keys such as `start.greeting`; each catalog of each language must translate every key.
Every parameter is HTML-escaped unless wrapped in `Safe`, because every message is sent in HTML parse mode.
"""

from __future__ import annotations

import html
import io
from datetime import datetime
from decimal import Decimal
from functools import cache
from pathlib import Path

from babel import Locale
from babel.dates import format_date, format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_currency
from babel.support import Translations

from storage.languages import LANGUAGES

LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"


class Safe(str):
    """Text that is already valid Telegram HTML and must not be escaped again."""


@cache
def translations(language: str) -> Translations:
    """All catalogs of one language merged into one gettext `Translations`."""
    merged = Translations()
    for po_path in sorted((LOCALE_DIR / language / "LC_MESSAGES").glob("*.po")):
        with po_path.open("rb") as po_file:
            catalog = read_po(po_file, locale=language)
        buffer = io.BytesIO()
        write_mo(buffer, catalog)
        buffer.seek(0)
        merged.merge(Translations(buffer, domain=po_path.stem))
    return merged


def catalog_keys(language: str) -> dict[str, str]:
    """Every key of a language and its text (empty where untranslated), for tests and tooling."""
    keys: dict[str, str] = {}
    for po_path in sorted((LOCALE_DIR / language / "LC_MESSAGES").glob("*.po")):
        with po_path.open("rb") as po_file:
            for message in read_po(po_file, locale=language):
                if message.id:
                    keys[str(message.id)] = str(message.string)
    return keys


def _escape(value: object) -> str:
    return value if isinstance(value, Safe) else html.escape(str(value), quote=False)


def t(language: str, key: str, /, **params: object) -> Safe:
    """The text for `key` in `language` with `{name}` parameters filled in (escaped)."""
    if language not in LANGUAGES:
        language = LANGUAGES[0]
    text = translations(language).gettext(key)
    if params:
        text = text.format(**{name: _escape(value) for name, value in params.items()})
    return Safe(text)


TELEGRAM_STARS = "XTR"  # Telegram's currency code for Stars, which Babel does not know


def money(amount: Decimal, currency: str, language: str) -> str:
    if currency == TELEGRAM_STARS:
        return t(language, "payment.stars", count=f"{amount:.0f}")
    return format_currency(amount, currency, locale=Locale.parse(language))


def when(moment: datetime, language: str) -> str:
    return format_datetime(moment, "medium", locale=Locale.parse(language))


def day(moment: datetime, language: str) -> str:
    return format_date(moment, "medium", locale=Locale.parse(language))
