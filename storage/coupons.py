"""Gift codes: issued with a greeting, redeemed once by staff."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from storage.models import Coupon
from storage.types import utcnow

# No look-alikes: 0/O, 1/I/L, 2/Z, 5/S, 8/B are left out.
CODE_ALPHABET = "34679ACDEFGHJKMNPQRTUVWXY"
CODE_LENGTH = 8
CODE_TRIES = 5


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def normalise_code(text: str) -> str:
    return "".join(ch for ch in text.upper() if ch.isalnum())


async def issue_coupon(
    session: AsyncSession,
    *,
    customer_id: int | None,
    reason: str,
    value: Decimal,
    currency: str,
    expires_at: datetime,
) -> Coupon:
    """A coupon with a fresh unique code (retried on the rare collision, also with a code another transaction
    is issuing at the same moment: the insert goes in a savepoint, and the unique index decides)."""
    for attempt in range(CODE_TRIES):
        coupon = Coupon(
            code=new_code(),
            customer_id=customer_id,
            reason=reason,
            value=value,
            currency=currency,
            expires_at=expires_at,
        )
        try:
            async with session.begin_nested():
                session.add(coupon)
                await session.flush()
        except IntegrityError:
            if attempt == CODE_TRIES - 1:
                raise
            continue
        return coupon
    raise AssertionError("unreachable")


class RedeemOutcome(StrEnum):
    REDEEMED = "redeemed"
    UNKNOWN = "unknown"
    EXPIRED = "expired"
    ALREADY_USED = "already_used"


@dataclass(frozen=True)
class Redemption:
    outcome: RedeemOutcome
    coupon: Coupon | None = None


async def redeem_coupon(session: AsyncSession, *, code: str, staff_telegram_id: int) -> Redemption:
    result = await session.execute(select(Coupon).where(col(Coupon.code) == normalise_code(code)))
    coupon = result.scalar_one_or_none()
    if coupon is None:
        return Redemption(RedeemOutcome.UNKNOWN)
    if coupon.redeemed_at is not None:
        return Redemption(RedeemOutcome.ALREADY_USED, coupon)
    now = utcnow()
    if coupon.expires_at <= now:
        return Redemption(RedeemOutcome.EXPIRED, coupon)
    coupon.redeemed_at = now
    coupon.redeemed_by = staff_telegram_id
    session.add(coupon)
    return Redemption(RedeemOutcome.REDEEMED, coupon)
