"""How often the bot answers a chat on its own: a few automatic replies a minute, never the same one twice.

Automatic replies are the ones nobody asked for by name: FAQ answers, the notice about a kind of message Carebot
cannot pass on, the help after an unknown command, the apology after an error, and the acknowledgement of a new
ticket (always sent, but counted). A customer who sends a hundred messages in ten seconds gets a handful of them,
and nothing is lost beyond that: a question the FAQ would have answered goes into a ticket instead (staff see
it), a notice is simply not repeated. Sending fewer also keeps the rate limiter's queue for the chat short
(Telegram allows about one message a second to one chat; see `bot.runtime.ratelimit`). Answers to commands a customer
may use are not counted: they asked for them.

The window lives in memory: a restart forgets it, and with several replicas a chat whose updates are spread over
them may get that many replies from each.
"""

from __future__ import annotations

from collections import deque
from datetime import datetime, timedelta
from typing import Any

from telegram.ext import Application

from storage.types import utcnow

LIMIT = 3  # automatic replies to one chat ...
WINDOW = timedelta(minutes=1)  # ... within any sliding minute
SWEEP_AT = 4096  # chats remembered before the quiet ones are forgotten
THROTTLE_KEY = "auto_replies"


class AutoReplies:
    """The automatic replies each chat got within the last `window`: what may be sent now is decided here."""

    def __init__(self, *, limit: int = LIMIT, window: timedelta = WINDOW) -> None:
        self.limit = limit
        self.window = window
        self._sent: dict[int, deque[tuple[datetime, str]]] = {}

    def allow(self, chat_id: int, reply: str) -> bool:
        """May `reply` (a name such as `unsupported` or `faq:12`) go to this chat now? If so, it is counted.

        No: when the chat already got `limit` automatic replies within the window, or this very reply.
        """
        now = utcnow()
        recent = self._recent(chat_id, now)
        if len(recent) >= self.limit or any(name == reply for _, name in recent):
            return False
        recent.append((now, reply))
        return True

    def count(self, chat_id: int, reply: str) -> None:
        """Count a reply that is sent whatever the window says (the acknowledgement of a new ticket)."""
        now = utcnow()
        self._recent(chat_id, now).append((now, reply))

    def _recent(self, chat_id: int, now: datetime) -> deque[tuple[datetime, str]]:
        if chat_id not in self._sent and len(self._sent) >= SWEEP_AT:
            self._forget_quiet_chats(now)
        recent = self._sent.setdefault(chat_id, deque())
        while recent and now - recent[0][0] >= self.window:
            recent.popleft()
        return recent

    def _forget_quiet_chats(self, now: datetime) -> None:
        for chat_id in [c for c, recent in self._sent.items() if not recent or now - recent[-1][0] >= self.window]:
            del self._sent[chat_id]


def auto_replies(app: Application[Any, Any, Any, Any, Any, Any]) -> AutoReplies:
    """The Application's throttle of automatic replies (one per process)."""
    found = app.bot_data.get(THROTTLE_KEY)
    if found is None:
        found = app.bot_data[THROTTLE_KEY] = AutoReplies()
    assert isinstance(found, AutoReplies)
    return found
