"""The customer agreement: publishing versions, customers accepting them (in chat or signed elsewhere), the term of
each acceptance, and what staff see (state, counts, export columns).

Rules, each decided here once:
- A version is in force from the moment its last language is published (see `storage.models.agreement`); the version
  in force is the highest such version. Version numbers only go up; a text in force is never replaced.
- Until a first version is in force no agreement is required: every customer is `none_required`.
- A customer's acceptance is in force while its term (`valid_until`) has not ended; accepting a supplement or a new
  version, or renewing, writes a new acceptance with a new term. Until a customer accepts a newer version, the one
  they accepted stays in force for them (`outdated`, still valid).
- Customers holding an acceptance in force may get proactive messages (`storage.proactive.proactive_allowed`).
"""

from __future__ import annotations

import calendar
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from enum import StrEnum
from typing import Any

from sqlalchemy import Row, Select, case, delete, func, literal
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from storage.languages import LANGUAGES
from storage.models import (
    AcceptanceChannel,
    AgreementAcceptance,
    AgreementText,
    AgreementVersion,
    Customer,
    ForgottenAcceptances,
)
from storage.outbox import PlannedMessage, enqueue_many, insert_ignoring_duplicates
from storage.proactive import proactive_allowed
from storage.types import utcnow

AGREEMENT_KIND = "terms"  # the outbox `kind` of every message asking a customer to accept
RENEW_BEFORE = timedelta(days=30)  # the renewal prompt comes this long before the term ends
LAST_DAY = timedelta(days=1)  # the "ends today" prompt comes within the last day (afterwards no proactive message may)
MAX_TEXT_CHARS = 100_000
MAX_SUMMARY_CHARS = 1_000
EXPORT_COLUMNS = ("agreement_version", "agreement_until")
PLAN_BATCH = 2_000  # customers per planning query and outbox insert
_IN_CHUNK = 500

# Outbox templates: keys of the `terms` catalog, rendered by the sender in each customer's language.
ASK_NEW_VERSION = "terms.ask.new_version"
ASK_SUPPLEMENT = "terms.ask.supplement"
ASK_RENEW = "terms.ask.renew"
ASK_LAST_DAY = "terms.ask.last_day"
BUTTON_AGREE = "terms.button.agree"
BUTTON_READ = "terms.button.read"
TEMPLATES = (ASK_NEW_VERSION, ASK_SUPPLEMENT, ASK_RENEW, ASK_LAST_DAY, BUTTON_AGREE, BUTTON_READ)


def agree_data(version: int) -> str:
    return f"terms:agree:{version}"


def read_data(version: int) -> str:
    return f"terms:read:{version}"


def prompt_buttons(version: int) -> list[list[str]]:
    """The outbox `buttons` param of every prompt: I agree, and Read the full text, for `version`."""
    return [[BUTTON_AGREE, agree_data(version)], [BUTTON_READ, read_data(version)]]


class AgreementError(Exception):
    """A publication or acceptance that cannot be: `code` names the reason (a catalog key suffix), `params` fill it."""

    def __init__(self, code: str, **params: object) -> None:
        super().__init__(code, params)
        self.code = code
        self.params = params


class AgreementState(StrEnum):
    NONE_REQUIRED = "none_required"  # no version published yet
    ACCEPTED = "accepted"  # an acceptance of the version in force, term not ended
    PENDING = "pending"  # never accepted any version
    EXPIRED = "expired"  # accepted before, every term ended
    OUTDATED = "outdated"  # an earlier version accepted and still in force for them; the newer one not yet


@dataclass(frozen=True)
class Acceptance:
    version: int | None  # None only for a paper signature while no version is published
    channel: str
    accepted_at: datetime
    valid_until: datetime
    signed_on: date | None


@dataclass(frozen=True)
class CustomerAgreement:
    """Where one customer stands: the state, the version in force for everyone, and the acceptance that counts
    (the one in force, else the one that ended last)."""

    state: AgreementState
    in_force: int | None
    acceptance: Acceptance | None

    @property
    def valid(self) -> bool:
        """May get proactive messages and have optional details stored."""
        return self.state in (AgreementState.NONE_REQUIRED, AgreementState.ACCEPTED, AgreementState.OUTDATED)

    @property
    def needs_answer(self) -> bool:
        return self.state in (AgreementState.PENDING, AgreementState.EXPIRED, AgreementState.OUTDATED)


