"""A periodic survey through a real `carebot run`: planned, sent by the running sender, answered, stored."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from sqlmodel import select

from scheduler.config import CareConfig
from scheduler.jobs import run_job
from storage import customers
from storage.db import SessionFactory, transaction
from storage.models import Purchase, SurveyResponse
from storage.types import utcnow
from tests.botapi import FakeTelegram
from tests.care_support import outbox_rows
from tests.harness import carebot_against_fake


async def test_an_nps_survey_is_answered_with_a_low_score_and_a_comment(
    tg: FakeTelegram, tmp_path: Path, database_url: str, sessions: SessionFactory
) -> None:
    async with carebot_against_fake(tg, tmp_path, database_url, quiet_hours="", rate_limits="off") as carebot:
        user = tg.user(1201, "Hana")
        tg.sends_command(user, "/start")
        await tg.wait_for(lambda: tg.last_sent(user), timeout=60, message=carebot.log())  # includes start-up
        async with transaction(sessions) as session:
            customer = await customers.get_customer(session, telegram_id=user.id)
            assert customer is not None
            session.add(
                Purchase(
                    customer_id=customer.id,
                    amount=Decimal("120"),
                    currency="CNY",
                    reference="O-1",  # type: ignore[arg-type]
                    occurred_at=utcnow(),
                )
            )
        assert await run_job("nps", sessions=sessions, config=CareConfig()) == 1

        survey = await tg.wait_for(
            lambda: next((m for m in tg.sent_to(user) if "recommend us" in m.content), None),
            timeout=30,
            message=carebot.log(),
        )
        assert "care:nps:0" in survey.callback_data and "care:stop" in survey.callback_data
        tg.presses_button(user, survey, "care:nps:4")
        await tg.wait_for(lambda: "main reason" in tg.last_sent(user).content, timeout=30, message=carebot.log())  # type: ignore[union-attr]
        tg.customer_sends_text(user, "Delivery was late")
        await tg.wait_for(lambda: "comment is saved" in tg.last_sent(user).content, timeout=30, message=carebot.log())  # type: ignore[union-attr]
    assert carebot.process.returncode == 0, carebot.log()
    async with sessions() as session:
        (answer,) = (await session.execute(select(SurveyResponse))).scalars()
    assert (answer.kind, answer.score, answer.comment, answer.customer_id) == (
        "nps",
        4,
        "Delivery was late",
        customer.id,
    )
    (row,) = await outbox_rows(sessions, kind="nps")
    assert row.status == "sent" and row.telegram_message_id == survey.message_id
