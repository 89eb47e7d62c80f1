"""FAQ first: matching in the customer's language, the two buttons, counting, `/faq` and `carebot faq import`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlmodel import select
from typer.testing import CliRunner

from bot.settings import Settings
from storage import faq
from storage.db import transaction
from storage.faq import FaqFileError, NewEntry, parse_faq_file
from storage.models import FaqEntry, FaqEvent, Ticket, TicketMessage
from tests.botapi import FakeChat, FakeTelegram, FakeUser
from tests.harness import BotHarness

YAML = """
- category: order
  en:
    questions: ["How long does delivery take?", "When will my order arrive?"]
    answer: "Usually 3–5 working days. <b>Express</b> is next day."
  zh_CN:
    questions: ["多久发货", "我的订单什么时候到"]
    answer: "通常 3–5 个工作日。"
- category: aftersale
  language: en
  questions: ["Can I return an item?"]
  answer: "Yes, within 14 days."
"""


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"default_language": "en"})


@pytest.fixture
async def stocked(bot: BotHarness) -> BotHarness:
    async with transaction(bot.services.sessions) as session:
        await faq.import_entries(session, entries=parse_faq_file("faq.yaml", YAML.encode()))
    return bot


async def events(bot: BotHarness) -> list[str]:
    async with bot.services.sessions() as session:
        return [e.event for e in (await session.execute(select(FaqEvent).order_by(FaqEvent.id))).scalars()]  # type: ignore[arg-type]


async def test_a_matching_question_gets_the_answer_and_this_helped_is_counted(
    stocked: BotHarness, tg: FakeTelegram, staff: FakeChat
) -> None:
    anna = tg.user(7501, "Anna", language_code="en")
    tg.customer_sends_text(anna, "how long does the delivery take")
    await stocked.deliver()
    answer = tg.last_sent(anna)
    assert answer is not None and answer.content == "Usually 3–5 working days. <b>Express</b> is next day."
    assert answer.button_texts == ["👍 This helped", "🙋 Talk to a person"]
    tg.presses_button(anna, answer, answer.callback_data[0])
    await stocked.deliver()
    assert answer.buttons == []
    assert await events(stocked) == ["hit", "helped"]
    async with stocked.services.sessions() as session:
        assert (await session.execute(select(Ticket))).first() is None
    assert tg.sent_to(staff) == []


async def test_chinese_questions_match_chinese_entries(stocked: BotHarness, tg: FakeTelegram) -> None:
    li = tg.user(7502, "李雷", language_code="zh-hans")
    tg.customer_sends_text(li, "发货要多久？")
    await stocked.deliver()
    assert tg.last_sent(li).content == "通常 3–5 个工作日。"  # type: ignore[union-attr]


async def test_talk_to_a_person_opens_a_ticket_with_the_question(
    stocked: BotHarness, tg: FakeTelegram, staff: FakeChat
) -> None:
    anna = tg.user(7503, "Anna", language_code="en")
    question = tg.customer_sends_text(anna, "When will my order arrive?")
    await stocked.deliver()
    answer = tg.last_sent(anna)
    tg.presses_button(anna, answer, answer.callback_data[1])  # type: ignore[union-attr, arg-type]
    await stocked.deliver()
    assert "ticket #1" in tg.last_sent(anna).content  # type: ignore[union-attr]
    (card,) = tg.sent_to(staff)
    assert card.content.startswith("🎫 #1") and card.content.endswith(f"\n\n{question.text}")  # on the card
    async with stocked.services.sessions() as session:
        ticket = (await session.execute(select(Ticket))).scalar_one()
        message = (await session.execute(select(TicketMessage))).scalar_one()
    assert ticket.category == "order" and message.text == "When will my order arrive?"
    assert await events(stocked) == ["hit", "escalated"]


async def test_a_question_the_faq_does_not_know_opens_a_ticket_and_counts_a_miss(
    stocked: BotHarness, tg: FakeTelegram, staff: FakeChat
) -> None:
    anna = tg.user(7504, "Anna", language_code="en")
    tg.customer_sends_text(anna, "My parcel arrived broken, what now?")
    await stocked.deliver()
    assert "ticket #1" in tg.last_sent(anna).content  # type: ignore[union-attr]
    tg.customer_sends_text(anna, "How long does delivery take?")  # joins the open ticket: no FAQ now
    await stocked.deliver()
    assert await events(stocked) == ["miss"]
    card, copy = tg.sent_to(staff)
    assert card.content.endswith("\n\nMy parcel arrived broken, what now?")  # the new ticket's card carries it
    assert copy.copied_from is not None and copy.content == "How long does delivery take?"


async def test_a_closed_tickets_customer_asking_an_faq_question_gets_the_answer_not_a_reopened_ticket(
    stocked: BotHarness, tg: FakeTelegram, staff: FakeChat, admin: FakeUser
) -> None:
    anna = tg.user(7505, "Anna", language_code="en")
    tg.customer_sends_text(anna, "My parcel arrived damaged")
    await stocked.deliver()
    tg.sends_command(admin, "/close 1", staff)
    await stocked.deliver()
    staff_before = len(tg.sent_to(staff))

    tg.customer_sends_text(anna, "When will my order arrive?")
    await stocked.deliver()
    answer = tg.last_sent(anna)
    assert answer is not None and answer.content.startswith("Usually 3–5 working days")
    async with stocked.services.sessions() as session:
        (ticket,) = (await session.execute(select(Ticket))).scalars()
    assert ticket.status == "closed"
    assert not any("wrote again" in m.content for m in tg.sent_to(staff)[staff_before:])

    tg.presses_button(anna, answer, answer.callback_data[1])  # Talk to a person: the ticket opens again
    await stocked.deliver()
    assert "Ticket #1 is open again" in tg.last_sent(anna).content  # type: ignore[union-attr]
    async with stocked.services.sessions() as session:
        (ticket,) = (await session.execute(select(Ticket))).scalars()
    assert ticket.status == "open"


async def test_staff_manage_the_faq_with_commands(
    bot: BotHarness, tg: FakeTelegram, staff: FakeChat, admin: FakeUser
) -> None:
    tg.sends_command(
        admin, "/faq add en presale\nDo you ship abroad? | International shipping?\nYes, to 40 countries.", staff
    )
    await bot.deliver()
    assert tg.last_sent(staff).content == "FAQ entry 1 added (en, presale)."  # type: ignore[union-attr]
    tg.sends_command(admin, "/faq add fr other\nQ\nA", staff)
    await bot.deliver()
    assert "language must be one of zh_CN, en" in tg.last_sent(staff).content  # type: ignore[union-attr]
    anna = tg.user(7505, "Anna", language_code="en")
    tg.customer_sends_text(anna, "do you ship abroad")
    await bot.deliver()
    tg.sends_command(admin, "/faq list", staff)
    await bot.deliver()
    listing = tg.last_sent(staff).content  # type: ignore[union-attr]
    assert "1 · en · presale · Do you ship abroad? | International shipping?" in listing
    assert "answered 1× · helped 0× · to a person 0×" in listing
    tg.sends_command(admin, "/faq remove 1", staff)
    tg.sends_command(admin, "/faq remove 1", staff)
    tg.sends_command(anna, "/faq list")
    await bot.deliver()
    assert [m.content for m in tg.sent_to(staff)[-2:]] == ["FAQ entry 1 removed.", "There is no FAQ entry 1."]
    assert tg.last_sent(anna).content == "This command is for staff."  # type: ignore[union-attr]


def test_faq_files_are_checked_entry_by_entry() -> None:
    entries = parse_faq_file("faq.yml", YAML.encode())
    assert [(e.language, e.category, len(e.questions)) for e in entries] == [
        ("en", "order", 2),
        ("zh_CN", "order", 2),
        ("en", "aftersale", 1),
    ]
    csv_text = "language,category,questions,answer\nen,order,Where is my parcel?|Tracking?,Use the tracking link.\n"
    assert parse_faq_file("faq.csv", csv_text.encode("utf-8-sig")) == [
        NewEntry("en", "order", ("Where is my parcel?", "Tracking?"), "Use the tracking link.")
    ]
    with pytest.raises(FaqFileError, match="line 3: category must be one of"):
        parse_faq_file("faq.csv", (csv_text + "en,shoes,Q,A\n").encode())
    with pytest.raises(FaqFileError, match="entry 1: the answer is empty"):
        parse_faq_file("faq.yaml", b"- {language: en, questions: [Hi], answer: ''}")
    with pytest.raises(FaqFileError, match=r"use a \.yaml"):
        parse_faq_file("faq.txt", b"x")


def test_carebot_faq_import_loads_a_file_once(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy import create_engine, text

    from bot.cli import app

    if not database_url.startswith("sqlite"):
        pytest.skip("the CLI is exercised once, on SQLite")
    monkeypatch.setenv("CAREBOT_DATABASE_URL", database_url)
    source = tmp_path / "faq.yaml"
    source.write_text(YAML, encoding="utf-8")
    runner = CliRunner()
    first = runner.invoke(app, ["faq", "import", str(source)])
    again = runner.invoke(app, ["faq", "import", str(source)])
    assert first.exit_code == 0 and "imported 3 FAQ entries" in first.output
    assert again.exit_code == 0 and "imported 0 FAQ entries (3 already there)" in again.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("- {language: xx, questions: [q], answer: a}", encoding="utf-8")
    failed = runner.invoke(app, ["faq", "import", str(bad)])
    assert failed.exit_code == 1 and "language must be one of" in failed.output
    engine = create_engine(database_url.replace("+aiosqlite", ""))
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT questions FROM faq_entries ORDER BY id")).scalars().all()
    engine.dispose()
    assert json.loads(rows[1]) == ["多久发货", "我的订单什么时候到"]
    assert FaqEntry.__tablename__ == "faq_entries"
