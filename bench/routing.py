"""Benchmark: with Telegram's limits on, customer messages reach the agents' inboxes fast; everything through the
one staff group, for contrast, does not.

    uv run python bench/routing.py [--customers 30] [--texts 10] [--agents 5] [--only on|off]

`carebot run` (`CAREBOT_RATE_LIMITS=on`, a new SQLite file) long polls the loopback fake Bot API (`tests.botapi`)
served by this process. The agents are staff (`CAREBOT_ADMIN_IDS`) who opened their inboxes with /start. Then
every customer sends all their texts at once (each customer's in order, the customers interleaved). A text has
arrived when the copyMessage that copies it, or the sendMessage whose (combined) text carries it, reaches an
agent's private chat (`CAREBOT_AUTO_ASSIGN=on`) or the staff group (`off`: every ticket unassigned, everything in
the group as before). Latency = arrival - sent, per text: p50, p95, max.
Goal with 5 agents: p95 <= 15 s and every text <= 30 s.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from storage.db import upgrade_sync
from tests.botapi import TOKEN, Call, FakeTelegram, serve_botapi
from tests.harness import start_carebot

STAFF = -100500
ADMIN = 900001
FIRST_AGENT = 810_000
FIRST_CUSTOMER = 41_000_000
TIMEOUT = 900.0
P95_GOAL, MAX_GOAL = 15.0, 30.0


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def text_of(customer: int, n: int) -> str:
    return f"c{customer} text {n}: where is my order?"


def arrivals_in(chats: set[int], by_key: dict[tuple[int, int], str]) -> Callable[[Call], list[str]]:
    def texts(call: Call) -> list[str]:
        if not call.ok or call.chat_id is None or int(call.chat_id) not in chats:
            return []
        if call.method == "copyMessage":
            text = by_key.get((int(call.params["from_chat_id"]), int(call.params["message_id"])))
            return [text] if text is not None else []
        if call.method == "sendMessage":
            return [part for part in str(call.params.get("text", "")).split("\n\n") if " text " in part]
        return []

    return texts


async def run(auto_assign: str, customers: int, texts: int, agents: int, workdir: Path) -> list[float]:
    tg = FakeTelegram()
    admin = tg.user(ADMIN, "Admin")
    tg.group(STAFF, "Care team", members=[admin])
    people = [tg.user(FIRST_AGENT + n, f"Agent{n}") for n in range(agents)]
    buyers = [tg.user(FIRST_CUSTOMER + n, f"Customer{n}") for n in range(customers)]
    url = f"sqlite+aiosqlite:///{workdir / f'routing-{auto_assign}.db'}"
    await asyncio.to_thread(upgrade_sync, url)
    async with serve_botapi(tg) as server:
        env = {
            "CAREBOT_BOT_TOKEN": TOKEN,
            "CAREBOT_BOT_API_URL": server.base_url,
            "CAREBOT_DATABASE_URL": url,
            "CAREBOT_STAFF_CHAT_ID": str(STAFF),
            "CAREBOT_ADMIN_IDS": ",".join(str(i) for i in [ADMIN, *(p.id for p in people)]),
            "CAREBOT_DEFAULT_LANGUAGE": "en",
            "CAREBOT_RATE_LIMITS": "on",
            "CAREBOT_AUTO_ASSIGN": auto_assign,
        }
        carebot = await start_carebot(env, workdir / f"carebot-{auto_assign}.log")
        try:
            await tg.wait_for(lambda: tg.polls_waiting > 0, 60, message="the bot polling")
            for person in people:
                tg.sends_command(person, "/start")
            await tg.wait_for(
                lambda: all(any("inbox" in m.content for m in tg.sent_to(p)) for p in people), 120, message="inboxes"
            )
            await asyncio.sleep(2)  # the start-up calls (menus) are done
            sent: dict[str, float] = {}
            by_key: dict[tuple[int, int], str] = {}
            for n in range(texts):
                for c, buyer in enumerate(buyers):
                    message = tg.customer_sends_text(buyer, text_of(c, n))
                    sent[message.content] = time.monotonic()
                    by_key[(message.chat_id, message.message_id)] = message.content
            chats = {p.id for p in people} if auto_assign == "on" else {STAFF}
            arrived = arrivals_in(chats, by_key)
            at: dict[str, float] = {}
            seen = 0

            def count() -> int:
                nonlocal seen
                calls = tg.calls
                for call in calls[seen:]:
                    for text in arrived(call):
                        at.setdefault(text, call.at)
                seen = len(calls)
                return len(at)

            await tg.wait_for(lambda: count() >= len(sent), TIMEOUT, message=carebot.log()[-3000:])
        finally:
            await carebot.stop()
    group_calls = sorted(c.at for c in tg.calls if str(c.chat_id) == str(STAFF))
    busiest = max((sum(1 for x in group_calls if s <= x < s + 60) for s in group_calls), default=0)
    print(f"  the staff group got {len(group_calls)} calls, at most {busiest} in any minute")
    return [at[text] - sent[text] for text in sent]


async def main_async(customers: int, texts: int, agents: int, only: str | None) -> None:
    results: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as folder:
        for mode in ("on", "off"):
            if only and mode != only:
                continue
            latencies = await run(mode, customers, texts, agents, Path(folder))
            results[mode] = latencies
            print(
                f"auto-assign {mode}: {len(latencies)} texts, latency p50 {percentile(latencies, 0.5):.1f} s, "
                f"p95 {percentile(latencies, 0.95):.1f} s, max {max(latencies):.1f} s"
            )
    if "on" in results:
        on = results["on"]
        p95, worst = percentile(on, 0.95), max(on)
        met = p95 <= P95_GOAL and worst <= MAX_GOAL
        print(
            f"routing: {agents} agents' inboxes p95 {p95:.1f} s (goal <= {P95_GOAL:.0f} s), max {worst:.1f} s "
            f"(goal <= {MAX_GOAL:.0f} s): {'met' if met else 'NOT met'}"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=30)
    parser.add_argument("--texts", type=int, default=10)
    parser.add_argument("--agents", type=int, default=5)
    parser.add_argument("--only", choices=("on", "off"))
    args = parser.parse_args()
    asyncio.run(main_async(args.customers, args.texts, args.agents, args.only))


if __name__ == "__main__":
    main()
