"""Ticket numbers are unique when several replicas open tickets at the same moment (a sequence, not max()+1)."""

from __future__ import annotations

import asyncio

from sqlmodel import col, select

from storage.db import create_engine, session_factory, transaction
from storage.models import Customer, Ticket

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
