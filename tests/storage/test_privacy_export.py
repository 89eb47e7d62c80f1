"""The export covers every table that holds something about a customer: a new table must be classified."""

from __future__ import annotations

from sqlmodel import SQLModel

from storage.privacy import EXPORTED_ELSEWHERE, NOT_EXPORTED, SECTIONS


def customer_tables() -> set[str]:
    """Tables with a `customer_id` column or a foreign key to `customers`."""
    found = set()
    for table in SQLModel.metadata.sorted_tables:
        refers = any(fk.column.table.name == "customers" for fk in table.foreign_keys)
        if "customer_id" in table.columns or refers:
            found.add(table.name)
    return found | {"customers"}


def test_every_table_about_a_customer_is_exported_or_deliberately_left_out() -> None:
    classified = {section.model.__tablename__ for section in SECTIONS} | set(EXPORTED_ELSEWHERE) | set(NOT_EXPORTED)  # type: ignore[attr-defined]
    unclassified = customer_tables() - classified
    assert not unclassified, (
        f"add these tables to storage/privacy.py SECTIONS (what the customer sees) or NOT_EXPORTED (why not): "
        f"{sorted(unclassified)}"
    )


def test_exported_fields_exist_and_hold_no_staff_ids() -> None:
    for section in SECTIONS:
        columns = set(section.model.__table__.columns.keys())  # type: ignore[attr-defined]
        assert set(section.fields) <= columns, section.name
        assert not {"staff_telegram_id", "redeemed_by", "author_telegram_id", "assignee_telegram_id"} & set(
            section.fields
        )
