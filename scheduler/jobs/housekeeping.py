"""Daily housekeeping: updates handled over a week ago leave the inbox, which would otherwise grow forever.

The inbox refuses a redelivered update by its id. Telegram keeps an update it could not deliver for at most 24 hours
(by getUpdates or webhook alike), so a week keeps every id that can still come back. The newest update always
stays: polling resumes after it. Deleted in batches, each its own short transaction, so that the bot storing new
updates meanwhile never waits long.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger

from scheduler.config import CareConfig
from scheduler.jobs.common import JobSpec
from storage import inbox
from storage.db import SessionFactory, transaction

INBOX_RETENTION = timedelta(days=7)
BATCH = 5000


async def prune(sessions: SessionFactory, config: CareConfig, now: datetime) -> int:
    """Delete the handled updates older than `INBOX_RETENTION`; returns how many."""
    pruned = 0
    while True:
        async with transaction(sessions) as session:
            count = await inbox.prune_handled(session, handled_before=now - INBOX_RETENTION, limit=BATCH)
        pruned += count
        if count < BATCH:
            return pruned


def trigger(config: CareConfig) -> BaseTrigger:
    return CronTrigger(hour=4, minute=30, timezone=config.zone)


JOB = JobSpec("housekeeping", "deletes updates handled over 7 days ago from the inbox", trigger, prune)
