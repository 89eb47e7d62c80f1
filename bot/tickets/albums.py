"""Albums: several photos or videos sent together (one `media_group_id`) stay one album wherever they are relayed.

Telegram delivers an album as separate messages, one update each, and gives no sign of which part is the last.
`AlbumCollector` gathers the parts of each album (by chat and `media_group_id`) and hands them over together,
in order, once no new part has come for `ALBUM_HOLD` — the same wait the customer side uses (storage/tickets.py).
`send_album` sends them to any chat (a customer, a forum topic, an agent's inbox) as one `sendMediaGroup` with the
files' ids, each caption kept with its formatting.

The collector is a background service (bot/runtime/background.py): tests wait for it to settle, and stopping it
sends what it holds at once. It keeps nothing on disk: an album still being gathered when the process dies is
not relayed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from telegram import (
    Bot,
    InputMediaAudio,
    InputMediaDocument,
    InputMediaPhoto,
    InputMediaVideo,
    Message,
    MessageEntity,
)
from telegram.ext import Application

from bot.business.sending import resend
from bot.runtime.background import add_background
from storage.tickets import ALBUM_HOLD

log = logging.getLogger(__name__)

ALBUMS_KEY = "albums"
ALBUM_MEDIA = {
    "photo": InputMediaPhoto,
    "video": InputMediaVideo,
    "document": InputMediaDocument,
    "audio": InputMediaAudio,
}
ALBUM_SIZE = range(2, 11)  # what sendMediaGroup takes

Deliver = Callable[[list[Message]], Awaitable[None]]


@dataclass(frozen=True)
class AlbumPart:
    """One file of an album: its kind (a key of `ALBUM_MEDIA`), file id and caption."""

    kind: str
    file_id: str
    caption: str | None = None
    caption_entities: Sequence[MessageEntity] = ()


def album_part(message: Message) -> AlbumPart | None:
    """The album part a message is, or None when it is no part of an album (or of a kind albums cannot hold)."""
    if not message.media_group_id:
        return None
    if message.photo:
        kind, file_id = "photo", message.photo[-1].file_id
    elif message.video:
        kind, file_id = "video", message.video.file_id
    elif message.document:
        kind, file_id = "document", message.document.file_id
    elif message.audio:
        kind, file_id = "audio", message.audio.file_id
    else:
        return None
    return AlbumPart(kind, file_id, message.caption, tuple(message.caption_entities))


async def send_album(bot: Bot, chat_id: int, parts: Sequence[AlbumPart], **kwargs: Any) -> list[Message]:
    """Send `parts` (2 to 10) to `chat_id` as one album; `kwargs` go to sendMediaGroup (a topic, a reply, …)."""
    media = [
        ALBUM_MEDIA[part.kind](part.file_id, caption=part.caption, caption_entities=part.caption_entities or None)
        for part in parts
    ]
    return list(await bot.send_media_group(chat_id, media, **kwargs))


async def copy_to(bot: Bot, chat_id: int, messages: Sequence[Message], **kwargs: Any) -> list[int]:
    """Copy `messages` to `chat_id` — the parts of one album as one album — and return the copies' message ids
    in the same order; `kwargs` go to each call (a topic, a reply, a business connection, …)."""
    parts = [part for message in messages if (part := album_part(message)) is not None]
    if len(messages) in ALBUM_SIZE and len(parts) == len(messages):
        return [sent.message_id for sent in await send_album(bot, chat_id, parts, **kwargs)]
    if kwargs.get("business_connection_id"):  # copyMessage takes none: into a business chat each is sent again
        return [(await resend(bot, message, chat_id=chat_id, **kwargs)).message_id for message in messages]
    copies = [await bot.copy_message(chat_id, message.chat_id, message.message_id, **kwargs) for message in messages]
    return [copy.message_id for copy in copies]


@dataclass
class _Gathering:
    deliver: Deliver
    due: float
    parts: dict[int, Message] = field(default_factory=dict)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None


class AlbumCollector:
    """Gathers album parts and hands each album over once, in message order, `hold` seconds after its last part."""

    def __init__(self, hold: float = ALBUM_HOLD.total_seconds()) -> None:
        self.hold = hold
        self._gathering: dict[tuple[int, str], _Gathering] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def add(self, message: Message, deliver: Deliver) -> None:
        """Keep `message` (a part of an album) until its album is complete; then `deliver` gets every part. The
        first part's `deliver` is the one called."""
        assert message.media_group_id is not None
        key = (message.chat_id, message.media_group_id)
        loop = asyncio.get_running_loop()
        album = self._gathering.get(key)
        if album is None:
            album = self._gathering[key] = _Gathering(deliver, loop.time() + self.hold)
            album.task = asyncio.create_task(self._hand_over(key, album), name=f"album-{message.media_group_id}")
            self._tasks.add(album.task)
            album.task.add_done_callback(self._tasks.discard)
        album.parts[message.message_id] = message
        album.due = loop.time() + self.hold

    async def flush(self, chat_id: int) -> None:
        """Hand over every album gathered in `chat_id` now (a message sent after an album must not overtake it)."""
        waiting = [album for (chat, _), album in self._gathering.items() if chat == chat_id]
        for album in waiting:
            album.due = 0.0
            album.wake.set()
        await asyncio.gather(*(album.task for album in waiting if album.task is not None), return_exceptions=True)

    async def _hand_over(self, key: tuple[int, str], album: _Gathering) -> None:
        loop = asyncio.get_running_loop()
        while (delay := album.due - loop.time()) > 0:
            album.wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await album.wake.wait()
        del self._gathering[key]
        try:
            await album.deliver([album.parts[number] for number in sorted(album.parts)])
        except Exception:
            log.exception("could not relay an album")

    # ------------------------------------------------------------ as a background service

    async def start(self) -> None:
        """Nothing to start: albums are gathered as their parts arrive."""

    async def stop(self) -> None:
        """Hand over what is gathered at once."""
        for album in self._gathering.values():
            album.due = 0.0
            album.wake.set()
        await self.settled()

    async def settled(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)


def albums_of(app: Application[Any, Any, Any, Any, Any, Any]) -> AlbumCollector:
    collector: AlbumCollector = app.bot_data[ALBUMS_KEY]
    return collector


def register(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    collector = AlbumCollector()
    app.bot_data[ALBUMS_KEY] = collector
    add_background(app, collector)
