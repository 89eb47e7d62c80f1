"""Splitting plain text to Telegram's limits (4096 for a message, 1024 for a caption) at safe boundaries.

Lengths are counted in UTF-16 code units, as Telegram counts them. A cut prefers a blank line, then a line end,
then the end of a sentence, then a space; only a text without any of these is cut hard (never inside a
surrogate pair). Split plain text first, then escape each part for HTML.
"""

from __future__ import annotations

import re

TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
_BOUNDARIES = (re.compile(r"\n\s*\n"), re.compile(r"\n"), re.compile(r"(?<=[.!?。！？…])\s*"), re.compile(r"\s+"))


def tg_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _fit(text: str, limit: int) -> int:
    """How many characters of `text` fit into `limit` UTF-16 code units."""
    used = 0
    for index, char in enumerate(text):
        used += 2 if ord(char) > 0xFFFF else 1
        if used > limit:
            return index
    return len(text)


def split_text(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """Parts of `text`, each at most `limit` long, cut at the best boundary available."""
    parts: list[str] = []
    rest = text
    while tg_len(rest) > limit:
        window = rest[: _fit(rest, limit)]
        cut = 0
        for boundary in _BOUNDARIES:
            ends = [m for m in boundary.finditer(window) if m.start() > 0]
            if ends and ends[-1].start() >= len(window) // 3:
                cut = ends[-1].start()
                following = ends[-1].end()
                break
        if cut == 0:
            cut = following = len(window)
        parts.append(rest[:cut].rstrip())
        rest = rest[following:].lstrip("\n ")
    if rest.strip() or not parts:
        parts.append(rest)
    return [part for part in parts if part] or [text[:0]]


def split_caption(caption: str) -> tuple[str, list[str]]:
    """A caption that fits, and the rest as follow-up texts."""
    if tg_len(caption) <= CAPTION_LIMIT:
        return caption, []
    head = split_text(caption, CAPTION_LIMIT)[0]
    tail = caption[len(head) :].lstrip()
    return head, split_text(tail, TEXT_LIMIT)
