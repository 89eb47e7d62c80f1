"""Staff find customers by pieces of their name, username, email or phone, typos included, through the search
index (migration 0013): it follows every change to the customers, survives a database copy and forgets the erased."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import text

from storage import search
from storage.db import SessionFactory, alembic_config, create_engine, session_factory, transaction, upgrade_sync
from storage.dbcopy import copy_database
from storage.models import Customer
from tests.bot.handlers.customer.test_privacy_rights import forget_button
from tests.botapi import FakeTelegram
from tests.harness import BotHarness
from tests.privacy_support import seed_customer
from tests.staff_world import say, staff_world

BEFORE_INDEX = "0012_outbox_passes"


async def add(sessions: SessionFactory, telegram_id: int, first_name: str, **fields: object) -> int:
    async with transaction(sessions) as session:
        customer = Customer(telegram_id=telegram_id, first_name=first_name, language="en", **fields)  # type: ignore[arg-type]
        session.add(customer)
        await session.flush()
        assert customer.id is not None
        return customer.id


async def found(sessions: SessionFactory, query: str) -> list[str]:
    async with sessions() as session:
        return [match.customer.display_name for match in await search.fuzzy_find(session, query=query)]


async def test_typos_find_the_customer_among_many_similar_names(
    sessions: SessionFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # More customers share a piece of the query than the candidate set holds: the closest must still be in it.
    monkeypatch.setattr(search, "CANDIDATES", 20)
    async with transaction(sessions) as session:
        session.add_all(
            Customer(telegram_id=1000 + n, first_name=f"Katrin{n}", last_name="Ina", language="en") for n in range(60)
        )
    await add(sessions, 2000, "Katharina", last_name="Müller", email="kathi@example.org")
    await add(sessions, 2001, "Peter", last_name="Schulz", username="pschulz", phone="+4915112345678")

    assert (await found(sessions, "Katarina Muller"))[0] == "Katharina Müller"
    assert (await found(sessions, "Katharina Müller"))[0] == "Katharina Müller"
    assert (await found(sessions, "Peter Shulz"))[0] == "Peter Schulz"
    assert (await found(sessions, "pschultz"))[0] == "Peter Schulz"
    assert (await found(sessions, "12345678"))[0] == "Peter Schulz"
    assert (await found(sessions, "kathi@example.org"))[0] == "Katharina Müller"
    assert await found(sessions, "zzzzqqqq") == []


async def test_a_typo_in_a_surname_is_found_when_the_first_name_is_everywhere(
    sessions: SessionFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Plenty of customers contain "ana": they fill the candidates, yet none holds "schmitd" — a typo to look for.
    monkeypatch.setattr(search, "CANDIDATES", 20)
    async with transaction(sessions) as session:
        session.add_all(
            Customer(telegram_id=4000 + n, first_name=f"Ana{n}", last_name="Su", language="en") for n in range(60)
        )
    await add(sessions, 4100, "Anna", last_name="Schmidt")

    assert "Anna Schmidt" in (await found(sessions, "Ana Schmitd"))[:3]


async def test_the_index_follows_new_renamed_and_deleted_customers(sessions: SessionFactory) -> None:
    customer_id = await add(sessions, 3000, "Oswin", last_name="Featherstone")
    assert await found(sessions, "Oswin Featherstone") == ["Oswin Featherstone"]

    async with transaction(sessions) as session:
        customer = await session.get(Customer, customer_id)
        assert customer is not None
        customer.last_name, customer.email = "Blackwood", "oswin@example.net"
        session.add(customer)
    assert await found(sessions, "Featherstone") == []
    assert await found(sessions, "Oswin Blackwod") == ["Oswin Blackwood"]
    assert await found(sessions, "oswin@example.net") == ["Oswin Blackwood"]
    async with sessions() as session:
        listed = await search.lookup_customers(session, query="win Black")
        assert [customer.display_name for customer in listed] == ["Oswin Blackwood"]

    async with transaction(sessions) as session:
        await session.delete(await session.get(Customer, customer_id))
    assert await found(sessions, "Oswin Blackwood") == []


async def test_short_names_are_found_without_the_index(sessions: SessionFactory) -> None:
    await add(sessions, 4000, "张伟")
    await add(sessions, 4001, "Li", last_name="Na")
    assert await found(sessions, "张伟") == ["张伟"]
    assert await found(sessions, "li") == ["Li Na"]
    async with sessions() as session:
        assert [c.display_name for c in await search.lookup_customers(session, query="张伟")] == ["张伟"]


INSERT_CUSTOMER = text(
    "INSERT INTO customers (telegram_id, first_name, last_name, language, segment, segment_since, total_spent, "
    "purchase_count, proactive_opt_out, unreachable, created_at, updated_at) VALUES (:telegram_id, :first_name, "
    ":last_name, 'en', 'potential', '2026-01-01 00:00:00.000000', 0, 0, false, false, '2026-01-01 00:00:00.000000', "
    "'2026-01-01 00:00:00.000000')"
)


async def test_an_existing_database_gets_its_customers_indexed_by_the_migration(
    tmp_path: Path, database_url: str
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}" if database_url.startswith("sqlite") else database_url
    await asyncio.to_thread(upgrade_sync, url)
    await asyncio.to_thread(downgrade_sync, url, BEFORE_INDEX)
    engine = create_engine(url)
    sessions = session_factory(engine)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                INSERT_CUSTOMER, {"telegram_id": 6000, "first_name": "Gwendolyn", "last_name": "Ashcombe"}
            )
        await asyncio.to_thread(upgrade_sync, url)
        assert await found(sessions, "Gwendolin Ashcomb") == ["Gwendolyn Ashcombe"]

        await asyncio.to_thread(downgrade_sync, url, BEFORE_INDEX)
        async with engine.begin() as connection:
            await connection.execute(
                INSERT_CUSTOMER, {"telegram_id": 6001, "first_name": "Ambrose", "last_name": "Tiller"}
            )
        await asyncio.to_thread(upgrade_sync, url)
        assert await found(sessions, "Ambrose Tiler") == ["Ambrose Tiller"]
        assert await found(sessions, "Gwendolin Ashcomb") == ["Gwendolyn Ashcombe"]
    finally:
        await engine.dispose()
        await asyncio.to_thread(upgrade_sync, url)  # the worker's PostgreSQL database serves the next tests


def downgrade_sync(url: str, revision: str) -> None:
    command.downgrade(alembic_config(url), revision)


async def test_a_copied_database_finds_the_same_customers(
    tmp_path: Path, sqlite_template: Path, target_url: str
) -> None:
    source = tmp_path / "source.db"
    shutil.copy(sqlite_template, source)
    source_url = f"sqlite+aiosqlite:///{source}"
    engine = create_engine(source_url)
    await add(session_factory(engine), 7000, "Bartholomew", last_name="Quince")
    await engine.dispose()

    await copy_database(source_url, target_url)
    engine = create_engine(target_url)
    try:
        assert await found(session_factory(engine), "Bartolomew Quinse") == ["Bartholomew Quince"]
    finally:
        await engine.dispose()


async def test_an_erased_customer_cannot_be_found_and_leaves_no_trigram_in_the_index(
    bot: BotHarness, tg: FakeTelegram, database_url: str
) -> None:
    world = await staff_world(bot, tg)
    seeded = await seed_customer(bot, tg)  # Zhivago Quillfeather, @zq_secret
    assert "Zhivago Quillfeather" in (await say(bot, tg, world.agent, "/find Zhivago Quilfeather")).content

    tg.sends_command(seeded.user, "/forget")
    await bot.deliver()
    confirm = tg.last_sent(seeded.user)
    assert confirm is not None
    tg.presses_button(seeded.user, confirm, forget_button(confirm))
    await bot.deliver()

    reply = await say(bot, tg, world.agent, "/find Zhivago Quilfeather")
    assert reply.content == "Nobody matches “Zhivago Quilfeather”."
    assert (await say(bot, tg, world.agent, "/find erased")).content == "Nobody matches “erased”."
    if database_url.startswith("sqlite"):
        # The FTS5 index stores its terms sorted and prefix-compressed; no other indexed value has a trigram
        # starting with "z", so "zhi" would be stored whole in any segment still holding the erased name.
        async with bot.services.engine.connect() as connection:
            blobs = (await connection.execute(text("SELECT block FROM customer_search_data"))).scalars().all()
            terms = (await connection.execute(text("SELECT term FROM customer_search_idx"))).scalars().all()
        assert blobs and not any(b"zhi" in bytes(value) for value in [*blobs, *terms] if value)
