"""A personal check-in after `CAREBOT_CHECKIN_DAYS` without contact (VIP: `CAREBOT_VIP_CHECKIN_DAYS`), mentioning
the customer's last purchase when there is one. Repeats after as many days again if they stay silent.

Customers are read in pages of ids (keyset), their last purchases fetched per page, and each page planned with
one bulk insert.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import and_, case, exists, func, literal
from sqlmodel import col, select

from scheduler.config import CareConfig
from scheduler.jobs.common import JobSpec
from storage.db import SessionFactory, transaction
from storage.models import Customer, OutboxMessage, Purchase, Segment
from storage.outbox import PlannedMessage, enqueue_many
from storage.proactive import proactive_allowed
from storage.types import UTCDateTime

PAGE = 2000


async def plan(sessions: SessionFactory, config: CareConfig, now: datetime) -> int:
    is_vip = col(Customer.segment) == Segment.VIP.value
    quiet_since = case(
        (is_vip, literal(now - timedelta(days=config.vip_checkin_days), UTCDateTime)),
        else_=literal(now - timedelta(days=config.checkin_days), UTCDateTime),
    )
    last_contact = func.coalesce(col(Customer.last_contact_at), col(Customer.created_at))
    recently_checked = exists().where(
        col(OutboxMessage.customer_id) == col(Customer.id),
        col(OutboxMessage.kind) == "checkin",
        col(OutboxMessage.created_at) >= quiet_since,
    )
    today = now.astimezone(config.zone).date().isoformat()
    planned, after = 0, 0
    while True:
        async with transaction(sessions) as session:
            page = await session.execute(
                select(col(Customer.id), col(Customer.telegram_id), col(Customer.timezone))
                .where(
                    col(Customer.id) > after,
                    proactive_allowed(admin_ids=config.admin_ids),
                    last_contact <= quiet_since,
                    ~recently_checked,
                )
                .order_by(col(Customer.id))
                .limit(PAGE)
            )
            rows = page.all()
            if not rows:
                return planned
            after = rows[-1][0]
            purchases = await _last_purchases(session, [row[0] for row in rows])
            messages = []
            for customer_id, telegram_id, timezone in rows:
                params: dict[str, Any] = {}
                template = "care.checkin"
                purchase = purchases.get(customer_id)
                if purchase is not None:
                    template = "care.checkin.purchase"
                    params = {
                        "date": {"date": purchase.occurred_at.astimezone(config.zone_of(timezone)).date().isoformat()},
                        "amount": {"amount": str(purchase.amount), "currency": purchase.currency},
                        "reference": purchase.reference,
                    }
                messages.append(
                    PlannedMessage(
                        key=f"checkin:{today}:customer:{customer_id}",
                        kind="checkin",
                        chat_id=telegram_id,
                        customer_id=customer_id,
                        template=template,
                        params=params,
                        capped=True,
                    )
                )
            planned += await enqueue_many(session, messages=messages)


async def _last_purchases(session: Any, customer_ids: list[int]) -> dict[int, Purchase]:
    latest = (
        select(col(Purchase.customer_id), func.max(col(Purchase.occurred_at)).label("at"))
        .where(col(Purchase.customer_id).in_(customer_ids), col(Purchase.refunded_at).is_(None))
        .group_by(col(Purchase.customer_id))
        .subquery()
    )
    result = await session.execute(
        select(Purchase)
        .join(latest, and_(col(Purchase.customer_id) == latest.c.customer_id, col(Purchase.occurred_at) == latest.c.at))
        .where(col(Purchase.refunded_at).is_(None))
    )
    return {purchase.customer_id: purchase for purchase in result.scalars()}


def trigger(config: CareConfig) -> BaseTrigger:
    return CronTrigger(hour=10, minute=30, timezone=config.zone)


JOB = JobSpec("checkin", "personal check-ins after weeks without contact (capped)", trigger, plan)
