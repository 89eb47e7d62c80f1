"""What staff and customers see of the agreement: the customer card's lines, and long texts split for Telegram."""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

from bot.ui.agreement_view import (
    agreement_lines,
    agreement_messages,
    markdown_line,
    split_messages,
    telegram_length,
    visible_length,
)
from storage.agreements import Acceptance, AgreementState, CustomerAgreement
from storage.models import AgreementText, AgreementVersion
from tests.agreements import at

SHANGHAI = ZoneInfo("Asia/Shanghai")
CHAT = Acceptance(1, "chat", at("2026-05-01T02:00:00"), at("2027-05-01T02:00:00"), None)
PAPER = Acceptance(None, "offline", at("2025-12-31T16:00:00"), at("2026-12-31T16:00:00"), date(2026, 1, 1))


def test_the_customer_card_shows_the_version_accepted_when_and_until_when() -> None:
    accepted = CustomerAgreement(AgreementState.ACCEPTED, 1, CHAT)
    assert agreement_lines("en", accepted, zone=SHANGHAI) == [
        "📝 Agreement: version 1 accepted",
        "   version 1 · accepted in chat May 1, 2026, 10:00:00\u202fAM · valid until May 1, 2027",
    ]
    assert agreement_lines("zh_CN", accepted, zone=SHANGHAI)[0] == "📝 协议：已同意第 1 版"
    outdated = CustomerAgreement(AgreementState.OUTDATED, 2, CHAT)
    assert agreement_lines("en", outdated)[0] == "📝 Agreement: version 1 in force for them; version 2 not yet accepted"
    expired = CustomerAgreement(AgreementState.EXPIRED, 2, PAPER)
    assert agreement_lines("zh_CN", expired, zone=SHANGHAI) == [
        "📝 协议：已到期（现行第 2 版）",
        "   首个版本 · 2026年1月1日 线下签署 · 已于 2027年1月1日 到期",
    ]
    assert agreement_lines("en", CustomerAgreement(AgreementState.PENDING, 3, None)) == [
        "📝 Agreement: not accepted (version 3 in force)"
    ]
    assert agreement_lines("en", CustomerAgreement(AgreementState.NONE_REQUIRED, None, None)) == [
        "📝 Agreement: not required (no version published)"
    ]


def test_markdown_becomes_escaped_telegram_html_line_by_line() -> None:
    assert markdown_line("## Your **rights** & <duties>") == "<b>Your rights &amp; &lt;duties&gt;</b>"
    assert markdown_line("  - item __one__") == "  • item <b>one</b>"
    assert markdown_line("#hashtag stays") == "#hashtag stays"


def test_long_texts_are_split_between_lines_within_the_limit() -> None:
    lines = [f"line {n} " + "x" * 90 for n in range(100)]
    messages = split_messages(lines, limit=1000)
    assert all(visible_length(message) <= 1000 for message in messages)
    assert "\n".join(messages) == "\n".join(lines)
    assert split_messages(["", "", "text", ""]) == ["text"]
    assert telegram_length("😀") == 2


def test_a_line_longer_than_a_message_is_cut_into_escaped_pieces() -> None:
    version = AgreementVersion(version=1, published_at=at("2026-01-01"))
    text = AgreementText(version=1, language="en", text="# Title\n\n" + "<&>" * 3000)
    messages = agreement_messages("en", [(version, text)])
    assert len(messages) == 4 and all(visible_length(message) <= 4096 for message in messages)
    assert messages[0].startswith("<b>Customer agreement, version 1</b> · in force since Jan 1, 2026\n\n<b>Title</b>")
    assert "".join(messages[1:]).replace("&lt;&amp;&gt;", "") == ""
