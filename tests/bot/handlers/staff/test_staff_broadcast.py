"""`/broadcast`: the message, a preview with the count after opt-outs, Confirm, outbox rows, progress, final report."""

from __future__ import annotations

import json

from sqlalchemy import select, update

from bot.handlers.staff.broadcast import report_progress
from storage.models import Broadcast, OutboxMessage
from tests.botapi import FakeTelegram
from tests.harness import BotHarness
from tests.staff_world import add_customer, audit_rows, say, staff_world


async def outbox(bot: BotHarness) -> list[OutboxMessage]:
    async with bot.services.sessions() as session:
        return list((await session.execute(select(OutboxMessage).order_by(OutboxMessage.id))).scalars())  # type: ignore[arg-type]


async def test_a_segment_broadcast_goes_through_the_outbox_with_a_progress_report(
    bot: BotHarness, tg: FakeTelegram
) -> None:
    world = await staff_world(bot, tg)
    vips = [await add_customer(bot, 700 + n, f"V{n}", segment="vip") for n in range(3)]
    await add_customer(bot, 710, "Opted", segment="vip", proactive_opt_out=True)
    await add_customer(bot, 711, "Gone", segment="vip", unreachable=True)
    await add_customer(bot, 712, "Other", segment="new")

    ask = await say(bot, tg, world.admin, "/broadcast vip", world.staff_chat)
    assert "3 customers can receive it" in ask.content
    source = tg.sends_photo(world.admin, caption="Our <b>VIP</b> sale starts today", chat=world.staff_chat)
    await bot.deliver()
    preview, confirm = tg.sent_to(world.staff_chat)[-2:]
    assert preview.copied_from == source.key
    assert "Send it to 3 customers in VIP?" in confirm.content
    assert await outbox(bot) == []

    go = confirm.callback_data[0]
    broadcast_id = int(go.rsplit(":", 1)[1])
    tg.presses_button(world.admin, confirm, go)
    await bot.deliver()
    rows = await outbox(bot)
    assert sorted(row.chat_id for row in rows) == [700, 701, 702]
    assert {row.key for row in rows} == {f"broadcast:{broadcast_id}:customer:{c.id}" for c in vips}
    assert all(row.kind == "broadcast" and row.capped for row in rows)
    assert json.loads(rows[0].params)["copy_from"] == {"chat_id": world.staff_chat.id, "message_id": source.message_id}
    progress = tg.message(world.staff_chat, confirm.message_id)
    assert progress is not None and "0 sent, 0 failed, 0 skipped, 3 waiting of 3" in progress.content

    assert progress.callback_data == []
    assert bot.app.job_queue.get_jobs_by_name(f"broadcast-progress:{broadcast_id}")  # type: ignore[union-attr]
    tg.presses_button(world.admin, confirm, go, strict=False)  # pressed twice: planned once
    await bot.deliver()
    assert len(await outbox(bot)) == 3

    # The sender (another part of Carebot) works through the rows.
    async with bot.services.sessions() as session, session.begin():
        await session.execute(update(OutboxMessage).where(OutboxMessage.chat_id == 700).values(status="sent"))  # type: ignore[arg-type]
        await session.execute(update(OutboxMessage).where(OutboxMessage.chat_id == 701).values(status="failed"))  # type: ignore[arg-type]
    assert await report_progress(bot.app, broadcast_id) is False
    assert "1 sent, 1 failed, 0 skipped, 1 waiting of 3" in tg.message(world.staff_chat, confirm.message_id).content  # type: ignore[union-attr]
    async with bot.services.sessions() as session, session.begin():
        await session.execute(update(OutboxMessage).where(OutboxMessage.chat_id == 702).values(status="skipped"))  # type: ignore[arg-type]
    assert await report_progress(bot.app, broadcast_id) is True
    final = tg.message(world.staff_chat, confirm.message_id)
    assert final is not None and "finished: 1 sent, 1 failed, 1 skipped of 3" in final.content
    async with bot.services.sessions() as session:
        assert (await session.get(Broadcast, broadcast_id)).status == "done"  # type: ignore[union-attr]
    assert [row.detail for row in await audit_rows(bot, "broadcast.confirm")] == [f"#{broadcast_id} 3"]


async def test_unfinished_broadcasts_are_followed_again_after_a_restart(bot: BotHarness, tg: FakeTelegram) -> None:
    from bot.app import on_startup
    from storage.db import transaction

    world = await staff_world(bot, tg)
    async with transaction(bot.services.sessions) as session:
        session.add(
            Broadcast(
                segment="all",
                created_by=world.admin.id,
                source_chat_id=world.admin.id,
                source_message_id=1,
                status="queued",
                report_chat_id=world.admin.id,
                report_message_id=1,
                language="en",
            )
        )
    await on_startup(bot.app)
    assert bot.app.job_queue.get_jobs_by_name("broadcast-progress:1")  # type: ignore[union-attr]


async def test_a_cancelled_broadcast_sends_nothing(bot: BotHarness, tg: FakeTelegram) -> None:
    world = await staff_world(bot, tg)
    await add_customer(bot, 720, "Any")
    await say(bot, tg, world.admin, "/broadcast all")
    tg.customer_sends_text(world.admin, "Hello everyone")
    await bot.deliver()
    confirm = tg.last_sent(world.admin)
    assert confirm is not None and "Send it to 1 customer in all customers?" in confirm.content
    go, cancel = confirm.callback_data
    tg.presses_button(world.admin, confirm, cancel)
    await bot.deliver()
    assert "cancelled: nothing was sent" in tg.message(world.admin, confirm.message_id).content  # type: ignore[union-attr]
    tg.presses_button(world.admin, confirm, go, strict=False)
    await bot.deliver()
    assert await outbox(bot) == []


async def test_broadcast_arguments_and_empty_audiences(bot: BotHarness, tg: FakeTelegram) -> None:
    world = await staff_world(bot, tg)
    assert (await say(bot, tg, world.admin, "/broadcast")).content.startswith("Usage: /broadcast")
    assert (await say(bot, tg, world.admin, "/broadcast gold")).content.startswith("Usage: /broadcast")
    assert "No customer in VIP" in (await say(bot, tg, world.admin, "/broadcast vip")).content
