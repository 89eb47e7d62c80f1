"""The `carebot` command: run the bot, migrate the database, import and export customers and purchases."""

from __future__ import annotations

import asyncio
import logging

import typer

from bot.cli_jobs import jobs_app
from bot.logs import configure_logging
from bot.settings import load_settings_or_exit

app = typer.Typer(help="Carebot, a Telegram customer-care assistant.", no_args_is_help=True, add_completion=False)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(jobs_app, name="jobs")


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
