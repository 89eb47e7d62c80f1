"""The customer agreement in chat: a new customer accepts or says Not now, reads the full text in their language,
renews after the term ends, and an admin publishes versions by sending the files."""

from __future__ import annotations

import json

from sqlmodel import col, select

from storage import agreements, customers
from storage.agreements import AgreementState
from storage.models import AgreementAcceptance, AuditEntry, OutboxMessage
from storage.types import utcnow
from tests.agreements import at, publish_both
from tests.botapi import FakeTelegram
from tests.harness import BotHarness
from tests.ids import ADMIN_ID


async def acceptances(bot: BotHarness, telegram_id: int) -> list[AgreementAcceptance]:
    async with bot.services.sessions() as session:
        customer = await customers.get_customer(session, telegram_id=telegram_id)
        assert customer is not None and customer.id is not None
        return await agreements.acceptances_for(session, customer_id=customer.id)


async def test_without_a_published_agreement_nothing_changes(bot: BotHarness, tg: FakeTelegram) -> None:
    user = tg.user(601, "Ann", language_code="en")
    tg.sends_command(user, "/start")
    tg.sends_command(user, "/terms")
    await bot.deliver()
    greeting, terms = tg.sent_to(user)
    assert greeting.content.startswith("Hello, Ann!")
    assert terms.content == "There is no customer agreement to accept at the moment."


async def test_a_new_customer_reads_the_summary_and_agrees(bot: BotHarness, tg: FakeTelegram, time_machine) -> None:  # type: ignore[no-untyped-def]
    await publish_both(bot.services.sessions, 1, now=at("2026-01-01"))
    time_machine.move_to(at("2026-05-01T02:00:00"), tick=False)
    user = tg.user(602, "Ben", language_code="en")
    tg.sends_command(user, "/start")
    await bot.deliver()
    greeting, prompt = tg.sent_to(user)
    assert greeting.content.startswith("Hello, Ben!")
    assert "Our customer agreement (version 1)" in prompt.content
    assert "We help you, keep your details safe" in prompt.content  # the summary the admin wrote
    assert prompt.button_texts == ["✅ I agree", "📄 Read the full text", "Not now"]

    tg.presses_button(user, prompt, "terms:agree:1")
    await bot.deliver()
    thanks = tg.last_sent(user)
    assert thanks is not None
    assert thanks.content == (
        "Thank you! You accepted version 1 of our customer agreement on May 1, 2026. It is valid until May 1, 2027."
    )
    assert tg.message(user, prompt.message_id).buttons == []  # type: ignore[union-attr]
    [row] = await acceptances(bot, 602)
    assert (row.version, row.channel, row.signature) == (1, "chat", 602)
    assert row.accepted_at == at("2026-05-01T02:00:00") and row.valid_until == at("2027-05-01T02:00:00")

    tg.presses_button(user, prompt, "terms:agree:1", strict=False)  # an old button pressed again
    tg.sends_command(user, "/profile")
    await bot.deliver()
    assert "already accepted version 1" in tg.sent_to(user)[-2].content
    assert len(await acceptances(bot, 602)) == 1
    tg.presses_button(user, tg.last_sent(user), "profile:birthday")  # type: ignore[arg-type]
    await bot.deliver()
    assert "YYYY-MM-DD" in tg.last_sent(user).content  # type: ignore[union-attr]


async def test_not_now_keeps_help_but_stores_no_optional_details(bot: BotHarness, tg: FakeTelegram) -> None:
    await publish_both(bot.services.sessions, 1, now=at("2026-01-01"))
    user = tg.user(603, "Cai", language_code="en")
    tg.sends_command(user, "/start")
    await bot.deliver()
    prompt = tg.last_sent(user)
    tg.presses_button(user, prompt, "terms:later")  # type: ignore[arg-type]
    await bot.deliver()
    assert "You can still ask us anything" in tg.last_sent(user).content  # type: ignore[union-attr]
    assert await acceptances(bot, 603) == []

    tg.sends_command(user, "/profile")
    await bot.deliver()
    profile = tg.last_sent(user)
    tg.presses_button(user, profile, "profile:phone")  # type: ignore[arg-type]
    await bot.deliver()
    refusal, offer = tg.sent_to(user)[-2:]
    assert "only for customers who have accepted our customer agreement" in refusal.content
    assert "terms:agree:1" in offer.callback_data
    tg.customer_sends_text(user, "+86 138-1234-5678")  # not taken as a phone number: no dialog was opened
    tg.presses_button(user, profile, "profile:timezone")  # type: ignore[arg-type]
    await bot.deliver()
    tg.customer_sends_text(user, "Europe/Berlin")
    await bot.deliver()
    async with bot.services.sessions() as session:
        stored = await customers.get_customer(session, telegram_id=603)
    assert stored is not None and stored.phone is None and stored.timezone == "Europe/Berlin"
    assert stored.first_name == "Cai"


