"""Accepting: the term of an acceptance, acceptances in chat and signed elsewhere, and a customer's state."""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from storage.agreements.common import RENEW_BEFORE, Acceptance, AgreementError, AgreementState, CustomerAgreement
from storage.agreements.versions import first_version, published_versions, version_in_force
from storage.models import (
    AcceptanceChannel,
    AgreementAcceptance,
)
from storage.outbox import insert_ignoring_duplicates
from storage.types import utcnow


def add_years(day: date, years: int) -> date:
    """The same day `years` later; 29 February becomes 28 February in a common year."""
    year = day.year + years
    return day.replace(year=year, day=min(day.day, calendar.monthrange(year, day.month)[1]))


def expiry(accepted_at: datetime, years: int) -> datetime:
    """When an acceptance made at `accepted_at` ends: the same moment `years` later."""
    return datetime.combine(add_years(accepted_at.date(), years), accepted_at.timetz())


# --- accepting -----------------------------------------------------------------------------------------------------


def _view(row: AgreementAcceptance, first: int | None) -> Acceptance:
    return Acceptance(
        version=row.version if row.version is not None else first,
        channel=row.channel,
        accepted_at=row.accepted_at,
        valid_until=row.valid_until,
        signed_on=row.signed_on,
    )


def acceptance_counting(rows: Iterable[AgreementAcceptance], first: int | None, now: datetime) -> Acceptance | None:
    """The acceptance that counts: among those in force the highest version (then the latest); else the one that
    ended last."""
    views = [_view(row, first) for row in rows]
    valid = [view for view in views if view.valid_until > now]
    if valid:
        return max(valid, key=lambda view: (view.version or 0, view.accepted_at))
    return max(views, key=lambda view: view.valid_until, default=None)


def _state(acceptance: Acceptance | None, in_force: int | None, now: datetime) -> AgreementState:
    if in_force is None:
        return AgreementState.NONE_REQUIRED
    if acceptance is None:
        return AgreementState.PENDING
    if acceptance.valid_until <= now:
        return AgreementState.EXPIRED
    return AgreementState.ACCEPTED if (acceptance.version or 0) >= in_force else AgreementState.OUTDATED


async def acceptances_for(session: AsyncSession, *, customer_id: int) -> list[AgreementAcceptance]:
    """Every acceptance of a customer, oldest first (for /mydata)."""
    result = await session.execute(
        select(AgreementAcceptance)
        .where(col(AgreementAcceptance.customer_id) == customer_id)
        .order_by(col(AgreementAcceptance.accepted_at), col(AgreementAcceptance.id))
    )
    return list(result.scalars())


async def customer_agreement(session: AsyncSession, *, customer_id: int, now: datetime) -> CustomerAgreement:
    published = await published_versions(session, at=now)
    in_force = published[-1].version if published else None
    first = published[0].version if published else await first_version(session)
    acceptance = acceptance_counting(await acceptances_for(session, customer_id=customer_id), first, now)
    return CustomerAgreement(state=_state(acceptance, in_force, now), in_force=in_force, acceptance=acceptance)


async def acceptance_in_force(session: AsyncSession, *, customer_id: int, now: datetime) -> Acceptance | None:
    """The customer's acceptance whose term has not ended (the highest version among several), or None."""
    acceptance = (await customer_agreement(session, customer_id=customer_id, now=now)).acceptance
    return acceptance if acceptance is not None and acceptance.valid_until > now else None


async def accept(
    session: AsyncSession, *, customer_id: int, version: int, telegram_user_id: int, years: int, now: datetime
) -> tuple[Acceptance, bool]:
    """Record that the customer pressed I agree for `version` in chat; returns (acceptance, recorded).

    `version` must be the version in force (raises `AgreementError("not_in_force")` otherwise: the customer saw an
    older text). Pressing again while an acceptance of that version is in force and not yet due for renewal records
    nothing and returns that acceptance.
    """
    current = await version_in_force(session, at=now)
    if current is None or current.version != version:
        raise AgreementError("not_in_force", version=version, current=current.version if current else 0)
    held = await acceptance_in_force(session, customer_id=customer_id, now=now)
    if held is not None and held.version == version and held.valid_until - now > RENEW_BEFORE:
        return held, False
    row = AgreementAcceptance(
        customer_id=customer_id,
        version=version,
        channel=AcceptanceChannel.CHAT.value,
        accepted_at=now,
        valid_until=expiry(now, years),
        signature=telegram_user_id,
    )
    session.add(row)
    await session.flush()
    return _view(row, None), True


def parse_signed_on(text: str, *, today: date) -> date:
    """The `agreement_signed_on` CSV cell: `YYYY-MM-DD`, not in the future. Raises ValueError with the reason."""
    try:
        signed_on = date.fromisoformat(text.strip())
    except ValueError:
        raise ValueError("agreement_signed_on must be a date written YYYY-MM-DD") from None
    if signed_on > today:
        raise ValueError("agreement_signed_on is in the future")
    return signed_on


def _local_midnight(day: date, zone: tzinfo) -> datetime:
    return datetime.combine(day, time(), tzinfo=zone).astimezone(UTC)


async def record_offline_many(
    session: AsyncSession,
    rows: Sequence[tuple[int, date]],
    *,
    years: int,
    zone: tzinfo,
    now: datetime | None = None,
) -> int:
    """Record agreements signed elsewhere: (customer id, day signed) pairs. Each counts as accepting the version in
    force at the end of that day (in the business's time zone `zone`), or the first version when none was published
    yet, from the start of that day for `years`. A customer's signature of a given day is recorded once, however
    often it is imported; returns how many were new."""
    now = now or utcnow()
    published = await published_versions(session)
    first = published[0].version if published else None
    values: dict[tuple[int, date], dict[str, object]] = {}
    for customer_id, signed_on in rows:
        end_of_day = _local_midnight(signed_on + timedelta(days=1), zone)
        in_force = [v.version for v in published if v.published_at is not None and v.published_at <= end_of_day]
        values[(customer_id, signed_on)] = {
            "customer_id": customer_id,
            "version": in_force[-1] if in_force else first,
            "channel": AcceptanceChannel.OFFLINE.value,
            "accepted_at": min(_local_midnight(signed_on, zone), now),
            "valid_until": _local_midnight(add_years(signed_on, years), zone),
            "signature": None,
            "signed_on": signed_on,
        }
    if not values:
        return 0
    table = AgreementAcceptance.__table__  # type: ignore[attr-defined]
    statement = insert_ignoring_duplicates(session, table, ["customer_id", "signed_on"]).returning(table.c.id)
    result = await session.execute(statement, list(values.values()))
    return len(result.all())


async def record_offline(
    session: AsyncSession, *, customer_id: int, signed_on: date, years: int, zone: tzinfo, now: datetime | None = None
) -> bool:
    """One agreement signed elsewhere (see `record_offline_many`); False when it was already recorded."""
    return await record_offline_many(session, [(customer_id, signed_on)], years=years, zone=zone, now=now) == 1
