"""`carebot customers import|export` and `carebot purchases import`: CSV files in and out, reported with rich."""

from __future__ import annotations

import asyncio
import csv
import io
import os
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
from rich.progress import Progress as ProgressBar
from rich.table import Table
from rich.text import Text

from bot.settings import Settings, load_settings_or_exit
from storage.csv_export import (
    CUSTOMER_COLUMNS,
    CUSTOMER_EXPORT_COLUMNS,
    PURCHASE_COLUMNS,
    REFUNDED_COLUMN,
    export_customers,
)
from storage.csv_import import (
    MAX_IMPORT_BYTES,
    CsvFileError,
    ImportSummary,
    ParseResult,
    Progress,
    Rejection,
    RowT,
    apply_customers,
    apply_purchases,
    check_purchases,
    check_size,
    parse_customers_csv,
    parse_purchases_csv,
)

if TYPE_CHECKING:  # the CLI starts without loading Telegram or Alembic
    from sqlalchemy.ext.asyncio import AsyncSession

    from bot.context import Services

    Parse = Callable[[bytes, Progress | None], ParseResult[RowT]]
    Apply = Callable[[Services, AsyncSession, list[RowT], Progress | None], Awaitable[ImportSummary]]
    Check = Callable[[AsyncSession, list[RowT]], Awaitable[list[Rejection]]]

customers_app = typer.Typer(help="Customer records: import and export CSV files.", no_args_is_help=True)
purchases_app = typer.Typer(help="Purchase history: import CSV files.", no_args_is_help=True)

PROGRESS_MIN_ROWS = 5_000
SHOWN_REJECTIONS = 500
T = TypeVar("T")
_LIMIT = f"at most {MAX_IMPORT_BYTES // (1024 * 1024)} MB, UTF-8 (with or without BOM)"


@customers_app.command(
    "import",
    help=f"""Add or update customers from a CSV file.

    Columns: {",".join(CUSTOMER_COLUMNS)}. An optional agreement_signed_on column (YYYY-MM-DD) records the customer agreement as signed offline that day; other columns are ignored. birthday is
    YYYY-MM-DD or MM-DD; language is en or zh_CN.

    Customers are matched by telegram_id: a non-empty cell replaces the stored value, an empty cell keeps it.
    Every row is checked first; if any row is rejected, nothing is imported (exit code 1).""",
)
def import_customers(file: Path = typer.Argument(..., help=f"CSV file, {_LIMIT}.", show_default=False)) -> None:
    settings = load_settings_or_exit()
    summary = _import(
        file,
        settings,
        parse=lambda data, progress: parse_customers_csv(data, default_timezone=settings.timezone, progress=progress),
        apply=lambda services, session, rows, progress: apply_customers(
            session,
            rows,
            default_language=settings.default_language,
            progress=progress,
            agreement_years=settings.agreement_years,
            zone=settings.zone,
        ),
    )
    created, updated, unchanged = summary.customers_created, summary.customers_updated, summary.customers_unchanged
    typer.echo(f"customers: {created} created, {updated} updated, {unchanged} unchanged")


@purchases_app.command(
    "import",
    help=f"""Add purchases from a CSV file; customers' totals and segments follow.

    Columns: {",".join(PURCHASE_COLUMNS)}. amount uses '.' and at most 2 decimals;
    an empty currency means CAREBOT_CURRENCY; occurred_at is an ISO 8601 date or date-time, in CAREBOT_TIMEZONE
    unless it has an offset. A telegram_id that is not a customer yet becomes a new customer. An optional
    {REFUNDED_COLUMN} column (as /export purchases writes it) imports the purchase as refunded at that time.

    An empty reference is made from the row's content, so importing the same file again changes nothing: a
    reference already recorded with the same amount is skipped, with another amount it is rejected. Every row is
    checked first; if any row is rejected, nothing is imported (exit code 1).""",
)
def import_purchases(file: Path = typer.Argument(..., help=f"CSV file, {_LIMIT}.", show_default=False)) -> None:
    settings = load_settings_or_exit()
    summary = _import(
        file,
        settings,
        parse=lambda data, progress: parse_purchases_csv(
            data, default_currency=settings.currency, default_timezone=settings.timezone, progress=progress
        ),
        apply=lambda services, session, rows, progress: apply_purchases(
            session, rows, vip=services.vip, default_language=settings.default_language, progress=progress
        ),
        check=check_purchases,
    )
    refunds = f", {summary.refunds_imported} refunds recorded" if summary.refunds_imported else ""
    typer.echo(
        f"purchases: {summary.purchases_imported} imported, {summary.purchases_skipped} already imported{refunds};"
        f" {summary.customers_created} new customers; {summary.segment_changes} segment changes"
    )