async def test_a_chinese_customer_reads_a_long_agreement_in_parts(bot: BotHarness, tg: FakeTelegram) -> None:
    clause = "第{n}条 **本店**承诺依法保护客户资料 <不会泄露> & 及时答复客户的咨询与投诉。" * 3
    long_text = "# 客户协议\n\n" + "\n\n".join(clause.format(n=n) for n in range(1, 120))
    texts = {"en": "# Agreement\n\nShort English text.", "zh_CN": long_text}
    await publish_both(bot.services.sessions, 1, now=at("2026-01-01"), texts=texts)
    user = tg.user(604, "小红", language_code="zh-hans")
    tg.sends_command(user, "/start")
    await bot.deliver()
    prompt = tg.last_sent(user)
    assert "客户协议" in prompt.content and prompt.button_texts == ["✅ 我同意", "📄 阅读全文", "暂不"]  # type: ignore[union-attr]
    tg.presses_button(user, prompt, "terms:read:1")  # type: ignore[arg-type]
    await bot.deliver()
    *parts, status = tg.sent_to(user)[2:]
    assert len(parts) >= 3 and all(len(part.content) <= 4096 for part in parts)
    assert parts[0].content.startswith("客户协议 第 1 版 · 自")
    assert "第119条 本店承诺依法保护客户资料 <不会泄露> & 及时答复" in parts[-1].content
    assert "<b>本店</b>" in parts[1].raw_text and "&lt;不会泄露&gt;" in parts[1].raw_text
    assert status.content.startswith("您尚未同意本协议") and status.callback_data == ["terms:agree:1", "terms:later"]
    tg.presses_button(user, status, "terms:agree:1")
    await bot.deliver()
    assert tg.last_sent(user).content.startswith("谢谢！您已于")  # type: ignore[union-attr]


async def test_an_expired_agreement_is_renewed_at_start(bot: BotHarness, tg: FakeTelegram, time_machine) -> None:  # type: ignore[no-untyped-def]
    await publish_both(bot.services.sessions, 1, now=at("2026-01-01"))
    time_machine.move_to(at("2026-02-01T08:00:00"), tick=False)
    user = tg.user(605, "Dan", language_code="en")
    tg.sends_command(user, "/start")
    await bot.deliver()
    tg.presses_button(user, tg.last_sent(user), "terms:agree:1")  # type: ignore[arg-type]
    await bot.deliver()

    time_machine.move_to(at("2027-02-02T08:00:00"), tick=False)
    tg.sends_command(user, "/start")
    await bot.deliver()
    prompt = tg.last_sent(user)
    assert prompt is not None and "Your agreement with us ended on Feb 1, 2027" in prompt.content
    tg.sends_command(user, "/terms")
    await bot.deliver()
    assert tg.last_sent(user).content == "Your agreement ended on Feb 1, 2027. Tap I agree to renew it."  # type: ignore[union-attr]
    tg.presses_button(user, prompt, "terms:agree:1")
    await bot.deliver()
    assert "valid until Feb 2, 2028" in tg.last_sent(user).content  # type: ignore[union-attr]
    assert [row.valid_until for row in await acceptances(bot, 605)] == [
        at("2027-02-01T08:00:00"),
        at("2028-02-02T08:00:00"),
    ]


