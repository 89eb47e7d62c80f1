"""Logging: one `key=value` line per event; the bot token and contact details are never written anywhere.

Code logs ids, counts and error class names, never what a person typed. `RedactSecrets` is the safety net behind
that rule, on every record that reaches a handler: the message with its arguments, the formatted exception
(PTB's and httpx's errors can carry request URLs, which hold the token) and the stack.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import quote

# Anything shaped like a bot token, and contact details (an email, or a phone written with its leading +).
_TOKEN = re.compile(r"\d{5,}:[A-Za-z0-9_-]{20,}")
_EMAIL = re.compile(r"[\w.+%-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
_PHONE = re.compile(r"\+\d[\d\s().-]{4,}\d")

LINE_FORMAT = "%(asctime)s level=%(levelname)s logger=%(name)s %(message)s"


class RedactSecrets(logging.Filter):
    """Replaces the bot token (also URL-encoded, and anything shaped like a token), emails and phone numbers."""

    def __init__(self, token: str = "") -> None:
        super().__init__()
        # Case-insensitive: PTB capitalises error messages (`str.capitalize` lowers the rest, token included).
        variants = sorted({token, quote(token, safe="")} - {""}, key=len, reverse=True)
        self._exact = re.compile("|".join(map(re.escape, variants)), re.IGNORECASE) if variants else None

    def clean(self, text: str) -> str:
        if self._exact is not None:
            text = self._exact.sub("<token>", text)
        text = _TOKEN.sub("<token>", text)
        text = _EMAIL.sub("<email>", text)
        return _PHONE.sub("<phone>", text)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not hide the record, nor leak its arguments
            message = f"{record.msg} (unformattable arguments)"
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        record.msg = self.clean(message)
        record.args = None
        if record.exc_text:
            record.exc_text = self.clean(record.exc_text)
        if record.stack_info:
            record.stack_info = self.clean(record.stack_info)
        return True


def configure_logging(*, token: str = "", level: int = logging.INFO) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter(LINE_FORMAT))
    handler.addFilter(RedactSecrets(token))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # httpx logs every request URL, which holds the token; its warnings are enough.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
