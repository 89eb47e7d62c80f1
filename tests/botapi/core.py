"""Core of the fake Bot API: storage, dispatch, call recording, waiting and fault injection.

Transport-independent: :meth:`TelegramCore.handle` takes a method name, loosely typed parameters
(as JSON, form fields or ``RequestData.json_parameters``) and uploaded files, and returns
``(http_status, json_body)``. The API methods and the user-side drivers are mixins on top.
"""

from __future__ import annotations

import asyncio
import copy
import inspect
import itertools
import json
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from tests.botapi.models import (
    JSON,
    ApiError,
    Call,
    FakeChat,
    FakeMessage,
    FakeUpdate,
    FakeUser,
    StoredFile,
    UploadedFile,
    bad_request,
    forbidden,
)

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])

SENDING_METHODS = frozenset(
    m.lower()
    for m in [
        "sendMessage",
        "sendPhoto",
        "sendDocument",
        "sendVideo",
        "sendVoice",
        "sendAudio",
        "sendSticker",
        "sendAnimation",
        "sendLocation",
        "sendContact",
        "sendMediaGroup",
        "sendVideoNote",
        "sendVenue",
        "sendPoll",
        "sendDice",
        "sendInvoice",
        "copyMessage",
        "copyMessages",
        "forwardMessage",
        "forwardMessages",
    ]
)

_JSON_PARAMS = frozenset(
    [
        "reply_markup",
        "reply_parameters",
        "entities",
        "caption_entities",
        "link_preview_options",
        "media",
        "allowed_updates",
        "commands",
        "scope",
        "menu_button",
        "message_ids",
        "reaction",
        "permissions",
        "prices",
        "suggested_tip_amounts",
    ]
)
_INT_PARAMS = frozenset(
    [
        "chat_id",
        "from_chat_id",
        "message_id",
        "message_thread_id",
        "offset",
        "limit",
        "timeout",
        "reply_to_message_id",
        "user_id",
        "max_connections",
        "icon_color",
        "cache_time",
        "duration",
        "width",
        "height",
        "live_period",
        "video_start_timestamp",
        "max_tip_amount",
    ]
)
_FLOAT_PARAMS = frozenset(["latitude", "longitude", "horizontal_accuracy"])
_BOOL_PARAMS = frozenset(
    [
        "disable_notification",
        "protect_content",
        "drop_pending_updates",
        "show_alert",
        "disable_web_page_preview",
        "allow_sending_without_reply",
        "has_spoiler",
        "show_caption_above_media",
        "only_if_banned",
        "revoke",
        "disable_content_type_detection",
        "allow_paid_broadcast",
        "is_big",
        "for_channels",
        "ok",
    ]
)

FILE_PREFIX = {
    "photo": "AgAC",
    "document": "BQAC",
    "video": "BAAC",
    "voice": "AwAC",
    "audio": "CQAC",
    "sticker": "CAAC",
    "animation": "CgAC",
    "video_note": "DQAC",
}
FILE_FOLDER = {
    "photo": ("photos", "jpg"),
    "document": ("documents", "bin"),
    "video": ("videos", "mp4"),
    "voice": ("voice", "oga"),
    "audio": ("music", "mp3"),
    "sticker": ("stickers", "webp"),
    "animation": ("animations", "mp4"),
    "video_note": ("video_notes", "mp4"),
}


def coerce_params(raw: Mapping[str, Any]) -> JSON:
    """Type loosely encoded parameters the way the Bot API does (by parameter name)."""
    params: JSON = {}
    for key, value in raw.items():
        if value is None:
            continue
        if isinstance(value, str):
            value = _coerce_str(key, value)
        params[key] = value
    return params


def _coerce_str(key: str, value: str) -> Any:
    try:
        if key in _JSON_PARAMS:
            return json.loads(value)
        if key in _INT_PARAMS:
            return int(value)
        if key in _FLOAT_PARAMS:
            return float(value)
    except ValueError:
        if key in _JSON_PARAMS:
            raise bad_request(f"can't parse {key} JSON object") from None
        return value  # e.g. chat_id="@channelusername"
    if key in _BOOL_PARAMS:
        return value.lower() in ("true", "1")
    return value


