"""Hostile CSV files: too big, mis-encoded, missing columns, formula cells, any bytes at all. Each is refused
with one clear line (CsvFileError) or read row by row with the bad rows named; nothing else can escape."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from storage.csv_export import csv_bytes, neutralise_cell
from storage.csv_import import (
    CUSTOMER_COLUMNS,
    MAX_IMPORT_BYTES,
    PURCHASE_COLUMNS,
    CsvFileError,
    parse_customers_csv,
    parse_purchases_csv,
)

HEADER = ",".join(CUSTOMER_COLUMNS)


def customers_csv(data: bytes):  # type: ignore[no-untyped-def]
    return parse_customers_csv(data, default_timezone="Asia/Shanghai")


def test_a_huge_file_is_refused_with_the_limit() -> None:
    with pytest.raises(CsvFileError, match="at most 50 MB"):
        customers_csv(HEADER.encode() + b"\n" + b"1," * (MAX_IMPORT_BYTES // 2 + 1))


def test_a_file_not_in_utf8_is_refused_with_how_to_fix_it() -> None:
    data = (HEADER + "\n42,王,小明,,,,,,\n").encode("gbk")
    with pytest.raises(CsvFileError, match="not UTF-8"):
        customers_csv(data)


def test_missing_columns_are_named() -> None:
    with pytest.raises(CsvFileError, match=r"missing column.*phone"):
        customers_csv(b"telegram_id,first_name\n42,Li\n")
    with pytest.raises(CsvFileError, match="save it with ','"):
        customers_csv(HEADER.replace(",", ";").encode() + b"\n")


def test_formula_cells_are_neutralised_on_export_and_restored_on_import() -> None:
    evil = ['=HYPERLINK("http://x","y")', "+1+1", "-2+3", "@SUM(A1)", "\t=1"]
    data = csv_bytes(CUSTOMER_COLUMNS, [[42, evil[0], evil[1], None, None, None, None, None, None]])
    assert all(not cell.startswith(("=", "+", "-", "@")) for cell in data.decode("utf-8-sig").split(",")[9:12])
    assert [neutralise_cell(value)[0] for value in evil] == ["'"] * len(evil)
    parsed = customers_csv(data)
    assert parsed.rejections == []
    assert parsed.rows[0].values["first_name"] == evil[0] and parsed.rows[0].values["last_name"] == evil[1]


@settings(max_examples=150, deadline=None, database=None)
@given(st.binary(max_size=400) | st.text(max_size=400).map(lambda text: (HEADER + "\n" + text).encode()))
def test_any_bytes_are_read_or_refused_cleanly(data: bytes) -> None:
    for parse in (
        customers_csv,
        lambda d: parse_purchases_csv(d, default_currency="CNY", default_timezone="Asia/Shanghai"),
    ):
        try:
            result = parse(data)
        except CsvFileError as error:
            assert str(error) and "\n" not in str(error)
            continue
        assert all(rejection.line >= 2 and rejection.reason for rejection in result.rejections)


def test_purchase_columns_are_checked_too() -> None:
    with pytest.raises(CsvFileError, match="missing column"):
        parse_purchases_csv(b"telegram_id\n1\n", default_currency="CNY", default_timezone="Asia/Shanghai")
    assert "amount" in PURCHASE_COLUMNS
