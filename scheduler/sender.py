"""The outbox sender: drains due rows within Telegram's limits, each row sent at most once.

For every batch: when few rows are due, the next chunk of a due greeting pass becomes outbox rows (see
storage/outbox_passes.py); due rows are checked again (the customer may have opted out, blocked the bot or be
asleep), claimed as `sending` and committed, and only then sent. Outcomes are written back in one transaction. A
crash between the two leaves rows in `sending`, which no sender picks up again (they are reported instead).

Limits (when `rate_limits` is on): `send_rate` messages in any one second overall and twenty in any minute per
group (sliding windows: scheduler/sliding_window.py), one a second per private chat. A 429 pauses every send for
its `retry_after`; 5xx and network errors are retried with backoff up to `send_max_attempts`, then the row fails
with the reason; 403 marks the customer unreachable and skips every row still pending for them.

Texts come from the caller (`texts(language, key, params)`): the catalogs live in `bot/`, which imports this
package and not the other way round.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager, nullcontext, suppress
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Bot, Message, MessageId
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError

from scheduler.config import CareConfig
from scheduler.outcomes import DrainReport, Outcome, retry_after_seconds
from scheduler.rendering import Texts, is_proactive, markup_of, text_of
from scheduler.sliding_window import SlidingWindow
from storage import outbox, outbox_passes
from storage.coupons import issue_coupon
from storage.db import SessionFactory, transaction
from storage.models import OutboxStatus
from storage.outbox import DueMessage
from storage.types import utcnow

log = logging.getLogger(__name__)
# Telegram allows about one message a second per chat; the margin absorbs the jitter between sending a request
# and Telegram receiving it, so two sends never arrive within one second.
PER_CHAT_INTERVAL_SECONDS = 1.15

# About the customer's own ticket, or to the staff chat: not a proactive message (no Stop button, no opt-out).
CAP_WINDOW = timedelta(days=7)
MAX_THROTTLED = 20  # 429 answers tolerated for one message before it fails
GROUP_WINDOW_SECONDS = 60.0
GROUP_MAX_PER_WINDOW = 20
IDLE_SECONDS = 2.0


Sleep = Callable[[float], Awaitable[None]]
ChatWindows = Callable[[int], Sequence[SlidingWindow]]


class OutboxSender:
    def __init__(
        self,
        *,
        bot: Bot,
        sessions: SessionFactory,
        config: CareConfig,
        texts: Texts,
        sleep: Sleep = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        chat_windows: ChatWindows | None = None,
    ) -> None:
        """`chat_windows(chat_id)`, when given, are the chat's limits shared with the bot's other senders (the
        rate limiter of `bot/`): a group's twenty a minute then hold for everything sent to it."""
        self._bot = bot
        self._chat_windows = chat_windows
        self._sessions = sessions
        self._config = config
        self._texts = texts
        self._sleep = sleep
        self._clock = clock
        self._limits = config.rate_limits
        self._overall = SlidingWindow.per_second(config.send_rate, clock=clock, sleep=sleep)
        self.batch_size = max(1, int(config.send_rate)) if config.rate_limits else 100
        self._chat_ready: dict[int, float] = {}
        self._groups: dict[int, SlidingWindow] = {}
        self._pause = asyncio.Lock()
        self._wake = asyncio.Event()

    # ------------------------------------------------------------ the loop

    async def drain(self) -> DrainReport:
        """Send everything due now; returns when nothing due is left (held rows wait for their time)."""
        report = DrainReport()
        while True:
            claimed, wait = await self._claim_batch(report)
            if claimed:
                outcomes = await asyncio.gather(*(self._deliver(due) for due in claimed))
                await self._record(outcomes, report)
            elif wait is None:
                break
            elif wait > 0:
                await self._sleep(wait)
        if report.sent or report.failed or report.skipped:
            log.info(
                "outbox: %d sent, %d failed, %d skipped, %d held for quiet hours",
                report.sent,
                report.failed,
                report.skipped,
                report.held,
            )
        return report

    def wake(self) -> None:
        """Something was planned for now (e.g. the survey after a closing): drain at once instead of idling."""
        self._wake.set()

    async def run(self, idle_seconds: float = IDLE_SECONDS) -> None:
        """Drain, then look again every `idle_seconds` or when woken, until cancelled."""
        while True:
            self._wake.clear()
            try:
                await self.drain()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("outbox sender failed; trying again shortly")
            with suppress(TimeoutError):
                async with asyncio.timeout(idle_seconds):
                    await self._wake.wait()

    # ------------------------------------------------------------ claiming

    async def _claim_batch(self, report: DrainReport) -> tuple[list[DueMessage], float | None]:
        """Claim the next rows to send. Returns (claimed, wait): wait None = nothing due; > 0 = per-chat limits."""
        now = utcnow()
        config = self._config
        async with transaction(self._sessions) as session:
            look_ahead = self.batch_size * 4
            due = await outbox.due_messages(session, now=now, limit=look_ahead)
            if len(due) < look_ahead and await self._expand_passes(session, now):
                due = await outbox.due_messages(session, now=now, limit=look_ahead)
            if not due:
                return [], None
            capped_ids = [d.message.customer_id for d in due if d.message.capped and d.message.customer_id]
            sent_this_week = await outbox.capped_sent_since(session, customer_ids=capped_ids, since=now - CAP_WINDOW)
            chosen: list[DueMessage] = []
            chats: set[int] = set()
            handled = 0
            wait: float | None = None
            for item in due:
                message = item.message
                assert message.id is not None
                customer_id = message.customer_id
                if customer_id is not None and is_proactive(message.kind, customer_id) and not item.allowed:
                    reason = "opted out" if item.opted_out else "customer not reachable"
                    await outbox.mark_done(
                        session, message_ids=[message.id], status=OutboxStatus.SKIPPED, reason=reason
                    )
                    report.count(OutboxStatus.SKIPPED, reason)
                    handled += 1
                    continue
                if customer_id is not None:
                    until = config.quiet.held_until(now, config.zone_of(item.timezone))
                    if until is not None:
                        await outbox.hold(session, message_id=message.id, until=until)
                        report.held += 1
                        handled += 1
                        continue
                over_cap = (
                    customer_id is not None and sent_this_week.get(customer_id, 0) >= config.max_proactive_per_week
                )
                if message.capped and over_cap:
                    reason = "weekly cap reached"
                    await outbox.mark_done(
                        session, message_ids=[message.id], status=OutboxStatus.SKIPPED, reason=reason
                    )
                    report.count(OutboxStatus.SKIPPED, reason)
                    handled += 1
                    continue
                if len(chosen) >= self.batch_size:
                    break
                chat_wait = self._chat_wait(message.chat_id)
                if message.chat_id in chats or chat_wait > 0:
                    wait = min(wait or 1.0, max(chat_wait, 0.05))
                    continue
                chosen.append(item)
                chats.add(message.chat_id)
                if message.capped and customer_id is not None:
                    sent_this_week[customer_id] = sent_this_week.get(customer_id, 0) + 1
            owned = await outbox.claim(session, ids=[d.message.id for d in chosen if d.message.id], now=now)
            claimed = [d for d in chosen if d.message.id in owned]
            for item in claimed:
                await self._attach_gift(session, item, now)
        if claimed or handled:
            return claimed, 0.0
        return [], wait

    async def _expand_passes(self, session: AsyncSession, now: datetime) -> int:
        """Turn the next chunk of a due greeting pass into outbox rows; returns how many. A pass waits while its
        time zone has quiet hours: its rows would only be held until morning one by one."""
        for greeting_pass in await outbox_passes.open_passes(session, due_by=now):
            if self._config.quiet.held_until(now, self._config.zone_of(greeting_pass.timezone)) is not None:
                continue
            assert greeting_pass.id is not None
            while (
                inserted := await outbox_passes.expand(
                    session, greeting_pass.id, now=now, admin_ids=self._config.admin_ids
                )
            ) is not None:
                if inserted:
                    return inserted
        return 0

    async def _attach_gift(self, session: Any, item: DueMessage, now: datetime) -> None:
        """Issue the gift code a greeting carries, in the claiming transaction: one code per message sent."""
        message = item.message
        params = json.loads(message.params)
        gift = params.get("gift")
        if not isinstance(gift, dict) or "code" in gift:
            return
        expires_at = now + timedelta(days=int(gift.get("valid_days", 30)))
        coupon = await issue_coupon(
            session,
            customer_id=message.customer_id,
            reason=message.key[:64],
            value=Decimal(str(gift["value"])),
            currency=str(gift["currency"]),
            expires_at=expires_at,
        )
        local_expiry = expires_at.astimezone(self._config.zone_of(item.timezone)).date()
        gift.update(code=coupon.code, expires=local_expiry.isoformat())
        message.params = outbox.params_json(params)
        assert message.id is not None
        await outbox.set_params(session, message_id=message.id, params=params)

    # ------------------------------------------------------------ limits

    def _chat_wait(self, chat_id: int) -> float:
        """Seconds until this chat may get another message (0 when it may now)."""
        if not self._limits:
            return 0.0
        if self._chat_windows is not None:
            return max(window.delay() for window in self._chat_windows(chat_id))
        if chat_id < 0:
            return self._group(chat_id).delay()
        return max(0.0, self._chat_ready.get(chat_id, 0.0) - self._clock())

    def _group(self, chat_id: int) -> SlidingWindow:
        window = self._groups.get(chat_id)
        if window is None:
            window = self._groups[chat_id] = SlidingWindow(
                GROUP_MAX_PER_WINDOW, GROUP_WINDOW_SECONDS, clock=self._clock, sleep=self._sleep
            )
        return window

    def _note_private_send(self, chat_id: int) -> None:
        now = self._clock()
        if len(self._chat_ready) > 10_000:  # forget chats whose second has passed
            self._chat_ready = {chat: ready for chat, ready in self._chat_ready.items() if ready > now}
        self._chat_ready[chat_id] = now + PER_CHAT_INTERVAL_SECONDS

    @asynccontextmanager
    async def _sending(self, chat_id: int) -> AsyncIterator[None]:
        """Wait until a message to `chat_id` may go; the call made inside counts against the limits."""
        async with self._pause:  # held while a 429 pause lasts
            pass
        if not self._limits:
            yield
            return
        # The chat first (a retry to the same chat within its second; one coroutine sends to a chat at a time),
        # the overall window last, so that its slot is taken at the moment of sending.
        while (wait := self._chat_wait(chat_id)) > 0:
            await self._sleep(wait)
        if self._chat_windows is not None:
            async with AsyncExitStack() as limits:
                for window in (*self._chat_windows(chat_id), self._overall):
                    await limits.enter_async_context(window.use())
                yield
            return
        async with self._group(chat_id).use() if chat_id < 0 else nullcontext(), self._overall.use():
            if chat_id >= 0:
                self._note_private_send(chat_id)
            yield

    async def _pause_for(self, seconds: float) -> None:
        resume_at = self._clock() + seconds
        async with self._pause:
            remaining = resume_at - self._clock()
            if remaining > 0:
                log.warning("Telegram asked to slow down: pausing sends for %.0f s", remaining)
                await self._sleep(remaining)

    # ------------------------------------------------------------ sending one message

    async def _deliver(self, item: DueMessage) -> Outcome:
        message = item.message
        fallback = self._config.language_of_staff if message.customer_id is None else self._config.default_language
        language = item.language or fallback  # a row for no customer is for the staff chat
        try:
            params = json.loads(message.params)
            markup = markup_of(self._texts, language, item, params)
            copy_from = params.get("copy_from")
            text = None if copy_from else text_of(self._texts, language, item, params)
        except Exception as exc:  # a template or its params are broken: never retried
            log.error("outbox row %s cannot be rendered: %s", message.id, type(exc).__name__)
            return Outcome(item, OutboxStatus.FAILED, 0, reason=f"cannot render: {type(exc).__name__}")
        attempts = throttled = 0
        while True:
            attempts += 1
            try:
                async with self._sending(message.chat_id):
                    if copy_from:
                        sent: MessageId | Message = await self._bot.copy_message(
                            message.chat_id, copy_from["chat_id"], copy_from["message_id"], reply_markup=markup
                        )
                    else:
                        assert text is not None
                        sent = await self._bot.send_message(
                            message.chat_id, text, parse_mode=ParseMode.HTML, reply_markup=markup
                        )
                return Outcome(item, OutboxStatus.SENT, attempts, sent.message_id)
            except RetryAfter as exc:
                throttled += 1
                if throttled > MAX_THROTTLED:
                    return Outcome(item, OutboxStatus.FAILED, attempts, reason=f"429: {exc.message}")
                attempts -= 1  # being asked to wait is not a failed attempt
                await self._pause_for(retry_after_seconds(exc))
            except Forbidden as exc:
                if message.customer_id is None:
                    return Outcome(item, OutboxStatus.FAILED, attempts, reason=f"403: {exc.message}")
                return Outcome(item, OutboxStatus.SKIPPED, attempts, reason=f"403: {exc.message}", unreachable=True)
            except BadRequest as exc:
                return Outcome(item, OutboxStatus.FAILED, attempts, reason=f"400: {exc.message}")
            except NetworkError as exc:  # 5xx answers, timeouts, connection errors
                if attempts >= self._config.send_max_attempts:
                    return Outcome(item, OutboxStatus.FAILED, attempts, reason=f"{type(exc).__name__}: {exc.message}")
                await self._sleep(min(2.0 ** (attempts - 1), 30.0))
            except TelegramError as exc:
                return Outcome(item, OutboxStatus.FAILED, attempts, reason=f"{type(exc).__name__}: {exc.message}")

    # ------------------------------------------------------------ recording

    async def _record(self, outcomes: list[Outcome], report: DrainReport) -> None:
        now = utcnow()
        async with transaction(self._sessions) as session:
            for outcome in outcomes:
                message = outcome.due.message
                assert message.id is not None
                if outcome.status == OutboxStatus.SENT:
                    await outbox.mark_sent(
                        session,
                        message_id=message.id,
                        telegram_message_id=outcome.telegram_message_id,
                        attempts=outcome.attempts,
                        at=now,
                    )
                else:
                    await outbox.mark_done(
                        session,
                        message_ids=[message.id],
                        status=outcome.status,
                        reason=outcome.reason,
                        attempts=outcome.attempts,
                    )
                if outcome.unreachable and message.customer_id is not None:
                    skipped = await outbox.mark_unreachable(
                        session, customer_id=message.customer_id, reason="customer blocked the bot"
                    )
                    report.skipped += skipped
                report.count(outcome.status, outcome.reason)