def api(name: str) -> Callable[[F], F]:
    """Mark a method as the implementation of Bot API method ``name``."""

    def mark(fn: F) -> F:
        fn._api_name = name  # type: ignore[attr-defined]
        return fn

    return mark


@dataclass
class Fault:
    """A pending injected error (see :meth:`TelegramCore.fail_next`)."""

    method: str | None
    error: ApiError
    chat_id: int | str | None = None
    times: int = 1


@dataclass
class SendRecord:
    """Bookkeeping of one sending call, for rate-limit assertions."""

    at: float
    chat_id: int | str | None
    method: str
    ok: bool
    business_connection_id: str | None = None  # sent as a business, in a business chat


@dataclass
class StarPayment:
    """A payment a user made in Telegram Stars (`XTR`), and whether the bot refunded it."""

    user_id: int
    total_amount: int
    refunded: bool = False


@dataclass
class CallbackRecord:
    """A callback query a user created, and the bot's answer if any."""

    query: JSON
    answered: bool = False
    answer: JSON = field(default_factory=dict)


class TelegramCore:
    """State and plumbing shared by the API methods and the drivers."""

    def __init__(self) -> None:
        self.users: dict[int, FakeUser] = {}
        self.chats: dict[int, FakeChat] = {}
        self.messages: dict[tuple[int, int], FakeMessage] = {}
        self.files: dict[str, StoredFile] = {}
        self.photo_sizes: dict[str, list[JSON]] = {}
        self.uploads: list[UploadedFile] = []
        self.calls: list[Call] = []
        self.updates: list[FakeUpdate] = []
        self.callback_queries: dict[str, CallbackRecord] = {}
        self.pre_checkout_queries: dict[str, CallbackRecord] = {}
        self.star_payments: dict[str, StarPayment] = {}  # by telegram_payment_charge_id
        self.sends: list[SendRecord] = []
        self.chat_actions: list[tuple[int, str]] = []
        self.webhook: JSON | None = None
        self.allowed_updates: list[str] | None = None
        self.privacy_mode = True
        self.commands: dict[tuple[str, str], list[JSON]] = {}
        self.menu_buttons: dict[str, JSON] = {}
        self.profile: dict[tuple[str, str], str] = {}
        self._pending: list[FakeUpdate] = []
        self._faults: list[Fault] = []
        self._delays: list[tuple[str | None, float]] = []
        self._flood: dict[str, tuple[int, float]] = {}
        self._flood_retry_after = 1
        self._waiters: list[asyncio.Future[None]] = []
        self._ids = itertools.count(1)
        self._update_ids = itertools.count(1)
        self.polls_waiting = 0
        self.internal_errors: list[Exception] = []
        self._poll_generation = 0
        self._poll_interrupts = 0
        self._handlers = self._collect_handlers()

    # ------------------------------------------------------------------ dispatch
    def _collect_handlers(self) -> dict[str, tuple[str, Callable[..., Any]]]:
        table: dict[str, tuple[str, Callable[..., Any]]] = {}
        for klass in type(self).__mro__:
            for attr, fn in vars(klass).items():
                name = getattr(fn, "_api_name", None)
                if name and name.lower() not in table:
                    table[name.lower()] = (name, getattr(self, attr))
        return table

    @property
    def api_methods(self) -> list[str]:
        """Names of all implemented Bot API methods."""
        return sorted(name for name, _ in self._handlers.values())

    async def handle(
        self,
        method: str,
        params: Mapping[str, Any] | None = None,
        files: Mapping[str, UploadedFile] | None = None,
        *,
        token: str = "",
    ) -> tuple[int, JSON]:
        """Answer one Bot API call: returns ``(http_status, json_body)`` and records the call."""
        name, handler = self._handlers.get(method.lower(), (method, None))
        files = dict(files or {})
        call = Call(method=name, params={}, files=files, at=time.monotonic())
        try:
            call.params = coerce_params(params or {})
            await self._apply_delay(name)
            self._raise_injected_fault(name, call.params)
            if handler is None:
                raise ApiError(404, "Not Found: method not found")
            self._check_flood(name, call.params)
            result = handler(call.params, files)
            if inspect.isawaitable(result):
                result = await result
            call.result = result
        except ApiError as error:
            call.error = error
        except Exception as error:  # a bug in the fake: keep it visible even if the bot swallows it
            self.internal_errors.append(error)
            self.notify()
            raise
        self._record(call)
        if call.error is not None:
            return call.error.status, call.error.payload()
        return 200, {"ok": True, "result": call.result}

    def _record(self, call: Call) -> None:
        self.calls.append(call)
        self.uploads.extend(call.files.values())
        if call.method.lower() in SENDING_METHODS:
            self.sends.append(
                SendRecord(
                    call.at, call.params.get("chat_id"), call.method, call.ok, call.params.get("business_connection_id")
                )
            )
        self.notify()

    # ------------------------------------------------------------------ waiting
    def notify(self) -> None:
        """Wake every waiter (``wait_for``, long polls) to re-check its condition."""
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    poke = notify

    async def _wait_until(self, condition: Callable[[], bool], timeout: float) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not condition():
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            waiter: asyncio.Future[None] = loop.create_future()
            self._waiters.append(waiter)
            try:
                await asyncio.wait_for(waiter, remaining)
            except TimeoutError:
                pass
            finally:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
        return True

    async def wait_for(self, predicate: Callable[[], T], timeout: float = 10.0, *, message: str = "") -> T:
        """Return ``predicate()`` as soon as it is truthy; ``AssertionError`` after ``timeout`` seconds.

        Event driven: the predicate is re-evaluated whenever the fake records a call or its state
        changes (call :meth:`poke` after changing outside state). ``LookupError`` (IndexError,
        KeyError) raised by the predicate counts as "not yet".
        """
        value: Any = None

        def check() -> bool:
            nonlocal value
            try:
                value = predicate()
            except LookupError:
                return False
            return bool(value)

        if not await self._wait_until(check, timeout):
            what = message or getattr(predicate, "__qualname__", repr(predicate))
            raise AssertionError(f"wait_for timed out after {timeout}s waiting for {what}\n{self.describe()}")
        return value  # type: ignore[no-any-return]

    async def wait_for_call(self, method: str, *, count: int = 1, timeout: float = 10.0, **match: Any) -> Call:
        """Wait until ``count`` calls of ``method`` whose params contain ``match`` were made; return the last."""

        def found() -> Call | None:
            hits = [c for c in self.calls_to(method) if all(c.params.get(k) == v for k, v in match.items())]
            return hits[count - 1] if len(hits) >= count else None

        return await self.wait_for(found, timeout, message=f"{count} x {method}({match})")

    def describe(self, last: int = 20) -> str:
        """Human-readable summary of the last calls (empty getUpdates polls left out)."""
        shown = [c for c in self.calls if not (c.method == "getUpdates" and c.ok and not c.result)]
        lines = [f"  {c}" for c in shown[-last:]] or ["  (no calls)"]
        lines += [f"  INTERNAL ERROR in the fake: {e!r}" for e in self.internal_errors]
        return f"last {min(last, len(shown))} of {len(self.calls)} calls:\n" + "\n".join(lines)

    # ------------------------------------------------------------------ fault injection
    def fail_next(
        self,
        method: str | None,
        *,
        status: int = 429,
        description: str | None = None,
        retry_after: int | None = None,
        chat_id: int | str | None = None,
        times: int = 1,
    ) -> Fault:
        """Answer the next ``times`` calls of ``method`` (``None``: any method), optionally only
        those for ``chat_id``, with an error. 429 answers carry ``parameters.retry_after``."""
        if status == 429 and retry_after is None:
            retry_after = 1
        if description is None:
            description = _DEFAULT_ERRORS.get(status, "Internal Server Error")
            if status == 429:
                description = f"{description}{retry_after}"
        error = ApiError(status, description, retry_after=retry_after if status == 429 else None)
        fault = Fault(method.lower() if method else None, error, chat_id, times)
        self._faults.append(fault)
        return fault

    def delay_next(self, method: str | None, seconds: float) -> None:
        """Make the next call of ``method`` (``None``: any) take ``seconds`` before it is answered."""
        self._delays.append((method.lower() if method else None, seconds))

    def set_flood_limits(
        self,
        *,
        per_chat: tuple[int, float] | None = None,
        global_limit: tuple[int, float] | None = None,
        retry_after: int = 1,
    ) -> None:
        """Enforce flood control like Telegram: at most ``(count, seconds)`` successful sends per chat
        / overall in any window; excess sending calls get 429 with ``retry_after``."""
        self._flood = {k: v for k, v in (("chat", per_chat), ("global", global_limit)) if v}
        self._flood_retry_after = retry_after

    async def _apply_delay(self, method: str) -> None:
        for index, (wanted, seconds) in enumerate(self._delays):
            if wanted is None or wanted == method.lower():
                del self._delays[index]
                await asyncio.sleep(seconds)
                return

    def _raise_injected_fault(self, method: str, params: JSON) -> None:
        for fault in self._faults:
            if fault.method not in (None, method.lower()):
                continue
            if fault.chat_id is not None and str(params.get("chat_id")) != str(fault.chat_id):
                continue
            fault.times -= 1
            if fault.times <= 0:
                self._faults.remove(fault)
            raise fault.error

    def _check_flood(self, method: str, params: JSON) -> None:
        if not self._flood or method.lower() not in SENDING_METHODS:
            return
        now = time.monotonic()
        chat = str(params.get("chat_id"))
        for scope, (limit, seconds) in self._flood.items():
            recent = [
                s for s in self.sends if s.ok and now - s.at < seconds and (scope == "global" or str(s.chat_id) == chat)
            ]
            if len(recent) >= limit:
                retry = self._flood_retry_after
                raise ApiError(429, f"Too Many Requests: retry after {retry}", retry_after=retry)

    # ------------------------------------------------------------------ rate bookkeeping
    def max_per_window(self, chat_id: int | str | FakeUser | FakeChat, seconds: float, *, ok_only: bool = False) -> int:
        """Most sending calls to ``chat_id`` within any window of ``seconds``."""
        wanted = str(_chat_id(chat_id))
        return _max_in_window([s.at for s in self.sends if str(s.chat_id) == wanted and (s.ok or not ok_only)], seconds)

    def max_global_per_second(self, *, ok_only: bool = False) -> int:
        """Most sending calls (all chats) within any one-second window."""
        return _max_in_window([s.at for s in self.sends if s.ok or not ok_only], 1.0)

    # ------------------------------------------------------------------ queries
    def calls_to(self, method: str) -> list[Call]:
        """All recorded calls of ``method`` (case-insensitive), in order."""
        return [c for c in self.calls if c.method.lower() == method.lower()]

    def sent_to(self, chat: int | str | FakeUser | FakeChat, *, include_deleted: bool = True) -> list[FakeMessage]:
        """Messages the bot sent into ``chat`` (including copies and forwards), in order."""
        wanted = self.chat(chat).id
        return [
            m
            for m in self.messages.values()
            if m.from_bot and m.chat_id == wanted and (include_deleted or not m.deleted) and _is_content(m.data)
        ]

    def last_sent(self, chat: int | str | FakeUser | FakeChat) -> FakeMessage | None:
        """The bot's latest message in ``chat`` or ``None``."""
        sent = self.sent_to(chat)
        return sent[-1] if sent else None

    def history(self, chat: int | str | FakeUser | FakeChat, *, include_deleted: bool = False) -> list[FakeMessage]:
        """Every message in ``chat`` (users' and the bot's, service messages too), in order."""
        wanted = self.chat(chat).id
        return [m for m in self.messages.values() if m.chat_id == wanted and (include_deleted or not m.deleted)]

    def message(self, chat: int | str | FakeUser | FakeChat, message_id: int) -> FakeMessage | None:
        """The (non-deleted) message ``message_id`` of ``chat``."""
        found = self.messages.get((self.chat(chat).id, message_id))
        return None if found is None or found.deleted else found

    def chat(self, chat: int | str | FakeUser | FakeChat) -> FakeChat:
        """Look a chat up by id, ``@username``, user or chat object; ``KeyError`` if unknown."""
        if isinstance(chat, FakeChat):
            return chat
        key = _chat_id(chat)
        if isinstance(key, str) and key.startswith("@"):
            for candidate in self.chats.values():
                if candidate.username and f"@{candidate.username}".lower() == key.lower() and candidate.is_group:
                    return candidate
            raise KeyError(key)
        return self.chats[int(key)]

    @property
    def pending_updates(self) -> list[FakeUpdate]:
        """Updates queued and not yet confirmed through ``getUpdates`` offsets."""
        return list(self._pending)

    # ------------------------------------------------------------------ building blocks
    def now(self) -> int:
        return int(time.time())

    def next_id(self) -> int:
        return next(self._ids)

    def queue_update(self, kind: str, payload: JSON, message: FakeMessage | None = None) -> FakeUpdate:
        """Queue an update ``{"update_id": n, kind: payload}`` for getUpdates."""
        update = FakeUpdate(next(self._update_ids), {kind: copy.deepcopy(payload)}, message)
        update.data = {"update_id": update.update_id, **update.data}
        self.updates.append(update)
        self._pending.append(update)
        if message is not None and message.update_id is None:
            message.update_id = update.update_id
        self.notify()
        return update

    def resolve_chat(self, chat_id: Any) -> FakeChat:
        """The chat for a ``chat_id`` parameter, or the Bot API error Telegram would give."""
        if chat_id is None or chat_id == "":
            raise bad_request("chat_id is empty")
        try:
            chat = self.chat(chat_id)
        except (KeyError, ValueError):
            raise bad_request("chat not found") from None
        if chat.migrated_to is not None:
            raise ApiError(
                400, "Bad Request: group chat was upgraded to a supergroup chat", migrate_to_chat_id=chat.migrated_to
            )
        return chat

    def check_can_write(self, chat: FakeChat) -> None:
        """Raise the 403 Telegram answers when the bot may not write into ``chat``."""
        user = chat.user
        if user is not None:
            if user.deactivated:
                raise forbidden("user is deactivated")
            if user.blocked_bot:
                raise forbidden("bot was blocked by the user")
            if not user.started:
                raise forbidden("bot can't initiate conversation with a user")
            return
        if chat.bot_status == "kicked":
            raise forbidden(f"bot was kicked from the {chat.type} chat")
        if chat.bot_status == "left":
            raise forbidden(f"bot is not a member of the {chat.type} chat")

    def find_message(self, chat_id: int, message_id: Any) -> FakeMessage | None:
        try:
            found = self.messages.get((chat_id, int(message_id)))
        except (TypeError, ValueError):
            return None
        return None if found is None or found.deleted else found

    def new_message(
        self,
        chat: FakeChat,
        sender: JSON | None,
        content: JSON,
        *,
        from_bot: bool = False,
        thread_id: int | None = None,
        reply_to: FakeMessage | None = None,
        extra: JSON | None = None,
        params: JSON | None = None,
    ) -> FakeMessage:
        """Create and store a message in ``chat`` (forum topics and replies handled like Telegram)."""
        chat.last_message_id += 1
        data: JSON = {"message_id": chat.last_message_id}
        if sender is not None:
            data["from"] = sender
        data.update({"chat": chat.to_json(), "date": self.now()})
        if reply_to is not None and thread_id is None:
            thread_id = reply_to.thread_id
        if chat.is_forum and thread_id not in (None, 1):
            topic_root = self.find_message(chat.id, thread_id)
            data["message_thread_id"] = thread_id
            data["is_topic_message"] = True
            if reply_to is None:
                reply_to = topic_root
        if reply_to is not None:
            if reply_to.chat_id == chat.id:
                data["reply_to_message"] = _without_reply(reply_to.data)
            else:
                data["external_reply"] = {
                    "origin": self.origin_of(reply_to),
                    "chat": reply_to.data["chat"],
                    "message_id": reply_to.message_id,
                }
        data.update(copy.deepcopy(content))
        data.update(extra or {})
        message = FakeMessage(data=data, from_bot=from_bot, params=dict(params or {}))
        self.messages[message.key] = message
        self.notify()
        return message

    def origin_of(self, message: FakeMessage) -> JSON:
        """``MessageOrigin`` of ``message`` for forwards, honouring the sender's privacy."""
        sender = message.data.get("from") or {}
        user = self.users.get(sender.get("id", 0))
        if user is not None and user.has_private_forwards:
            return {"type": "hidden_user", "date": message.data["date"], "sender_user_name": user.full_name}
        return {"type": "user", "date": message.data["date"], "sender_user": sender}

    def new_file(self, kind: str, content: bytes, **meta: Any) -> StoredFile:
        """Register a file so it can be sent by file_id, fetched with getFile and downloaded."""
        n = self.next_id()
        stored = StoredFile(
            file_id=f"{FILE_PREFIX.get(kind, 'BQAC')}AgIAAxkBAA{n:08d}",
            file_unique_id=f"AQAD{n:08d}",
            kind=kind,
            content=content,
            **meta,
        )
        self.files[stored.file_id] = stored
        return stored

    def new_photo(self, content: bytes) -> list[JSON]:
        """Register a photo in three sizes (sharing ``content``); returns the PhotoSize list."""
        sizes: list[JSON] = []
        for width, height in ((90, 67), (320, 240), (800, 600)):
            stored = self.new_file("photo", content, width=width, height=height, mime_type="image/jpeg")
            sizes.append(
                {
                    "file_id": stored.file_id,
                    "file_unique_id": stored.file_unique_id,
                    "width": width,
                    "height": height,
                    "file_size": stored.size,
                }
            )
        for size in sizes:
            self.photo_sizes[size["file_id"]] = sizes
        return sizes

    def media_json(self, stored: StoredFile, kind: str | None = None) -> Any:
        """The Telegram object describing ``stored`` (a PhotoSize list for photos)."""
        kind = kind or stored.kind
        if kind == "photo":
            return copy.deepcopy(self.photo_sizes[stored.file_id])
        data: JSON = {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id, "file_size": stored.size}
        if kind in ("video", "animation", "sticker", "video_note"):
            data.update(width=stored.width or 640, height=stored.height or 480)
        if kind in ("video", "animation", "voice", "audio", "video_note"):
            data["duration"] = stored.duration or 1
        if kind == "sticker":
            data.update(type="regular", is_animated=False, is_video=False)
        if kind == "video_note":
            data["length"] = data.pop("width")
            data.pop("height")
        if kind in ("document", "video", "animation", "audio") and stored.file_name:
            data["file_name"] = stored.file_name
        if kind != "sticker" and stored.mime_type:
            data["mime_type"] = stored.mime_type
        return data

    def file_path_of(self, stored: StoredFile) -> str:
        if stored.file_path is None:
            folder, ext = FILE_FOLDER.get(stored.kind, ("documents", "bin"))
            if stored.file_name and "." in stored.file_name:
                ext = stored.file_name.rsplit(".", 1)[1]
            stored.file_path = f"{folder}/file_{self.next_id()}.{ext}"
        return stored.file_path

    def download(self, file_path: str) -> bytes | None:
        """Content of a file previously returned by getFile, or ``None``."""
        for stored in self.files.values():
            if stored.file_path == file_path:
                return stored.content
        return None

    def interrupt_polls(self) -> None:
        """Make in-flight long polls return immediately (used when a server shuts down)."""
        self._poll_interrupts += 1
        self.notify()


