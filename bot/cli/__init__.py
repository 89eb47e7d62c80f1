"""The `carebot` command: run the bot, migrate the database, import and export customers and purchases."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import typer

from bot.cli.data import customers_app, purchases_app
from bot.cli.inbox import inbox_app
from bot.cli.jobs import jobs_app
from bot.cli.terms import terms_app
from bot.runtime.logs import configure_logging
from bot.settings import load_settings_or_exit

app = typer.Typer(help="Carebot, a Telegram customer-care assistant.", no_args_is_help=True, add_completion=False)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(customers_app, name="customers")
app.add_typer(purchases_app, name="purchases")
app.add_typer(terms_app, name="terms")
app.add_typer(jobs_app, name="jobs")
app.add_typer(inbox_app, name="inbox")


def run_fast(main: Coroutine[Any, Any, None]) -> None:
    """Run the bot on uvloop where it exists (not on Windows): the same asyncio, about a fifth more messages a
    second through the inbound path (BENCHMARKS.md section 1)."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
    else:
        uvloop.run(main)


faq_app = typer.Typer(help="The FAQ customers get answers from before a ticket is opened.", no_args_is_help=True)
app.add_typer(faq_app, name="faq")


@app.command("run")
def run_bot(
    webhook: bool = typer.Option(
        False, "--webhook", help="Receive updates by webhook and serve /healthz and /metrics (several replicas)."
    ),
) -> None:
    """Run the bot (migrates the database first): long polling, or a webhook with --webhook."""
    from bot.runtime.runner import StartupError, run

    settings = load_settings_or_exit(require_token=True)
    configure_logging(token=settings.bot_token)
    try:
        run_fast(run(settings, webhook=webhook))
    except StartupError as exc:
        logging.getLogger("carebot").error("cannot start: %s", exc)
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        pass


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Bring the database schema up to date (safe to run again)."""
    from storage.db import upgrade_sync

    settings = load_settings_or_exit()
    upgrade_sync(settings.database_url)
    typer.echo("database is up to date")


@db_app.command("copy")
def db_copy(
    to: str = typer.Option(..., "--to", help="Database URL to copy into, e.g. postgresql+asyncpg://user@host/carebot"),
    force: bool = typer.Option(False, "--force", help="Replace whatever the target database holds."),
) -> None:
    """Copy every table from CAREBOT_DATABASE_URL to another database (migrated first), e.g. SQLite to PostgreSQL."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    from bot.runtime.instance_lock import AlreadyRunning, single_bot_on, sqlite_path
    from storage.dbcopy import CopyError, TableCopy, copy_database

    settings = load_settings_or_exit()
    try:
        target = make_url(to).render_as_string(hide_password=True)
    except ArgumentError:
        typer.echo(f"carebot: --to is not a database URL: {to!r}", err=True)
        raise typer.Exit(2) from None
    source_file = sqlite_path(settings.database_url)
    if source_file is not None and not source_file.exists():
        typer.echo(f"carebot: nothing to copy: {source_file} does not exist", err=True)
        raise typer.Exit(2)

    def report(done: TableCopy) -> None:
        typer.echo(f"{done.table:<20} {done.rows:>9} rows")

    try:
        # Holding the bot's lock keeps a SQLite bot from writing rows the copy would miss.
        with single_bot_on(settings.database_url):
            copied = asyncio.run(copy_database(settings.database_url, to, force=force, progress=report))
    except AlreadyRunning as exc:
        typer.echo(f"carebot: cannot copy while the bot runs: {exc}", err=True)
        raise typer.Exit(2) from None
    except CopyError as exc:
        typer.echo(f"carebot: {exc}", err=True)
        raise typer.Exit(1) from None
    total = sum(table.rows for table in copied)
    typer.echo(f"copied {total} rows in {len(copied)} tables to {target}; row counts match")


@faq_app.command("import")
def faq_import(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True, help="a .yaml/.yml or .csv file"),
    replace: bool = typer.Option(False, "--replace", help="remove every stored entry first"),
) -> None:
    """Import FAQ entries. Every entry is checked first: one bad entry imports nothing.

    YAML: a list of entries, each `category` plus either `language`, `questions` (a list) and `answer`, or one
    block per language (`en:` / `zh_CN:`) holding `questions` and `answer`. CSV: the columns
    `language,category,questions,answer`, question variants separated by `|`.
    """
    from bot.cli.database import opened
    from storage.db import transaction, upgrade_sync
    from storage.faq import FaqFileError, import_entries, parse_faq_file

    settings = load_settings_or_exit()
    try:
        entries = parse_faq_file(file.name, file.read_bytes())
    except FaqFileError as error:
        typer.echo(f"carebot: {file.name}: {error}", err=True)
        raise typer.Exit(1) from None
    upgrade_sync(settings.database_url)

    async def apply() -> int:
        async with opened(settings) as services, transaction(services.sessions) as session:
            return await import_entries(session, entries=entries, replace=replace)

    added = asyncio.run(apply())
    typer.echo(f"imported {added} FAQ entries ({len(entries) - added} already there)")
