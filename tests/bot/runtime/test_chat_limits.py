"""With limits on, everything the bot does in a chat counts: edits, pins, deletions and topic calls too, and the
outbox sender's digests share the group's twenty a minute with the staff relay."""

from __future__ import annotations

import asyncio
import random
from typing import Any

from bot.runtime.ratelimit import CarebotRateLimiter, counts_against_chat, is_message_method
from scheduler.config import CareConfig
from scheduler.sender import OutboxSender
from tests.care_support import RecordedSleep

GROUP = -100500
PRIVATE = 7001


class VirtualTime:
    """A clock that moves only when someone sleeps: minutes of limits in milliseconds of test."""

    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += max(seconds, 0.0)
        await asyncio.sleep(0)


def most_within(times: list[float], period: float) -> int:
    times = sorted(times)
    return max((sum(1 for later in times[i:] if later - first < period) for i, first in enumerate(times)), default=0)


async def test_in_any_minute_the_staff_group_gets_at_most_twenty_calls_of_any_kind_and_a_private_chat_one_a_second() -> (
    None
):
    time = VirtualTime()
    limiter = CarebotRateLimiter(enabled=True, clock=time.clock, sleep=time.sleep)
    seen: list[tuple[str, int, float]] = []
    group_calls = (
        ["sendMessage"] * 10
        + ["copyMessage"] * 10
        + ["editMessageText"] * 6
        + ["pinChatMessage", "unpinChatMessage", "deleteMessage", "deleteMessage"]
        + ["createForumTopic", "closeForumTopic", "reopenForumTopic", "editMessageReplyMarkup"]
    )
    private_calls = ["sendMessage"] * 4 + ["editMessageText"] * 3 + ["copyMessage", "sendChatAction"]
    calls = [(method, GROUP) for method in group_calls] + [(method, PRIVATE) for method in private_calls]
    calls += [("getChat", GROUP)] * 3  # reads put nothing into the chat
    random.Random(14).shuffle(calls)

    async def call(method: str, chat_id: int) -> bool:
        async def callback() -> bool:
            seen.append((method, chat_id, time.now))
            return True

        data: dict[str, Any] = {"chat_id": chat_id}
        result = await limiter.process_request(callback, (), {}, method, data, None)
        assert result is True
        return result

    await asyncio.gather(*(call(method, chat_id) for method, chat_id in calls))

    group = [at for method, chat, at in seen if chat == GROUP and counts_against_chat(method)]
    private = [at for method, chat, at in seen if chat == PRIVATE]
    assert len(group) == len(group_calls) and len(private) == len(private_calls)
    assert most_within(group, 60.0) == 20  # 20 in a minute, edits, pins and topic calls included
    assert most_within(private, 1.0) == 1
    assert max(group) >= 60.0  # the rest waited for the next minute
    reads = [at for method, _, at in seen if method == "getChat"]
    assert len(reads) == 3 and not counts_against_chat("getChatMember")
    assert is_message_method("copyMessage") and not is_message_method("editMessageText")


async def test_the_outbox_sender_waits_for_a_group_the_relay_has_filled_this_minute() -> None:
    time = VirtualTime()
    limiter = CarebotRateLimiter(enabled=True, clock=time.clock, sleep=time.sleep)

    async def callback() -> bool:
        return True

    for _ in range(20):
        await limiter.process_request(callback, (), {}, "editMessageText", {"chat_id": GROUP}, None)
    sender = OutboxSender(
        bot=None,  # type: ignore[arg-type]  # nothing is sent here
        sessions=None,  # type: ignore[arg-type]
        config=CareConfig(rate_limits=True),
        texts=lambda *_: "",
        sleep=RecordedSleep(),
        clock=time.clock,
        chat_windows=limiter.windows,
    )
    assert sender._chat_wait(GROUP) > 30  # the twenty calls of this minute count for the sender's digests too
    time.now += 61
    assert sender._chat_wait(GROUP) == 0
