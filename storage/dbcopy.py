"""Copy a whole Carebot database into another one: how a SQLite deployment moves to PostgreSQL.

The target is migrated first, then every table is copied in dependency order (parents before children) in
chunks, inside one transaction on the target: a failed copy leaves nothing behind. The target's id sequences are
then set past the copied ids and past every id the source ever gave, so the next ticket number follows the last one
given, also when that ticket was deleted: a number is never given twice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Table, func, insert, select, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import SQLModel

import storage.models  # noqa: F401  (registers every table on the metadata)
from storage.db import alembic_config, create_engine, upgrade

CHUNK_ROWS = 1000


class CopyError(Exception):
    """The copy cannot be made; the message says why in one line."""


@dataclass(frozen=True)
class TableCopy:
    table: str
    rows: int


def tables() -> list[Table]:
    """Every table, parents before the tables that refer to them."""
    return list(SQLModel.metadata.sorted_tables)


async def copy_database(
    source_url: str,
    target_url: str,
    *,
    force: bool = False,
    chunk_rows: int = CHUNK_ROWS,
    progress: Callable[[TableCopy], None] | None = None,
) -> list[TableCopy]:
    """Copy every row of `source_url` into `target_url`; refuses a target holding data unless `force`.

    With `force` the target's rows are deleted first. Returns the row count of each table, checked equal on
    both sides.
    """
    if _same_database(source_url, target_url):
        raise CopyError("the target is the database being copied")
    source = create_engine(source_url)
    target = create_engine(target_url)
    try:
        async with source.connect() as reader:
            revision = await reader.run_sync(_revision)
            head = ScriptDirectory.from_config(alembic_config(source_url)).get_current_head()
            if revision != head:
                raise CopyError(f"the source database is at revision {revision}, not {head}: run carebot db upgrade")
            await upgrade(target_url)
            given = await _last_ids_given(reader)
            async with target.begin() as writer:
                holding = [table.name for table in tables() if await _count(writer, table)]
                if holding and not force:
                    raise CopyError(f"the target already holds data (in {', '.join(holding)}); --force replaces it")
                if holding:
                    await _empty(writer)
                copied = [await _copy_table(reader, writer, table, chunk_rows, progress) for table in tables()]
                if writer.dialect.name == "postgresql":
                    await _reset_sequences(writer, given)
                else:
                    await _continue_sqlite_sequences(writer, given)
    finally:
        await source.dispose()
        await target.dispose()
    return copied


async def _copy_table(
    reader: AsyncConnection,
    writer: AsyncConnection,
    table: Table,
    chunk_rows: int,
    progress: Callable[[TableCopy], None] | None,
) -> TableCopy:
    expected = await _count(reader, table)
    result = await reader.stream(select(table).order_by(*table.primary_key.columns))
    async for chunk in result.mappings().partitions(chunk_rows):
        await writer.execute(insert(table), [dict(row) for row in chunk])
    copied = await _count(writer, table)
    if copied != expected:  # rows written meanwhile at the source: a copy must be taken with the bot stopped
        raise CopyError(f"{table.name}: {expected} rows at the source, {copied} copied; stop the bot and copy again")
    done = TableCopy(table.name, copied)
    if progress is not None:
        progress(done)
    return done


async def _count(connection: AsyncConnection, table: Table) -> int:
    return int((await connection.execute(select(func.count()).select_from(table))).scalar_one())


async def _empty(writer: AsyncConnection) -> None:
    if writer.dialect.name == "postgresql":
        names = ", ".join(writer.dialect.identifier_preparer.quote(table.name) for table in tables())
        await writer.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        return
    for table in reversed(tables()):
        await writer.execute(table.delete())


async def _last_ids_given(reader: AsyncConnection) -> dict[str, int]:
    """The last id each table's sequence gave, by table, where the database keeps it (on SQLite: AUTOINCREMENT
    tables), even if that row is gone since."""
    if reader.dialect.name == "sqlite":
        if not await reader.scalar(text("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'")):
            return {}
        return {name: int(seq) for name, seq in await reader.execute(text("SELECT name, seq FROM sqlite_sequence"))}
    given: dict[str, int] = {}
    for table in tables():
        column = table.autoincrement_column
        if column is None:
            continue
        sequence = await reader.scalar(
            text("SELECT pg_get_serial_sequence(:table, :column)"),
            {"table": reader.dialect.identifier_preparer.quote(table.name), "column": column.name},
        )
        if sequence is None:
            continue
        # The name comes quoted from PostgreSQL itself. Before its first nextval() (is_called false, e.g. just
        # after a copy's setval) the sequence has given the ids below last_value.
        last, called = (await reader.execute(text(f"SELECT last_value, is_called FROM {sequence}"))).one()
        given[table.name] = int(last) if called else int(last) - 1
    return given


async def _reset_sequences(writer: AsyncConnection, given: dict[str, int]) -> None:
    """Each id sequence continues after the largest copied id and the last id the source gave
    (`setval(…, max + 1, false)`)."""
    for table in tables():
        column = table.autoincrement_column
        if column is None:
            continue
        quoted = writer.dialect.identifier_preparer.quote(table.name)
        await writer.execute(
            text(
                f"SELECT setval(pg_get_serial_sequence(:table, :column), "
                f"GREATEST(COALESCE((SELECT MAX({column.name}) FROM {quoted}), 0), :given) + 1, false)"
            ),
            {"table": quoted, "column": column.name, "given": given.get(table.name, 0)},
        )


async def _continue_sqlite_sequences(writer: AsyncConnection, given: dict[str, int]) -> None:
    """AUTOINCREMENT tables continue after the last id the source gave (copying the rows took them past the
    largest copied id already)."""
    for table in tables():
        last = given.get(table.name, 0)
        if not table.dialect_options["sqlite"]["autoincrement"] or not last:
            continue
        params = {"name": table.name, "seq": last}
        raised = await writer.execute(
            text("UPDATE sqlite_sequence SET seq = MAX(seq, :seq) WHERE name = :name"), params
        )
        if not raised.rowcount:
            await writer.execute(text("INSERT INTO sqlite_sequence (name, seq) VALUES (:name, :seq)"), params)


def _revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def _same_database(first: str, second: str) -> bool:
    a, b = make_url(first), make_url(second)
    return (a.get_backend_name(), a.host, a.port, a.database) == (b.get_backend_name(), b.host, b.port, b.database)
