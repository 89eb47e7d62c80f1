"""/audit <customer>: an admin sees who looked at a record and when, newest first, page by page."""

from __future__ import annotations

from datetime import timedelta

import pytest

from storage.db import transaction
from storage.models import AuditEntry, StaffMember
from storage.staff import audit, audit_trail
from storage.types import utcnow
from tests.botapi import FakeTelegram
from tests.harness import BotHarness
from tests.ids import ADMIN_ID
from tests.privacy_support import AGENT_ID, seed_customer

pytestmark = pytest.mark.usefixtures("no_handler_errors")


async def test_audit_trail_is_newest_first_and_pages_by_id(bot: BotHarness, tg: FakeTelegram) -> None:
    seeded = await seed_customer(bot, tg)
    async with transaction(bot.services.sessions) as session:
        for n in range(5):
            await audit(session, actor_telegram_id=AGENT_ID, action=f"look_{n}", customer_id=seeded.customer_id)
        await audit(session, actor_telegram_id=AGENT_ID, action="someone_else", customer_id=seeded.customer_id + 100)
    async with bot.services.sessions() as session:
        page = await audit_trail(session, customer_id=seeded.customer_id, limit=3)
        assert [entry.action for entry, _ in page] == ["look_4", "look_3", "look_2"]
        assert all(staff is not None and staff.name == "Agent Smith" for _, staff in page)
        rest = await audit_trail(session, customer_id=seeded.customer_id, limit=10, before_id=page[-1][0].id)
    assert [entry.action for entry, _ in rest] == ["look_1", "look_0", "card_viewed"]


async def test_admin_sees_who_looked_when(bot: BotHarness, tg: FakeTelegram) -> None:
    seeded = await seed_customer(bot, tg)
    admin = tg.user(ADMIN_ID, "Ada", language_code="en")
    tg.sends_command(admin, f"/audit {seeded.user.id}")
    await bot.deliver()
    page = tg.last_sent(admin)
    assert page is not None
    lines = page.content.splitlines()
    assert lines[0].startswith("Audit trail of Zhivago Quillfeather")
    assert "audit_viewed" in lines[2] and "admin 900001" in lines[2]  # the admin's own look, newest
    assert "Agent Smith (agent, 700001) · card_viewed" in lines[3]
    assert page.buttons == []


async def test_a_long_trail_comes_in_pages_that_fit_a_message(bot: BotHarness, tg: FakeTelegram) -> None:
    seeded = await seed_customer(bot, tg)
    start = utcnow() - timedelta(days=30)
    async with transaction(bot.services.sessions) as session:
        session.add(StaffMember(telegram_id=700002, name="<b>Mallory</b> & Co " + "x" * 100, role="agent"))
        session.add_all(
            AuditEntry(
                at=start + timedelta(hours=n),
                actor_telegram_id=700002,
                action="card_viewed",
                customer_id=seeded.customer_id,
                detail=f"view {n} <script>",
            )
            for n in range(150)
        )
    admin = tg.user(ADMIN_ID, "Ada", language_code="en")
    tg.sends_command(admin, f"/audit @{seeded.user.username}")
    await bot.deliver()
    seen: list[str] = []
    while True:
        page = tg.last_sent(admin)
        assert page is not None and len(page.content) <= 4096
        seen += [line for line in page.content.splitlines() if "view " in line]
        if not page.callback_data:
            break
        assert "<b>Mallory</b> & Co" in page.content  # names and details are shown as text
        tg.presses_button(admin, page, page.callback_data[0])
        await bot.deliver()
    numbers = [int(line.split("view ")[1].split()[0]) for line in seen]
    assert numbers == list(range(149, -1, -1))  # every entry once, newest first
    assert len(tg.sent_to(admin)) > 2


async def test_audit_answers_usage_unknown_and_several_matches(bot: BotHarness, tg: FakeTelegram) -> None:
    await seed_customer(bot, tg)
    await seed_customer(bot, tg, 5151, first_name="Zhivago", username="zz2", tag="Z2")
    admin = tg.user(ADMIN_ID, "Ada", language_code="en")
    for command in ("/audit", "/audit nobody-like-this", "/audit zhivago"):
        tg.sends_command(admin, command)
    await bot.deliver()
    usage, unknown, several = (m.content for m in tg.sent_to(admin)[-3:])
    assert usage.startswith("Usage: /audit <customer>")
    assert unknown == "No customer matches that."
    assert several.startswith("Several customers match") and "4242" in several and "5151" in several


async def test_an_erased_customer_trail_is_found_by_customer_number(bot: BotHarness, tg: FakeTelegram) -> None:
    seeded = await seed_customer(bot, tg)
    tg.sends_command(seeded.user, "/forget")
    await bot.deliver()
    confirm = tg.last_sent(seeded.user)
    assert confirm is not None
    tg.presses_button(seeded.user, confirm, confirm.callback_data[0])
    await bot.deliver()
    admin = tg.user(ADMIN_ID, "Ada", language_code="en")
    tg.sends_command(admin, f"/audit id:{seeded.customer_id}")
    await bot.deliver()
    page = tg.last_sent(admin).content  # type: ignore[union-attr]
    assert "an erased or unknown customer" in page and "customer_erased" in page and "card_viewed" in page
    assert "Zhivago" not in page


async def test_agents_and_customers_cannot_read_the_audit_trail(bot: BotHarness, tg: FakeTelegram) -> None:
    seeded = await seed_customer(bot, tg)
    agent = tg.user(AGENT_ID, "Smith", language_code="en")
    tg.sends_command(agent, f"/audit {seeded.user.id}")
    tg.sends_command(seeded.user, f"/audit {seeded.user.id}")
    await bot.deliver()
    assert tg.last_sent(agent).content == "This command is for staff."  # type: ignore[union-attr]
    assert tg.last_sent(seeded.user).content == "This command is for staff."  # type: ignore[union-attr]


async def test_audit_finds_a_customer_by_email_as_find_does(bot: BotHarness, tg: FakeTelegram) -> None:
    seeded = await seed_customer(bot, tg)
    admin = tg.user(ADMIN_ID, "Ada", language_code="en")
    tg.sends_command(admin, "/audit zhivago.q@example.com")
    await bot.deliver()
    page = tg.last_sent(admin)
    assert page is not None and page.content.startswith("Audit trail of Zhivago Quillfeather"), page.content
    assert seeded.customer_id
