"""``FakeTelegram``: an in-memory, transport-independent Bot API for tests.

Both transports use it: :class:`tests.botapi.request.FakeRequest` (in-process, for PTB's ``Bot``
and ``Application``) and :func:`tests.botapi.server.serve_botapi` (HTTP on 127.0.0.1).
It is not thread-safe: drive it from the event loop that runs the bot.
"""

from __future__ import annotations

from tests.botapi.business import BusinessMixin
from tests.botapi.core import SENDING_METHODS, CallbackRecord, Fault, SendRecord
from tests.botapi.models import BOT_FIRST_NAME, BOT_ID, BOT_USERNAME

__all__ = [
    "BOT_FIRST_NAME",
    "BOT_ID",
    "BOT_USERNAME",
    "SENDING_METHODS",
    "CallbackRecord",
    "FakeTelegram",
    "Fault",
    "SendRecord",
]


class FakeTelegram(BusinessMixin):
    """The fake Telegram: state + Bot API methods (:meth:`handle`) + user-side drivers.

    Typical use::

        tg = FakeTelegram()
        alice = tg.user(42, "Alice")
        staff = tg.group(-1001, "Staff", forum=True, members=[bob])
        tg.customer_sends_text(alice, "Hello")
        await tg.wait_for(lambda: tg.sent_to(alice))
    """
