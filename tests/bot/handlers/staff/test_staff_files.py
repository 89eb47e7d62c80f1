"""CSV in the chat: exports go to the admin's private chat; an import is checked, then committed with a button."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import delete, select

from storage.csv_export import BOM
from storage.db import transaction
from storage.models import Customer, Purchase, StaffImport
from storage.types import utcnow
from tests.botapi import FakeTelegram
from tests.harness import BotHarness
from tests.ids import ADMIN_ID
from tests.staff_world import add_customer, audit_rows, say, staff_world


def exported(tg: FakeTelegram, filename_start: str) -> bytes:
    uploads = [u for u in tg.uploads if u.filename and u.filename.startswith(filename_start)]
    assert uploads, tg.describe()
    return uploads[-1].content


async def snapshot(bot: BotHarness) -> list[tuple[object, ...]]:
    async with bot.services.sessions() as session:
        customers = (await session.execute(select(Customer).order_by(Customer.telegram_id))).scalars()  # type: ignore[arg-type]
        rows: list[tuple[object, ...]] = [
            (
                c.telegram_id,
                c.first_name,
                c.last_name,
                c.username,
                c.phone,
                c.email,
                c.birthday_text,
                c.language,
                c.segment,
                c.total_spent,
                c.purchase_count,
            )
            for c in customers
        ]
        purchases = (await session.execute(select(Purchase).order_by(Purchase.reference))).scalars()  # type: ignore[arg-type]
        rows += [(p.reference, p.amount, p.currency, p.occurred_at, p.note, p.refunded_at) for p in purchases]
    return rows


async def test_exports_go_to_the_admins_private_chat_and_are_audited(bot: BotHarness, tg: FakeTelegram) -> None:
    world = await staff_world(bot, tg)
    await add_customer(bot, 611, "=cmd|' /C calc'!A0", phone="+8613812345678")
    for kind in ("customers", "purchases", "tickets", "surveys"):
        note = await say(bot, tg, world.admin, f"/export {kind}", world.staff_chat)
        assert "sent to you in a private chat" in note.content
        document = tg.last_sent(world.admin)
        assert document is not None and document.data["document"]["file_name"].startswith(kind)
    customers_csv = exported(tg, "customers")
    assert customers_csv.startswith(BOM.encode())
    assert "'=cmd|' /C calc'!A0" in customers_csv.decode("utf-8-sig")
    assert [row.action for row in await audit_rows(bot)] == [
        "export.customers",
        "export.purchases",
        "export.tickets",
        "export.surveys",
    ]
    assert (await say(bot, tg, world.admin, "/export everything")).content.startswith("Usage: /export")


async def test_export_asks_to_open_a_private_chat_first(bot: BotHarness, tg: FakeTelegram) -> None:
    world = await staff_world(bot, tg)
    tg.user(ADMIN_ID, "Ada", username="ada_admin", started=False)
    note = await say(bot, tg, world.admin, "/export customers", world.staff_chat)
    assert "open a chat with me" in note.content
    assert not [m for m in tg.sent_to(world.staff_chat) if "document" in m.data]


async def test_an_export_imports_back_to_the_same_data(bot: BotHarness, tg: FakeTelegram) -> None:
    world = await staff_world(bot, tg)
    await add_customer(
        bot,
        621,
        "Lin",
        last_name="Hua",
        username="linhua",
        phone="+8613900001111",
        email="lin@example.com",
        birth_year=1990,
        birth_month=5,
        birth_day=17,
        language="zh_CN",
    )
    await add_customer(bot, 622, "@Eve", last_name="-Smith")
    await say(bot, tg, world.admin, "/purchase @linhua 199.90 R-1 first =order")
    await say(bot, tg, world.admin, "/purchase @linhua 50 R-2")
    await say(bot, tg, world.admin, "/purchase @linhua 75 R-3")
    await say(bot, tg, world.admin, "/refund @linhua R-3")
    before = await snapshot(bot)
    assert ("R-3", Decimal("75.00"), "CNY") == before[-1][:3] and before[-1][5] is not None
    await say(bot, tg, world.admin, "/export customers")
    customers_csv = exported(tg, "customers")
    await say(bot, tg, world.admin, "/export purchases")
    purchases_csv = exported(tg, "purchases")

    async with transaction(bot.services.sessions) as session:
        await session.execute(delete(Customer))
    for name, content in (("customers.csv", customers_csv), ("purchases.csv", purchases_csv)):
        tg.sends_document(world.admin, file_name=name, mime_type="text/csv", content=content, caption="/import")
        await bot.deliver()
        report = tg.last_sent(world.admin)
        assert report is not None and "Rejected rows: 0" in report.content, report.content
        commit = next(data for data in report.callback_data if data.startswith("staff:import:commit:"))
        tg.presses_button(world.admin, report, commit)
        await bot.deliver()
        committed = tg.last_sent(world.admin)
        assert committed is not None and "Import committed" in committed.content
        assert ("Refunds recorded: 1" in committed.content) == (name == "purchases.csv")
    assert await snapshot(bot) == before


async def test_import_reports_rejected_lines_and_commits_only_on_the_button(bot: BotHarness, tg: FakeTelegram) -> None:
    world = await staff_world(bot, tg)
    content = (
        b"telegram_id,amount,currency,occurred_at,reference,note\n"
        b"631,100.00,CNY,2024-05-01,P-1,\n"
        b"631,abc,CNY,2024-05-01,P-2,\n"
        b"632,20,CNY,2999-01-01,P-3,\n"
        b"633,30.5,,2024-05-02T10:00,P-4,hello\n"
    )
    tg.sends_command(world.admin, "/import purchases", world.staff_chat)
    await bot.deliver()
    assert "Send the CSV file now" in tg.last_sent(world.staff_chat).content  # type: ignore[union-attr]
    tg.sends_document(world.admin, file_name="p.csv", mime_type="text/csv", content=content, chat=world.staff_chat)
    await bot.deliver()
    report = tg.last_sent(world.staff_chat)
    assert report is not None
    assert "Accepted rows: 2" in report.content and "Rejected rows: 2" in report.content
    assert (
        "line 3: amount must be a number" in report.content and "line 4: occurred_at is in the future" in report.content
    )
    async with bot.services.sessions() as session:
        assert (await session.execute(select(Purchase))).first() is None  # nothing written before Commit
    commit = report.callback_data[0]
    tg.presses_button(world.agent, report, commit)  # agents may not commit
    await bot.deliver()
    async with bot.services.sessions() as session:
        assert (await session.execute(select(Purchase))).first() is None
    tg.presses_button(world.admin, report, commit)
    await bot.deliver()
    done = tg.last_sent(world.staff_chat)
    assert done is not None and "Purchases: 2 imported" in done.content
    async with bot.services.sessions() as session:
        totals = (await session.execute(select(Customer.telegram_id, Customer.total_spent, Customer.segment))).all()
        staged = (await session.execute(select(StaffImport))).scalar_one()
    assert sorted(totals) == [(631, Decimal("100.00"), "new"), (633, Decimal("30.50"), "new")]
    assert staged.committed_at is not None and staged.committed_at <= utcnow()
    tg.presses_button(world.admin, report, commit, strict=False)  # a second press changes nothing
    await bot.deliver()
    assert "already committed" in tg.last_sent(world.staff_chat).content  # type: ignore[union-attr]
    assert [row.action for row in await audit_rows(bot, "import.purchases")] == ["import.purchases"]


async def test_an_unreadable_file_is_refused_politely(bot: BotHarness, tg: FakeTelegram) -> None:
    world = await staff_world(bot, tg)
    tg.sends_document(world.admin, file_name="x.csv", content=b"name;phone\nx;1\n", caption="/import customers")
    await bot.deliver()
    answer = tg.last_sent(world.admin)
    assert answer is not None and "can't be imported: missing column" in answer.content
    tg.sends_document(world.admin, file_name="x.csv", content=b"\xff\xfe\x00", caption="/import")
    await bot.deliver()
    assert "not UTF-8" in tg.last_sent(world.admin).content  # type: ignore[union-attr]
    assert (await say(bot, tg, world.admin, "/import everything")).content.startswith("Usage:")


async def test_a_long_import_edits_one_progress_message_as_it_goes(bot: BotHarness, tg: FakeTelegram) -> None:
    from bot.handlers.staff.common import EditedProgress

    world = await staff_world(bot, tg)
    status = await bot.app.bot.send_message(world.admin.id, "Checking…")
    progress = EditedProgress(status, lambda count: f"Checked {count} rows", every=0.01)
    async with progress:
        progress.update(1000)
        await tg.wait_for(lambda: tg.message(world.admin, status.message_id).content == "Checked 1000 rows")  # type: ignore[union-attr]
        progress.update(2000)
        await tg.wait_for(lambda: tg.message(world.admin, status.message_id).content == "Checked 2000 rows")  # type: ignore[union-attr]
    assert len(tg.sent_to(world.admin)) == 1
