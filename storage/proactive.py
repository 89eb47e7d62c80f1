"""Who may receive proactive messages (greetings, surveys, broadcasts, reminders): the one rule, as SQL.

Planners filter with it when they plan, and the sender checks it again when it sends, because a customer may
opt out, block the bot or lose their agreement in between.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_
from sqlmodel import col

from storage.models import Customer


def proactive_allowed() -> ColumnElement[bool]:
    """A condition over `customers`: not opted out and still reachable."""
    return and_(col(Customer.proactive_opt_out).is_(False), col(Customer.unreachable).is_(False))
