"""What customers do with proactive messages: stop them, resume them, answer surveys, confirm their details."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from scheduler.config import CareConfig
from scheduler.jobs import run_job
from storage import customers
from storage.db import SessionFactory, transaction
from storage.models import Customer, Purchase, SurveyResponse, Ticket
from storage.types import utcnow
from tests.botapi import FakeTelegram, FakeUser
from tests.care_support import fake_sender, outbox_rows
from tests.harness import BotHarness

CONFIG = CareConfig(quiet_hours="", rate_limits=False)


async def started(bot: BotHarness, tg: FakeTelegram, user: FakeUser) -> Customer:
    tg.sends_command(user, "/start")
    await bot.deliver()
    async with bot.services.sessions() as session:
        customer = await customers.get_customer(session, telegram_id=user.id)
    assert customer is not None
    return customer


async def stored(sessions: SessionFactory, telegram_id: int) -> Customer:
    async with sessions() as session:
        customer = await customers.get_customer(session, telegram_id=telegram_id)
    assert customer is not None
    return customer


async def send_outbox(bot: BotHarness, tg: FakeTelegram) -> None:
    async with fake_sender(tg, bot.services.sessions, CONFIG) as sender:
        await sender.drain()


async def test_the_stop_button_ends_greetings_and_start_greetings_brings_them_back(
    bot: BotHarness, tg: FakeTelegram
) -> None:
    user = tg.user(1001, "Nina")
    customer = await started(bot, tg, user)
    async with transaction(bot.services.sessions) as session:
        row = await session.get(Customer, customer.id)
        assert row is not None
        row.last_contact_at = utcnow() - timedelta(days=31)
    await run_job("checkin", sessions=bot.services.sessions, config=CONFIG)
    await send_outbox(bot, tg)
    checkin = tg.last_sent(user)
    assert checkin is not None and checkin.button_texts == ["🔕 Stop these messages"]

    tg.presses_button(user, checkin, "care:stop")
    await bot.deliver()
    assert "/start_greetings" in tg.last_sent(user).content  # type: ignore[union-attr]
    assert (await stored(bot.services.sessions, 1001)).proactive_opt_out
    assert tg.callback_queries[next(iter(tg.callback_queries))].answered

    async with transaction(bot.services.sessions) as session:
        session.add(Purchase(customer_id=customer.id, amount=1, currency="CNY", reference="R", occurred_at=utcnow()))  # type: ignore[arg-type]
    assert await run_job("nps", sessions=bot.services.sessions, config=CONFIG) == 0  # planners leave them out too

    tg.sends_command(user, "/start_greetings")
    await bot.deliver()
    assert "Welcome back" in tg.last_sent(user).content  # type: ignore[union-attr]
    assert not (await stored(bot.services.sessions, 1001)).proactive_opt_out
    tg.sends_command(user, "/stop_greetings")
    await bot.deliver()
    assert (await stored(bot.services.sessions, 1001)).proactive_opt_out


async def close_ticket(sessions: SessionFactory, customer: Customer, assignee: int) -> Ticket:
    async with transaction(sessions) as session:
        ticket = Ticket(customer_id=customer.id, status="closed", closed_at=utcnow(), assignee_telegram_id=assignee)  # type: ignore[arg-type]
        session.add(ticket)
        await session.flush()
        return ticket


async def test_a_low_csat_score_asks_why_and_the_next_text_is_stored_as_the_comment(
    bot: BotHarness, tg: FakeTelegram
) -> None:
    user = tg.user(1002, "Otto")
    customer = await started(bot, tg, user)
    ticket = await close_ticket(bot.services.sessions, customer, assignee=4242)
    await run_job("csat", sessions=bot.services.sessions, config=CONFIG)
    await send_outbox(bot, tg)
    survey = tg.last_sent(user)
    assert survey is not None and f"How did we do with ticket #{ticket.id}?" in survey.content
    assert survey.button_texts == ["1", "2", "3", "4", "5", "🔕 Stop these messages"]

    tg.presses_button(user, survey, f"care:csat:{ticket.id}:2")
    await bot.deliver()
    assert "What should we have done better?" in tg.last_sent(user).content  # type: ignore[union-attr]
    assert tg.message(user, survey.message_id).buttons == []  # type: ignore[union-attr]

    tg.customer_sends_text(user, "The answer took <two> days")
    await bot.deliver()
    assert "your comment is saved" in tg.last_sent(user).content  # type: ignore[union-attr]
    async with bot.services.sessions() as session:
        (response,) = (await session.execute(select(SurveyResponse))).scalars()
    assert (response.kind, response.score, response.ticket_id) == ("csat", 2, ticket.id)
    assert response.staff_telegram_id == 4242 and response.customer_id == customer.id
    assert response.comment == "The answer took <two> days"

    tg.customer_sends_text(user, "Another thing")  # no longer a comment
    await bot.deliver()
    async with bot.services.sessions() as session:
        (response,) = (await session.execute(select(SurveyResponse))).scalars()
    assert response.comment == "The answer took <two> days"


async def test_a_good_csat_score_is_thanked_and_nobody_can_answer_someone_elses_survey(
    bot: BotHarness, tg: FakeTelegram
) -> None:
    user, stranger = tg.user(1003, "Pia"), tg.user(1004, "Sid")
    customer = await started(bot, tg, user)
    await started(bot, tg, stranger)
    ticket = await close_ticket(bot.services.sessions, customer, assignee=77)
    await run_job("csat", sessions=bot.services.sessions, config=CONFIG)
    await send_outbox(bot, tg)
    survey = tg.last_sent(user)
    assert survey is not None

    tg.presses_button(stranger, survey, f"care:csat:{ticket.id}:1", strict=False)
    await bot.deliver()
    answers = [record.answer for record in tg.callback_queries.values()]
    assert answers[-1].get("text") == "This survey is no longer available."

    tg.presses_button(user, survey, f"care:csat:{ticket.id}:5")
    await bot.deliver()
    assert "Thank you for your rating (5/5)" in tg.last_sent(user).content  # type: ignore[union-attr]
    async with bot.services.sessions() as session:
        scores = [(r.customer_id, r.score) for r in (await session.execute(select(SurveyResponse))).scalars()]
    assert scores == [(customer.id, 5)]


async def test_an_nps_answer_is_stored(bot: BotHarness, tg: FakeTelegram) -> None:
    user = tg.user(1005, "Quinn", language_code="zh-hans")
    customer = await started(bot, tg, user)
    async with transaction(bot.services.sessions) as session:
        session.add(Purchase(customer_id=customer.id, amount=5, currency="CNY", reference="N", occurred_at=utcnow()))  # type: ignore[arg-type]
    await run_job("nps", sessions=bot.services.sessions, config=CONFIG)
    await send_outbox(bot, tg)
    survey = tg.last_sent(user)
    assert survey is not None and "推荐给朋友或同事" in survey.content
    tg.presses_button(user, survey, "care:nps:9")
    await bot.deliver()
    assert "感谢您的回答（9/10）" in tg.last_sent(user).content  # type: ignore[union-attr]
    tg.presses_button(user, survey, "care:nps:10", strict=False)  # changes their mind on the same survey
    await bot.deliver()
    async with bot.services.sessions() as session:
        answers = [(r.kind, r.score) for r in (await session.execute(select(SurveyResponse))).scalars()]
    assert answers == [("nps", 10)]


async def test_stale_details_are_confirmed_with_yes_or_updated_through_the_profile(
    bot: BotHarness, tg: FakeTelegram
) -> None:
    user = tg.user(1006, "Rita")
    customer = await started(bot, tg, user)
    async with transaction(bot.services.sessions) as session:
        row = await session.get(Customer, customer.id)
        assert row is not None
        row.email, row.last_confirmed_at = "rita@example.com", utcnow() - timedelta(days=400)
    await run_job("freshness", sessions=bot.services.sessions, config=CONFIG)
    await send_outbox(bot, tg)
    question = tg.last_sent(user)
    assert question is not None and "Are they still right?" in question.content
    assert question.button_texts[:2] == ["✅ Yes, all correct", "✏️ Update"]

    tg.presses_button(user, question, "care:fresh:update")
    await bot.deliver()
    profile = tg.last_sent(user)
    assert profile is not None and "Email: rita@example.com" in profile.content

    tg.presses_button(user, question, "care:fresh:yes", strict=False)
    await bot.deliver()
    assert "Thank you for confirming" in tg.last_sent(user).content  # type: ignore[union-attr]
    confirmed = (await stored(bot.services.sessions, 1006)).last_confirmed_at
    assert confirmed is not None and utcnow() - confirmed < timedelta(minutes=1)
    assert len(await outbox_rows(bot.services.sessions, kind="freshness")) == 1


async def test_every_planner_is_put_on_the_job_queue(bot: BotHarness) -> None:
    from scheduler.jobs import JOBS, schedule_jobs

    assert bot.app.job_queue is not None
    schedule_jobs(bot.app.job_queue, sessions=bot.services.sessions, config=CONFIG)
    jobs = {job.name: job for job in bot.app.job_queue.jobs()}
    assert set(jobs) == set(JOBS)
    assert all(job.next_t is not None for job in jobs.values())