@customers_app.command(
    "export",
    help=f"""Write every customer to a CSV file that Excel opens and `customers import` reads back.

    Columns: {",".join(CUSTOMER_EXPORT_COLUMNS)}. UTF-8 with BOM; a cell that a spreadsheet would run as a formula
    starts with '. A new file is readable by its owner only.""",
)
def export_customers_command(
    file: Path = typer.Argument(..., help="CSV file to write (replaced if it exists).", show_default=False),
) -> None:
    settings = load_settings_or_exit()
    _migrate(settings)
    data = asyncio.run(
        _with_services(
            settings,
            lambda services, session: export_customers(session, zone=settings.zone, admin_ids=settings.admin_ids),
        )
    )
    try:
        _write_private(file, data)
    except OSError as exc:
        _fail(f"cannot write {file}: {exc.strerror or exc}")
    count = sum(1 for _ in csv.reader(io.StringIO(data.decode("utf-8-sig"), newline=""))) - 1
    typer.echo(f"exported {count} customers to {file}")


def _import(
    file: Path, settings: Settings, *, parse: Parse[RowT], apply: Apply[RowT], check: Check[RowT] | None = None
) -> ImportSummary:
    """Read, check every row, then apply in one transaction; exits 1 with a table if any row is rejected."""
    data = _read(file)
    _migrate(settings)
    lines = data.count(b"\n")
    with _progress(lines) as progress:
        try:
            parsed = parse(data, progress("Checking rows", lines))
        except CsvFileError as exc:
            _fail(f"{file}: {exc}")
        importing = progress("Importing", len(parsed.rows))
        summary = asyncio.run(_apply_all(settings, parsed, apply, check, importing))
    _exit_if_rejected(summary.rejections)
    return summary


class _Rejected(Exception):
    """Raised inside the transaction so that it rolls back."""

    def __init__(self, summary: ImportSummary) -> None:
        super().__init__()
        self.summary = summary


async def _apply_all(
    settings: Settings,
    parsed: ParseResult[RowT],
    apply: Apply[RowT],
    check: Check[RowT] | None,
    progress: Progress | None,
) -> ImportSummary:
    """Apply the rows in one transaction, rolled back if any row is rejected.

    When the file already has rejected rows only `check` runs, so that every rejection is reported at once.
    """

    async def work(services: Services, session: AsyncSession) -> ImportSummary:
        if parsed.rejections:
            conflicts = await check(session, parsed.rows) if check else []
            summary = ImportSummary(rejections=sorted(parsed.rejections + conflicts))
        else:
            summary = await apply(services, session, parsed.rows, progress)
        if summary.rejections:
            raise _Rejected(summary)
        return summary

    try:
        return await _with_services(settings, work)
    except _Rejected as exc:
        return exc.summary


async def _with_services(settings: Settings, work: Callable[[Services, AsyncSession], Awaitable[T]]) -> T:
    """Run `work` in one transaction on a fresh engine, disposed afterwards."""
    from bot.cli.database import opened
    from storage.db import transaction

    async with opened(settings) as services, transaction(services.sessions) as session:
        return await work(services, session)


def _migrate(settings: Settings) -> None:
    """Bring the schema up to date first, so that the commands work on a fresh machine."""
    from storage.db import upgrade_sync

    upgrade_sync(settings.database_url)


def _read(file: Path) -> bytes:
    try:
        check_size(file.stat().st_size)
        return file.read_bytes()
    except OSError as exc:
        _fail(f"cannot read {file}: {exc.strerror or exc}")
    except CsvFileError as exc:
        _fail(f"{file}: {exc}")


def _write_private(file: Path, data: bytes) -> None:
    descriptor = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)


@contextmanager
def _progress(rows: int) -> Iterator[Callable[[str, int], Progress | None]]:
    """A factory of progress callbacks: a rich bar per phase on big files in a terminal, else nothing."""
    console = Console()
    if rows <= PROGRESS_MIN_ROWS or not console.is_terminal:
        yield lambda description, total: None
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with ProgressBar(*columns, console=console, transient=True) as bar:

        def phase(description: str, total: int) -> Progress:
            task = bar.add_task(description, total=total)
            return lambda done: bar.update(task, completed=done)

        yield phase


def _exit_if_rejected(rejections: list[Rejection]) -> None:
    if not rejections:
        return
    console = Console(stderr=True)
    table = Table("line", "reason", title=f"{len(rejections)} rejected rows", title_justify="left")
    for rejection in rejections[:SHOWN_REJECTIONS]:
        table.add_row(str(rejection.line), Text(rejection.reason))
    console.print(table)
    if len(rejections) > SHOWN_REJECTIONS:
        console.print(f"… and {len(rejections) - SHOWN_REJECTIONS} more rejected rows")
    console.print("nothing was imported: fix these rows and import the file again", style="bold red")
    raise typer.Exit(1)


def _fail(message: str) -> NoReturn:
    typer.echo(f"carebot: {message}", err=True)
    raise typer.Exit(1)
