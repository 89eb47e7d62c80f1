"""What staff see (counts and export columns) and what is kept of erased customers' acceptances (a count)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo

from sqlalchemy import case, delete, func, literal
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from storage.agreements.acceptances import acceptance_counting, acceptances_for
from storage.agreements.common import IN_CHUNK, AgreementState
from storage.agreements.versions import first_version, published_versions
from storage.models import (
    AgreementAcceptance,
    AgreementText,
    AgreementVersion,
    Customer,
    ForgottenAcceptances,
)
from storage.types import utcnow


async def agreement_counts(session: AsyncSession, *, now: datetime) -> dict[str, int]:
    """How many customers are in each `AgreementState` (every state present, zeros included), for /stats."""
    counts = dict.fromkeys((state.value for state in AgreementState), 0)
    published = await published_versions(session, at=now)
    if not published:
        counts[AgreementState.NONE_REQUIRED.value] = (
            await session.execute(select(func.count()).select_from(Customer))
        ).scalar_one()
        return counts
    acceptance = AgreementAcceptance
    version = func.coalesce(col(acceptance.version), published[0].version)
    best = (
        select(
            col(acceptance.customer_id).label("customer_id"),
            func.max(case((col(acceptance.valid_until) > now, version))).label("best"),
        )
        .group_by(col(acceptance.customer_id))
        .subquery()
    )
    state = case(
        (best.c.customer_id.is_(None), literal(AgreementState.PENDING.value)),
        (best.c.best.is_(None), literal(AgreementState.EXPIRED.value)),
        (best.c.best >= published[-1].version, literal(AgreementState.ACCEPTED.value)),
        else_=literal(AgreementState.OUTDATED.value),
    )
    per_customer = (
        select(state.label("state")).select_from(Customer).outerjoin(best, best.c.customer_id == Customer.id).subquery()
    )
    result = await session.execute(select(per_customer.c.state, func.count()).group_by(per_customer.c.state))
    counts.update({str(name): int(count) for name, count in result.all()})
    return counts


def _chunks(items: Sequence[int], size: int) -> Iterable[Sequence[int]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


async def export_values_many(
    session: AsyncSession, *, customer_ids: Iterable[int], zone: tzinfo, now: datetime | None = None
) -> dict[int, tuple[str, str]]:
    """`EXPORT_COLUMNS` for many customers: the version of the acceptance that counts and the day its term ends
    (`YYYY-MM-DD` in `zone`). Customers who never accepted are left out: their cells are empty."""
    now = now or utcnow()
    first = await first_version(session)
    found: dict[int, list[AgreementAcceptance]] = {}
    for chunk in _chunks(sorted(set(customer_ids)), IN_CHUNK):
        result = await session.execute(
            select(AgreementAcceptance).where(col(AgreementAcceptance.customer_id).in_(chunk))
        )
        for row in result.scalars():
            found.setdefault(row.customer_id, []).append(row)
    values: dict[int, tuple[str, str]] = {}
    for customer_id, rows in found.items():
        counting = acceptance_counting(rows, first, now)
        if counting is not None:
            version = "" if counting.version is None else str(counting.version)
            values[customer_id] = (version, counting.valid_until.astimezone(zone).date().isoformat())
    return values


async def export_values(
    session: AsyncSession, *, customer_id: int, zone: tzinfo, now: datetime | None = None
) -> tuple[str, str]:
    values = await export_values_many(session, customer_ids=[customer_id], zone=zone, now=now)
    return values.get(customer_id, ("", ""))


# --- forgetting ----------------------------------------------------------------------------------------------------


async def forget_acceptances(session: AsyncSession, *, customer_id: int) -> int:
    """Erase a customer's acceptances (/forget), keeping only how many there were per version and channel in
    `agreement_forgotten` — no id, no time, no signature. Returns how many were erased."""
    first = await first_version(session)
    grouped: Counter[tuple[int, str]] = Counter(
        (row.version if row.version is not None else first or 0, row.channel)
        for row in await acceptances_for(session, customer_id=customer_id)
    )
    table = ForgottenAcceptances.__table__  # type: ignore[attr-defined]
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    for (number, channel), count in sorted(grouped.items()):
        statement = insert(table).values(version=number, channel=channel, count=count)
        statement = statement.on_conflict_do_update(
            index_elements=["version", "channel"], set_={"count": table.c.count + statement.excluded.count}
        )
        await session.execute(statement)
    await session.execute(delete(AgreementAcceptance).where(col(AgreementAcceptance.customer_id) == customer_id))
    return grouped.total()


async def forgotten_counts(session: AsyncSession) -> dict[tuple[int, str], int]:
    """(version, channel) → how many acceptances of erased customers there were."""
    result = await session.execute(select(ForgottenAcceptances))
    return {(row.version, row.channel): row.count for row in result.scalars()}


@dataclass(frozen=True)
class VersionListing:
    version: AgreementVersion
    languages: list[str]
    accepted: int


async def version_listing(session: AsyncSession) -> list[VersionListing]:
    """Every version with its published languages and how many acceptances it has (`carebot terms list`)."""
    versions = (await session.execute(select(AgreementVersion).order_by(col(AgreementVersion.version)))).scalars()
    languages: dict[int, list[str]] = {}
    for number, language in await session.execute(select(AgreementText.version, AgreementText.language)):
        languages.setdefault(number, []).append(language)
    counts: dict[int | None, int] = {}
    query = select(AgreementAcceptance.version, func.count()).group_by(col(AgreementAcceptance.version))
    for number, count in await session.execute(query):
        counts[number] = count
    return [
        VersionListing(
            version=row, languages=sorted(languages.get(row.version, [])), accepted=counts.get(row.version, 0)
        )
        for row in versions
    ]