@dataclass(frozen=True)
class PublishResult:
    version: int
    language: str
    in_force: bool
    missing: tuple[str, ...]  # languages still to publish before the version is in force
    is_supplement: bool
    supplements_version: int | None
    asked: int  # customers asked (through the outbox) to accept it


# --- versions ------------------------------------------------------------------------------------------------------


async def published_versions(session: AsyncSession, *, at: datetime | None = None) -> list[AgreementVersion]:
    """Versions in force at `at` (default: ever published), lowest first. The table holds a handful of rows."""
    query = select(AgreementVersion).where(col(AgreementVersion.published_at).is_not(None))
    if at is not None:
        query = query.where(col(AgreementVersion.published_at) <= at)
    return list((await session.execute(query.order_by(col(AgreementVersion.version)))).scalars())


async def version_in_force(session: AsyncSession, *, at: datetime) -> AgreementVersion | None:
    versions = await published_versions(session, at=at)
    return versions[-1] if versions else None


async def first_version(session: AsyncSession) -> int | None:
    """The first version published: what a paper signature from before any publication counts as."""
    versions = await published_versions(session)
    return versions[0].version if versions else None


async def chain(session: AsyncSession, *, version: int) -> list[AgreementVersion]:
    """The versions accepting `version` agrees to: the base version, then each supplement up to `version`."""
    rows = {row.version: row for row in (await session.execute(select(AgreementVersion))).scalars()}
    found: list[AgreementVersion] = []
    current = rows.get(version)
    while current is not None:
        found.append(current)
        extended = current.supplements_version if current.is_supplement else None
        current = rows.get(extended) if extended is not None else None
    return found[::-1]


async def _check_supplement_target(session: AsyncSession, *, version: int, target: int, now: datetime) -> None:
    """A supplement extends the agreement in force: its base version or one of that version's supplements."""
    current = await version_in_force(session, at=now)
    in_force = [part.version for part in await chain(session, version=current.version)] if current else []
    if target not in in_force:
        raise AgreementError(
            "supplement_target", version=version, target=target, current=current.version if current else 0
        )


async def agreement_texts(
    session: AsyncSession, *, version: int, language: str
) -> list[tuple[AgreementVersion, AgreementText]]:
    """The texts a customer agrees to when accepting `version`, in `language`, base version first."""
    parts = await chain(session, version=version)
    result = await session.execute(
        select(AgreementText).where(
            col(AgreementText.version).in_([part.version for part in parts]), col(AgreementText.language) == language
        )
    )
    texts = {text.version: text for text in result.scalars()}
    return [(part, texts[part.version]) for part in parts if part.version in texts]


