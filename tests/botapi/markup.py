"""Strict parsers for Telegram's HTML, MarkdownV2 and legacy Markdown ``parse_mode``.

Each parser returns ``(plain_text, entities)`` like Telegram does (offsets in UTF-16 code units) or
raises :class:`MarkupError` with Telegram's wording (the caller prefixes it with
``Bad Request: can't parse entities:``). HTML follows the documented rules strictly: only the
supported tags, and a literal ``<`` or ``&`` must be escaped (``&lt;``, ``&amp;``).
"""

from __future__ import annotations

import re
from typing import Any

Entity = dict[str, Any]

HTML_TAGS: dict[str, str] = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "blockquote": "blockquote",
}

_TAG_NAME_RE = re.compile(r"[a-zA-Z0-9-]*")
_ATTR_RE = re.compile(r"\s*([a-zA-Z_][-a-zA-Z0-9_]*)(?:\s*=\s*(?:\"([^\"]*)\"|'([^']*)'|([^\s\"'>]+)))?")
_ENTITY_RE = re.compile(r"&(?:(lt|gt|amp|quot)|#(\d{1,7})|#[xX]([0-9a-fA-F]{1,6}));")
_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
MARKDOWN_V2_RESERVED = frozenset("_*[]()~`>#+-=|{}.!")


class MarkupError(ValueError):
    """Text that Telegram refuses to parse."""


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, the unit of Telegram entity offsets."""
    return len(text.encode("utf-16-le")) // 2


def _byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode("utf-8"))


class _Builder:
    """Accumulates plain text and entities while a parser walks the source."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.pos = 0
        self.entities: list[Entity] = []

    def add(self, text: str) -> None:
        self.parts.append(text)
        self.pos += utf16_len(text)

    def entity(self, kind: str, start: int, **extra: Any) -> None:
        if self.pos > start:
            self.entities.append({"type": kind, "offset": start, "length": self.pos - start, **extra})

    def result(self) -> tuple[str, list[Entity]]:
        ordered = sorted(self.entities, key=lambda e: (e["offset"], -e["length"]))
        return "".join(self.parts), ordered


def parse(text: str, parse_mode: str | None) -> tuple[str, list[Entity]]:
    """Dispatch on ``parse_mode`` (case-insensitive); ``None`` means plain text."""
    mode = (parse_mode or "").lower()
    if not mode:
        return text, []
    if mode == "html":
        return parse_html(text)
    if mode == "markdownv2":
        return parse_markdown_v2(text)
    if mode == "markdown":
        return parse_markdown(text)
    raise MarkupError(f"Unsupported parse_mode {parse_mode!r}")


def parse_html(source: str) -> tuple[str, list[Entity]]:
    """Parse Telegram HTML strictly."""
    out = _Builder()
    stack: list[tuple[str, int, dict[str, str]]] = []
    i, n = 0, len(source)
    while i < n:
        char = source[i]
        if char == "&":
            match = _ENTITY_RE.match(source, i)
            if match is None:
                raise MarkupError(f'Character "&" must be escaped as "&amp;" at byte offset {_byte_offset(source, i)}')
            named, dec, hexa = match.groups()
            out.add(_NAMED[named] if named else chr(int(dec) if dec else int(hexa, 16)))
            i = match.end()
        elif char == "<":
            i = _html_tag(source, i, out, stack)
        elif char == ">":
            out.add(">")
            i += 1
        else:
            j = i
            while j < n and source[j] not in "&<>":
                j += 1
            out.add(source[i:j])
            i = j
    if stack:
        raise MarkupError(f'Can\'t find end tag corresponding to start tag "{stack[-1][0]}"')
    return out.result()


