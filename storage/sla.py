"""The response-time clock: one rule for the ticket card, `/queue`, the SLA digest and `/stats`.

Time is counted in business minutes (`CAREBOT_BUSINESS_HOURS`, less the public holidays of
`CAREBOT_HOLIDAY_COUNTRY`): a ticket opened on Friday evening is not late on Monday at nine. VIP customers have a
shorter first-response target of their own. The resolution target (`CAREBOT_SLA_RESOLUTION_HOURS`) runs from the
opening to the ticket's resolution (or closing).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from storage.business_hours import BusinessHours
from storage.models import Segment, Ticket


@dataclass(frozen=True)
class SlaTargets:
    first_response_minutes: int
    vip_first_response_minutes: int
    resolution_hours: int

    def first_response(self, segment: str) -> int:
        """The first-response target in business minutes for a customer of this segment."""
        return self.vip_first_response_minutes if segment == Segment.VIP.value else self.first_response_minutes

    @property
    def resolution_minutes(self) -> int:
        """The resolution target in business minutes."""
        return self.resolution_hours * 60


@dataclass(frozen=True)
class FirstResponse:
    target: int  # business minutes
    waited: float  # business minutes from opening to the first answer, or to now while unanswered
    answered: bool

    @property
    def late(self) -> bool:
        return self.waited > self.target

    @property
    def left(self) -> float:
        return self.target - self.waited


def first_response(
    ticket: Ticket, *, segment: str, hours: BusinessHours, targets: SlaTargets, now: datetime
) -> FirstResponse:
    end = ticket.first_response_at or now
    return FirstResponse(
        target=targets.first_response(segment),
        waited=hours.business_minutes_between(ticket.opened_at, end),
        answered=ticket.first_response_at is not None,
    )


@dataclass(frozen=True)
class Resolution:
    target: int  # business minutes
    open_for: float  # business minutes from opening to resolution (or closing), or to now while unresolved
    resolved: bool

    @property
    def late(self) -> bool:
        return self.open_for > self.target


def resolution(ticket: Ticket, *, hours: BusinessHours, targets: SlaTargets, now: datetime) -> Resolution:
    end = ticket.resolved_at or ticket.closed_at
    return Resolution(
        target=targets.resolution_minutes,
        open_for=hours.business_minutes_between(ticket.opened_at, end or now),
        resolved=end is not None,
    )
