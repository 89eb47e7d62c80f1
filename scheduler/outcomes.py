"""What became of sending: one message's outcome, a drain's counts, and how long a 429 asks to wait."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from datetime import timedelta

from telegram.error import RetryAfter
from telegram.warnings import PTBDeprecationWarning

from storage.models import OutboxStatus
from storage.outbox import DueMessage


@dataclass
class Outcome:
    due: DueMessage
    status: OutboxStatus
    attempts: int
    telegram_message_id: int | None = None
    reason: str = ""
    unreachable: bool = False


@dataclass
class DrainReport:
    sent: int = 0
    failed: int = 0
    skipped: int = 0
    held: int = 0
    reasons: dict[str, int] = field(default_factory=dict)

    def count(self, outcome: OutboxStatus, reason: str = "") -> None:
        if outcome == OutboxStatus.SENT:
            self.sent += 1
        elif outcome == OutboxStatus.FAILED:
            self.failed += 1
        else:
            self.skipped += 1
        if reason:
            short = reason.split(":")[0][:40]
            self.reasons[short] = self.reasons.get(short, 0) + 1


def retry_after_seconds(error: RetryAfter) -> float:
    """How long Telegram asked to wait, in seconds (the one place that reads a 429's `retry_after`)."""
    with warnings.catch_warnings():  # PTB warns that the attribute will become a timedelta: both are handled
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = error.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)
