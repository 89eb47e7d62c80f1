"""Reading a CSV file: size, encoding, the header, one record a line; and the field rules only CSV files need
(shared ones live in storage.validation)."""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Callable, Hashable, Iterator, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache
from zoneinfo import ZoneInfo

from sqlalchemy.orm import class_mapper
from sqlmodel import SQLModel

from storage.csv_export import restore_cell
from storage.csv_import.common import (
    CENT,
    GENERATED_REFERENCE_PREFIX,
    MAX_AMOUNT,
    MAX_IMPORT_BYTES,
    MEGABYTE,
    PROGRESS_EVERY,
    CsvFileError,
    ParseResult,
    Progress,
    Rejection,
    RowT,
    T,
)
from storage.customers import ERASED_TELEGRAM_ID
from storage.models import Customer


def check_size(size: int) -> None:
    if size > MAX_IMPORT_BYTES:
        raise CsvFileError(
            f"the file is {size / MEGABYTE:.1f} MB; at most {MAX_IMPORT_BYTES // MEGABYTE} MB can be imported at once"
            " (split it into smaller files)"
        )


def _decode(data: bytes) -> str:
    check_size(len(data))
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise CsvFileError(f"the file is not UTF-8 (line {line}); save it as “CSV UTF-8” and import it again") from None


def _header(reader: Iterator[list[str]], columns: Sequence[str]) -> list[str]:
    first = next(reader, None)
    if first is None:
        raise CsvFileError(f"the file is empty; its first line must name the columns {','.join(columns)}")
    header = [name.strip().lower() for name in first]
    missing = [name for name in columns if name not in header]
    if missing:
        hint = " (the file uses ';' between cells: save it with ',')" if len(first) == 1 and ";" in first[0] else ""
        raise CsvFileError(f"missing {'column' if len(missing) == 1 else 'columns'}: {', '.join(missing)}{hint}")
    doubled = [name for name in columns if header.count(name) > 1]
    if doubled:
        raise CsvFileError(f"named more than once: {', '.join(doubled)}")
    return header


def _records(reader: Iterator[list[str]], line_num: Callable[[], int]) -> Iterator[tuple[int, list[str]]]:
    """(the line a record starts on, its cells) for every record that is not blank."""
    line = line_num()
    try:
        for cells in reader:
            start, line = line + 1, line_num()
            if any(cell.strip() for cell in cells):
                yield start, cells
    except csv.Error as exc:
        raise CsvFileError(f"line {line + 1}: {exc}") from None


def _cells_by_name(cells: list[str], header: list[str], columns: Sequence[str]) -> dict[str, str]:
    extra = cells[len(header) :]
    if len(cells) < len(header) or any(cell.strip() for cell in extra):
        raise ValueError(f"the row has {len(cells)} cells but the header has {len(header)}")
    return {
        name: restore_cell(cell.strip()).strip() for name, cell in zip(header, cells, strict=False) if name in columns
    }


def parse_rows(
    data: bytes,
    columns: Sequence[str],
    parse_row: Callable[[int, dict[str, str]], RowT],
    progress: Progress | None,
    *,
    optional: Sequence[str] = (),
) -> ParseResult[RowT]:
    result: ParseResult[RowT] = ParseResult()
    reader = csv.reader(io.StringIO(_decode(data), newline=""))
    try:
        header = _header(reader, columns)
    except csv.Error as exc:
        raise CsvFileError(f"line 1: {exc}") from None
    for count, (line, cells) in enumerate(_records(reader, lambda: reader.line_num), 1):
        try:
            result.rows.append(parse_row(line, _cells_by_name(cells, header, (*columns, *optional))))
        except ValueError as exc:
            result.rejections.append(Rejection(line, str(exc)))
        if progress and count % PROGRESS_EVERY == 0:
            progress(count)
    if progress:
        progress(len(result.rows) + len(result.rejections))
    return result


