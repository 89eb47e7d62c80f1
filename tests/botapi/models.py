"""Plain data records kept by the fake Bot API (users, chats, messages, calls, files, errors)."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

BOT_ID = 1000000
BOT_USERNAME = "carebot_test_bot"
BOT_FIRST_NAME = "Carebot"

MEDIA_KINDS = ("photo", "video", "animation", "document", "audio", "voice", "sticker", "video_note")

JSON = dict[str, Any]


def bot_user_json() -> JSON:
    """The bot as a Telegram ``User`` object (as it appears in ``from`` fields)."""
    return {"id": BOT_ID, "is_bot": True, "first_name": BOT_FIRST_NAME, "username": BOT_USERNAME}


class ApiError(Exception):
    """An error answer of the Bot API: HTTP status plus Telegram's description."""

    def __init__(
        self,
        status: int,
        description: str,
        *,
        retry_after: int | None = None,
        migrate_to_chat_id: int | None = None,
    ) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.retry_after = retry_after
        self.migrate_to_chat_id = migrate_to_chat_id

    def payload(self) -> JSON:
        """The JSON body Telegram answers with."""
        body: JSON = {"ok": False, "error_code": self.status, "description": self.description}
        params: JSON = {}
        if self.retry_after is not None:
            params["retry_after"] = self.retry_after
        if self.migrate_to_chat_id is not None:
            params["migrate_to_chat_id"] = self.migrate_to_chat_id
        if params:
            body["parameters"] = params
        return body

    def __repr__(self) -> str:
        return f"ApiError({self.status}, {self.description!r})"


def bad_request(description: str) -> ApiError:
    """A 400 error; ``description`` without the ``Bad Request:`` prefix."""
    return ApiError(400, f"Bad Request: {description}")


def forbidden(description: str) -> ApiError:
    """A 403 error; ``description`` without the ``Forbidden:`` prefix."""
    return ApiError(403, f"Forbidden: {description}")


@dataclass
class UploadedFile:
    """A file part of a multipart request (what the bot uploaded)."""

    field: str
    filename: str
    content: bytes
    mime_type: str = "application/octet-stream"


@dataclass
class StoredFile:
    """A file known to the fake server, addressable by ``file_id``."""

    file_id: str
    file_unique_id: str
    kind: str
    content: bytes
    file_name: str | None = None
    mime_type: str | None = None
    file_path: str | None = None
    width: int | None = None
    height: int | None = None
    duration: int | None = None

    @property
    def size(self) -> int:
        return len(self.content)


@dataclass
class FakeUser:
    """A Telegram user driven by the tests."""

    id: int
    first_name: str
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = "en"
    has_private_forwards: bool = False
    started: bool = True
    blocked_bot: bool = False
    deactivated: bool = False

    def to_json(self) -> JSON:
        data: JSON = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        for key in ("last_name", "username", "language_code"):
            value = getattr(self, key)
            if value is not None:
                data[key] = value
        return data

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}" if self.last_name else self.first_name


@dataclass
class Topic:
    """A forum topic of a forum supergroup."""

    thread_id: int
    name: str
    icon_color: int
    icon_custom_emoji_id: str | None = None
    closed: bool = False
    deleted: bool = False


@dataclass
class FakeChat:
    """A chat: the private chat with a user, a group or a (forum) supergroup."""

    id: int
    type: str
    title: str | None = None
    username: str | None = None
    is_forum: bool = False
    user: FakeUser | None = None
    members: dict[int, str] = field(default_factory=dict)
    bot_status: str = "member"
    can_manage_topics: bool = True
    topics: dict[int, Topic] = field(default_factory=dict)
    migrated_to: int | None = None
    pinned: list[int] = field(default_factory=list)
    last_message_id: int = 0

    @property
    def is_private(self) -> bool:
        return self.type == "private"

    @property
    def is_group(self) -> bool:
        return self.type in ("group", "supergroup")

    def to_json(self) -> JSON:
        data: JSON = {"id": self.id, "type": self.type}
        if self.user is not None:
            data.update({k: v for k, v in self.user.to_json().items() if k in _PRIVATE_CHAT_KEYS})
        if self.title is not None:
            data["title"] = self.title
        if self.username is not None:
            data["username"] = self.username
        if self.is_forum:
            data["is_forum"] = True
        return data


_PRIVATE_CHAT_KEYS = ("first_name", "last_name", "username")


