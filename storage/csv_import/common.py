"""Shared by the CSV importers: limits, the rows they accept, rejections and summaries."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Generic, Protocol, TypeVar

MEGABYTE = 1024 * 1024
MAX_IMPORT_BYTES = 50 * MEGABYTE
GENERATED_REFERENCE_PREFIX = "csv-"
IMPORT_REASON = "import"
IN_CHUNK = 900  # ids per IN (...) query: below every SQLite version's limit of 999 parameters
INSERT_CHUNK = 5_000
PROGRESS_EVERY = 1_000
CENT = Decimal("0.01")
MAX_AMOUNT = Decimal("1e12")  # NUMERIC(14, 2)
TOTALS_COLUMNS = ("id", "telegram_id", "segment", "total_spent", "purchase_count")

Progress = Callable[[int], None]
"""Called now and then with the number of rows done so far."""


class CsvFileError(ValueError):
    """The file as a whole cannot be read (size, encoding, header); the message says why in one line."""


@dataclass(frozen=True, order=True)
class Rejection:
    line: int  # the file's line number; the header is line 1
    reason: str


@dataclass
class CustomerRow:
    line: int
    telegram_id: int
    values: dict[str, str | int | None]  # Customer attributes from the row's non-empty cells
    agreement_signed_on: date | None = None  # the customer agreement signed on paper or elsewhere


@dataclass(frozen=True)
class PurchaseRow:
    line: int
    telegram_id: int
    amount: Decimal
    currency: str
    occurred_at: datetime  # UTC
    reference: str
    note: str | None
    refunded_at: datetime | None = None  # UTC; the purchase is imported as refunded at that moment


class _Row(Protocol):
    @property
    def line(self) -> int: ...


RowT = TypeVar("RowT", bound=_Row)
T = TypeVar("T")


@dataclass
class ParseResult(Generic[RowT]):
    rows: list[RowT] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)


class PurchaseOutcome(StrEnum):
    CREATED = "created"  # a new purchase
    REFUNDED = "refunded"  # a stored purchase refunded now, or a new one recorded as refunded
    UNCHANGED = "unchanged"  # already recorded as the row says


@dataclass
class ImportSummary:
    customers_created: int = 0
    customers_updated: int = 0
    customers_unchanged: int = 0
    purchases_imported: int = 0
    purchases_skipped: int = 0
    refunds_imported: int = 0  # purchases recorded as refunded: new ones, or stored ones the file says were refunded
    segment_changes: int = 0
    rejections: list[Rejection] = field(default_factory=list)
    outcomes: dict[int, PurchaseOutcome] = field(default_factory=dict)  # what became of each purchase row, by line
