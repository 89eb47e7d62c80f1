"""Moving a deployment: `carebot db copy --to URL` copies every table, refuses to overwrite, continues numbering."""

from __future__ import annotations

import asyncio
import shutil
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import delete, func, select
from sqlmodel import SQLModel, col
from typer.testing import CliRunner, Result

from bot.cli import app as cli
from storage import business, coupons, customers, pending, purchases, staff
from storage.db import SessionFactory, create_engine, session_factory, transaction
from storage.models import (
    AccountManager,
    Agent,
    Customer,
    FaqEntry,
    FaqEvent,
    InboxUpdate,
    StaffDelivery,
    StaffMember,
    SurveyResponse,
    Ticket,
    TicketMessage,
)
from storage.models.agreement import AgreementAcceptance, AgreementText, AgreementVersion, ForgottenAcceptances
from storage.models.staff_work import Broadcast, CustomerNote, StaffImport
from storage.outbox import PlannedMessage, enqueue_many
from storage.outbox_passes import PassPlan, plan_pass
from storage.segments import VipThresholds
from storage.types import utcnow
from tests.ids import ADMIN_ID


@pytest.fixture
async def source_url(tmp_path: Path, sqlite_template: Path) -> str:
    """A SQLite deployment with rows in every table."""
    path = tmp_path / "carebot.db"
    shutil.copy(sqlite_template, path)
    url = f"sqlite+aiosqlite:///{path}"
    engine = create_engine(url)
    await fill_every_table(session_factory(engine))
    async with engine.connect() as connection:
        for table in SQLModel.metadata.sorted_tables:
            rows = (await connection.execute(select(func.count()).select_from(table))).scalar_one()
            assert rows, f"give table {table.name} a row in fill_every_table(), so the copy of it is tested"
    await engine.dispose()
    return url


async def fill_every_table(sessions: SessionFactory) -> None:
    async with transaction(sessions) as session:
        customer, _ = await customers.touch_customer(
            session, telegram_id=5001, first_name="李雷", last_name=None, username="lilei", language="zh_CN"
        )
        customer.birth_month, customer.birth_day, customer.proactive_opt_out = 5, 17, True
        session.add(Customer(telegram_id=5002, first_name="Ann", language="en"))
        await purchases.record_purchase(
            session,
            customer=customer,
            amount=Decimal("1234.56"),
            currency="CNY",
            reference="order-1",
            vip=VipThresholds(min_total=Decimal("10000"), min_purchases=10),
        )
        await staff.audit(session, actor_telegram_id=ADMIN_ID, action="customer.view", customer_id=customer.id)
        session.add(InboxUpdate(update_id=77, chat_id=5001, payload='{"update_id": 77}', claimed_by="r1"))
        await pending.expect_input(session, chat_id=5001, user_id=5001, kind="profile:phone")
        ticket = Ticket(customer_id=customer.id)  # type: ignore[arg-type]
        session.add(ticket)
        await session.flush()
        session.add(StaffDelivery(key=f"deliver:{ticket.id}:1", ticket_id=ticket.id, kind="copy"))  # type: ignore[arg-type]
        session.add(TicketMessage(ticket_id=ticket.id, direction="in", text="我的订单在哪里？", customer_chat_id=5001))  # type: ignore[arg-type]
        session.add(SurveyResponse(kind="csat", customer_id=customer.id, ticket_id=ticket.id, score=5))
        await enqueue_many(
            session, messages=[PlannedMessage(key="birthday:2026:1", kind="birthday", chat_id=5001, template="x")]
        )
        greeting = PassPlan("holiday:2026-10-01", "holiday:2026-10-01:customer:", "holiday", "x", {}, None, utcnow())
        await plan_pass(session, greeting, now=utcnow())
        await coupons.issue_coupon(
            session,
            customer_id=customer.id,
            reason="birthday",
            value=Decimal("20.00"),
            currency="CNY",
            expires_at=utcnow() + timedelta(days=30),
        )
        entry = FaqEntry(language="en", questions='["Where is my order?"]', answer="Tracking is in your email.")
        session.add(entry)
        await session.flush()
        session.add(FaqEvent(faq_id=entry.id, event="hit"))
        session.add(StaffMember(telegram_id=900002, name="Bob", role="agent", added_by=ADMIN_ID))
        session.add(
            Agent(telegram_id=900002, name="Bob", inbox_open=True, categories="order,other", hours="09:00-18:00")
        )
        session.add(AccountManager(customer_id=customer.id, manager_telegram_id=900002))  # type: ignore[arg-type]
        now = utcnow()
        session.add(AgreementVersion(version=1, published_at=now))
        await session.flush()
        session.add(AgreementText(version=1, language="en", text="The terms."))
        session.add(
            AgreementAcceptance(
                customer_id=customer.id,  # type: ignore[arg-type]
                version=1,
                channel="chat",
                accepted_at=now,
                valid_until=now + timedelta(days=365),
                signature=5001,
            )
        )
        session.add(ForgottenAcceptances(version=1, channel="chat", count=1))
        session.add(CustomerNote(customer_id=customer.id, author_telegram_id=ADMIN_ID, text="Prefers mornings"))  # type: ignore[arg-type]
        session.add(Broadcast(created_by=ADMIN_ID, segment="all", source_chat_id=ADMIN_ID, source_message_id=5))
        session.add(StaffImport(kind="customers", file_id="f", sha256="0" * 64, actor_telegram_id=ADMIN_ID, chat_id=1))
        await business.save_connection(
            session,
            connection_id="bc-1",
            owner_telegram_id=ADMIN_ID,
            owner_chat_id=ADMIN_ID,
            enabled=True,
            can_reply=True,
            rights='{"can_reply": true}',
            connected_at=now,
        )
        await business.record_chat_activity(session, connection_id="bc-1", chat_id=5001, from_customer=True)


