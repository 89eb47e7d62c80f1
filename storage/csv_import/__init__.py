"""Importing customers and purchases from CSV files: every row is checked first, then applied in bulk.

Parsing is pure (bytes in, accepted rows and rejections out) so the CLI and a chat command share it; the `apply_*`
functions write in the caller's transaction and write nothing when they reject a row.
"""

from storage.csv_export import CUSTOMER_COLUMNS, PURCHASE_COLUMNS
from storage.csv_import.common import (
    MAX_IMPORT_BYTES,
    CsvFileError,
    CustomerRow,
    ImportSummary,
    ParseResult,
    Progress,
    PurchaseOutcome,
    PurchaseRow,
    Rejection,
    RowT,
)
from storage.csv_import.customers import apply_customers, parse_customers_csv
from storage.csv_import.purchases import (
    apply_purchases,
    check_purchases,
    parse_purchases_csv,
    purchase_row_parser,
    reject_repeated_purchases,
)
from storage.csv_import.reading import (
    check_size,
    derived_reference,
    parse_amount,
    parse_currency,
    parse_occurred_at,
    parse_telegram_id,
)

__all__ = [
    "CUSTOMER_COLUMNS",
    "MAX_IMPORT_BYTES",
    "PURCHASE_COLUMNS",
    "CsvFileError",
    "CustomerRow",
    "ImportSummary",
    "ParseResult",
    "Progress",
    "PurchaseOutcome",
    "PurchaseRow",
    "Rejection",
    "RowT",
    "apply_customers",
    "apply_purchases",
    "check_purchases",
    "check_size",
    "derived_reference",
    "parse_amount",
    "parse_currency",
    "parse_customers_csv",
    "parse_occurred_at",
    "parse_purchases_csv",
    "parse_telegram_id",
    "purchase_row_parser",
    "reject_repeated_purchases",
]
