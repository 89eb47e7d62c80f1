"""Translated texts: gettext catalogs (`bot/locale/<lang>/LC_MESSAGES/<concern>.po`) read with Babel.

Message ids are keys such as `start.greeting`; each catalog of each language must translate every key.
Every parameter is HTML-escaped unless wrapped in `Safe`, because every message is sent in HTML parse mode.

A text that depends on a number has plural forms (`msgstr[0]`, `msgstr[1]`, … as the language's `Plural-Forms`
says: English two, Chinese one); its `msgid_plural` names the parameter that chooses the form:

    msgid "staff.card.lifetime"
    msgid_plural "count"
    msgstr[0] "Lifetime: {total} in {count} purchase"
    msgstr[1] "Lifetime: {total} in {count} purchases"
"""

from __future__ import annotations

import html
import io
from datetime import UTC, datetime
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
        loaded = Translations(buffer, domain=po_path.stem)
        merged.merge(loaded)
        merged.plural = loaded.plural  # the language's plural rule (an empty `Translations` has English's)
    return merged


@cache
def plural_parameters() -> dict[str, str]:
    """Each key with plural forms and the parameter that chooses the form (its `msgid_plural`, in English)."""
    chosen_by: dict[str, str] = {}
    for po_path in sorted((LOCALE_DIR / LANGUAGES[-1] / "LC_MESSAGES").glob("*.po")):
        with po_path.open("rb") as po_file:
            for message in read_po(po_file, locale=LANGUAGES[-1]):
                if message.pluralizable:
                    chosen_by[str(message.id[0])] = str(message.id[1])
    return chosen_by


def catalog_keys(language: str) -> dict[str, str]:
    """Every key of a language and its text (empty where untranslated; plural forms one a line), for tests and
    tooling."""
    keys: dict[str, str] = {}
    for po_path in sorted((LOCALE_DIR / language / "LC_MESSAGES").glob("*.po")):
        with po_path.open("rb") as po_file:
            for message in read_po(po_file, locale=language):
                if not message.id:
                    continue
                if message.pluralizable:
                    forms = [str(form) for form in message.string or ()]
                    keys[str(message.id[0])] = "\n".join(forms) if all(forms) else ""
                else:
                    keys[str(message.id)] = str(message.string)
    return keys


def _escape(value: object) -> str:
    return value if isinstance(value, Safe) else html.escape(str(value), quote=False)


def t(language: str, key: str, /, **params: object) -> Safe:
    """The text for `key` in `language` with `{name}` parameters filled in (escaped)."""
    if language not in LANGUAGES:
        language = LANGUAGES[0]
    count = params.get(plural_parameters().get(key, ""))
    if isinstance(count, int):
        text = translations(language).ngettext(key, key, count)
    else:
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


def warm_up() -> None:
    """Read every language's catalogs and Babel's data for it now, at start-up: the first customer and the first
    card after a start would otherwise wait for them (tens of milliseconds a language, each time a process starts)."""
    now = datetime.now(UTC)
    plural_parameters()
    for language in LANGUAGES:
        translations(language)
        when(now, language)
        day(now, language)
        money(Decimal("1"), "CNY", language)
