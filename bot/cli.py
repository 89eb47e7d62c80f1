"""The `carebot` command: run the bot, migrate the database, import and export customers and purchases."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import typer

from bot.logs import configure_logging
from bot.settings import load_settings_or_exit

app = typer.Typer(help="Carebot, a Telegram customer-care assistant.", no_args_is_help=True, add_completion=False)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")
faq_app = typer.Typer(help="The FAQ customers get answers from before a ticket is opened.", no_args_is_help=True)
app.add_typer(faq_app, name="faq")


@app.command()
def run() -> None:
    """Run the bot with long polling (migrates the database first)."""
    from bot.runner import StartupError, run_polling

    settings = load_settings_or_exit(require_token=True)
    configure_logging(token=settings.bot_token)
    try:
        asyncio.run(run_polling(settings))
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
    from storage.db import create_engine, session_factory, transaction, upgrade_sync
    from storage.faq import FaqFileError, import_entries, parse_faq_file

    settings = load_settings_or_exit()
    try:
        entries = parse_faq_file(file.name, file.read_bytes())
    except FaqFileError as error:
        typer.echo(f"carebot: {file.name}: {error}", err=True)
        raise typer.Exit(1) from None
    upgrade_sync(settings.database_url)

    async def apply() -> int:
        engine = create_engine(settings.database_url)
        try:
            async with transaction(session_factory(engine)) as session:
                return await import_entries(session, entries=entries, replace=replace)
        finally:
            await engine.dispose()

    added = asyncio.run(apply())
    typer.echo(f"imported {added} FAQ entries ({len(entries) - added} already there)")