def _html_tag(source: str, i: int, out: _Builder, stack: list[tuple[str, int, dict[str, str]]]) -> int:
    offset = _byte_offset(source, i)
    closing = source.startswith("</", i)
    name_match = _TAG_NAME_RE.match(source, i + (2 if closing else 1))
    assert name_match is not None
    name = name_match.group().lower()
    j = name_match.end()
    if closing:
        end = source.find(">", j)
        if end < 0 or source[j:end].strip():
            raise MarkupError(f"Unclosed end tag at byte offset {offset}")
        if not stack:
            raise MarkupError(f"Unexpected end tag at byte offset {offset}")
        open_name, start, attrs = stack.pop()
        if name != open_name:
            raise MarkupError(
                f'Unmatched end tag at byte offset {offset}, expected "</{open_name}>", found "</{name}>"'
            )
        _close_html_entity(open_name, start, attrs, out, stack)
        return end + 1
    if name not in HTML_TAGS:
        raise MarkupError(f'Unsupported start tag "{name}" at byte offset {offset}')
    attrs: dict[str, str] = {}
    while True:
        attr = _ATTR_RE.match(source, j)
        if attr is None or attr.end() == j:
            break
        key, *values = attr.groups()
        attrs[key.lower()] = next((v for v in values if v is not None), "")
        j = attr.end()
    while j < len(source) and source[j].isspace():
        j += 1
    if j >= len(source) or source[j] != ">":
        raise MarkupError(f"Unclosed start tag at byte offset {offset}")
    if name == "span" and attrs.get("class") != "tg-spoiler":
        raise MarkupError('Tag "span" must have class "tg-spoiler"')
    stack.append((name, out.pos, attrs))
    return j + 1


def _close_html_entity(
    name: str, start: int, attrs: dict[str, str], out: _Builder, stack: list[tuple[str, int, dict[str, str]]]
) -> None:
    kind = HTML_TAGS[name]
    if kind == "text_link":
        if attrs.get("href"):
            out.entity("text_link", start, url=attrs["href"])
        return
    if kind == "code" and stack and stack[-1][0] == "pre":
        language = attrs.get("class", "").removeprefix("language-")
        if language:
            stack[-1][2]["language"] = language
        return
    if kind == "pre" and attrs.get("language"):
        out.entity("pre", start, language=attrs["language"])
        return
    if kind == "blockquote" and "expandable" in attrs:
        kind = "expandable_blockquote"
    out.entity(kind, start)


_MDV2_NAMES = {
    "bold": "Bold",
    "italic": "Italic",
    "underline": "Underline",
    "strikethrough": "Strikethrough",
    "spoiler": "Spoiler",
    "text_link": "TextUrl",
}


def parse_markdown_v2(source: str) -> tuple[str, list[Entity]]:
    """Parse MarkdownV2: every reserved character outside entities must be escaped."""
    out = _Builder()
    stack: list[tuple[str, int, int]] = []  # (kind, start, byte offset)
    i, n = 0, len(source)
    at_line_start = True
    while i < n:
        char = source[i]
        if char == "\\" and i + 1 < n and 0 < ord(source[i + 1]) < 127:
            out.add(source[i + 1])
            i += 2
            at_line_start = False
            continue
        if char == "`":
            i = _markdown_code(source, i, out)
        elif char == ">" and at_line_start:
            end = source.find("\n", i)
            end = n if end < 0 else end
            start = out.pos
            inner_text, inner = parse_markdown_v2(source[i + 1 : end])
            for entity in inner:
                out.entities.append({**entity, "offset": entity["offset"] + start})
            out.add(inner_text)
            out.entity("blockquote", start)
            i = end
        elif char == "]" and any(kind == "text_link" for kind, _, _ in stack):
            kind, start, offset = stack.pop()
            if kind != "text_link" or not source.startswith("(", i + 1):
                raise MarkupError(f"Can't find end of {_MDV2_NAMES[kind]} entity at byte offset {offset}")
            close = source.find(")", i + 2)
            while close > 0 and source[close - 1] == "\\":
                close = source.find(")", close + 1)
            if close < 0:
                raise MarkupError(f"Can't find end of a URL at byte offset {_byte_offset(source, i)}")
            url = re.sub(r"\\(.)", r"\1", source[i + 2 : close])
            out.entity("text_link", start, url=url)
            i = close + 1
        elif (kind := _markdown_v2_marker(source, i)) is not None:
            width = 2 if kind in ("underline", "spoiler") else 1
            opened = next((k for k, (name, _, _) in enumerate(stack) if name == kind), None)
            if opened is None:
                stack.append((kind, out.pos, _byte_offset(source, i)))
            else:
                _, start, _ = stack.pop(opened)
                out.entity(kind, start)
            i += width
        elif char in MARKDOWN_V2_RESERVED:
            raise MarkupError(f"Character '{char}' is reserved and must be escaped with the preceding '\\'")
        else:
            out.add(char)
            i += 1
        at_line_start = source[i - 1] == "\n" if i > 0 else True
    if stack:
        kind, _, offset = stack[-1]
        raise MarkupError(f"Can't find end of {_MDV2_NAMES[kind]} entity at byte offset {offset}")
    return out.result()