def reject_duplicates(
    result: ParseResult[RowT], key: Callable[[RowT], Hashable], reason: Callable[[RowT, int], str]
) -> None:
    """Keep the first row of each key; later ones are rejected, naming the line they repeat."""
    first_line: dict[Hashable, int] = {}
    kept: list[RowT] = []
    for row in result.rows:
        line = first_line.setdefault(key(row), row.line)
        if line == row.line:
            kept.append(row)
        else:
            result.rejections.append(Rejection(row.line, reason(row, line)))
    result.rows = kept
    result.rejections.sort()


class Cells:
    """One record's cells by column name; collects every field's problem so that a rejection names them all."""

    def __init__(self, cells: dict[str, str]) -> None:
        self._cells = cells
        self._errors: list[str] = []

    def get(self, name: str, parse: Callable[[str], T], *, required: bool = False) -> T | None:
        text = self._cells.get(name, "")
        if not text:
            if required:
                self._errors.append(f"{name} is required")
            return None
        try:
            return parse(text)
        except ValueError as exc:
            shown = text if len(text) <= 40 else text[:39] + "…"
            self._errors.append(f"{exc} (got {shown!r})")
            return None

    def check(self) -> None:
        if self._errors:
            raise ValueError("; ".join(self._errors))


@cache
def _max_length(model: type[SQLModel], column: str) -> int:
    length = getattr(class_mapper(model).columns[column].type, "length", None)
    assert isinstance(length, int), f"{model.__name__}.{column} has no length"
    return length


def bounded_text(model: type[SQLModel], column: str, text: str) -> str:
    limit = _max_length(model, column)
    if len(text) > limit:
        raise ValueError(f"{column} is longer than {limit} characters")
    return text


def parse_username(text: str) -> str:
    return bounded_text(Customer, "username", text.removeprefix("@"))


_TELEGRAM_ID = re.compile(r"\d{1,15}")
_AMOUNT = re.compile(r"[-+]?\d+(?:\.(\d+))?")
_CURRENCY = re.compile(r"[A-Z]{3}")


def parse_telegram_id(text: str) -> int:
    if not _TELEGRAM_ID.fullmatch(text) or int(text) == 0:
        raise ValueError("telegram_id must be a positive whole number")
    return int(text)


def parse_buyer_telegram_id(text: str) -> int:
    """A purchase's telegram_id; 0 is the export's name for erased customers, whose purchases stay anonymous."""
    return ERASED_TELEGRAM_ID if text.strip() == str(ERASED_TELEGRAM_ID) else parse_telegram_id(text)


def parse_amount(text: str) -> Decimal:
    """A positive decimal with `.` and at most 2 decimals, e.g. `199.90`."""
    match = _AMOUNT.fullmatch(text)
    if not match:
        raise ValueError("amount must be a number such as 199.90 (with '.', no thousands separators)")
    if match[1] and len(match[1]) > 2:
        raise ValueError("amount has more than 2 decimals")
    amount = Decimal(text)
    if amount <= 0:
        raise ValueError("amount must be positive")
    if amount >= MAX_AMOUNT:
        raise ValueError("amount is too large")
    return amount.quantize(CENT)


def parse_currency(text: str) -> str:
    if not _CURRENCY.fullmatch(text):
        raise ValueError("currency must be 3 capital letters such as CNY")
    return text


def parse_occurred_at(text: str, *, zone: ZoneInfo, now: datetime, column: str = "occurred_at") -> datetime:
    """An ISO 8601 date or date-time, in `zone` unless it carries an offset; returned in UTC."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{column} must be an ISO 8601 date or date-time such as 2024-05-01T14:30") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone)
    value = value.astimezone(UTC)
    if value > now:
        raise ValueError(f"{column} is in the future")
    return value


def derived_reference(
    *, telegram_id: int, amount: Decimal, currency: str, occurred_at: datetime, note: str | None
) -> str:
    """A reference made from a row's content, so that re-importing a row without one finds it again."""
    content = "|".join(
        (str(telegram_id), f"{amount:.2f}", currency, occurred_at.astimezone(UTC).isoformat(), note or "")
    )
    return GENERATED_REFERENCE_PREFIX + hashlib.sha1(content.encode(), usedforsecurity=False).hexdigest()[:16]
