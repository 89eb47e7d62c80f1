"""`carebot inbox`: the updates whose handling failed on every try (parked), and handing them back to the bot."""

from __future__ import annotations

import asyncio

import typer

from bot.settings import Settings, load_settings_or_exit

# The database modules are imported by the commands themselves, so that other `carebot` commands start fast.

inbox_app = typer.Typer(
    help="Received updates: those parked after their last try failed, and handing them back.", no_args_is_help=True
)


@inbox_app.command("failed")
def failed() -> None:
    """The parked updates: id, chat, kind, tries, the error's name and when it was parked (no message texts)."""
    settings = load_settings_or_exit()
    asyncio.run(_failed(settings))


async def _failed(settings: Settings) -> None:
    from rich.console import Console
    from rich.table import Table

    from bot.cli.database import opened
    from storage.inbox import parked_updates

    async with opened(settings, migrate=True) as services, services.sessions() as session:
        parked = await parked_updates(session)
    console = Console()
    if not parked:
        console.print("No parked updates: every update received was handled or is being handled.")
        return
    table = Table(title=f"Parked updates ({len(parked)}); hand them back with `carebot inbox retry ID…` or `--all`")
    for column in ("id", "chat", "kind", "tries", "error", "parked at (UTC)"):
        table.add_column(column, justify="right" if column in ("id", "chat", "tries") else "left")
    for row in parked:
        when = row.parked_at.strftime("%Y-%m-%d %H:%M:%S") if row.parked_at else "-"
        chat = str(row.chat_id) if row.chat_id is not None else "-"
        table.add_row(str(row.update_id), chat, row.kind, str(row.attempts), row.error or "-", when)
    console.print(table)


@inbox_app.command("retry")
def retry(
    update_ids: list[int] = typer.Argument(None, help="ids from `carebot inbox failed`", show_default=False),
    every: bool = typer.Option(False, "--all", help="every parked update"),
) -> None:
    """Hand parked updates back: the running bot picks them up within seconds and handles them in order, each
    with a fresh schedule of tries."""
    if bool(update_ids) == every:
        typer.echo("give the ids of parked updates, or --all", err=True)
        raise typer.Exit(2)
    settings = load_settings_or_exit()
    returned = asyncio.run(_retry(settings, None if every else list(update_ids)))
    missing = sorted(set(update_ids or []) - set(returned))
    if returned:
        noun = "update" if len(returned) == 1 else "updates"
        typer.echo(f"handed back {len(returned)} {noun}: {', '.join(map(str, returned))}")
    else:
        typer.echo("no parked update to hand back")
    if missing:
        typer.echo(f"not parked (handled, unknown or already handed back): {', '.join(map(str, missing))}", err=True)
        raise typer.Exit(1)


async def _retry(settings: Settings, update_ids: list[int] | None) -> list[int]:
    from bot.cli.database import opened
    from storage.db import transaction
    from storage.inbox import return_parked

    async with opened(settings, migrate=True) as services, transaction(services.sessions) as session:
        return await return_parked(session, update_ids=update_ids)