_DEFAULT_ERRORS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden: bot was blocked by the user",
    404: "Not Found",
    409: "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running",
    429: "Too Many Requests: retry after ",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}

_SERVICE_KEYS = frozenset(
    [
        "new_chat_members",
        "left_chat_member",
        "forum_topic_created",
        "forum_topic_edited",
        "forum_topic_closed",
        "forum_topic_reopened",
        "migrate_to_chat_id",
        "migrate_from_chat_id",
        "pinned_message",
        "group_chat_created",
        "supergroup_chat_created",
        "new_chat_title",
    ]
)


def _is_content(data: JSON) -> bool:
    return not any(key in data for key in _SERVICE_KEYS)


def _without_reply(data: JSON) -> JSON:
    return {k: copy.deepcopy(v) for k, v in data.items() if k not in ("reply_to_message", "external_reply")}


def _chat_id(chat: int | str | FakeUser | FakeChat) -> int | str:
    if isinstance(chat, FakeUser | FakeChat):
        return chat.id
    if isinstance(chat, str) and not chat.startswith("@"):
        return int(chat)
    return chat


def _max_in_window(times: Iterable[float], seconds: float) -> int:
    ordered = sorted(times)
    best = start = 0
    for end, at in enumerate(ordered):
        while at - ordered[start] >= seconds:
            start += 1
        best = max(best, end - start + 1)
    return best
