"""Customers and purchases come in from CSV files, checked row by row, and go out again to Excel."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlmodel import SQLModel, col

from storage import csv_import, privacy, purchases
from storage.csv_export import csv_bytes, export_customers, export_purchases, export_surveys, export_tickets
from storage.csv_import import (
    CsvFileError,
    ImportSummary,
    Rejection,
    apply_customers,
    apply_purchases,
    check_purchases,
    parse_customers_csv,
    parse_purchases_csv,
)
from storage.db import SessionFactory, transaction
from storage.models import Customer, Purchase, SegmentChange, SurveyResponse, Ticket
from storage.segments import VipThresholds
from tests.ids import ADMIN_ID

CUSTOMERS = "telegram_id,first_name,last_name,username,phone,email,birthday,language,timezone"
PURCHASES = "telegram_id,amount,currency,occurred_at,reference,note"
PURCHASES_REFUNDED = PURCHASES + ",refunded_at"
VIP = VipThresholds(min_total=Decimal("1000.00"), min_purchases=5)
ZONE = "Asia/Shanghai"


def csv_file(header: str, *rows: str) -> bytes:
    return "\n".join((header, *rows, "")).encode()


async def import_customers(sessions: SessionFactory, data: bytes) -> ImportSummary:
    parsed = parse_customers_csv(data, default_timezone=ZONE)
    assert parsed.rejections == []
    async with transaction(sessions) as session:
        return await apply_customers(session, parsed.rows, default_language="en")


async def import_purchases(sessions: SessionFactory, data: bytes) -> ImportSummary:
    parsed = parse_purchases_csv(data, default_currency="CNY", default_timezone=ZONE)
    assert parsed.rejections == []
    async with transaction(sessions) as session:
        return await apply_purchases(session, parsed.rows, vip=VIP)


async def stored_customers(sessions: SessionFactory) -> dict[int, Customer]:
    async with sessions() as session:
        return {customer.telegram_id: customer for customer in await session.scalars(select(Customer))}


async def count(sessions: SessionFactory, model: type[Customer] | type[Purchase] | type[SegmentChange]) -> int:
    async with sessions() as session:
        return (await session.execute(select(func.count()).select_from(model))).scalar_one()


async def history(sessions: SessionFactory, telegram_id: int) -> list[tuple[str, str, str]]:
    async with sessions() as session:
        rows = await session.execute(
            select(col(SegmentChange.from_segment), col(SegmentChange.to_segment), col(SegmentChange.reason))
            .join(Customer, col(Customer.id) == col(SegmentChange.customer_id))
            .where(col(Customer.telegram_id) == telegram_id)
            .order_by(col(SegmentChange.id))
        )
        return [(before, after, reason) for before, after, reason in rows]


async def stored_purchases(sessions: SessionFactory) -> list[tuple[object, ...]]:
    """Every purchase as staff see it: whose, how much, when, which, and when it was refunded."""
    async with sessions() as session:
        rows = await session.execute(
            select(col(Customer.telegram_id), Purchase)
            .join(Purchase, col(Purchase.customer_id) == col(Customer.id))
            .order_by(col(Customer.telegram_id), col(Purchase.reference))
        )
        return [(who, p.amount, p.currency, p.occurred_at, p.reference, p.note, p.refunded_at) for who, p in rows]


async def snapshot(sessions: SessionFactory) -> tuple[list[tuple[int, str, Decimal, int]], int, int]:
    """Every customer's segment and totals, and how many purchases and segment changes are stored."""
    customers = await stored_customers(sessions)
    totals = sorted((c.telegram_id, c.segment, c.total_spent, c.purchase_count) for c in customers.values())
    return totals, await count(sessions, Purchase), await count(sessions, SegmentChange)


# --- customers -----------------------------------------------------------------------------------------------------


