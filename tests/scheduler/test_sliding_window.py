"""The sender's rate limit: no one-second window ever holds more than the limit, and no sending time is lost."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import random
from collections.abc import Coroutine
from typing import Any

from scheduler.sliding_window import SlidingWindow

SETTLE = 200  # event-loop turns that let every task run as far as it can before time moves on


class FakeClock:
    """Virtual time: `run` lets every task go as far as it can, then jumps to the earliest sleeper's wake-up."""

    def __init__(self) -> None:
        self.now = 0.0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        woken: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + seconds, next(self._order), woken))
        await woken

    async def run(self, *work: Coroutine[Any, Any, None]) -> None:
        tasks = [asyncio.ensure_future(coroutine) for coroutine in work]
        while not all(task.done() for task in tasks):
            for _ in range(SETTLE):  # let lock hand-overs and wake-ups settle
                await asyncio.sleep(0)
            if self._sleepers:
                at, _, woken = heapq.heappop(self._sleepers)
                self.now = max(self.now, at)
                woken.set_result(None)
            elif not all(task.done() for task in tasks):
                raise AssertionError("every task waits and nobody sleeps")
        await asyncio.gather(*tasks)


def busiest(times: list[float], period: float) -> int:
    """The most times within any window [t, t + period)."""
    ordered = sorted(times)
    return max(sum(1 for u in ordered if t <= u < t + period) for t in ordered)


async def test_a_burst_is_spread_over_whole_seconds_without_losing_any() -> None:
    clock = FakeClock()
    window = SlidingWindow.per_second(30, clock=clock, sleep=clock.sleep)
    sent: list[float] = []

    async def send() -> None:
        async with window.use():
            sent.append(clock())

    await clock.run(*(send() for _ in range(90)))
    assert sent == [0.0] * 30 + [1.0] * 30 + [2.0] * 30  # a leaky bucket of 30 would let 60 into the first second
    clock.now = 10.0  # after a quiet spell the full limit is available at once
    await clock.run(*(send() for _ in range(30)))
    assert sent[90:] == [10.0] * 30


async def test_however_late_each_message_arrives_no_second_of_arrivals_holds_more_than_the_limit() -> None:
    clock = FakeClock()
    window = SlidingWindow.per_second(30, clock=clock, sleep=clock.sleep)
    rng = random.Random(6)
    arrivals: list[float] = []
    queue = list(range(600))

    async def worker() -> None:
        while queue:
            queue.pop()
            latency = rng.uniform(0.0, 0.3)
            share = rng.random()  # Telegram sees the request somewhere between sending and answering
            async with window.use():
                await clock.sleep(latency * share)
                arrivals.append(clock())
                await clock.sleep(latency * (1 - share))
            if rng.random() < 0.2:
                await clock.sleep(rng.uniform(0.0, 2.0))  # the sender reading its next batch

    await clock.run(*(worker() for _ in range(45)))
    assert len(arrivals) == 600
    assert busiest(arrivals, 1.0) == 30


async def test_a_rate_below_one_a_second_and_weighted_events() -> None:
    clock = FakeClock()
    slow = SlidingWindow.per_second(0.5, clock=clock, sleep=clock.sleep)
    times = []

    async def send() -> None:
        await slow.acquire()
        times.append(clock())

    await clock.run(send(), send(), send())
    assert times == [0.0, 2.0, 4.0]

    group = SlidingWindow(20, 60.0, clock=clock, sleep=clock.sleep)
    await group.acquire(15)
    assert group.delay() == 0.0 and group.delay(6) == 60.0
    clock.now += 59.0
    assert not group.idle() and group.delay(6) == 1.0
    clock.now += 1.0
    assert group.idle()
