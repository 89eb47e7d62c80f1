"""Telegram's sending limits, kept before each call instead of learnt from 429 answers.

- no more than 30 calls in any second overall;
- no 60-second window with more than 20 calls to one group (a sliding window: a leaky bucket such as PTB's
  `AIORateLimiter` lets a burst of 20 through and then keeps sending, which can put 40 into one minute);
- no more than one call a second to one chat, private or group (a burst from the staff relay would otherwise
  draw 429s from a group too).

Telegram counts everything a bot does in a chat, not only new messages: every call that carries a `chat_id`
counts against that chat's limits and the overall one (sends, copies, edits, pins, deletions, forum-topic calls,
chat actions), as PTB's own `AIORateLimiter` counts them. Only reads (`getChat`, `getChatMember`, …), which put
nothing into the chat, are left out. `MESSAGE_METHODS` are the calls that put a new message into a chat (the
metrics time them as sends).

Every limit is a sliding window (scheduler/sliding_window.py) that counts a call until its answer is back, so
no window of arrivals at Telegram holds more than the limit, whatever the latency. The outbox sender shares the
same per-chat windows (`windows`), so the staff group's twenty a minute hold for the relay, the handlers and the
scheduled digests together.

A 429 answer pauses only the chat it came from for `retry_after`, then the call is retried; other chats go on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine
from contextlib import AsyncExitStack
from typing import Any

from telegram.error import RetryAfter
from telegram.ext import BaseRateLimiter

from scheduler.outcomes import retry_after_seconds
from scheduler.sliding_window import Clock, Sleep, SlidingWindow

log = logging.getLogger(__name__)

GROUP_LIMIT, GROUP_PERIOD = 20, 60.0
PRIVATE_LIMIT, PRIVATE_PERIOD = 1, 1.0
OVERALL_PER_SECOND = 30
MARGIN = 0.1  # Telegram's clock is not ours: a little slack
# The calls that put a new message into a chat: the one list (the metrics time these as sends).
MESSAGE_METHODS = frozenset(
    name.lower()
    for name in (
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
        "sendVenue",
        "sendVideoNote",
        "sendMediaGroup",
        "sendPoll",
        "sendDice",
        "sendInvoice",
        "sendGame",
        "sendPaidMedia",
        "copyMessage",
        "copyMessages",
        "forwardMessage",
        "forwardMessages",
    )
)


def is_message_method(method: str) -> bool:
    return method.lower() in MESSAGE_METHODS


def counts_against_chat(method: str) -> bool:
    """Whether a call with a `chat_id` counts against that chat's limits: everything but reads."""
    return not method.lower().startswith("get")


def _weight(endpoint: str, data: dict[str, Any]) -> int:
    if endpoint == "copymessages" or endpoint == "forwardmessages":
        return len(data.get("message_ids") or []) or 1
    if endpoint == "sendmediagroup":
        return len(data.get("media") or []) or 1
    return 1


class CarebotRateLimiter(BaseRateLimiter[None]):
    """The limits above when `enabled`; when not, only 429 answers are honoured (for a local Bot API)."""

    def __init__(
        self, *, enabled: bool = True, max_retries: int = 5, clock: Clock = time.monotonic, sleep: Sleep = asyncio.sleep
    ) -> None:
        self.enabled = enabled
        self.max_retries = max_retries
        self._clock = clock
        self._sleep = sleep
        self._overall = SlidingWindow(OVERALL_PER_SECOND, 1.0 + MARGIN, clock=clock, sleep=sleep)
        self._windows: dict[int | str, tuple[SlidingWindow, ...]] = {}
        self._paused_until: dict[int | str, float] = {}

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass

    def windows(self, chat_id: int | str) -> tuple[SlidingWindow, ...]:
        """The limits of one chat: one a second, and for a group also twenty a minute."""
        found = self._windows.get(chat_id)
        if found is None:
            if len(self._windows) > 2048:
                for key in [k for k, ws in self._windows.items() if all(w.idle() for w in ws)]:
                    del self._windows[key]
            found = (SlidingWindow(PRIVATE_LIMIT, PRIVATE_PERIOD + MARGIN, clock=self._clock, sleep=self._sleep),)
            if isinstance(chat_id, str) or chat_id < 0:
                found += (SlidingWindow(GROUP_LIMIT, GROUP_PERIOD + MARGIN, clock=self._clock, sleep=self._sleep),)
            self._windows[chat_id] = found
        return found

    async def _wait_out_pause(self, chat_id: int | str) -> None:
        until = self._paused_until.get(chat_id)
        if until is not None:
            delay = until - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            self._paused_until.pop(chat_id, None)

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | dict[str, Any] | list[dict[str, Any]]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: None,
    ) -> bool | dict[str, Any] | list[dict[str, Any]]:
        chat_id: Any = data.get("chat_id")
        with contextlib.suppress(TypeError, ValueError):
            chat_id = int(chat_id)
        method = endpoint.lower()
        counted = chat_id is not None and counts_against_chat(method)
        for attempt in range(self.max_retries + 1):
            if chat_id is not None:
                await self._wait_out_pause(chat_id)
            try:
                async with AsyncExitStack() as limits:
                    if self.enabled and counted:
                        weight = _weight(method, data)
                        for window in (*self.windows(chat_id), self._overall):  # the chat's first, the overall last
                            await limits.enter_async_context(window.use(weight))
                    return await callback(*args, **kwargs)
            except RetryAfter as error:
                if attempt == self.max_retries:
                    raise
                seconds = retry_after_seconds(error)
                log.info("Telegram asked to wait %.0f s before %s", seconds, endpoint)
                if chat_id is None:
                    await asyncio.sleep(seconds + 0.1)
                else:
                    self._paused_until[chat_id] = time.monotonic() + seconds + 0.1
        raise AssertionError("unreachable")
