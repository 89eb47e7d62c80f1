"""How the customer agreement looks in Telegram: the staff card lines, and the full text as HTML messages.

Agreement texts are Markdown files written by the business. They are shown as Telegram HTML: headings and
`**bold**` in bold, list bullets as •, everything else escaped as it is. Each line is converted on its own, so a
message split between lines is always valid HTML, and every message stays within Telegram's 4096 characters
(counted as Telegram does: after parsing, in UTF-16 code units).
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, tzinfo

from bot.ui.i18n import Safe, day, t, when
from bot.ui.keyboards import LANGUAGE_NAMES
from storage.agreements import Acceptance, AgreementState, CustomerAgreement, PublishResult
from storage.models import AcceptanceChannel, AgreementText, AgreementVersion

MAX_MESSAGE = 4096
HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.*?)[\s#]*$")
BULLET = re.compile(r"^(\s*)[-*+]\s+(.*)$")
BOLD = re.compile(r"\*\*(.+?)\*\*|__(.+?)__")
TAG = re.compile(r"</?[a-z][^>]*>")


def local_day(moment: datetime, lang: str, zone: tzinfo) -> str:
    return day(moment.astimezone(zone), lang)


def version_text(lang: str, version: int | None) -> str:
    return t(lang, "terms.card.version", version=version) if version else t(lang, "terms.card.first_version")


def agreement_lines(lang: str, state: CustomerAgreement, *, zone: tzinfo = UTC) -> list[str]:
    """The customer card's lines: where the customer stands, then the acceptance that counts (version, how and when
    accepted, until when). `zone` is the business's time zone (CAREBOT_TIMEZONE)."""
    acceptance = state.acceptance
    if state.state == AgreementState.OUTDATED and acceptance is not None:
        lines: list[str] = [t(lang, "terms.card.outdated", accepted=acceptance.version or "?", version=state.in_force)]
    else:
        lines = [t(lang, f"terms.card.{state.state.value}", version=state.in_force)]
    if acceptance is not None:
        lines.append(acceptance_line(lang, acceptance, zone=zone, ended=state.state == AgreementState.EXPIRED))
    return lines


def acceptance_line(lang: str, acceptance: Acceptance, *, zone: tzinfo, ended: bool) -> str:
    offline = acceptance.channel == AcceptanceChannel.OFFLINE.value
    moment = acceptance.accepted_at.astimezone(zone)
    return t(
        lang,
        "terms.card.acceptance_ended" if ended else "terms.card.acceptance",
        version=version_text(lang, acceptance.version),
        channel=t(lang, f"terms.card.channel.{acceptance.channel}"),
        when=day(moment, lang) if offline else when(moment, lang),
        until=local_day(acceptance.valid_until, lang, zone),
    )


# --- the full text -------------------------------------------------------------------------------------------------


def _inline(text: str) -> str:
    parts: list[str] = []
    position = 0
    for match in BOLD.finditer(text):
        parts.append(html.escape(text[position : match.start()], quote=False))
        parts.append(f"<b>{html.escape(match.group(1) or match.group(2), quote=False)}</b>")
        position = match.end()
    parts.append(html.escape(text[position:], quote=False))
    return "".join(parts)


def markdown_line(line: str) -> str:
    """One Markdown line as Telegram HTML (tags opened and closed within the line)."""
    heading = HEADING.match(line)
    if heading:
        title = BOLD.sub(lambda match: match.group(1) or match.group(2), heading.group(1))
        return f"<b>{html.escape(title, quote=False)}</b>" if title else ""
    bullet = BULLET.match(line)
    if bullet:
        return f"{bullet.group(1)}• {_inline(bullet.group(2))}"
    return _inline(line)


def telegram_length(text: str) -> int:
    """Length as Telegram counts it (UTF-16 code units)."""
    return len(text.encode("utf-16-le")) // 2


def visible_length(html_text: str) -> int:
    """The length Telegram's limit applies to: the text once tags are parsed and entities decoded."""
    return telegram_length(html.unescape(TAG.sub("", html_text)))


def _hard_split(line: str, limit: int) -> list[str]:
    """A line too long for one message, as plain escaped pieces each within `limit`."""
    pieces: list[str] = []
    current: list[str] = []
    size = 0
    for char in line:
        escaped = html.escape(char, quote=False)
        width = telegram_length(char)
        if size + width > limit:
            pieces.append("".join(current))
            current, size = [], 0
        current.append(escaped)
        size += width
    if current:
        pieces.append("".join(current))
    return pieces


def split_messages(lines: Iterable[str], limit: int = MAX_MESSAGE) -> list[str]:
    """Join HTML lines into as few messages as fit within `limit`, breaking only between lines; blank lines at the
    edges of a message are dropped (Telegram would strip them)."""
    messages: list[str] = []
    current: list[str] = []
    size = 0
    for line in lines:
        width = visible_length(line) + (1 if current else 0)
        if current and size + width > limit:
            messages.append("\n".join(current))
            current, size = [], 0
            width = visible_length(line)
        current.append(line)
        size += width
    if current:
        messages.append("\n".join(current))
    return [Safe(message.strip("\n")) for message in messages if message.strip()]


def agreement_messages(
    lang: str, parts: Sequence[tuple[AgreementVersion, AgreementText]], *, zone: tzinfo = UTC
) -> list[str]:
    """The full text of an agreement (base version, then its supplements) as HTML messages."""
    lines: list[str] = []
    for number, (version, text) in enumerate(parts):
        if number:
            lines.append("")
        since = local_day(version.published_at or text.published_at, lang, zone)
        if version.is_supplement:
            lines.append(
                t(
                    lang,
                    "terms.part.supplement",
                    version=version.version,
                    target=version.supplements_version,
                    date=since,
                )
            )
        else:
            lines.append(t(lang, "terms.part.version", version=version.version, date=since))
        lines.append("")
        for raw in text.text.split("\n"):
            converted = markdown_line(raw.rstrip())
            lines.extend([converted] if visible_length(converted) <= MAX_MESSAGE else _hard_split(raw, MAX_MESSAGE))
    return split_messages(lines)


def publish_report(lang: str, result: PublishResult) -> Safe:
    """What an admin is told after publishing one language (in chat and on the command line)."""
    if not result.in_force:
        missing = ", ".join(LANGUAGE_NAMES.get(code, code) for code in result.missing)
        language = LANGUAGE_NAMES.get(result.language, result.language)
        return t(lang, "terms.publish.saved", version=result.version, language=language, missing=missing)
    if result.is_supplement:
        return t(
            lang,
            "terms.publish.in_force_supplement",
            version=result.version,
            target=result.supplements_version,
            asked=result.asked,
        )
    return t(lang, "terms.publish.in_force", version=result.version, asked=result.asked)
