"""A holiday greets everyone: planned as one pass per time zone, turned into outbox rows a chunk at a time when
due — each customer greeted once, whether the planner runs twice or an expansion crashes half-way."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
import time_machine
from sqlalchemy import update
from sqlmodel import col, select

from scheduler.config import CareConfig
from scheduler.jobs import run_job
from storage import outbox_passes
from storage.db import SessionFactory, transaction
from storage.models import Customer, OutboxPass
from tests.agreements import accept, publish_both
from tests.botapi import FakeTelegram
from tests.care_support import add_customer, fake_sender, outbox_rows

CONFIG = CareConfig(quiet_hours="", rate_limits=False)
EVE = datetime(2026, 2, 16, 1, 0, tzinfo=UTC)  # Spring Festival (17 February) is tomorrow everywhere used here
SHANGHAI_TEN = datetime(2026, 2, 17, 2, 0, tzinfo=UTC)
EVERYWHERE_DUE = datetime(2026, 2, 17, 16, 0, tzinfo=UTC)  # past 10:00 in Shanghai, Berlin and London


def key(customer: Customer) -> str:
    return f"holiday:2026-02-17:customer:{customer.id}"


async def plan_holiday(sessions: SessionFactory, at: datetime = EVE) -> int:
    with time_machine.travel(at, tick=False):
        return await run_job("holidays", sessions=sessions, config=CONFIG)


async def expand_chunk(sessions: SessionFactory, *, chunk: int, now: datetime = EVERYWHERE_DUE) -> int | None:
    """One chunk of the first due pass, in a transaction of its own (as the sender does); None: nothing left."""
    async with transaction(sessions) as session:
        for due in await outbox_passes.open_passes(session, due_by=now):
            assert due.id is not None
            return await outbox_passes.expand(session, due.id, now=now, chunk=chunk)
    return None


async def expand_all(sessions: SessionFactory, *, chunk: int) -> list[int]:
    inserted: list[int] = []
    while (rows := await expand_chunk(sessions, chunk=chunk)) is not None:
        inserted.append(rows)
        assert len(inserted) < 100, "the expansion does not move on"
    return inserted


async def passes(sessions: SessionFactory) -> list[OutboxPass]:
    async with sessions() as session:
        return list((await session.execute(select(OutboxPass).order_by(col(OutboxPass.id)))).scalars())


async def test_planning_twice_plans_nothing_new_and_a_later_run_adds_only_newcomers(sessions: SessionFactory) -> None:
    first = [await add_customer(sessions, 900 + n) for n in range(3)]
    assert await plan_holiday(sessions) == 3
    assert await plan_holiday(sessions) == 0
    assert await outbox_rows(sessions) == []
    newcomer = await add_customer(sessions, 910)
    assert await plan_holiday(sessions, datetime(2026, 2, 16, 9, 0, tzinfo=UTC)) == 1
    (holiday,) = await passes(sessions)
    assert holiday.planned == 4 and holiday.not_before == SHANGHAI_TEN
    assert await expand_all(sessions, chunk=100) == [4]
    assert await plan_holiday(sessions, datetime(2026, 2, 16, 10, 0, tzinfo=UTC)) == 0
    assert await expand_all(sessions, chunk=100) == []
    rows = await outbox_rows(sessions)
    assert sorted(row.key for row in rows) == sorted(key(c) for c in [*first, newcomer])
    assert all(row.kind == "holiday" and row.capped and row.not_before == SHANGHAI_TEN for row in rows)


async def test_passes_expand_in_chunks_in_id_order_and_greet_each_customer_exactly_once(
    sessions: SessionFactory,
) -> None:
    shanghai = [await add_customer(sessions, 920 + n) for n in range(12)]
    berlin = [await add_customer(sessions, 940 + n, timezone="Europe/Berlin") for n in range(3)]
    assert await plan_holiday(sessions) == 15
    assert await expand_chunk(sessions, chunk=5, now=SHANGHAI_TEN) == 5  # Berlin's 10:00 has not come yet
    assert await expand_chunk(sessions, chunk=5, now=SHANGHAI_TEN) == 5
    rows = await outbox_rows(sessions)
    assert [row.customer_id for row in rows] == [c.id for c in shanghai[:10]]
    assert await expand_all(sessions, chunk=5) == [2, 3]
    rows = await outbox_rows(sessions)
    assert sorted(row.key for row in rows) == sorted(key(c) for c in shanghai + berlin)
    assert len({row.key for row in rows}) == len(rows) == 15
    berlin_ten = datetime(2026, 2, 17, 9, 0, tzinfo=UTC)
    assert {row.not_before for row in rows if row.customer_id in {c.id for c in berlin}} == {berlin_ten}
    assert [(p.timezone, p.planned, p.expanded) for p in await passes(sessions)] == [
        (None, 12, 12),
        ("Europe/Berlin", 3, 3),
    ]


async def test_an_expansion_that_crashed_or_ran_twice_never_doubles_a_greeting(sessions: SessionFactory) -> None:
    customers = [await add_customer(sessions, 960 + n) for n in range(7)]
    await plan_holiday(sessions)
    assert await expand_chunk(sessions, chunk=3) == 3
    with pytest.raises(RuntimeError):  # the process dies before the second chunk is committed
        async with transaction(sessions) as session:
            (holiday,) = await outbox_passes.open_passes(session)
            assert holiday.id is not None
            assert await outbox_passes.expand(session, holiday.id, now=EVERYWHERE_DUE, chunk=3) == 3
            raise RuntimeError("killed")
    assert len(await outbox_rows(sessions)) == 3
    assert await expand_all(sessions, chunk=3) == [3, 1]
    # A second sender that read the pass before the first one moved it on expands the same customers again:
    async with transaction(sessions) as session:
        await session.execute(update(OutboxPass).values(expanded_to=0))
    assert await expand_all(sessions, chunk=3) == [0, 0, 0]
    rows = await outbox_rows(sessions)
    assert sorted(row.key for row in rows) == sorted(key(c) for c in customers)


async def test_opted_out_unreachable_and_unagreed_customers_are_not_greeted(
    tg: FakeTelegram, sessions: SessionFactory
) -> None:
    await publish_both(sessions, 1, now=datetime(2026, 1, 1, tzinfo=UTC))
    users = {name: tg.user(980 + n, name) for n, name in enumerate(("Ann", "Ben", "Cai", "Dee", "Eve", "Fay"))}
    ann = await add_customer(sessions, 980, first_name="Ann")
    fay = await add_customer(sessions, 985, first_name="Fay", segment="vip")
    opted_out = await add_customer(sessions, 981, proactive_opt_out=True)
    unreachable = await add_customer(sessions, 982, unreachable=True)
    await add_customer(sessions, 983)  # never accepted the agreement
    changes_mind = await add_customer(sessions, 984)
    for customer in (ann, fay, opted_out, unreachable, changes_mind):
        assert customer.id is not None
        await accept(sessions, customer.id, 1, datetime(2026, 1, 2, tzinfo=UTC))
    assert await plan_holiday(sessions) == 3  # Ann, Fay and the one who opts out before the morning
    async with transaction(sessions) as session:
        await session.execute(
            update(Customer).where(col(Customer.id) == changes_mind.id).values(proactive_opt_out=True)
        )
    with time_machine.travel(SHANGHAI_TEN, tick=False):
        async with fake_sender(tg, sessions, CONFIG) as sender:
            report = await sender.drain()
    assert report.sent == 2 and report.skipped == 0
    assert {name for name, user in users.items() if tg.sent_to(user)} == {"Ann", "Fay"}
    rows = {row.customer_id: row for row in await outbox_rows(sessions)}
    assert set(rows) == {ann.id, fay.id}
    assert "gift" not in json.loads(rows[ann.id].params) and "code" in json.loads(rows[fay.id].params)["gift"]


async def test_a_pass_waits_out_quiet_hours_in_its_time_zone(tg: FakeTelegram, sessions: SessionFactory) -> None:
    user = tg.user(990, "Liv")
    await add_customer(sessions, 990, first_name="Liv", timezone="Europe/London")
    await plan_holiday(sessions)
    quiet = CareConfig(quiet_hours="21:00-09:00", rate_limits=False)
    with time_machine.travel(datetime(2026, 2, 17, 22, 30, tzinfo=UTC), tick=False):  # due since 10:00, now night
        async with fake_sender(tg, sessions, quiet) as sender:
            report = await sender.drain()
    assert report.sent == report.held == 0 and await outbox_rows(sessions) == []
    with time_machine.travel(datetime(2026, 2, 18, 9, 0, tzinfo=UTC), tick=False):
        async with fake_sender(tg, sessions, quiet) as sender:
            assert (await sender.drain()).sent == 1
    assert "Spring Festival" in tg.last_sent(user).content  # type: ignore[union-attr]


async def test_a_pass_locked_by_one_sender_is_passed_over_by_another(
    database_url: str, sessions: SessionFactory
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite has one writer at a time: a second sender waits instead")
    await add_customer(sessions, 995)
    await plan_holiday(sessions)
    async with transaction(sessions) as first, transaction(sessions) as second:
        (holiday,) = await outbox_passes.open_passes(first)
        assert holiday.id is not None
        assert await outbox_passes.expand(first, holiday.id, now=EVERYWHERE_DUE) == 1
        assert await outbox_passes.expand(second, holiday.id, now=EVERYWHERE_DUE) is None
    assert len(await outbox_rows(sessions)) == 1
