"""An operator imports and exports CSV files with `carebot customers|purchases ...` on a fresh machine."""

from __future__ import annotations

import sqlite3
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from bot.cli import app
from storage import csv_import

CUSTOMERS = "telegram_id,first_name,last_name,username,phone,email,birthday,language,timezone"
PURCHASES = "telegram_id,amount,currency,occurred_at,reference,note"

Carebot = Callable[..., Result]


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A database file that does not exist yet: the commands must create and migrate it."""
    path = tmp_path / "carebot.db"
    monkeypatch.setenv("CAREBOT_DATABASE_URL", f"sqlite+aiosqlite:///{path}")
    monkeypatch.setenv("CAREBOT_VIP_MIN_PURCHASES", "3")
    monkeypatch.setenv("COLUMNS", "200")
    return path


@pytest.fixture
def carebot(database: Path) -> Carebot:
    def run(*args: str) -> Result:
        return CliRunner().invoke(app, list(args))

    return run


def write(path: Path, header: str, *rows: str) -> Path:
    path.write_text("\n".join((header, *rows, "")), encoding="utf-8")
    return path


def query(database: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(database) as connection:
        return connection.execute(sql).fetchall()


def test_customers_import_export_and_reimport_round_trip(carebot: Carebot, tmp_path: Path) -> None:
    source = write(tmp_path / "in.csv", CUSTOMERS, "42,Li,Wei,,+8613800138000,,1990-05-04,zh,", "43,=evil(),,,,,,en,")

    imported = carebot("customers", "import", str(source))
    exported = carebot("customers", "export", "out.csv")
    again = carebot("customers", "import", "out.csv")

    assert imported.exit_code == 0, imported.output
    assert imported.stdout == "customers: 2 created, 0 updated, 0 unchanged\n"
    assert exported.stdout == "exported 2 customers to out.csv\n"
    data = (tmp_path / "out.csv").read_bytes()
    assert data.startswith(
        b"\xef\xbb\xbf"
        + CUSTOMERS.encode()
        + b",segment,total_spent,purchase_count,created_at,agreement_version,agreement_until\r\n"
    )
    assert b"43,'=evil(),,,,,,en,,potential,0.00,0," in data
    assert stat.S_IMODE((tmp_path / "out.csv").stat().st_mode) == 0o600
    assert again.stdout == "customers: 0 created, 0 updated, 2 unchanged\n"


def test_purchases_import_creates_customers_moves_segments_and_is_idempotent(
    carebot: Carebot, tmp_path: Path, database: Path
) -> None:
    source = write(tmp_path / "p.csv", PURCHASES, "42,10,,2024-05-01,,", "42,20,,2024-05-02,,", "42,30,,2024-05-03,,")

    first = carebot("purchases", "import", str(source))
    second = carebot("purchases", "import", str(source))

    assert first.exit_code == 0, first.output
    assert first.stdout == "purchases: 3 imported, 0 already imported; 1 new customers; 1 segment changes\n"
    assert second.stdout == "purchases: 0 imported, 3 already imported; 0 new customers; 0 segment changes\n"
    assert query(database, "SELECT segment, total_spent, purchase_count FROM customers") == [("vip", 60, 3)]
    assert query(database, "SELECT from_segment, to_segment, reason FROM segment_changes") == [
        ("potential", "vip", "import")
    ]


def test_rejected_rows_are_listed_with_their_lines_and_nothing_is_imported(
    carebot: Carebot, tmp_path: Path, database: Path
) -> None:
    carebot("purchases", "import", str(write(tmp_path / "old.csv", PURCHASES, "42,10,,2024-05-01,R1,")))
    source = write(
        tmp_path / "p.csv",
        PURCHASES,
        "43,5,,2024-05-01,,fine",
        "42,12,,2024-05-01,R1,",
        "44,1.234,,2024-05-01,,",
    )

    result = carebot("purchases", "import", str(source))

    assert result.exit_code == 1
    assert "2 rejected rows" in result.stderr
    assert "│ 3    │ reference R1 is already recorded for telegram_id 42 with amount 10.00" in result.stderr
    assert "│ 4    │ amount has more than 2 decimals (got '1.234')" in result.stderr
    assert "nothing was imported" in result.stderr
    assert query(database, "SELECT telegram_id FROM customers") == [(42,)]
    assert query(database, "SELECT count(*) FROM purchases") == [(1,)]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\xef\xbb\xbf" + PURCHASES.encode() + b"\n42,10,,2024-05-01,,caf\xe9\n", "is not UTF-8 (line 2)"),
        (b"telegram_id,amount\n42,10\n", "missing columns: currency, occurred_at, reference, note"),
    ],
)
def test_an_unreadable_file_is_refused_in_one_line(
    carebot: Carebot, tmp_path: Path, content: bytes, message: str
) -> None:
    (tmp_path / "p.csv").write_bytes(content)
    result = carebot("purchases", "import", "p.csv")
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1 and message in result.stderr


def test_a_file_over_the_size_cap_is_refused_before_it_is_read(
    carebot: Carebot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(csv_import.reading, "MAX_IMPORT_BYTES", 10)
    write(tmp_path / "c.csv", CUSTOMERS, "42,Li,,,,,,,")
    result = carebot("customers", "import", "c.csv")
    assert result.exit_code == 1
    assert "can be imported at once" in result.stderr


def test_a_missing_file_and_a_bad_setting_are_reported(carebot: Carebot, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = carebot("customers", "import", "nowhere.csv")
    assert (missing.exit_code, missing.stderr) == (1, "carebot: cannot read nowhere.csv: No such file or directory\n")
    monkeypatch.setenv("CAREBOT_CURRENCY", "yuan")
    bad = carebot("purchases", "import", "nowhere.csv")
    assert bad.exit_code == 2
    assert bad.stderr.startswith("carebot: invalid setting CAREBOT_CURRENCY")
