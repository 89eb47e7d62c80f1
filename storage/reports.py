"""Figures for the staff reports (`/stats`): each one set-based SQL query over an indexed range.

Days are counted in the business's time zone. PostgreSQL converts every timestamp with the zone's rules; SQLite has
no time zone support and shifts by the zone's current UTC offset (exact for zones without daylight saving time).
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, func
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from storage.business_hours import BusinessHours
from storage.models import Customer, FaqEvent, OutboxMessage, OutboxStatus, SegmentChange, SurveyResponse, Ticket
from storage.models import Segment as SegmentEnum
from storage.staff import customers_only
from storage.surveys import NPS_DETRACTOR_AT_MOST, NPS_PROMOTER_AT_LEAST, SurveyKind

STUCK_SENDING_AFTER = timedelta(minutes=10)
CSAT_SCORES = (1, 2, 3, 4, 5)


@dataclass(frozen=True)
class Window:
    """From `since` (inclusive) to `until` (exclusive), `days` local days ending with today."""

    since: datetime
    until: datetime
    days: list[date]
    zone: ZoneInfo


def window(*, days: int, now: datetime, zone: ZoneInfo) -> Window:
    today = now.astimezone(zone).date()
    first = today - timedelta(days=days - 1)
    since = datetime.combine(first, datetime.min.time(), tzinfo=zone)
    return Window(since=since, until=now, days=[first + timedelta(days=n) for n in range(days)], zone=zone)


def _local_day(session: AsyncSession, column: Any, zone: ZoneInfo, now: datetime) -> ColumnElement[Any]:
    if session.get_bind().dialect.name == "postgresql":
        return func.date(func.timezone(zone.key, func.timezone("UTC", column)))
    offset = now.astimezone(zone).utcoffset() or timedelta(0)
    return func.date(column, f"{int(offset.total_seconds() // 60):+d} minutes")


def _as_date(value: object) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


@dataclass(frozen=True)
class DayCounts:
    day: date
    opened: int
    closed: int


async def tickets_per_day(session: AsyncSession, *, span: Window) -> list[DayCounts]:
    """Tickets opened and tickets closed on each day of the window (a resolved ticket is not closed yet)."""
    opened: dict[date, int] = defaultdict(int)
    closed: dict[date, int] = defaultdict(int)
    opened_day = _local_day(session, col(Ticket.opened_at), span.zone, span.until)
    rows = await session.execute(
        select(opened_day, func.count()).where(col(Ticket.opened_at) >= span.since).group_by(opened_day)
    )
    for day, count in rows:
        opened[_as_date(day)] += count
    closed_at = col(Ticket.closed_at)
    closed_day = _local_day(session, closed_at, span.zone, span.until)
    rows = await session.execute(select(closed_day, func.count()).where(closed_at >= span.since).group_by(closed_day))
    for day, count in rows:
        closed[_as_date(day)] += count
    return [DayCounts(day, opened[day], closed[day]) for day in span.days]


@dataclass(frozen=True)
class ResponseTimes:
    """Medians in minutes (None when no ticket had one), overall and per local day of opening."""

    first_response: float | None
    resolution: float | None
    first_response_by_day: dict[date, float] = field(default_factory=dict)
    resolution_by_day: dict[date, float] = field(default_factory=dict)
    answered: int = 0
    resolved: int = 0


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


async def response_times(session: AsyncSession, *, span: Window, hours: BusinessHours) -> ResponseTimes:
    """Time to first staff answer and to resolution of the tickets opened in the window, in business minutes (the
    clock of storage/sla.py)."""
    rows = await session.execute(
        select(col(Ticket.opened_at), col(Ticket.first_response_at), col(Ticket.resolved_at)).where(
            col(Ticket.opened_at) >= span.since
        )
    )
    first: dict[date, list[float]] = defaultdict(list)
    resolution: dict[date, list[float]] = defaultdict(list)
    for opened_at, first_response_at, resolved_at in rows:
        day = opened_at.astimezone(span.zone).date()
        if first_response_at is not None:
            first[day].append(hours.business_minutes_between(opened_at, first_response_at))
        if resolved_at is not None:
            resolution[day].append(hours.business_minutes_between(opened_at, resolved_at))
    all_first = [value for values in first.values() for value in values]
    all_resolution = [value for values in resolution.values() for value in values]
    return ResponseTimes(
        first_response=_median(all_first),
        resolution=_median(all_resolution),
        first_response_by_day={day: statistics.median(values) for day, values in first.items()},
        resolution_by_day={day: statistics.median(values) for day, values in resolution.items()},
        answered=len(all_first),
        resolved=len(all_resolution),
    )


@dataclass(frozen=True)
class SatisfactionSummary:
    distribution: dict[int, int]  # score -> answers

    @property
    def count(self) -> int:
        return sum(self.distribution.values())

    @property
    def average(self) -> float | None:
        total = sum(score * count for score, count in self.distribution.items())
        return total / self.count if self.count else None


async def csat_summary(session: AsyncSession, *, since: datetime, until: datetime | None = None) -> SatisfactionSummary:
    """CSAT answers (1–5) given in the period, counted per score."""
    query = select(col(SurveyResponse.score), func.count()).where(
        col(SurveyResponse.kind) == "csat", col(SurveyResponse.created_at) >= since
    )
    if until is not None:
        query = query.where(col(SurveyResponse.created_at) < until)
    rows = await session.execute(query.group_by(col(SurveyResponse.score)))
    distribution = dict.fromkeys(CSAT_SCORES, 0)
    for score, count in rows:
        distribution[int(score)] = distribution.get(int(score), 0) + count
    return SatisfactionSummary(distribution)


@dataclass(frozen=True)
class NpsSummary:
    """NPS answers (0–10) counted as promoters, passives and detractors."""

    promoters: int = 0
    passives: int = 0
    detractors: int = 0

    @property
    def count(self) -> int:
        return self.promoters + self.passives + self.detractors

    @property
    def score(self) -> float | None:
        """Per cent promoters less per cent detractors (−100 to 100); None without answers."""
        return 100 * (self.promoters - self.detractors) / self.count if self.count else None

    def __add__(self, other: NpsSummary) -> NpsSummary:
        return NpsSummary(
            self.promoters + other.promoters, self.passives + other.passives, self.detractors + other.detractors
        )


@dataclass(frozen=True)
class SurveysBySegment:
    """CSAT and NPS answers given in the period, per segment the customer is in now (every segment present)."""

    csat: dict[str, SatisfactionSummary]
    nps: dict[str, NpsSummary]

    @property
    def nps_total(self) -> NpsSummary:
        return sum(self.nps.values(), NpsSummary())


async def surveys_by_segment(session: AsyncSession, *, since: datetime) -> SurveysBySegment:
    rows = await session.execute(
        select(col(Customer.segment), col(SurveyResponse.kind), col(SurveyResponse.score), func.count())
        .join(Customer, col(Customer.id) == col(SurveyResponse.customer_id))
        .where(
            col(SurveyResponse.kind).in_([SurveyKind.CSAT.value, SurveyKind.NPS.value]),
            col(SurveyResponse.created_at) >= since,
        )
        .group_by(col(Customer.segment), col(SurveyResponse.kind), col(SurveyResponse.score))
    )
    csat = {segment.value: dict.fromkeys(CSAT_SCORES, 0) for segment in SegmentEnum}
    nps = {segment.value: [0, 0, 0] for segment in SegmentEnum}
    for segment, kind, score, count in rows:
        if kind == SurveyKind.CSAT.value:
            counts = csat.setdefault(segment, dict.fromkeys(CSAT_SCORES, 0))
            counts[int(score)] = counts.get(int(score), 0) + count
        elif kind == SurveyKind.NPS.value:
            bucket = 0 if score >= NPS_PROMOTER_AT_LEAST else 2 if score <= NPS_DETRACTOR_AT_MOST else 1
            nps.setdefault(segment, [0, 0, 0])[bucket] += count
    return SurveysBySegment(
        csat={segment: SatisfactionSummary(counts) for segment, counts in csat.items()},
        nps={segment: NpsSummary(*counts) for segment, counts in nps.items()},
    )


async def segment_counts(session: AsyncSession, *, admin_ids: Collection[int] = ()) -> dict[str, int]:
    """Customers in each segment now (every segment present, zero when empty); staff are not customers."""
    rows = await session.execute(
        select(col(Customer.segment), func.count()).where(customers_only(admin_ids)).group_by(col(Customer.segment))
    )
    counts = {segment.value: 0 for segment in SegmentEnum}
    for segment, count in rows:
        counts[segment] = count
    return counts


@dataclass(frozen=True)
class SegmentMoveCount:
    from_segment: str
    to_segment: str
    count: int


async def segment_changes(
    session: AsyncSession, *, since: datetime, until: datetime | None = None
) -> list[SegmentMoveCount]:
    """How many customers moved from one segment to another in the period, most frequent move first."""
    query = select(col(SegmentChange.from_segment), col(SegmentChange.to_segment), func.count()).where(
        col(SegmentChange.changed_at) >= since
    )
    if until is not None:
        query = query.where(col(SegmentChange.changed_at) < until)
    rows = await session.execute(query.group_by(col(SegmentChange.from_segment), col(SegmentChange.to_segment)))
    moves = [SegmentMoveCount(before, after, count) for before, after, count in rows]
    return sorted(moves, key=lambda move: (-move.count, move.from_segment, move.to_segment))


@dataclass(frozen=True)
class FaqSummary:
    events: dict[str, int]  # hit, miss, helped, escalated

    @property
    def questions(self) -> int:
        return self.events.get("hit", 0) + self.events.get("miss", 0)

    @property
    def hit_rate(self) -> float | None:
        """Share of questions the FAQ answered."""
        return self.events.get("hit", 0) / self.questions if self.questions else None


async def faq_summary(session: AsyncSession, *, since: datetime) -> FaqSummary:
    rows = await session.execute(
        select(col(FaqEvent.event), func.count()).where(col(FaqEvent.at) >= since).group_by(col(FaqEvent.event))
    )
    return FaqSummary({event: count for event, count in rows})


async def stuck_outbox_count(session: AsyncSession, *, now: datetime) -> int:
    """Outbox rows left in `sending` (a sender crashed mid-send): due longer ago than a send could take."""
    result = await session.execute(
        select(func.count()).where(
            col(OutboxMessage.status) == OutboxStatus.SENDING.value,
            col(OutboxMessage.not_before) < now - STUCK_SENDING_AFTER,
        )
    )
    return int(result.scalar_one())


@dataclass(frozen=True)
class StatsReport:
    span: Window
    tickets: list[DayCounts]
    times: ResponseTimes
    satisfaction: SatisfactionSummary
    segments: dict[str, int]
    moves: list[SegmentMoveCount]
    faq: FaqSummary
    stuck_outbox: int
    surveys: SurveysBySegment

    @property
    def opened(self) -> int:
        return sum(day.opened for day in self.tickets)

    @property
    def closed(self) -> int:
        return sum(day.closed for day in self.tickets)


async def stats_report(
    session: AsyncSession, *, days: int, now: datetime, hours: BusinessHours, admin_ids: Collection[int] = ()
) -> StatsReport:
    span = window(days=days, now=now, zone=hours.zone)
    return StatsReport(
        span=span,
        tickets=await tickets_per_day(session, span=span),
        times=await response_times(session, span=span, hours=hours),
        satisfaction=await csat_summary(session, since=span.since),
        segments=await segment_counts(session, admin_ids=admin_ids),
        moves=await segment_changes(session, since=span.since),
        faq=await faq_summary(session, since=span.since),
        stuck_outbox=await stuck_outbox_count(session, now=now),
        surveys=await surveys_by_segment(session, since=span.since),
    )