async def test_excel_customers_file_is_imported_with_clean_values(sessions: SessionFactory) -> None:
    data = "\ufeff" + CUSTOMERS + ",agreement_signed_on\r\n"
    data += "42,Li,Wei,@liwei,+86 138-0013-8000,Li.Wei@Example.COM,1990-05-04,zh-Hans,asia/shanghai,2024-01-01\r\n"
    data += "43,Anna,,,,,02-29,,,\r\n"
    summary = await import_customers(sessions, data.encode())
    assert (summary.customers_created, summary.customers_updated) == (2, 0)
    customers = await stored_customers(sessions)
    li, anna = customers[42], customers[43]
    assert (li.first_name, li.last_name, li.username, li.phone, li.email) == (
        "Li",
        "Wei",
        "liwei",
        "+8613800138000",
        "Li.Wei@example.com",
    )
    assert (li.birthday_text, li.language, li.timezone, li.segment) == (
        "1990-05-04",
        "zh_CN",
        "Asia/Shanghai",
        "potential",
    )
    assert (anna.birthday_text, anna.language, anna.last_name, anna.timezone) == ("02-29", "en", None, None)


async def test_reimport_updates_filled_cells_keeps_empty_ones_and_changes_nothing_the_second_time(
    sessions: SessionFactory,
) -> None:
    await import_customers(sessions, csv_file(CUSTOMERS, "42,Li,Wei,,+8613800138000,,,zh_CN,"))
    before = (await stored_customers(sessions))[42].updated_at
    update = csv_file(CUSTOMERS, "42,Li,Wang,,,li@example.com,,,", "43,Ann,,,,,,,")
    first = await import_customers(sessions, update)
    second = await import_customers(sessions, update)
    assert (first.customers_created, first.customers_updated, first.customers_unchanged) == (1, 1, 0)
    assert (second.customers_created, second.customers_updated, second.customers_unchanged) == (0, 0, 2)
    li = (await stored_customers(sessions))[42]
    assert (li.last_name, li.phone, li.email) == ("Wang", "+8613800138000", "li@example.com")
    assert li.updated_at > before