@dataclass
class FakeMessage:
    """A message that exists in some chat; ``data`` is its current Telegram JSON."""

    data: JSON
    from_bot: bool = False
    deleted: bool = False
    history: list[JSON] = field(default_factory=list)
    params: JSON = field(default_factory=dict)
    upload: UploadedFile | None = None
    copied_from: tuple[int, int] | None = None
    update_id: int | None = None

    @property
    def chat_id(self) -> int:
        return int(self.data["chat"]["id"])

    @property
    def message_id(self) -> int:
        return int(self.data["message_id"])

    @property
    def key(self) -> tuple[int, int]:
        return (self.chat_id, self.message_id)

    @property
    def text(self) -> str | None:
        return self.data.get("text")

    @property
    def caption(self) -> str | None:
        return self.data.get("caption")

    @property
    def content(self) -> str:
        """Text or caption (plain, as Telegram shows it), ``""`` if neither."""
        return self.data.get("text") or self.data.get("caption") or ""

    @property
    def raw_text(self) -> str:
        """Text/caption exactly as the bot sent it (with HTML/Markdown markup), else :attr:`content`."""
        for key in ("text", "caption"):
            if isinstance(self.params.get(key), str):
                return str(self.params[key])
        return self.content

    @property
    def parse_mode(self) -> str | None:
        return self.params.get("parse_mode")

    @property
    def entities(self) -> list[JSON]:
        return list(self.data.get("entities") or self.data.get("caption_entities") or [])

    @property
    def reply_markup(self) -> JSON | None:
        """The inline keyboard shown, else a reply keyboard / force_reply the bot sent with it."""
        sent = self.params.get("reply_markup")
        if "reply_markup" in self.data or (isinstance(sent, dict) and "inline_keyboard" in sent):
            return self.data.get("reply_markup")
        return sent if isinstance(sent, dict) else None

    @property
    def buttons(self) -> list[list[JSON]]:
        """Inline keyboard rows (button dicts); ``[]`` without an inline keyboard."""
        markup = self.data.get("reply_markup") or {}
        return [list(row) for row in markup.get("inline_keyboard", [])]

    @property
    def callback_data(self) -> list[str]:
        """All ``callback_data`` of the inline keyboard, row by row."""
        return [b["callback_data"] for row in self.buttons for b in row if "callback_data" in b]

    @property
    def button_texts(self) -> list[str]:
        return [b["text"] for row in self.buttons for b in row]

    @property
    def reply_to_message_id(self) -> int | None:
        reply = self.data.get("reply_to_message")
        return int(reply["message_id"]) if reply else None

    @property
    def thread_id(self) -> int | None:
        return self.data.get("message_thread_id")

    @property
    def media_type(self) -> str | None:
        for kind in MEDIA_KINDS:
            if kind in self.data:
                return kind
        for kind in ("location", "contact"):
            if kind in self.data:
                return kind
        return None

    @property
    def file_id(self) -> str | None:
        """file_id of the media (largest size for photos)."""
        kind = self.media_type
        if kind is None or kind in ("location", "contact"):
            return None
        media = self.data[kind]
        return str(media[-1]["file_id"] if isinstance(media, list) else media["file_id"])

    @property
    def media_group_id(self) -> str | None:
        return self.data.get("media_group_id")

    @property
    def from_id(self) -> int | None:
        sender = self.data.get("from")
        return int(sender["id"]) if sender else None

    @property
    def edited(self) -> bool:
        return bool(self.history)

    def snapshot(self) -> JSON:
        """A deep copy of the current JSON."""
        return copy.deepcopy(self.data)

    def __repr__(self) -> str:
        what = self.media_type or "text"
        flags = "".join(f" {flag}" for flag, on in (("bot", self.from_bot), ("deleted", self.deleted)) if on)
        content = self.content if len(self.content) <= 60 else self.content[:57] + "..."
        return f"<FakeMessage {self.chat_id}/{self.message_id} {what}{flags} {content!r}>"


@dataclass
class FakeUpdate:
    """An update queued for ``getUpdates``."""

    update_id: int
    data: JSON
    message: FakeMessage | None = None

    @property
    def kind(self) -> str:
        return next(k for k in self.data if k != "update_id")

    @property
    def callback_query_id(self) -> str | None:
        query = self.data.get("callback_query")
        return query["id"] if query else None


@dataclass
class Call:
    """One Bot API call as the fake received and answered it."""

    method: str
    params: JSON
    result: Any = None
    error: ApiError | None = None
    files: dict[str, UploadedFile] = field(default_factory=dict)
    at: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def chat_id(self) -> int | str | None:
        return self.params.get("chat_id")

    def __str__(self) -> str:
        shown = ", ".join(f"{k}={_short(v)}" for k, v in self.params.items())
        if self.files:
            shown += f", files={sorted(self.files)}"
        outcome = "ok" if self.error is None else f"{self.error.status} {self.error.description}"
        return f"{self.method}({shown}) -> {outcome}"


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
