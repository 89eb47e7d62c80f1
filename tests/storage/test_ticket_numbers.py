"""Ticket numbers are unique when several replicas open tickets at the same moment (a sequence, not max()+1), and a
number once given is never given again."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from alembic import command
from sqlalchemy import delete
from sqlmodel import col, select

from storage.db import SessionFactory, alembic_config, create_engine, session_factory, transaction
from storage.models import Customer, StaffDelivery, SurveyResponse, Ticket, TicketMessage

MIGRATION = "0011_ticket_autoincrement"  # the one that made SQLite ticket numbers AUTOINCREMENT

CONNECTIONS = 4
TICKETS_EACH = 15


async def test_tickets_opened_concurrently_from_several_connections_get_distinct_numbers(database_url: str) -> None:
    engines = [create_engine(database_url) for _ in range(CONNECTIONS)]
    factories = [session_factory(engine) for engine in engines]
    async with transaction(factories[0]) as session:
        customer = Customer(telegram_id=880001, first_name="Ann")
        session.add(customer)
        await session.flush()
        customer_id = customer.id
    assert customer_id is not None

    async def open_tickets(worker: int) -> list[int]:
        numbers = []
        for _ in range(TICKETS_EACH):
            async with transaction(factories[worker]) as session:
                ticket = Ticket(customer_id=customer_id)
                session.add(ticket)
                await session.flush()
                assert ticket.id is not None
                numbers.append(ticket.id)
                await asyncio.sleep(0)  # let the other connections interleave inside open transactions
        return numbers

    try:
        numbers = [n for batch in await asyncio.gather(*map(open_tickets, range(CONNECTIONS))) for n in batch]
        async with factories[0]() as session:
            stored = list((await session.execute(select(Ticket.id).order_by(col(Ticket.id)))).scalars())
    finally:
        for engine in engines:
            await engine.dispose()
    assert len(set(numbers)) == CONNECTIONS * TICKETS_EACH
    assert sorted(numbers) == stored


async def open_ticket(sessions: SessionFactory, customer_id: int) -> int:
    async with transaction(sessions) as session:
        ticket = Ticket(customer_id=customer_id)
        session.add(ticket)
        await session.flush()
        assert ticket.id is not None
        return ticket.id


async def new_customer(sessions: SessionFactory) -> int:
    async with transaction(sessions) as session:
        customer = Customer(telegram_id=880002, first_name="Bo")
        session.add(customer)
        await session.flush()
        assert customer.id is not None
        return customer.id


async def test_deleting_the_newest_ticket_does_not_give_its_number_to_the_next_one(sessions: SessionFactory) -> None:
    customer_id = await new_customer(sessions)
    assert [await open_ticket(sessions, customer_id) for _ in range(3)] == [1, 2, 3]
    async with transaction(sessions) as session:
        await session.execute(delete(Ticket).where(col(Ticket.id) == 3))
    assert await open_ticket(sessions, customer_id) == 4


async def test_the_sqlite_rebuild_that_stops_reusing_numbers_keeps_every_ticket_and_what_refers_to_it(
    tmp_path: Path, sqlite_template: Path
) -> None:
    path = tmp_path / "carebot.db"
    shutil.copy(sqlite_template, path)
    url = f"sqlite+aiosqlite:///{path}"
    engine = create_engine(url)
    sessions = session_factory(engine)
    customer_id = await new_customer(sessions)
    tickets = [await open_ticket(sessions, customer_id) for _ in range(3)]
    async with transaction(sessions) as session:
        for number in tickets:
            session.add(TicketMessage(ticket_id=number, direction="in", text=f"about #{number}"))
            session.add(StaffDelivery(key=f"deliver:{number}", ticket_id=number, kind="copy"))
        session.add(SurveyResponse(kind="csat", customer_id=customer_id, ticket_id=2, score=4))

    async def stored() -> list[tuple[object, ...]]:
        async with sessions() as session:
            rows = await session.execute(
                select(col(Ticket.id), col(TicketMessage.text), col(StaffDelivery.key), col(SurveyResponse.score))
                .join(TicketMessage, col(TicketMessage.ticket_id) == col(Ticket.id))
                .join(StaffDelivery, col(StaffDelivery.ticket_id) == col(Ticket.id))
                .outerjoin(SurveyResponse, col(SurveyResponse.ticket_id) == col(Ticket.id))
                .order_by(col(Ticket.id))
            )
            return [tuple(row) for row in rows]

    before = await stored()
    assert len(before) == 3
    try:
        # Back to the schema before the migration (numbers reusable), then forward again: nothing may be lost.
        await asyncio.to_thread(command.downgrade, alembic_config(url), f"{MIGRATION}-1")
        await asyncio.to_thread(command.upgrade, alembic_config(url), "head")
        assert await stored() == before
        async with engine.connect() as connection:
            assert (await connection.exec_driver_sql("PRAGMA foreign_key_check")).all() == []
        async with transaction(sessions) as session:
            await session.execute(delete(Ticket).where(col(Ticket.id) == 3))
        assert await open_ticket(sessions, customer_id) == 4
    finally:
        await engine.dispose()