def test_every_kind_of_bad_customer_row_is_rejected_with_its_line_and_reason() -> None:
    data = csv_file(
        CUSTOMERS,
        ",Nobody,,,,,,,",
        "12ab,Li,,,,,,,",
        "44,Li,,,123,not-an-email,1990-02-30,fr,Mars/Olympus",
        '45,"two-line\nname",,,,,,,',
        "46," + "x" * 257 + ",,,,,,,",
        "47,too,few",
        "48,Ok,,,,,,,",
        "48,Again,,,,,,,",
    )
    result = parse_customers_csv(data, default_timezone=ZONE)
    assert [row.telegram_id for row in result.rows] == [45, 48]
    assert result.rows[0].values["first_name"] == "two-line\nname"
    reasons = {rejection.line: rejection.reason for rejection in result.rejections}
    assert reasons == {
        2: "telegram_id is required",
        3: "telegram_id must be a positive whole number (got '12ab')",
        4: "phone must have 6 to 15 digits (got '123'); email must look like name@example.com (got 'not-an-email');"
        " language must be en or zh_CN (got 'fr'); timezone must be an IANA name such as Asia/Shanghai"
        " (got 'Mars/Olympus'); birthday is not a real date (got '1990-02-30')",
        7: "first_name is longer than 256 characters (got '" + "x" * 39 + "…')",
        8: "the row has 3 cells but the header has 9",
        10: "telegram_id 48 already appears on line 9",
    }


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"telegram_id,first_name\n1,Li\n", "missing columns: last_name, username, phone, email, birthday"),
        (CUSTOMERS.replace(",", ";").encode(), "the file uses ';' between cells"),
        (b"", "the file is empty"),
        (csv_file(CUSTOMERS, "42,Zo\xeb,,,,,,,").decode().encode("latin-1"), "the file is not UTF-8 (line 2)"),
        (csv_file(CUSTOMERS + ",phone"), "named more than once: phone"),
    ],
)
def test_a_file_that_cannot_be_read_is_refused_with_one_clear_message(data: bytes, message: str) -> None:
    with pytest.raises(CsvFileError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_customers_csv(data, default_timezone=ZONE)


def test_files_over_the_size_cap_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(csv_import.reading, "MAX_IMPORT_BYTES", 100)
    with pytest.raises(CsvFileError, match="can be imported at once"):
        parse_purchases_csv(b"x" * 101, default_currency="CNY", default_timezone=ZONE)


# --- purchases -----------------------------------------------------------------------------------------------------


async def test_purchases_move_customers_through_every_segment_with_reason_import(sessions: SessionFactory) -> None:
    await import_customers(sessions, csv_file(CUSTOMERS, "42,Li,,,,,,,"))
    await import_purchases(sessions, csv_file(PURCHASES, "42,100.00,,2024-05-01,A1,"))
    await import_purchases(sessions, csv_file(PURCHASES, "42,100.00,,2024-05-02,A2,"))
    summary = await import_purchases(sessions, csv_file(PURCHASES, "42,800,,2024-05-03,A3,", "42,0.5,,2024-05-03,A4,"))
    assert (summary.purchases_imported, summary.segment_changes) == (2, 1)
    li = (await stored_customers(sessions))[42]
    assert (li.segment, li.total_spent, li.purchase_count) == ("vip", Decimal("1000.50"), 4)
    assert await history(sessions, 42) == [
        ("potential", "new", "import"),
        ("new", "returning", "import"),
        ("returning", "vip", "import"),
    ]


async def test_a_purchase_of_an_unknown_telegram_id_creates_the_customer(sessions: SessionFactory) -> None:
    summary = await import_purchases(sessions, csv_file(PURCHASES, "77,20,,2024-05-01,,", "77,30,,2024-05-02,,"))
    assert (summary.customers_created, summary.purchases_imported) == (1, 2)
    newcomer = (await stored_customers(sessions))[77]
    assert (newcomer.segment, newcomer.total_spent, newcomer.purchase_count) == ("returning", Decimal("50.00"), 2)
    assert await history(sessions, 77) == [("potential", "returning", "import")]


async def test_importing_the_same_purchases_file_twice_changes_nothing(sessions: SessionFactory) -> None:
    data = csv_file(
        PURCHASES, "42,10.00,,2024-05-01,,", "42,10,CNY,2024-05-01T00:00:00+08:00,,", "43,5,,2024-05-02,R1,x"
    )
    # Rows without a reference get one made from their content: the second row is the first one again.
    rejected = parse_purchases_csv(data, default_currency="CNY", default_timezone=ZONE).rejections
    assert [(r.line, r.reason.startswith("the same purchase as line 2")) for r in rejected] == [(3, True)]
    data = csv_file(PURCHASES, "42,10.00,,2024-05-01,,", "43,5,,2024-05-02,R1,x")
    await import_purchases(sessions, data)
    before = await snapshot(sessions)
    again = await import_purchases(sessions, data)
    assert (again.purchases_imported, again.purchases_skipped, again.segment_changes) == (0, 2, 0)
    assert await snapshot(sessions) == before
    assert before[1:] == (2, 2)


async def test_a_reference_recorded_with_another_amount_rejects_the_file_and_writes_nothing(
    sessions: SessionFactory,
) -> None:
    await import_purchases(sessions, csv_file(PURCHASES, "42,10.00,,2024-05-01,R1,"))
    parsed = parse_purchases_csv(
        csv_file(PURCHASES, "99,5,,2024-05-01,N1,", "42,12.00,,2024-05-01,R1,"),
        default_currency="CNY",
        default_timezone=ZONE,
    )
    expected = [Rejection(3, "reference R1 is already recorded for telegram_id 42 with amount 10.00")]
    async with transaction(sessions) as session:
        assert await check_purchases(session, parsed.rows) == expected
        summary = await apply_purchases(session, parsed.rows, vip=VIP)
    assert summary.rejections == expected
    assert (await count(sessions, Customer), await count(sessions, Purchase)) == (1, 1)


def test_every_kind_of_bad_purchase_row_is_rejected_with_its_line_and_reason() -> None:
    data = csv_file(
        PURCHASES,
        "42,,,,,",
        "42,-5,usd,yesterday,,",
        '42,"1,000.00",,2024-05-01,,',
        "42,1.005,,2999-01-01,,",
        "42,0,,2024-05-01,,",
        "42,10,,2024-05-01,R," + "n" * 1001,
        "42,10,,2024-05-01,R,",
        "42,10,,2024-05-01,R,",
        "42,10,,2024-05-01,,same",
        "42,10,,2024-05-01,,same",
    )
    result = parse_purchases_csv(data, default_currency="CNY", default_timezone=ZONE)
    assert [row.line for row in result.rows] == [8, 10]
    reasons = {rejection.line: rejection.reason for rejection in result.rejections}
    assert reasons == {
        2: "amount is required; occurred_at is required",
        3: "amount must be positive (got '-5'); currency must be 3 capital letters such as CNY (got 'usd');"
        " occurred_at must be an ISO 8601 date or date-time such as 2024-05-01T14:30 (got 'yesterday')",
        4: "amount must be a number such as 199.90 (with '.', no thousands separators) (got '1,000.00')",
        5: "amount has more than 2 decimals (got '1.005'); occurred_at is in the future (got '2999-01-01')",
        6: "amount must be positive (got '0')",
        7: "note is longer than 1000 characters (got '" + "n" * 39 + "…')",
        9: "reference R for telegram_id 42 already appears on line 8",
        11: "the same purchase as line 10 (rows without a reference must differ, or give each a reference)",
    }


def test_a_refund_time_is_checked_like_a_purchase_time_and_never_comes_before_the_purchase() -> None:
    data = csv_file(
        PURCHASES_REFUNDED,
        "42,10,,2024-05-01,R1,,2024-05-02T09:00",
        "42,10,,2024-05-01,R2,,",
        "42,10,,2024-05-03,R3,,2024-05-02",
        "42,10,,2024-05-01,R4,,soon",
        "42,10,,2024-05-01,R5,,2999-01-01",
    )
    result = parse_purchases_csv(data, default_currency="CNY", default_timezone=ZONE)
    assert [(row.reference, row.refunded_at) for row in result.rows] == [
        ("R1", datetime(2024, 5, 2, 1, 0, tzinfo=UTC)),
        ("R2", None),
    ]
    assert {rejection.line: rejection.reason for rejection in result.rejections} == {
        4: "refunded_at is before occurred_at",
        5: "refunded_at must be an ISO 8601 date or date-time such as 2024-05-01T14:30 (got 'soon')",
        6: "refunded_at is in the future (got '2999-01-01')",
    }


async def test_a_later_file_refunds_a_stored_purchase_and_an_older_one_never_takes_a_refund_back(
    sessions: SessionFactory,
) -> None:
    older = csv_file(PURCHASES, "42,100.00,,2024-05-01,R1,", "42,50.00,,2024-05-02,R2,")
    await import_purchases(sessions, older)
    later = csv_file(
        PURCHASES_REFUNDED, "42,100.00,,2024-05-01,R1,,2024-05-03T10:00:00+00:00", "42,50.00,,2024-05-02,R2,,"
    )
    summary = await import_purchases(sessions, later)
    assert (summary.purchases_imported, summary.refunds_imported, summary.purchases_skipped) == (0, 1, 1)
    li = (await stored_customers(sessions))[42]
    assert (li.segment, li.total_spent, li.purchase_count) == ("new", Decimal("50.00"), 1)
    assert await history(sessions, 42) == [("potential", "returning", "import"), ("returning", "new", "import")]
    refunded = {row[4]: row[6] for row in await stored_purchases(sessions)}
    assert refunded == {"R1": datetime(2024, 5, 3, 10, 0, tzinfo=UTC), "R2": None}

    before = await snapshot(sessions), await stored_purchases(sessions)
    for again in (later, older):
        summary = await import_purchases(sessions, again)
        assert (summary.purchases_imported, summary.refunds_imported, summary.purchases_skipped) == (0, 0, 2)
    assert (await snapshot(sessions), await stored_purchases(sessions)) == before


def test_times_without_an_offset_are_in_the_default_timezone() -> None:
    data = csv_file(
        PURCHASES,
        "1,1,,2024-05-01,,",
        "1,1,,2024-05-01T10:30,,",
        "1,1,EUR,2024-05-01T10:30:00+02:00,,",
        "1,1,,2024-05-01T10:30Z,,",
    )
    rows = parse_purchases_csv(data, default_currency="CNY", default_timezone=ZONE).rows
    assert [row.occurred_at for row in rows] == [
        datetime(2024, 4, 30, 16, 0, tzinfo=UTC),
        datetime(2024, 5, 1, 2, 30, tzinfo=UTC),
        datetime(2024, 5, 1, 8, 30, tzinfo=UTC),
        datetime(2024, 5, 1, 10, 30, tzinfo=UTC),
    ]
    assert [row.currency for row in rows] == ["CNY", "CNY", "EUR", "CNY"]
    assert all(row.reference.startswith("csv-") for row in rows)


async def test_five_thousand_purchase_rows_import_in_one_go(sessions: SessionFactory) -> None:
    rows = [f"{1000 + n % 500},{n % 7 + 1}.25,,2024-0{n % 9 + 1}-15T12:00,,order {n}" for n in range(5000)]
    done: list[int] = []
    parsed = parse_purchases_csv(
        csv_file(PURCHASES, *rows), default_currency="CNY", default_timezone=ZONE, progress=done.append
    )
    assert (len(parsed.rows), parsed.rejections, done[-1]) == (5000, [], 5000)
    async with transaction(sessions) as session:
        summary = await apply_purchases(session, parsed.rows, vip=VIP)
    assert (summary.customers_created, summary.purchases_imported, summary.segment_changes) == (500, 5000, 500)
    customers = await stored_customers(sessions)
    assert sum(c.total_spent for c in customers.values()) == sum(Decimal(f"{n % 7 + 1}.25") for n in range(5000))
    assert {c.purchase_count for c in customers.values()} == {10}
    assert {c.segment for c in customers.values()} == {"vip"}
    assert await count(sessions, SegmentChange) == 500


# --- export --------------------------------------------------------------------------------------------------------


def test_csv_bytes_has_a_bom_and_neutralises_formula_cells() -> None:
    data = csv_bytes(("a", "b"), [("=1+2", "+86 1"), ("-3", "@SUM(A1)"), ("\tx", "plain, with comma")])
    assert data.startswith(b"\xef\xbb\xbfa,b\r\n")
    assert list(csv.reader(io.StringIO(data.decode("utf-8-sig")))) == [
        ["a", "b"],
        ["'=1+2", "'+86 1"],
        ["'-3", "'@SUM(A1)"],
        ["'\tx", "plain, with comma"],
    ]


async def test_an_export_imports_back_to_the_same_customers(sessions: SessionFactory) -> None:
    await import_customers(
        sessions,
        csv_file(
            CUSTOMERS,
            '42,=HYPERLINK("x"),-Wei-,li_wei,+8613800138000,li@example.com,1990-05-04,zh_CN,Europe/Berlin',
            '43,"Ann, ""Annie""",@home,,,,12-31,en,',
            "44,,,,,,,,",
        ),
    )
    await import_purchases(sessions, csv_file(PURCHASES, "42,99.90,,2024-05-01,,"))
    async with sessions() as session:
        exported = await export_customers(session)
    lines = exported.decode("utf-8-sig").splitlines()
    assert lines[0] == CUSTOMERS + ",segment,total_spent,purchase_count,created_at,agreement_version,agreement_until"
    assert lines[1].startswith(
        '42,"\'=HYPERLINK(""x"")",\'-Wei-,li_wei,\'+8613800138000,li@example.com,1990-05-04,zh_CN,'
    )
    assert ",new,99.90,1," in lines[1]
    before = await stored_customers(sessions)

    summary = await import_customers(sessions, exported)

    assert (summary.customers_created, summary.customers_updated, summary.customers_unchanged) == (0, 0, 3)
    after = await stored_customers(sessions)
    assert [c.model_dump() for c in after.values()] == [c.model_dump() for c in before.values()]
    assert after[42].first_name == '=HYPERLINK("x")' and after[43].last_name == "@home"
    async with sessions() as session:
        assert await export_customers(session) == exported


async def test_agreement_signed_on_paper_is_recorded_and_exported(sessions: SessionFactory) -> None:
    from storage import agreements
    from storage.csv_export import export_customers
    from storage.csv_import import apply_customers, parse_customers_csv

    header = "telegram_id,first_name,last_name,username,phone,email,birthday,language,timezone,agreement_signed_on\n"
    data = (header + "7001,Ann,,,,,,en,,2026-03-01\n7002,Bo,,,,,,en,,\n7003,Cy,,,,,,en,,2026-02-30\n").encode()
    parsed = parse_customers_csv(data, default_timezone="Asia/Shanghai")
    assert [r.line for r in parsed.rejections] == [4]
    async with transaction(sessions) as session:
        await apply_customers(session, parsed.rows, agreement_years=1)
    async with transaction(sessions) as session:  # importing again records nothing twice
        await apply_customers(session, parse_customers_csv(data[:-27], default_timezone="UTC").rows, agreement_years=1)
    async with sessions() as session:
        exported = (await export_customers(session)).decode("utf-8-sig").splitlines()
        ann = await session.scalar(select(Customer).where(col(Customer.telegram_id) == 7001))
        assert ann is not None and ann.id is not None
        assert len(await agreements.acceptances_for(session, customer_id=ann.id)) == 1
    assert exported[0].endswith("agreement_version,agreement_until")
    assert exported[1].endswith(",2027-03-01")
    assert exported[2].endswith(",,")


async def test_purchases_and_refunds_exported_and_imported_into_an_empty_store_come_back_the_same(
    sessions: SessionFactory,
) -> None:
    await import_customers(
        sessions, csv_file(CUSTOMERS, "42,Li,,,,,,,", "43,Ann,,,,,,,", "44,Bo,,,,,,,", "45,Cy,,,,,,,")
    )
    sales = [
        (42, "600.00", "A1"),
        (42, "500.00", "A2"),  # refunded: Li drops from vip to new
        (43, "100.00", "B1"),  # refunded: Ann is potential again
        (44, "200.00", "C1"),
        (44, "300.00", "C2"),
    ]
    async with transaction(sessions) as session:
        people = {c.telegram_id: c for c in await session.scalars(select(Customer))}
        for day, (telegram_id, amount, reference) in enumerate(sales, 1):
            await purchases.record_purchase(
                session,
                customer=people[telegram_id],
                amount=Decimal(amount),
                currency="CNY",
                reference=reference,
                vip=VIP,
                occurred_at=datetime(2024, 5, day, 9, 30, tzinfo=UTC),
                note="=gift" if reference == "C1" else None,
            )
        await purchases.refund_purchase(session, customer=people[42], reference="A2", vip=VIP)
        await purchases.refund_purchase(session, customer=people[43], reference="B1", vip=VIP)
    async with sessions() as session:
        customers_csv, purchases_csv = await export_customers(session), await export_purchases(session)
    customers_before, purchases_before = await snapshot(sessions), await stored_purchases(sessions)
    assert customers_before[0] == [
        (42, "new", Decimal("600.00"), 1),
        (43, "potential", Decimal("0.00"), 0),
        (44, "returning", Decimal("500.00"), 2),
        (45, "potential", Decimal("0.00"), 0),
    ]
    assert purchases_csv.decode("utf-8-sig").splitlines()[0] == PURCHASES_REFUNDED
    async with transaction(sessions) as session:
        for table in reversed(SQLModel.metadata.sorted_tables):
            await session.execute(table.delete())

    await import_customers(sessions, customers_csv)
    summary = await import_purchases(sessions, purchases_csv)

    assert (summary.purchases_imported, summary.refunds_imported) == (5, 2)
    assert (await snapshot(sessions))[0] == customers_before[0]
    assert await stored_purchases(sessions) == purchases_before
    assert await history(sessions, 42) == [("potential", "new", "import")]
    assert await history(sessions, 43) == []
    async with sessions() as session:
        assert await export_purchases(session) == purchases_csv


async def test_an_erased_customers_purchases_import_back_as_anonymous_amounts(sessions: SessionFactory) -> None:
    await import_customers(sessions, csv_file(CUSTOMERS, "46,Di,,,,,,,", "47,Ed,,,,,,,"))
    await import_purchases(
        sessions,
        csv_file(PURCHASES, "46,80.00,,2024-05-01,D1,", "46,20.00,,2024-05-02,D2,", "47,50.00,,2024-05-03,E1,"),
    )
    async with sessions() as session:
        (di,) = await session.scalars(select(Customer).where(col(Customer.telegram_id) == 46))
    await privacy.erase_customer(sessions, customer_id=di.id or 0)
    async with sessions() as session:
        customers_csv, purchases_csv = await export_customers(session), await export_purchases(session)
    assert [line.split(",")[0] for line in purchases_csv.decode("utf-8-sig").splitlines()[1:]] == ["0", "0", "47"]
    async with transaction(sessions) as session:
        for table in reversed(SQLModel.metadata.sorted_tables):
            await session.execute(table.delete())

    await import_customers(sessions, customers_csv)
    summary = await import_purchases(sessions, purchases_csv)
    again = await import_purchases(sessions, purchases_csv)

    assert (summary.purchases_imported, summary.customers_created, again.purchases_skipped) == (3, 0, 3)
    customers = await stored_customers(sessions)
    assert sorted(customers) == [0, 47]  # the anonymous record of erased customers, and Ed
    assert customers[0].first_name != "Di" and (customers[0].segment, customers[0].purchase_count) == ("potential", 0)
    assert (customers[47].segment, customers[47].total_spent) == ("new", Decimal("50.00"))
    async with sessions() as session:
        assert await export_purchases(session) == purchases_csv


async def test_ticket_and_survey_exports_give_numbers_people_and_times_with_their_offset(
    sessions: SessionFactory,
) -> None:
    opened = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)
    await import_customers(sessions, csv_file(CUSTOMERS, "42,Li,,,,,,,"))
    async with transaction(sessions) as session:
        li = (await stored_customers(sessions))[42]
        ticket = Ticket(
            customer_id=li.id,  # type: ignore[arg-type]
            category="order",
            status="closed",
            assignee_telegram_id=ADMIN_ID,
            opened_at=opened,
            first_response_at=opened.replace(minute=5),
            closed_at=opened.replace(hour=12),
        )
        session.add(ticket)
        await session.flush()
        session.add(
            SurveyResponse(
                kind="csat",
                customer_id=li.id,
                ticket_id=ticket.id,
                staff_telegram_id=ADMIN_ID,
                score=5,
                comment="=great",
                created_at=opened.replace(hour=13),
            )
        )
        # An erased customer's answer keeps only its score.
        session.add(SurveyResponse(kind="nps", score=9, created_at=opened.replace(hour=14)))
    async with sessions() as session:
        tickets, surveys = await export_tickets(session), await export_surveys(session)
    assert tickets.decode("utf-8-sig").splitlines() == [
        "ticket,telegram_id,category,status,assignee_telegram_id,opened_at,first_response_at,resolved_at,closed_at",
        "1,42,order,closed,900001,2024-05-01T09:00:00+00:00,2024-05-01T09:05:00+00:00,,2024-05-01T12:00:00+00:00",
    ]
    assert surveys.decode("utf-8-sig").splitlines() == [
        "kind,telegram_id,ticket,staff_telegram_id,score,comment,created_at",
        "csat,42,1,900001,5,'=great,2024-05-01T13:00:00+00:00",
        "nps,,,,9,,2024-05-01T14:00:00+00:00",
    ]