def _markdown_v2_marker(source: str, i: int) -> str | None:
    char = source[i]
    if char == "*":
        return "bold"
    if char == "_":
        return "underline" if source.startswith("__", i) else "italic"
    if char == "~":
        return "strikethrough"
    if char == "|" and source.startswith("||", i):
        return "spoiler"
    if char == "[":
        return "text_link"
    return None


def _markdown_code(source: str, i: int, out: _Builder) -> int:
    """Consume `code` or ```pre``` starting at ``i``; backslash escapes ` and \\ inside."""
    fence = "```" if source.startswith("```", i) else "`"
    j = i + len(fence)
    language = ""
    if fence == "```":
        newline = source.find("\n", j)
        first_line = source[j:newline] if newline >= 0 else ""
        if newline >= 0 and first_line and " " not in first_line and "`" not in first_line:
            language, j = first_line, newline + 1
    chars: list[str] = []
    while j < len(source):
        if source[j] == "\\" and j + 1 < len(source):
            chars.append(source[j + 1])
            j += 2
        elif source.startswith(fence, j):
            start = out.pos
            out.add("".join(chars))
            if fence == "`":
                out.entity("code", start)
            elif language:
                out.entity("pre", start, language=language)
            else:
                out.entity("pre", start)
            return j + len(fence)
        else:
            chars.append(source[j])
            j += 1
    kind = "Code" if fence == "`" else "Pre"
    raise MarkupError(f"Can't find end of {kind} entity at byte offset {_byte_offset(source, i)}")


def parse_markdown(source: str) -> tuple[str, list[Entity]]:
    """Parse legacy Markdown (``*bold*``, ``_italic_``, ```code```, ``[text](url)``; no nesting)."""
    out = _Builder()
    i, n = 0, len(source)
    closers = {"*": "bold", "_": "italic"}
    while i < n:
        char = source[i]
        if char == "\\" and i + 1 < n and source[i + 1] in "_*`[":
            out.add(source[i + 1])
            i += 2
        elif char == "`":
            i = _markdown_code(source, i, out)
        elif char in closers:
            end = source.find(char, i + 1)
            if end < 0:
                raise MarkupError(f"Can't find end of the entity starting at byte offset {_byte_offset(source, i)}")
            start = out.pos
            out.add(source[i + 1 : end])
            out.entity(closers[char], start)
            i = end + 1
        elif char == "[":
            match = re.compile(r"\[([^\]]*)\]\(([^)]*)\)").match(source, i)
            if match is None:
                raise MarkupError(f"Can't find end of the entity starting at byte offset {_byte_offset(source, i)}")
            start = out.pos
            out.add(match.group(1))
            out.entity("text_link", start, url=match.group(2))
            i = match.end()
        else:
            out.add(char)
            i += 1
    return out.result()


def strip_text(text: str, entities: list[Entity]) -> tuple[str, list[Entity]]:
    """Trim surrounding whitespace like Telegram does, shifting and clipping entities."""
    stripped = text.strip()
    if stripped == text:
        return text, entities
    lead = utf16_len(text[: len(text) - len(text.lstrip())])
    size = utf16_len(stripped)
    kept: list[Entity] = []
    for entity in entities:
        start = max(entity["offset"] - lead, 0)
        end = min(entity["offset"] + entity["length"] - lead, size)
        if end > start:
            kept.append({**entity, "offset": start, "length": end - start})
    return stripped, kept


_AUTO_ENTITY_RE = re.compile(
    r"(?P<bot_command>(?<![\w/])/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?)"
    r"|(?P<mention>(?<!\w)@[A-Za-z0-9_]{5,32})"
    r"|(?P<url>https?://[^\s<>]+)"
)


def auto_entities(text: str) -> list[Entity]:
    """Entities Telegram detects in plain text a user sends: bot commands, mentions, URLs."""
    entities: list[Entity] = []
    for match in _AUTO_ENTITY_RE.finditer(text):
        kind = match.lastgroup or "url"
        entities.append({"type": kind, "offset": utf16_len(text[: match.start()]), "length": utf16_len(match.group())})
    return entities
