"""Who may receive proactive messages (greetings, surveys, broadcasts, reminders): the one rule, as SQL.

Planners filter with it when they plan, and the sender checks it again when it sends, because a customer may
opt out, block the bot or lose their agreement in between.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import ColumnElement, and_, literal, or_
from sqlmodel import col, select

from storage.models import AgreementAcceptance, AgreementVersion, Customer
from storage.staff import customers_only
from storage.types import UTCDateTime, utcnow


def proactive_allowed(now: datetime | None = None, *, admin_ids: Collection[int] = ()) -> ColumnElement[bool]:
    """A condition over `customers`: a customer, not staff (`storage.staff.customers_only`; the settings' admins
    are `admin_ids`), not opted out, still reachable, and — once an admin has published a first version of the
    customer agreement — holding an acceptance whose term has not ended at `now` (default: the current time).
    Before any version is published no agreement is required.

    Both agreement tests are EXISTS subqueries (the acceptance one correlated to `customers.id`, served by the
    `(customer_id, valid_until)` index), so the condition fits an `INSERT … SELECT` over every customer.
    """
    moment = literal(now or utcnow(), UTCDateTime())
    required = select(AgreementVersion.version).where(col(AgreementVersion.published_at) <= moment).correlate(None)
    agreed = (
        select(AgreementAcceptance.id)
        .where(col(AgreementAcceptance.customer_id) == col(Customer.id), col(AgreementAcceptance.valid_until) > moment)
        .correlate(Customer)
    )
    return and_(
        customers_only(admin_ids),
        col(Customer.proactive_opt_out).is_(False),
        col(Customer.unreachable).is_(False),
        or_(~required.exists(), agreed.exists()),
    )
