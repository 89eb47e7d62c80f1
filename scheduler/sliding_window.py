"""A sliding-window rate limit: at most `limit` events within any `period` seconds.

It remembers the times of the last `limit` events; one more may happen once the oldest of them is `period` old.
Unlike a leaky bucket (which lets a full bucket through at once and then refills, so one window can see twice the
limit), no window of `period` seconds ever holds more than `limit`, and a pause is caught up at once.

An event may take time: a request to Telegram is counted by Telegram when it arrives, somewhere between the
moment it is sent and the moment its answer is back. `use()` counts it for that whole stretch, and `period` more
after its answer, so however the requests' latencies vary, no `period` of arrivals holds more than `limit`
(a send-time stamp alone let 41 arrive within one second at a limit of 30 against the local fake Bot API).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


class SlidingWindow:
    """At most `limit` events within any `period` seconds; waiters are served in order."""

    def __init__(
        self, limit: int, period: float, *, clock: Clock = time.monotonic, sleep: Sleep = asyncio.sleep
    ) -> None:
        if limit < 1 or period <= 0:
            raise ValueError("a sliding window needs a limit of at least 1 and a positive period")
        self.limit = limit
        self.period = period
        self._clock = clock
        self._sleep = sleep
        self._ended: deque[float] = deque(maxlen=limit)  # when the last events ended, oldest first
        self._in_flight = 0
        self._lock = asyncio.Lock()

    @classmethod
    def per_second(cls, rate: float, *, clock: Clock = time.monotonic, sleep: Sleep = asyncio.sleep) -> SlidingWindow:
        """`rate` events a second, also below one (0.5 → one event in any two seconds)."""
        limit = max(1, int(rate))
        return cls(limit, limit / rate, clock=clock, sleep=sleep)

    def delay(self, weight: int = 1) -> float:
        """Seconds until `weight` more events fit: 0 when they fit now; a lower bound while events are in flight."""
        weight = min(max(weight, 1), self.limit)
        now = self._clock()
        while self._ended and now - self._ended[0] >= self.period:
            self._ended.popleft()
        excess = self._in_flight + len(self._ended) + weight - self.limit
        if excess <= 0:
            return 0.0
        if excess > len(self._ended):  # events in flight must end first, and then age a whole period
            return self.period
        return self._ended[excess - 1] + self.period - now

    def idle(self) -> bool:
        """Nothing waits, nothing is in flight, nothing recorded still counts: the window can be forgotten."""
        return not self._lock.locked() and self._in_flight == 0 and self.delay(self.limit) == 0

    @asynccontextmanager
    async def use(self, weight: int = 1) -> AsyncIterator[None]:
        """Wait until `weight` more events fit; they count from now until `period` after the block ends."""
        weight = min(max(weight, 1), self.limit)
        async with self._lock:
            while (wait := self.delay(weight)) > 0:
                await self._sleep(wait)
            self._in_flight += weight
        try:
            yield
        finally:
            self._in_flight -= weight
            self._ended.extend([self._clock()] * weight)

    async def acquire(self, weight: int = 1) -> None:
        """Wait until `weight` more events fit and count them as happening now."""
        async with self.use(weight):
            pass