async def publish(
    session: AsyncSession,
    *,
    version: int,
    language: str,
    text: str,
    summary: str | None = None,
    supplement_to: int | None = None,
    published_by: int | None = None,
    now: datetime | None = None,
) -> PublishResult:
    """Store one language of a version. When every language is there the version comes into force and every
    customer whose agreement is in force is asked, through the outbox, to accept it.

    Languages of a version not yet in force may be published again (the later text replaces the earlier); the first
    call decides whether it is a supplement (later calls may repeat `supplement_to` or leave it out).
    """
    now = now or utcnow()
    if language not in LANGUAGES:
        raise AgreementError("unknown_language", language=language)
    if version < 1:
        raise AgreementError("bad_version")
    text = text.replace("\r\n", "\n").strip()
    summary = (summary or "").strip() or None
    if not text:
        raise AgreementError("empty_text")
    if len(text) > MAX_TEXT_CHARS:
        raise AgreementError("text_too_long", limit=MAX_TEXT_CHARS)
    if summary and len(summary) > MAX_SUMMARY_CHARS:
        raise AgreementError("summary_too_long", limit=MAX_SUMMARY_CHARS)

    current = await version_in_force(session, at=now)
    row = await session.get(AgreementVersion, version, with_for_update=True)
    if row is not None and row.published_at is not None:
        raise AgreementError("already_in_force", version=version)
    if current is not None and version <= current.version:
        raise AgreementError("not_newer", version=version, current=current.version)
    if row is None:
        if supplement_to is not None:
            await _check_supplement_target(session, version=version, target=supplement_to, now=now)
        row = AgreementVersion(
            version=version, is_supplement=supplement_to is not None, supplements_version=supplement_to, created_at=now
        )
        session.add(row)
        await session.flush()
    elif supplement_to is not None and supplement_to != row.supplements_version:
        if row.supplements_version is None:
            raise AgreementError("draft_is_version", version=version)
        raise AgreementError("draft_is_supplement", version=version, target=row.supplements_version)

    stored = (
        await session.execute(
            select(AgreementText).where(col(AgreementText.version) == version, col(AgreementText.language) == language)
        )
    ).scalar_one_or_none()
    if stored is None:
        stored = AgreementText(version=version, language=language, text=text)
    stored.text, stored.summary, stored.published_at, stored.published_by = text, summary, now, published_by
    session.add(stored)
    await session.flush()

    languages = select(AgreementText.language).where(col(AgreementText.version) == version)
    present = set((await session.execute(languages)).scalars())
    missing = tuple(code for code in LANGUAGES if code not in present)
    asked = 0
    if not missing:
        if row.supplements_version is not None:  # the agreement in force may have changed since the draft began
            await _check_supplement_target(session, version=version, target=row.supplements_version, now=now)
        row.published_at, row.published_by = now, published_by
        session.add(row)
        await session.flush()
        asked = await ask_to_accept(session, version=row, now=now)
    return PublishResult(
        version=version,
        language=language,
        in_force=not missing,
        missing=missing,
        is_supplement=row.is_supplement,
        supplements_version=row.supplements_version,
        asked=asked,
    )


# --- planning prompts ----------------------------------------------------------------------------------------------


async def plan_in_batches(
    session: AsyncSession,
    query: Callable[[int], Select[Any]],
    message: Callable[[Row[Any]], PlannedMessage],
) -> int:
    """Plan one message per row of `query(after_customer_id)`, a query ordered by customer id whose first column
    is `customers.id`, in batches (keyset pagination), so that a million customers never sit in memory at once."""
    after, planned = 0, 0
    while True:
        rows = list((await session.execute(query(after))).all())
        if not rows:
            return planned
        unique = {row[0]: row for row in reversed(rows)}  # the first row of each customer wins
        planned += await enqueue_many(session, messages=[message(row) for row in unique.values()])
        after = rows[-1][0]


async def ask_to_accept(session: AsyncSession, *, version: AgreementVersion, now: datetime) -> int:
    """Plan a prompt to accept `version` for every customer whose agreement is in force and who may get proactive
    messages; customers without one see the agreement when they next write (/start, /terms, /profile)."""
    template = ASK_SUPPLEMENT if version.is_supplement else ASK_NEW_VERSION
    params = {
        "version": version.version,
        "supplements": version.supplements_version or 0,
        "buttons": prompt_buttons(version.version),
    }

    def query(after: int) -> Select[Any]:
        return (
            select(Customer.id, Customer.telegram_id)
            .where(col(Customer.id) > after, proactive_allowed(now))
            .order_by(col(Customer.id))
            .limit(PLAN_BATCH)
        )

    def message(row: Row[Any]) -> PlannedMessage:
        return PlannedMessage(
            key=f"terms:v{version.version}:customer:{row.id}",
            kind=AGREEMENT_KIND,
            chat_id=row.telegram_id,
            customer_id=row.id,
            template=template,
            params=params,
            capped=False,
            not_before=now,
        )

    return await plan_in_batches(session, query, message)


# --- terms ---------------------------------------------------------------------------------------------------------


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


def _counting(rows: Iterable[AgreementAcceptance], first: int | None, now: datetime) -> Acceptance | None:
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
    acceptance = _counting(await acceptances_for(session, customer_id=customer_id), first, now)
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


# --- staff view: counts and export ---------------------------------------------------------------------------------


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
    for chunk in _chunks(sorted(set(customer_ids)), _IN_CHUNK):
        result = await session.execute(
            select(AgreementAcceptance).where(col(AgreementAcceptance.customer_id).in_(chunk))
        )
        for row in result.scalars():
            found.setdefault(row.customer_id, []).append(row)
    values: dict[int, tuple[str, str]] = {}
    for customer_id, rows in found.items():
        counting = _counting(rows, first, now)
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