async def copy_to(source: str, target: str, *extra: str) -> Result:
    runner = CliRunner()
    return await asyncio.to_thread(
        runner.invoke, cli, ["db", "copy", "--to", target, *extra], env={"CAREBOT_DATABASE_URL": source}
    )


async def counts(url: str) -> dict[str, int]:
    engine = create_engine(url)
    async with engine.connect() as connection:
        result = {
            table.name: (await connection.execute(select(func.count()).select_from(table))).scalar_one()
            for table in SQLModel.metadata.sorted_tables
        }
    await engine.dispose()
    return result


async def test_a_sqlite_deployment_is_copied_table_by_table_with_equal_row_counts(
    source_url: str, target_url: str
) -> None:
    result = await copy_to(source_url, target_url)
    assert result.exit_code == 0, result.output
    assert "row counts match" in result.output and "tickets" in result.output
    assert await counts(target_url) == await counts(source_url)

    engine = create_engine(target_url)
    sessions = session_factory(engine)
    async with transaction(sessions) as session:
        customer = await customers.get_customer(session, telegram_id=5001)
        assert customer is not None and customer.first_name == "李雷" and customer.proactive_opt_out
        assert customer.total_spent == Decimal("1234.56") and customer.segment == "new"
        assert customer.created_at.tzinfo is not None
        message = (await session.execute(select(TicketMessage))).scalar_one()
        assert message.text == "我的订单在哪里？"
        # Numbering continues after the copied rows: the next ticket is #2, not #1 again.
        ticket = Ticket(customer_id=customer.id)  # type: ignore[arg-type]
        session.add(ticket)
        await session.flush()
        assert ticket.id == 2
    await engine.dispose()


async def next_ticket(url: str) -> int:
    engine = create_engine(url)
    try:
        async with transaction(session_factory(engine)) as session:
            customer = await customers.get_customer(session, telegram_id=5001)
            assert customer is not None
            ticket = Ticket(customer_id=customer.id)  # type: ignore[arg-type]
            session.add(ticket)
            await session.flush()
            assert ticket.id is not None
            return ticket.id
    finally:
        await engine.dispose()


async def test_the_number_of_a_deleted_newest_ticket_is_not_given_again_after_a_copy(
    source_url: str, target_url: str, tmp_path: Path
) -> None:
    deleted = await next_ticket(source_url)
    engine = create_engine(source_url)
    async with transaction(session_factory(engine)) as session:
        await session.execute(delete(Ticket).where(col(Ticket.id) == deleted))
    await engine.dispose()

    assert (await copy_to(source_url, target_url)).exit_code == 0
    # Copied on once more, from the target: a PostgreSQL target is then a source too.
    onward = f"sqlite+aiosqlite:///{tmp_path / 'onward.db'}"
    assert (await copy_to(target_url, onward)).exit_code == 0

    assert (deleted, await next_ticket(target_url), await next_ticket(onward)) == (2, 3, 3)


async def test_a_target_holding_data_is_refused_unless_forced(source_url: str, target_url: str) -> None:
    assert (await copy_to(source_url, target_url)).exit_code == 0
    refused = await copy_to(source_url, target_url)
    assert refused.exit_code == 1
    assert "the target already holds data" in refused.output and "--force" in refused.output
    assert await counts(target_url) == await counts(source_url)
    forced = await copy_to(source_url, target_url, "--force")
    assert forced.exit_code == 0, forced.output
    assert await counts(target_url) == await counts(source_url)


async def test_copying_a_database_that_does_not_exist_says_so(tmp_path: Path, target_url: str) -> None:
    result = await copy_to(f"sqlite+aiosqlite:///{tmp_path / 'missing.db'}", target_url)
    assert result.exit_code == 2
    assert "does not exist" in result.output
    assert not (tmp_path / "missing.db").exists()