async def test_a_prompt_for_an_older_version_shows_the_new_one(bot: BotHarness, tg: FakeTelegram) -> None:
    await publish_both(bot.services.sessions, 1, now=at("2026-01-01"))
    user = tg.user(606, "Eve", language_code="en")
    tg.sends_command(user, "/start")
    await bot.deliver()
    old_prompt = tg.last_sent(user)
    await publish_both(bot.services.sessions, 2, now=at("2026-01-02"))
    tg.presses_button(user, old_prompt, "terms:agree:1")  # type: ignore[arg-type]
    await bot.deliver()
    changed, new_prompt = tg.sent_to(user)[-2:]
    assert changed.content.startswith("The agreement has changed")
    assert "version 2" in new_prompt.content and "terms:agree:2" in new_prompt.callback_data
    assert await acceptances(bot, 606) == []


async def test_admin_publishes_both_languages_and_a_supplement_by_sending_files(
    bot: BotHarness, tg: FakeTelegram
) -> None:
    admin = tg.user(ADMIN_ID, "Boss", language_code="en")
    agent = tg.user(700, "Agent", language_code="en")
    customer = tg.user(607, "Fay", language_code="zh")

    tg.sends_document(
        agent, file_name="terms.en.md", mime_type="text/markdown", content=b"# T", caption="/terms_publish 1"
    )
    tg.sends_document(
        admin,
        file_name="terms.en.md",
        mime_type="text/markdown",
        content=b"# Terms\n\nWe help.",
        caption="/terms_publish 1\nWe help you & keep your data safe.",
    )
    await bot.deliver()
    assert tg.last_sent(agent).content == "This command is for staff."  # type: ignore[union-attr]
    assert tg.last_sent(admin).content == (  # type: ignore[union-attr]
        "Version 1 (English) saved. It comes into force once the text in 简体中文 is published too."
    )
    chinese = tg.sends_document(
        admin, file_name="agreement.md", mime_type="text/markdown", content="\ufeff# 条款\n\n我们为您服务。".encode()
    )
    tg.customer_sends_text(admin, "/terms_publish 1", reply_to=chinese)  # the command in reply to the file
    await bot.deliver()
    assert tg.last_sent(admin).content.startswith("Version 1 is now in force. 0 customers")  # type: ignore[union-attr]

    tg.sends_command(customer, "/start")
    await bot.deliver()
    prompt = tg.last_sent(customer)
    assert (
        prompt is not None and "我们为您服务" not in prompt.content and "协议说明了" in prompt.content
    )  # no Chinese summary
    tg.presses_button(customer, prompt, "terms:agree:1")
    await bot.deliver()

    tg.sends_document(
        admin, file_name="supplement.en.md", content=b"# Supplement\n\nGifts.", caption="/terms_publish 2 supplement"
    )
    tg.sends_document(
        admin,
        file_name="supplement.md",
        content="# 补充协议\n\n礼品。".encode(),
        caption="/terms_publish 2 supplement zh_CN",
    )
    await bot.deliver()
    assert tg.last_sent(admin).content.startswith("Supplement 2 to version 1 is now in force. 1 customer whose")  # type: ignore[union-attr]
    async with bot.services.sessions() as session:
        [ask] = (await session.execute(select(OutboxMessage))).scalars().all()
        audits = (
            (await session.execute(select(AuditEntry.detail).where(col(AuditEntry.action) == "terms.publish")))
            .scalars()
            .all()
        )
        state = await agreements.customer_agreement(session, customer_id=ask.customer_id or 0, now=utcnow())
    assert ask.chat_id == 607 and ask.template == "terms.ask.supplement"
    assert json.loads(ask.params)["buttons"][0] == ["terms.button.agree", "terms:agree:2"]
    assert state.state == AgreementState.OUTDATED
    assert sorted(audits) == ["v1 en", "v1 zh_CN", "v2 en", "v2 zh_CN"]

    tg.sends_command(customer, "/terms")
    await bot.deliver()
    *_, text, status = tg.sent_to(customer)
    assert (
        "客户协议 第 1 版" in text.content
        and "第 1 版的补充协议（第 2 版）" in text.content
        and "礼品。" in text.content
    )
    assert "第 2 版正在等待您的确认" in status.content

    tg.sends_document(admin, file_name="x.pdf", mime_type="application/pdf", caption="/terms_publish 3")
    tg.sends_command(admin, "/terms_publish 1")
    await bot.deliver()
    bad_file, usage = tg.sent_to(admin)[-2:]
    assert "UTF-8 text or Markdown file" in bad_file.content
    assert usage.content.startswith("Send the agreement as a .md file")
