"""`carebot jobs`: list the scheduled jobs with the outbox's state, or run one at once (`send` drains the outbox)."""

from __future__ import annotations

import asyncio

import typer

from bot.runtime.logs import configure_logging
from bot.settings import Settings, load_settings_or_exit

# The scheduler, Telegram and database modules are imported by the commands themselves, so that other `carebot`
# commands start fast.

jobs_app = typer.Typer(
    help="Scheduled jobs: greetings, surveys, reminders and the outbox sender.", no_args_is_help=True
)
SEND = "send"
WIDTH = 80  # an operator's terminal: wider output is cut to this


@jobs_app.command("list")
def list_jobs() -> None:
    """Each job with its schedule and next run, then the outbox: rows per status and rows stuck in `sending`."""
    settings = load_settings_or_exit()
    asyncio.run(_list(settings))


async def _list(settings: Settings) -> None:
    from rich.console import Console
    from rich.table import Table

    from bot.cli.database import opened
    from scheduler.jobs import JOBS, next_run
    from storage.inbox import count_parked
    from storage.outbox import outbox_report
    from storage.outbox_passes import open_passes
    from storage.types import utcnow

    config = settings
    now = utcnow()
    console = Console(width=min(Console().width, WIDTH))
    jobs = Table(title=f"Jobs (next runs in {settings.timezone}, CAREBOT_TIMEZONE)")
    jobs.add_column("job", no_wrap=True)
    jobs.add_column(f"next run ({settings.timezone})", no_wrap=True)
    jobs.add_column("what it does")
    for spec in JOBS.values():
        upcoming = next_run(spec, config, now)
        when = upcoming.astimezone(config.zone).strftime("%Y-%m-%d %H:%M") if upcoming else "-"
        jobs.add_row(spec.name, when, spec.summary)
    jobs.add_row(SEND, "continuously", "drains the outbox within Telegram's limits while the bot runs")
    console.print(jobs)

    async with opened(settings, migrate=True) as services, services.sessions() as session:
        report = await outbox_report(session, now=now)
        passes = await open_passes(session)
        parked = await count_parked(session)
    counts = Table(title="Outbox")
    for column in ("pending", "sending", "sent", "failed", "skipped", "stuck in sending"):
        counts.add_column(column, justify="right")
    counts.add_row(*(str(report.counts[name]) for name in ("pending", "sending", "sent", "failed", "skipped", "stuck")))
    console.print(counts)
    if passes:
        bulk = Table(title="Greetings to everyone, written into the outbox a chunk at a time from their hour")
        for column in ("greeting", "from", "planned", "in the outbox"):
            bulk.add_column(column, justify="left" if column in ("greeting", "from") else "right")
        for greeting in passes:
            start = greeting.not_before.astimezone(config.zone).strftime("%Y-%m-%d %H:%M")
            bulk.add_row(greeting.key, start, str(greeting.planned), str(greeting.expanded))
        console.print(bulk)
    if parked:
        console.print(
            f"[yellow]{parked} received {'update' if parked == 1 else 'updates'} parked after the last try failed: "
            "`carebot inbox failed` lists them, `carebot inbox retry` hands them back.[/yellow]"
        )
    else:
        console.print("Inbox: no parked updates.")
    if report.stuck:
        console.print(
            f"[yellow]{report.stuck_count} {'message was' if report.stuck_count == 1 else 'messages were'} being sent "
            "when the sender stopped; they are not sent "
            "again (a message may be lost to a crash, never doubled):[/yellow]"
        )
        for row in report.stuck:
            claimed = row.claimed_at.astimezone(config.zone).strftime("%Y-%m-%d %H:%M") if row.claimed_at else "?"
            console.print(f"  #{row.id} {row.key} (since {claimed})")


@jobs_app.command("run")
def run(name: str = typer.Argument(..., help="a job of `carebot jobs list`, or `send`")) -> None:
    """Run one job now and exit; `send` drains the outbox once (the bot need not be running)."""
    from scheduler.jobs import JOBS

    if name not in JOBS and name != SEND:
        typer.echo(f"unknown job {name!r}; jobs: {', '.join([*JOBS, SEND])}", err=True)
        raise typer.Exit(2)
    settings = load_settings_or_exit(require_token=name == SEND)
    configure_logging(token=settings.bot_token)
    typer.echo(asyncio.run(_run(settings, name)))


async def _run(settings: Settings, name: str) -> str:
    from bot.cli.database import opened
    from bot.runtime.scheduling import outbox_sender, sender_bot
    from scheduler.jobs import run_job

    async with opened(settings, migrate=True) as services:
        if name != SEND:
            count = await run_job(name, sessions=services.sessions, config=settings)
            return f"{name}: {count} planned"
        bot = sender_bot(settings)
        async with bot:
            report = await outbox_sender(settings, services.sessions, bot).drain()
        return (
            f"send: {report.sent} sent, {report.failed} failed, {report.skipped} skipped, "
            f"{report.held} held for quiet hours"
        )
